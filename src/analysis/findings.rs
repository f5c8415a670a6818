//! The diagnosis of a device as one list of typed findings: what is wrong (or what cannot be
//! known), how serious it is, with the numbers, events and call sites it rests on.
//!
//! Every output renders this one list: the command line, the reports, `check` and the app's
//! Diagnosis view. The words are written once, at the edge (`output::words`); nothing here
//! is prose, so a verdict cannot say one thing on the command line and another in the app.

use serde::Serialize;

use super::fragmentation::FragmentationPoint;
use super::growth::GrowthKind;
use super::iterations::IterationSource;
use super::oom::Verdict;
use super::DeviceAnalysis;
use crate::model::FormatVariant;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something failed or will (an OOM, a leak).
    Problem,
    /// Worth a look, or a verdict the data cannot support (fragmentation, an incomplete
    /// trace, too few iterations to judge leaks).
    Warning,
    /// Growth that is explained and not a leak (optimizer state, a cache that filled up).
    Note,
    /// Nothing wrong was found, and the data could have shown it.
    Ok,
}

/// Share of reserved memory stranded at peak reserved from which fragmentation is worth a
/// finding of its own (when no fragmentation OOM says so already).
pub const FRAGMENTATION_WORTH_A_WORD: f64 = 0.1;

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// An out-of-memory error: `index` into [`DeviceAnalysis::ooms`].
    Oom { index: usize, verdict: Verdict },
    /// Leak suspects ([`DeviceAnalysis::leaks`], the most growth first).
    Leaks { count: usize },
    /// Too few iterations to tell a leak from memory made once and kept: no leak verdict.
    NoLeakVerdict {
        iterations: usize,
        source: IterationSource,
    },
    /// Growth that is not a leak ([`DeviceAnalysis::growth`] entries of other kinds): memory
    /// that grew and stopped, or was made once and kept while no leak verdict is possible.
    ExplainedGrowth { count: usize },
    /// At peak reserved, `share` of the reserved memory was stranded in holes.
    Fragmented { share: f64, at: FragmentationPoint },
    /// The trace does not start from an empty allocator (a wrapped ring): figures are exact
    /// from `exact_from`.
    TraceIncomplete { exact_from: u32 },
    /// There is no allocator trace; `block_history`: a PyTorch 2.0 file, whose blocks carry
    /// their own histories.
    NoTrace { block_history: bool },
    /// Events that contradict the allocator's state (a double free, a segment reserved twice,
    /// an impossible size): figures from `first_event` on cannot be trusted.
    Inconsistent { count: usize, first_event: usize },
    /// No OOM and no leak, in a trace that could have shown them.
    Healthy,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        match self {
            Finding::Oom { .. } | Finding::Leaks { .. } => Severity::Problem,
            Finding::Fragmented { .. }
            | Finding::TraceIncomplete { .. }
            | Finding::NoTrace { .. }
            | Finding::NoLeakVerdict { .. }
            | Finding::Inconsistent { .. } => Severity::Warning,
            Finding::ExplainedGrowth { .. } => Severity::Note,
            Finding::Healthy => Severity::Ok,
        }
    }

    /// The event the evidence is at, for views that can jump there.
    pub fn event(&self, d: &DeviceAnalysis) -> Option<usize> {
        match self {
            Finding::Oom { index, .. } => d.ooms.get(*index).map(|o| o.event),
            Finding::Fragmented { at, .. } => Some(at.event),
            Finding::TraceIncomplete { exact_from } => Some(*exact_from as usize),
            Finding::Inconsistent { first_event, .. } => Some(*first_event),
            _ => None,
        }
    }

    /// The call site the finding is about, for views that can select it.
    pub fn site(&self, d: &DeviceAnalysis) -> Option<u32> {
        match self {
            Finding::Leaks { .. } => d.leaks.first().map(|l| l.site),
            Finding::ExplainedGrowth { .. } => explained_growth(d).next().map(|g| g.site),
            _ => None,
        }
    }
}

/// What the trace of a device cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceNote {
    /// The start is missing (a wrapped ring, or history enabled late): the state before the
    /// first event was reconstructed from the dump; figures are exact from `exact_from`.
    Partial { exact_from: u32 },
    /// A PyTorch 2.0 file: blocks carry their own histories, there is no allocator trace.
    BlockHistory,
    /// History was not recorded, or recorded nothing, for this device.
    Empty,
}

impl DeviceAnalysis {
    /// What the trace cannot tell, or `None` when it covers the whole run from an empty
    /// allocator.
    pub fn trace_note(&self, variant: FormatVariant) -> Option<TraceNote> {
        if self.trace_complete {
            return None;
        }
        Some(match variant {
            FormatVariant::BlockHistory if self.events <= 1 => TraceNote::BlockHistory,
            _ if self.events == 0 => TraceNote::Empty,
            _ => TraceNote::Partial {
                exact_from: self.replay.exact_from,
            },
        })
    }
}

/// Growth entries that are not leaks and worth a finding: what stopped growing (bounded),
/// and while no leak verdict is possible, what was made once and kept.
pub fn explained_growth(d: &DeviceAnalysis) -> impl Iterator<Item = &super::Growth> {
    let judged = d.iterations.can_judge_leaks();
    d.growth.iter().filter(move |g| match g.kind {
        GrowthKind::Bounded => true,
        GrowthKind::OneTime => !judged,
        GrowthKind::Leak | GrowthKind::Transient => false,
    })
}

/// The diagnosis of one device: every OOM, the leak suspects (or why there can be no leak
/// verdict), growth that is not a leak, fragmentation when it matters, what the trace cannot
/// tell, and a clean bill only when the trace could have shown a problem and shows none.
pub fn findings(d: &DeviceAnalysis, variant: FormatVariant) -> Vec<Finding> {
    let mut out: Vec<Finding> = d
        .ooms
        .iter()
        .enumerate()
        .map(|(index, o)| Finding::Oom {
            index,
            verdict: o.verdict,
        })
        .collect();
    let note = d.trace_note(variant);
    let has_trace =
        d.events > 0 && !matches!(note, Some(TraceNote::BlockHistory) | Some(TraceNote::Empty));
    if !d.leaks.is_empty() {
        out.push(Finding::Leaks {
            count: d.leaks.len(),
        });
    } else if has_trace && !d.iterations.can_judge_leaks() {
        out.push(Finding::NoLeakVerdict {
            iterations: d.iterations.count(),
            source: d.iterations.source,
        });
    }
    let explained = explained_growth(d).count();
    if has_trace && explained > 0 {
        out.push(Finding::ExplainedGrowth { count: explained });
    }
    if let Some((share, at)) = d.fragmentation.stranded_share_at_peak() {
        let (share, at) = if d.pools.has_private() {
            outside_private_pools(d, at)
        } else {
            (share, at)
        };
        let has_frag_oom = d.ooms.iter().any(|o| o.verdict == Verdict::Fragmentation);
        if !has_frag_oom && share >= FRAGMENTATION_WORTH_A_WORD {
            out.push(Finding::Fragmented { share, at });
        }
    }
    match note {
        Some(TraceNote::Partial { exact_from }) => {
            out.push(Finding::TraceIncomplete { exact_from })
        }
        Some(TraceNote::BlockHistory) => out.push(Finding::NoTrace {
            block_history: true,
        }),
        Some(TraceNote::Empty) => out.push(Finding::NoTrace {
            block_history: false,
        }),
        None => {}
    }
    if let Some(first) = d.replay.anomalies.first() {
        out.push(Finding::Inconsistent {
            count: d.replay.anomalies.len(),
            first_event: first.event as usize,
        });
    }
    let judged = has_trace && d.iterations.can_judge_leaks() && d.replay.anomalies.is_empty();
    if judged && !out.iter().any(|f| f.severity() == Severity::Problem) {
        out.insert(0, Finding::Healthy);
    }
    out
}

/// The headline: the first problem, else the first finding.
pub fn headline(findings: &[Finding]) -> Option<&Finding> {
    findings
        .iter()
        .find(|f| f.severity() == Severity::Problem)
        .or_else(|| findings.first())
}

/// The fragmentation point `at` without the segments of private pools (a CUDA graph's, a
/// `torch.cuda.MemPool`): their free memory serves only their own pool's requests, which no
/// allocator setting changes, so it is not what `expandable_segments` would recover. Returns
/// the share of the rest's reserved memory stranded outside its largest free block.
fn outside_private_pools(d: &DeviceAnalysis, at: FragmentationPoint) -> (f64, FragmentationPoint) {
    let split = d.pools.split_at(&d.replay, at.event);
    let private_used = split.private_reserved.saturating_sub(split.private_free);
    let reserved = at.reserved.saturating_sub(split.private_reserved);
    let free = at
        .reserved
        .saturating_sub(at.active)
        .saturating_sub(split.private_free);
    let stranded = free.saturating_sub(split.largest_outside);
    let p = FragmentationPoint {
        reserved,
        allocated: at.allocated.saturating_sub(private_used),
        active: at.active.saturating_sub(private_used),
        reserved_unallocated: at.reserved_unallocated.saturating_sub(split.private_free),
        largest_free_block: split.largest_outside,
        stranded,
        external: if free == 0 {
            0.0
        } else {
            (1.0 - split.largest_outside as f64 / free as f64).clamp(0.0, 1.0)
        },
        ..at
    };
    let share = if reserved == 0 {
        0.0
    } else {
        stranded as f64 / reserved as f64
    };
    (share, p)
}
