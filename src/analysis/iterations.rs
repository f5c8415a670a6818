//! Iteration boundaries: where one training step ends and the next begins.
//!
//! Leak detection compares memory across iterations, so it needs their boundaries. In order of
//! preference: optimizer step annotations (`Optimizer.step#...` START entries in
//! `external_annotations`), else the `snapshot` markers when there are several, else evenly
//! spaced windows of the trace.

use crate::model::{Action, Event, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum IterationSource {
    OptimizerSteps,
    Markers,
    EvenWindows,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iterations {
    /// Event indices where each iteration ends (the state *after* event `b` closes one).
    pub boundaries: Vec<usize>,
    pub source: IterationSource,
}

const EVEN_WINDOWS: usize = 16;

pub fn detect(snap: &Snapshot, device: usize, events: &[Event]) -> Iterations {
    if events.is_empty() {
        return Iterations {
            boundaries: Vec::new(),
            source: IterationSource::EvenWindows,
        };
    }
    // Optimizer steps: the START time of each `Optimizer.step` annotation of this device.
    let mut times: Vec<i64> = snap
        .annotations
        .iter()
        .filter(|a| {
            a.device == device && a.stage == "START" && a.name.starts_with("Optimizer.step")
        })
        .map(|a| a.time_us)
        .collect();
    times.sort_unstable();
    let has_times = events.iter().any(|e| e.time_us != 0);
    if times.len() >= 2 && has_times {
        let mut boundaries = Vec::with_capacity(times.len());
        for t in times {
            // Last event at or before the step starts.
            let idx = events.partition_point(|e| e.time_us <= t);
            if idx > 0 {
                boundaries.push(idx - 1);
            }
        }
        boundaries.dedup();
        if boundaries.len() >= 2 {
            return Iterations {
                boundaries,
                source: IterationSource::OptimizerSteps,
            };
        }
    }
    let markers: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.action == Action::Snapshot)
        .map(|(i, _)| i)
        .collect();
    if markers.len() >= 3 {
        return Iterations {
            boundaries: markers,
            source: IterationSource::Markers,
        };
    }
    let n = events.len();
    let k = EVEN_WINDOWS.min(n);
    let boundaries = (1..=k).map(|j| (j * n / k).saturating_sub(1)).collect();
    Iterations {
        boundaries,
        source: IterationSource::EvenWindows,
    }
}
