//! Analysis: what the allocator did, reconstructed from the trace.
//!
//! [`analyze`] replays every device (in parallel with rayon) and derives what the views and
//! reports need: counters at every event, allocation lifetimes, fragmentation over time, leak
//! suspects grouped by the user's line of code, and a verdict for every OOM.

pub mod fragmentation;
pub mod iterations;
pub mod layout;
pub mod leaks;
pub mod oom;
pub mod replay;
pub mod sites;

use rayon::prelude::*;

use crate::model::{Action, FormatVariant, Snapshot};

pub use fragmentation::Fragmentation;
pub use layout::{BlockView, LayoutIndex, SegmentView};
pub use leaks::LeakSuspect;
pub use oom::{OomReport, Verdict};
pub use replay::{Allocation, Counters, Replay, Rules, SegmentSpan, Series, NONE};
pub use sites::{CallSite, SiteTable};

/// Counters just before a `snapshot` marker entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Marker {
    /// Index of the `snapshot` entry in the device's trace.
    pub event: usize,
    #[serde(flatten)]
    pub counters: Counters,
}

/// The highest allocated and reserved memory and when they happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peak {
    pub allocated: u64,
    pub allocated_event: usize,
    pub reserved: u64,
    pub reserved_event: usize,
}

/// Everything memsight knows about one device.
#[derive(Debug, Clone)]
pub struct DeviceAnalysis {
    pub device: usize,
    pub events: usize,
    /// The trace starts from an empty allocator: every counter is exact from the first event.
    /// When false (ring buffer wrapped, or history enabled late), the state before the first
    /// event was reconstructed from the dump; counters are exact from `replay.exact_from`.
    pub trace_complete: bool,
    pub replay: Replay,
    pub markers: Vec<Marker>,
    pub peak: Peak,
    pub final_counters: Counters,
    pub sites: SiteTable,
    /// Call site of each allocation (index into `sites`).
    pub allocation_site: Vec<u32>,
    pub iterations: iterations::Iterations,
    pub fragmentation: Fragmentation,
    pub ooms: Vec<OomReport>,
    pub leaks: Vec<LeakSuspect>,
    pub layout: LayoutIndex,
}

/// What the trace of a device cannot tell (see [`DeviceAnalysis::trace_note`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceNote {
    /// A trace whose start is missing (a wrapped ring); `false`: no trace at all.
    pub partial: bool,
    /// The explanation in plain words.
    pub text: String,
}

impl DeviceAnalysis {
    /// What the trace cannot tell, or `None` when it covers the whole run from an empty
    /// allocator. One text for the command line, the app and the reports.
    pub fn trace_note(&self, variant: FormatVariant) -> Option<TraceNote> {
        if self.trace_complete {
            return None;
        }
        let at_dump = "the figures describe memory when the snapshot was taken";
        let (partial, text) = match variant {
            FormatVariant::BlockHistory if self.events <= 1 => (
                false,
                format!(
                    "This file has the PyTorch 2.0 format (each block carries its own history, \
                     there is no allocator trace): {at_dump}."
                ),
            ),
            _ if self.events == 0 => (
                false,
                format!(
                    "No allocator trace for this device (history was not recorded, or recorded \
                     nothing): {at_dump}."
                ),
            ),
            _ => (
                true,
                format!(
                    "The trace does not start from an empty allocator (the ring buffer wrapped \
                     or history was enabled late): the state before its first event was \
                     reconstructed from the dump; every figure is exact from event {}.",
                    self.replay.exact_from
                ),
            ),
        };
        Some(TraceNote { partial, text })
    }
}

/// The analysis of a whole snapshot.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub devices: Vec<DeviceAnalysis>,
}

impl Analysis {
    pub fn device(&self, device: usize) -> Option<&DeviceAnalysis> {
        self.devices.iter().find(|d| d.device == device)
    }
}

/// Analyses every device of a snapshot (devices in parallel).
pub fn analyze(snap: &Snapshot) -> Analysis {
    let rules = Rules::from_settings(snap.allocator_settings.as_ref());
    let ids = snap.device_ids();
    let devices = ids
        .par_iter()
        .map(|&d| analyze_device(snap, d, &rules))
        .collect();
    Analysis { devices }
}

/// Analyses one device.
pub fn analyze_device(snap: &Snapshot, device: usize, rules: &Rules) -> DeviceAnalysis {
    let empty = crate::model::DeviceTrace {
        device,
        ..Default::default()
    };
    let trace = snap.trace(device).unwrap_or(&empty);
    let dump: Vec<_> = snap.segments_of(device).collect();
    let replay = replay::replay(trace, &dump, rules);
    let events = &trace.events;

    let mut markers = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.action == Action::Snapshot {
            let counters = if i == 0 {
                replay.initial
            } else {
                replay.series.at(i - 1)
            };
            markers.push(Marker { event: i, counters });
        }
    }
    let s = &replay.series;
    let mut peak = Peak {
        allocated: replay.initial.allocated,
        reserved: replay.initial.reserved,
        ..Default::default()
    };
    for i in 0..s.len() {
        if s.allocated[i] > peak.allocated {
            peak.allocated = s.allocated[i];
            peak.allocated_event = i;
        }
        if s.reserved[i] > peak.reserved {
            peak.reserved = s.reserved[i];
            peak.reserved_event = i;
        }
    }
    let final_counters = if s.is_empty() {
        replay.initial
    } else {
        s.at(s.len() - 1)
    };

    let (sites, allocation_site) = sites::SiteTable::build(snap, &replay.allocations);
    let iterations = iterations::detect(snap, device, events);
    let fragmentation = fragmentation::summarize(&replay);
    let layout = LayoutIndex::build(&replay, events.len());
    let ooms = oom::reports(snap, events, &replay, &layout, &sites, &allocation_site);
    let leaks = leaks::find(&replay, &sites, &allocation_site, &iterations, events.len());
    DeviceAnalysis {
        device,
        events: events.len(),
        trace_complete: replay.starts_empty,
        replay,
        markers,
        peak,
        final_counters,
        sites,
        allocation_site,
        iterations,
        fragmentation,
        ooms,
        leaks,
        layout,
    }
}
