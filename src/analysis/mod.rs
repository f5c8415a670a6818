//! Analysis: what the allocator did, reconstructed from the trace.
//!
//! [`analyze`] replays every device (in parallel with rayon) and derives what the views and
//! reports need: counters at every event, allocation lifetimes, fragmentation over time, leak
//! suspects grouped by the user's line of code, and a verdict for every OOM.

pub mod calltree;
pub mod diff;
pub mod findings;
pub mod fragmentation;
pub mod growth;
pub mod iterations;
pub mod layout;
pub mod oom;
pub mod point;
pub mod pools;
pub mod replay;
pub mod sites;

use rayon::prelude::*;

use crate::allocator::Settings;
use crate::model::{Action, Snapshot};

pub use fragmentation::Fragmentation;
pub use growth::{Growth, GrowthKind, LeakSuspect};
pub use iterations::{IterationSource, IterationSpec, Iterations};
pub use layout::{BlockView, LayoutIndex, SegmentView};
pub use oom::{OomReport, Verdict};
pub use replay::{Allocation, Counters, Replay, SegmentSpan, Series, NONE};
pub use sites::{CallSite, SiteAt, SiteKey, SiteTable};

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
    pub iterations: Iterations,
    pub fragmentation: Fragmentation,
    pub ooms: Vec<OomReport>,
    /// Leak suspects, the most growth per iteration first (empty when the iterations
    /// cannot support a verdict: see [`Iterations::can_judge_leaks`]).
    pub leaks: Vec<LeakSuspect>,
    /// Every leak, then the other growth worth naming (one-time, bounded, transient).
    pub growth: Vec<Growth>,
    pub layout: LayoutIndex,
    /// The memory pools of the dump (CUDA graph and user pools) and each block's pool.
    pub pools: pools::Pools,
    /// Bytes allocated at the peak per path of `record_function` ranges active when they were
    /// allocated (empty when the file has no annotations for this device).
    pub by_annotation: Vec<calltree::AnnotationShare>,
}

impl DeviceAnalysis {
    /// Each call site's memory after event `t` (`None`: what is still allocated at the end,
    /// the only state of a trace-less dump), indexed like `sites.sites`: what `memsight diff`
    /// compares and `memsight ranks` keeps of each rank.
    pub fn sites_at(&self, t: Option<usize>) -> Vec<SiteAt> {
        let mut by_site = vec![SiteAt::default(); self.sites.sites.len()];
        for (k, a) in self.replay.allocations.iter().enumerate() {
            let Some(s) = self
                .allocation_site
                .get(k)
                .and_then(|&s| by_site.get_mut(s as usize))
            else {
                continue;
            };
            if a.allocated_at_point(t) {
                s.live_bytes += a.size;
                s.live_blocks += 1;
            }
            if a.alloc_event != NONE && t.is_some_and(|t| a.alloc_event as usize <= t) {
                s.allocs += 1;
            }
        }
        by_site
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

/// What the user can choose about an analysis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Where iterations come from (`--iterations`).
    pub iterations: IterationSpec,
}

/// Analyses every device of a snapshot (devices in parallel), with the default options.
pub fn analyze(snap: &Snapshot) -> Analysis {
    analyze_with(snap, &Options::default())
}

/// Analyses every device of a snapshot (devices in parallel).
pub fn analyze_with(snap: &Snapshot, options: &Options) -> Analysis {
    let settings = Settings::from_snapshot(snap);
    let ids = snap.device_ids();
    let devices = ids
        .par_iter()
        .map(|&d| analyze_device(snap, d, &settings, options))
        .collect();
    Analysis { devices }
}

/// Analyses one device; `settings` are the allocator settings the snapshot was recorded
/// under.
pub fn analyze_device(
    snap: &Snapshot,
    device: usize,
    settings: &Settings,
    options: &Options,
) -> DeviceAnalysis {
    let empty = crate::model::DeviceTrace {
        device,
        ..Default::default()
    };
    let trace = snap.trace(device).unwrap_or(&empty);
    let dump: Vec<_> = snap.segments_of(device).collect();
    let replay = replay::replay(trace, &dump, settings);
    let pools = pools::Pools::build(&replay, &dump);
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

    // What follows the replay reads it and does not depend on the rest: the call-site chain
    // (sites, then iterations and growth beside the OOM reports) on one core, the layout
    // index and fragmentation on the other.
    let by_site = || {
        let (sites, allocation_site) = sites::SiteTable::build(snap, &replay.allocations);
        let (judged, ooms) = rayon::join(
            || {
                let iterations = iterations::detect(
                    &iterations::Context {
                        snap,
                        device,
                        events,
                        replay: &replay,
                        sites: &sites,
                        allocation_site: &allocation_site,
                    },
                    &options.iterations,
                );
                // A single event (a PyTorch 2.0 file, or a dump with one marker) cannot show
                // growth.
                let classified = if events.len() < 2 {
                    growth::Classified::default()
                } else {
                    growth::classify(
                        &replay,
                        &sites,
                        &allocation_site,
                        &iterations,
                        events.len(),
                        peak.allocated,
                    )
                };
                (iterations, classified)
            },
            || oom::reports(snap, events, &replay, &pools, settings, &allocation_site),
        );
        (sites, allocation_site, judged, ooms)
    };
    let (by_site, (layout, fragmentation)) = rayon::join(by_site, || {
        rayon::join(
            || LayoutIndex::build(&replay, events.len()),
            || fragmentation::summarize(&replay),
        )
    });
    let (sites, allocation_site, (iterations, classified), ooms) = by_site;
    let growth::Classified { leaks, growth } = classified;
    let mut d = DeviceAnalysis {
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
        growth,
        layout,
        pools,
        by_annotation: Vec::new(),
    };
    let peak_t = (d.events > 0).then_some(d.peak.allocated_event);
    d.by_annotation = calltree::by_annotation(snap, &d, peak_t);
    d
}
