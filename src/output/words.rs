//! The diagnosis in words: the one place where findings, OOM verdicts and trace notes become
//! sentences. The command line, the reports and the app all call these functions, so a
//! verdict reads the same wherever it is shown.

use serde::Serialize;

use crate::analysis::findings::{self, Finding, Severity, TraceNote};
use crate::analysis::growth::{Growth, GrowthKind};
use crate::analysis::iterations::{IterationSource, Iterations, MIN_ITERATIONS};
use crate::analysis::oom::{OomReport, Verdict};
use crate::analysis::pools::{PoolInfo, PoolKind};
use crate::analysis::DeviceAnalysis;
use crate::units::{bytes, count, plural, signed_bytes};

/// A finding as a short title and one paragraph with the numbers and the fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingText {
    pub severity: Severity,
    /// Short, e.g. `Fragmentation OOM` or `Memory leak at workloads.py:158`.
    pub title: String,
    /// One paragraph with the numbers and the fix.
    pub detail: String,
}

/// `workloads.py:158` for call site `site` of `d` (empty when there is none).
pub fn site_label(d: &DeviceAnalysis, site: u32) -> String {
    d.sites
        .get(site)
        .map(|s| s.short_label())
        .unwrap_or_default()
}

/// `workloads.py:158 (forward)` for call site `site` of `d`.
pub fn site_with_function(d: &DeviceAnalysis, site: u32) -> String {
    d.sites
        .get(site)
        .map(|s| format!("{} ({})", s.short_label(), s.function))
        .unwrap_or_default()
}

/// Where the iterations came from, e.g. `snapshot markers` or `the optimizer's step() calls`.
/// A memory pool's name: `default pool`, `CUDA graph pool (1, 0)` or `user pool (0, 1)`
/// (PyTorch's pool id in brackets, as `segment_pool_id` gives it).
pub fn pool_name(p: &PoolInfo) -> String {
    let (a, b) = p.id;
    match p.kind {
        PoolKind::Default => "default pool".into(),
        PoolKind::Graph => format!("CUDA graph pool ({a}, {b})"),
        PoolKind::User => format!("user pool ({a}, {b})"),
    }
}

pub fn iteration_source(it: &Iterations) -> String {
    let detail = it.detail.as_deref().unwrap_or("?");
    match it.source {
        IterationSource::Markers => "snapshot markers".into(),
        IterationSource::Annotations => format!("{detail} annotations"),
        IterationSource::OptimizerSteps => "the optimizer's step() calls".into(),
        IterationSource::Period => format!("the loop's period (each step allocates at {detail})"),
        IterationSource::Site => format!("allocations at {detail}"),
        IterationSource::None => "nothing in the trace".into(),
    }
}

/// What the leak analysis of a device concluded, in one sentence: the suspects' rule, no leak,
/// or why there is no verdict.
pub fn leak_summary(d: &DeviceAnalysis) -> String {
    let n = d.iterations.count();
    let from = iteration_source(&d.iterations);
    if !d.iterations.can_judge_leaks() {
        format!(
            "No leak verdict: {n} iteration{} found (from {from}); telling a leak from memory \
             made once and kept takes at least {MIN_ITERATIONS}.",
            plural(n)
        )
    } else if d.leaks.is_empty() {
        format!(
            "No leak: no call site's live memory grows across the {n} iterations (from {from})."
        )
    } else {
        format!(
            "Call sites whose allocations from several iterations are still alive at the end \
             and whose live memory keeps rising at iteration boundaries ({n} iterations, from \
             {from})."
        )
    }
}

/// What the trace cannot tell, in one sentence or two.
pub fn trace_note(note: TraceNote) -> String {
    let at_dump = "the figures describe memory when the snapshot was taken";
    match note {
        TraceNote::BlockHistory => format!(
            "This file has the PyTorch 2.0 format (each block carries its own history, there \
             is no allocator trace): {at_dump}."
        ),
        TraceNote::Empty => format!(
            "No allocator trace for this device (history was not recorded, or recorded \
             nothing): {at_dump}."
        ),
        TraceNote::Partial { exact_from } => format!(
            "The trace does not start from an empty allocator (the ring buffer wrapped or \
             history was enabled late): the state before its first event was reconstructed \
             from the dump; every figure is exact from event {exact_from}."
        ),
    }
}

/// The fix for an OOM verdict, with the numbers. `largest`: the largest free block, when the
/// layout is known (not from an error message alone).
pub fn oom_fix(
    verdict: Verdict,
    requested: u64,
    free_in_reserved: u64,
    largest: Option<u64>,
) -> String {
    match verdict {
        Verdict::Fragmentation => {
            let mib = (requested >> 20).max(1);
            let split = (mib.next_power_of_two() / 2).max(1).min(mib);
            format!(
                "Fragmentation: {} is reserved but unallocated, enough for the {} request, but {}. \
                 Set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True so freed pages can be \
                 remapped into one contiguous range; or max_split_size_mb:{split} so large cached \
                 blocks are not carved into small pieces. Calling torch.cuda.empty_cache() before \
                 the large allocation also returns the scattered free blocks.",
                bytes(free_in_reserved),
                bytes(requested),
                match largest {
                    Some(l) => format!("the largest free block is only {}", bytes(l)),
                    None => "it is split into pieces too small to hold it".into(),
                }
            )
        }
        Verdict::Capacity => {
            // A free block as large as the request that still could not serve it: it was
            // another stream's (or the small pool's), which the counters cannot tell apart.
            let why = match largest {
                Some(l) if l >= requested => format!(
                    "{} is reserved but unallocated and a free block of {} could have held the \
                     {} request, yet it failed: cached blocks serve only requests on their own \
                     stream (and the small pool's 2 MiB segments only requests of up to 1 MiB), \
                     so what this request could use was less than it",
                    bytes(free_in_reserved),
                    bytes(l),
                    bytes(requested)
                ),
                _ => format!(
                    "only {} is reserved but unallocated, less than the {} request",
                    bytes(free_in_reserved),
                    bytes(requested)
                ),
            };
            format!(
                "Capacity: the live tensors need more memory than the device allows; {why}. \
                 Reduce what is live: a smaller batch (with gradient accumulation to keep the \
                 effective batch), bf16/AMP autocast, activation checkpointing, \
                 torch.inference_mode() for evaluation, a lighter optimizer state (e.g. 8-bit \
                 or SGD), or free references you no longer need."
            )
        }
    }
}

/// The advice for an OOM of the trace: the fix, and for a capacity OOM the call sites that
/// held the most.
pub fn oom_advice(d: &DeviceAnalysis, o: &OomReport) -> String {
    let mut text = oom_fix(
        o.verdict,
        o.requested,
        o.free_in_reserved.saturating_sub(o.free_in_private_pools),
        Some(o.largest_usable_block),
    );
    if o.verdict == Verdict::Capacity && !o.by_site.is_empty() {
        let top: Vec<String> = o
            .by_site
            .iter()
            .take(3)
            .map(|s| format!("{} {}", site_with_function(d, s.site), bytes(s.bytes)))
            .collect();
        text.push_str(&format!(" Largest live call sites: {}.", top.join(", ")));
    }
    text.push_str(&private_pools_note(o));
    text
}

/// A finding in words.
pub fn finding(f: &Finding, d: &DeviceAnalysis) -> FindingText {
    let (title, detail) = match f {
        Finding::Oom { index, verdict } => oom_finding(d, *index, *verdict),
        Finding::Leaks { count } => leaks_finding(d, *count),
        Finding::NoLeakVerdict { iterations, .. } => (
            format!(
                "No leak verdict: {iterations} iteration{} found",
                plural(*iterations)
            ),
            format!(
                "Telling a leak from memory that is made once and kept (optimizer state, a \
                 cache, a workspace) takes at least {MIN_ITERATIONS} iterations; this trace \
                 shows {iterations} (from {}). Record at least {MIN_ITERATIONS} steps and call \
                 torch.cuda.memory._snapshot() after each one to mark them, or name a line that \
                 runs once per step with --iterations site:FILE:LINE.{}",
                iteration_source(&d.iterations),
                if d.ooms.is_empty() {
                    " No out-of-memory error in the trace."
                } else {
                    ""
                }
            ),
        ),
        Finding::ExplainedGrowth { .. } => {
            ("Growth that is not a leak".into(), explained_growth(d))
        }
        Finding::Fragmented { share, at } => (
            "Fragmented free memory".into(),
            format!(
                "At peak reserved (event {}), {} of the {} reserved was free, yet the largest \
                 free block was only {}: {:.0}% of the reserved memory sat in smaller holes. \
                 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True lets the allocator reuse them.{}",
                at.event,
                bytes(at.reserved_unallocated),
                bytes(at.reserved),
                bytes(at.largest_free_block),
                share * 100.0,
                if d.pools.has_private() {
                    " These figures leave out the segments of CUDA graph and user memory pools \
                     (see the pool filter): their free memory serves only their own pool's \
                     requests, which no setting changes."
                } else {
                    ""
                }
            ),
        ),
        Finding::TraceIncomplete { exact_from } => (
            "Trace incomplete".into(),
            format!(
                "{} Raise max_entries in _record_memory_history to see the whole run.",
                trace_note(TraceNote::Partial {
                    exact_from: *exact_from
                })
            ),
        ),
        Finding::NoTrace { block_history } => (
            "No allocator trace".into(),
            trace_note(if *block_history {
                TraceNote::BlockHistory
            } else {
                TraceNote::Empty
            }),
        ),
        Finding::Inconsistent { count, first_event } => (
            format!("Inconsistent trace from event {first_event}"),
            format!(
                "{count} event{} contradict{} the allocator's state, the first at event \
                 {first_event}: {}. Figures from event {first_event} on cannot be trusted: the \
                 file may be damaged or edited, or come from an allocator memsight does not \
                 model.",
                plural(*count),
                if *count == 1 { "s" } else { "" },
                d.replay
                    .anomalies
                    .first()
                    .map(|a| a.what.as_str())
                    .unwrap_or("?")
            ),
        ),
        Finding::Healthy => (
            "Healthy".into(),
            format!(
                "No out-of-memory error and no leak: no call site's live memory grows across \
                 iterations. Peak {} allocated, {} reserved.",
                bytes(d.peak.allocated),
                bytes(d.peak.reserved)
            ),
        ),
    };
    FindingText {
        severity: f.severity(),
        title,
        detail,
    }
}

/// What a kind of growth means, for one call site.
pub fn growth_kind(kind: GrowthKind) -> &'static str {
    match kind {
        GrowthKind::Leak => "grows iteration after iteration and is never freed",
        GrowthKind::OneTime => {
            "made once and kept (weights, optimizer state, lazy initialisation, a workspace)"
        }
        GrowthKind::Bounded => {
            "grew for a few iterations, then stopped (a cache that filled up, \
             optimizer state created parameter by parameter)"
        }
        GrowthKind::Transient => "climbs inside an iteration and is released by its end",
    }
}

/// One growth entry: `train.py:41 (step): 64.00 MiB, one-time: made once and kept (...)`.
pub fn growth_entry(g: &Growth) -> String {
    let name = g.file.rsplit('/').next().unwrap_or(&g.file);
    let iters = match g.kind {
        GrowthKind::OneTime => String::new(),
        _ => format!(" over {} iteration{}", g.iterations, plural(g.iterations)),
    };
    format!(
        "{name}:{} ({}): {}{iters}, {}: {}",
        g.line,
        g.function,
        bytes(g.bytes),
        g.kind.name(),
        growth_kind(g.kind)
    )
}

fn explained_growth(d: &DeviceAnalysis) -> String {
    let entries: Vec<String> = findings::explained_growth(d)
        .take(3)
        .map(growth_entry)
        .collect();
    format!(
        "{}. None of it keeps growing to the end of the trace.",
        entries.join("; ")
    )
}

/// What sits free in private pools at an OOM, which the verdict left out (empty when nothing).
fn private_pools_note(o: &OomReport) -> String {
    if o.free_in_private_pools == 0 {
        return String::new();
    }
    format!(
        " Another {} was free in the segments of a CUDA graph's private pool or a \
         torch.cuda.MemPool (see the pool filter), which serve only that pool's requests: a \
         captured graph keeps its pool, with what was freed inside the capture, while the graph \
         lives. Delete graphs you no longer replay, keep large temporaries out of the capture, \
         or share one pool between captures (torch.cuda.graph(pool=...)).",
        bytes(o.free_in_private_pools)
    )
}

/// Said after the device-wide fragmentation figures of a file with private pools: they count
/// every pool's segments, and a pool's free memory serves only its own requests.
pub fn all_pools_caveat(d: &DeviceAnalysis) -> &'static str {
    if d.pools.has_private() {
        " These figures count the segments of every memory pool together; a CUDA graph's or a \
         user pool's free memory serves only that pool's requests (see the pool filter)."
    } else {
        ""
    }
}

/// For `explain-oom`: the private pools' share of the allocated memory an OOM message gives
/// (how much of it is free there the message does not say; a snapshot does).
pub fn private_pools_in_message(private: u64) -> String {
    format!(
        " {} of the allocated memory is in private pools (CUDA graphs, torch.cuda.MemPool), \
         whose segments serve only their own pool's requests, including what was freed inside a \
         graph's capture: delete graphs you no longer replay, or record a memory snapshot to see \
         how much of it is free.",
        bytes(private)
    )
}

fn oom_finding(d: &DeviceAnalysis, index: usize, verdict: Verdict) -> (String, String) {
    let title = match verdict {
        Verdict::Fragmentation => "Fragmentation OOM",
        Verdict::Capacity => "Capacity OOM",
    };
    let Some(o) = d.ooms.get(index) else {
        return (title.into(), String::new());
    };
    let free = if o.free_in_private_pools > 0 {
        format!(
            "{} of it free, {} of that in private pools",
            bytes(o.free_in_reserved),
            bytes(o.free_in_private_pools)
        )
    } else {
        format!("{} of it free", bytes(o.free_in_reserved))
    };
    let detail = format!(
        "A {} request failed at event {} with {} allocated and {} reserved ({free}), \
         largest free block {}{}. {}",
        bytes(o.requested),
        o.event,
        bytes(o.allocated),
        bytes(o.reserved),
        bytes(o.largest_usable_block),
        if o.free_in_private_pools > 0 {
            " outside them"
        } else {
            ""
        },
        match verdict {
            Verdict::Fragmentation => {
                "The free memory is split into holes smaller than the request. Fix: \
                 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (details below)."
            }
            Verdict::Capacity => {
                "The live tensors do not fit. Fix: make less live at once (details below)."
            }
        }
    );
    (title.into(), detail)
}

fn leaks_finding(d: &DeviceAnalysis, suspects: usize) -> (String, String) {
    let Some(l) = d.leaks.first() else {
        return ("Memory leak".into(), String::new());
    };
    let others = suspects.saturating_sub(1);
    let site = site_label(d, l.site);
    (
        format!("Memory leak at {site}"),
        format!(
            "{site} in {} keeps {} alive in {}, {} per iteration, growing in {}{}. Look for tensors kept across iterations: a loss summed without \
             .item() or torch.no_grad(), outputs appended to a list, a cache that never evicts.",
            l.function,
            bytes(l.live_bytes),
            count(l.live_blocks, "block"),
            signed_bytes(l.growth_bytes_per_iteration as i64),
            count(l.iterations as u64, "iteration"),
            if others > 0 {
                format!(" ({others} more suspect{} below)", plural(others))
            } else {
                String::new()
            }
        ),
    )
}

/// Every finding of a device in words, in order.
pub fn findings(d: &DeviceAnalysis, findings: &[Finding]) -> Vec<FindingText> {
    findings.iter().map(|f| finding(f, d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// A capacity verdict never says the free memory was less than the request when it was
    /// not (a free block on another stream can be as large as the request and still not
    /// serve it).
    #[test]
    fn a_capacity_fix_states_only_what_the_numbers_show() {
        let short = oom_fix(Verdict::Capacity, 600 * MIB, 100 * MIB, Some(64 * MIB));
        assert!(
            short.contains("only 100.00 MiB is reserved but unallocated, less than the 600.00 MiB"),
            "{short}"
        );
        let other_stream = oom_fix(Verdict::Capacity, 600 * MIB, 900 * MIB, Some(800 * MIB));
        assert!(!other_stream.contains("less than the"), "{other_stream}");
        assert!(
            other_stream.contains("a free block of 800.00 MiB could have held"),
            "{other_stream}"
        );
    }
}
