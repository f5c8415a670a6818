//! The `memsight analyze --json` contract, which tests and other tools read:
//!
//! ```text
//! {"devices":[{"device","events","trace_complete",
//!   "markers":[{"event","allocated","active","requested","reserved","inactive_split"}],
//!   "peak":{"allocated","reserved","event"},
//!   "final":{"allocated","active","requested","reserved"},
//!   "fragmentation":{"worst","at_peak_reserved","at_end","max_external"},
//!   "ooms":[{"event","requested","allocated","reserved","free_in_reserved",
//!            "largest_free_block","free_in_private_pools"?,"device_free","verdict",
//!            "advice"}],
//!   "leaks":[{"file","line","function","live_bytes","live_blocks",
//!             "growth_bytes_per_iteration","iterations","confidence"}],
//!   "growth":[{"kind","file","line","function","bytes","iterations"}],
//!   "iteration_source","iterations","iteration_boundaries":[event...],
//!   "findings":[{"kind","severity","title","detail",...}],
//!   "by_annotation":[{"ranges":[name...],"bytes","blocks"}]}]}
//! ```
//! `leaks` lists leak suspects only; `growth` names every leak (`kind: "leak"`) and the
//! largest growth that is not a leak (`one_time`, `bounded`, `transient`). `leaks` is empty
//! when `iterations` is under 3: no leak verdict is possible, and `findings` says so.
//! Marker k holds the counters just before the k-th `snapshot` action of that device's trace;
//! `event` is that action's index. `peak.event` is the event after which `allocated` peaked.
//! `by_annotation` splits the bytes allocated at the peak by the `record_function` ranges
//! (`external_annotations`) active when each block was allocated, outermost first: it sums to
//! `peak.allocated`, with `["(no annotation)"]` for blocks made outside every range and
//! `["(before the trace)"]` for blocks older than the trace; empty when the file has no
//! annotations for the device.
//! Extra fields (`exact_from`, `iteration_source`, `iterations`, `anomalies`) may be added;
//! the ones above are never renamed or removed.

use serde::Serialize;

use crate::analysis::findings::{self, Finding};
use crate::analysis::fragmentation::Fragmentation;
use crate::analysis::{Analysis, DeviceAnalysis, Marker};
use crate::model::FormatVariant;
use crate::output::words;

#[derive(Serialize)]
pub struct AnalysisJson {
    pub devices: Vec<DeviceJson>,
}

#[derive(Serialize)]
pub struct PeakJson {
    pub allocated: u64,
    pub reserved: u64,
    pub event: usize,
    pub reserved_event: usize,
}

#[derive(Serialize)]
pub struct FinalJson {
    pub allocated: u64,
    pub active: u64,
    pub requested: u64,
    pub reserved: u64,
    pub inactive_split: u64,
}

#[derive(Serialize)]
pub struct OomJson {
    pub event: usize,
    pub requested: u64,
    pub allocated: u64,
    pub reserved: u64,
    pub free_in_reserved: u64,
    pub largest_free_block: u64,
    /// Only when the dump has private pools and part of the free memory is theirs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_in_private_pools: Option<u64>,
    pub device_free: u64,
    pub verdict: &'static str,
    pub advice: String,
    pub by_site: Vec<ShareJson>,
    pub by_category: Vec<ShareJson>,
}

/// Live memory of one call site (`workloads.py:158 (forward)`) or category at an OOM.
#[derive(Serialize)]
pub struct ShareJson {
    pub label: String,
    pub bytes: u64,
    pub blocks: u64,
}

#[derive(Serialize)]
pub struct DeviceJson {
    pub device: usize,
    pub events: usize,
    pub trace_complete: bool,
    /// First event index from which every counter is exact (0 for complete traces).
    pub exact_from: u32,
    pub markers: Vec<Marker>,
    pub peak: PeakJson,
    #[serde(rename = "final")]
    pub final_: FinalJson,
    pub fragmentation: Fragmentation,
    pub ooms: Vec<OomJson>,
    pub leaks: Vec<crate::analysis::LeakSuspect>,
    pub growth: Vec<crate::analysis::Growth>,
    pub iteration_source: crate::analysis::iterations::IterationSource,
    /// The annotation name or anchor line the iterations come from, when there is one.
    pub iteration_detail: Option<String>,
    pub iterations: usize,
    /// The event that closes each iteration.
    pub iteration_boundaries: Vec<usize>,
    pub findings: Vec<FindingJson>,
    pub anomalies: usize,
    /// Bytes allocated at the peak per path of `record_function` ranges active when they were
    /// allocated, largest first (empty when the file has no `external_annotations`).
    pub by_annotation: Vec<crate::analysis::calltree::AnnotationShare>,
}

/// A finding: its kind and numbers, with its words.
#[derive(Serialize)]
pub struct FindingJson {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(flatten)]
    pub text: words::FindingText,
}

pub fn device_json(d: &DeviceAnalysis, variant: FormatVariant) -> DeviceJson {
    let f = d.final_counters;
    DeviceJson {
        device: d.device,
        events: d.events,
        trace_complete: d.trace_complete,
        exact_from: d.replay.exact_from,
        markers: d.markers.clone(),
        peak: PeakJson {
            allocated: d.peak.allocated,
            reserved: d.peak.reserved,
            event: d.peak.allocated_event,
            reserved_event: d.peak.reserved_event,
        },
        final_: FinalJson {
            allocated: f.allocated,
            active: f.active,
            requested: f.requested,
            reserved: f.reserved,
            inactive_split: f.inactive_split,
        },
        fragmentation: d.fragmentation.clone(),
        ooms: d
            .ooms
            .iter()
            .map(|o| OomJson {
                event: o.event,
                requested: o.requested,
                allocated: o.allocated,
                reserved: o.reserved,
                free_in_reserved: o.free_in_reserved,
                largest_free_block: o.largest_free_block,
                free_in_private_pools: (o.free_in_private_pools > 0)
                    .then_some(o.free_in_private_pools),
                device_free: o.device_free,
                verdict: o.verdict.name(),
                advice: words::oom_advice(d, o),
                by_site: o
                    .by_site
                    .iter()
                    .map(|s| ShareJson {
                        label: words::site_with_function(d, s.site),
                        bytes: s.bytes,
                        blocks: s.blocks,
                    })
                    .collect(),
                by_category: o
                    .by_category
                    .iter()
                    .map(|c| ShareJson {
                        label: c.category.name().to_string(),
                        bytes: c.bytes,
                        blocks: c.blocks,
                    })
                    .collect(),
            })
            .collect(),
        leaks: d.leaks.clone(),
        growth: d.growth.clone(),
        iteration_source: d.iterations.source,
        iteration_detail: d.iterations.detail.clone(),
        iterations: d.iterations.count(),
        iteration_boundaries: d.iterations.boundaries.clone(),
        findings: findings::findings(d, variant)
            .into_iter()
            .map(|f| FindingJson {
                text: words::finding(&f, d),
                finding: f,
            })
            .collect(),
        anomalies: d.replay.anomalies.len(),
        by_annotation: d.by_annotation.clone(),
    }
}

pub fn to_json(a: &Analysis, variant: FormatVariant) -> AnalysisJson {
    AnalysisJson {
        devices: a.devices.iter().map(|d| device_json(d, variant)).collect(),
    }
}
