//! OOM forensics: for every failed allocation, was it capacity or fragmentation, and what fixes
//! it.

use serde::Serialize;

use crate::model::{Action, Event, Snapshot, StackId};
use crate::output::format::bytes;

use super::layout::LayoutIndex;
use super::replay::{Allocation, Replay, Rules};
use super::sites::SiteTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Enough memory is free inside reserved segments, but no single free block is large
    /// enough.
    Fragmentation,
    /// The live tensors themselves do not fit.
    Capacity,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Fragmentation => "fragmentation",
            Verdict::Capacity => "capacity",
        }
    }
}

/// Live memory of one call site or category at the OOM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveShare {
    pub label: String,
    pub bytes: u64,
    pub blocks: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OomReport {
    pub event: usize,
    pub requested: u64,
    pub allocated: u64,
    pub reserved: u64,
    /// Reserved but unallocated bytes (`reserved - allocated`).
    pub free_in_reserved: u64,
    pub largest_free_block: u64,
    /// Free device memory reported by the driver at the failure.
    pub device_free: u64,
    pub verdict: Verdict,
    /// The fix, in one paragraph with the numbers.
    pub advice: String,
    /// Live memory by call site at the OOM, largest first.
    pub by_site: Vec<LiveShare>,
    /// Live memory by category (parameters, activations, gradients, optimizer state, other).
    pub by_category: Vec<LiveShare>,
    pub stack: StackId,
}

/// Decides the verdict from the numbers alone (shared with `explain-oom`).
pub fn verdict(requested: u64, free_in_reserved: u64, largest_free_block: Option<u64>) -> Verdict {
    let need = Rules::default().round_size(requested);
    match largest_free_block {
        Some(largest) if free_in_reserved >= need && largest < need => Verdict::Fragmentation,
        // Without the layout (an error message only), a large reserved-but-unallocated pool
        // that covers the request can only be unusable because it is split.
        None if free_in_reserved >= need => Verdict::Fragmentation,
        _ => Verdict::Capacity,
    }
}

/// The fix for a verdict, with the numbers.
pub fn advice(
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
        Verdict::Capacity => format!(
            "Capacity: the live tensors need more memory than the device allows; only {} is \
             reserved but unallocated, less than the {} request. Reduce what is live: a smaller \
             batch (with gradient accumulation to keep the effective batch), bf16/AMP autocast, \
             activation checkpointing, torch.inference_mode() for evaluation, a lighter \
             optimizer state (e.g. 8-bit or SGD), or free references you no longer need.",
            bytes(free_in_reserved),
            bytes(requested)
        ),
    }
}

/// A coarse category for an allocation's stack, for "what the live memory consists of".
pub fn category(snap: &Snapshot, stack: StackId) -> &'static str {
    let frames = snap.stacks.get(stack);
    let mut cat = "other";
    for &f in frames {
        let file = snap.frames.filename(f);
        let name = snap.frames.name(f);
        if file.contains("/optim/") {
            return "optimizer state";
        }
        if name.contains("backward") || file.contains("/autograd/") {
            return "gradients";
        }
        if file.ends_with("nn/modules/module.py")
            && matches!(
                name,
                "_apply" | "cuda" | "to" | "<lambda>" | "load_state_dict"
            )
        {
            return "parameters";
        }
        if name == "forward" || name == "_call_impl" || name == "_wrapped_call_impl" {
            cat = "activations";
        }
    }
    cat
}

fn top_shares(mut v: Vec<LiveShare>, n: usize) -> Vec<LiveShare> {
    v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.label.cmp(&b.label)));
    v.truncate(n);
    v
}

/// Reports for every `oom` event of a device.
pub fn reports(
    snap: &Snapshot,
    events: &[Event],
    replay: &Replay,
    _layout: &LayoutIndex,
    sites: &SiteTable,
    allocation_site: &[u32],
) -> Vec<OomReport> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.action != Action::Oom {
            continue;
        }
        let s = &replay.series;
        let (allocated, reserved, largest) = (s.allocated[i], s.reserved[i], s.largest_free[i]);
        let free_in_reserved = reserved.saturating_sub(allocated);
        let v = verdict(e.size, free_in_reserved, Some(largest));
        let mut by_site: std::collections::HashMap<u32, (u64, u64)> = Default::default();
        let mut by_cat: std::collections::HashMap<&'static str, (u64, u64)> = Default::default();
        for (k, a) in replay.allocations.iter().enumerate() {
            if !live_at(a, i) {
                continue;
            }
            let site = allocation_site.get(k).copied().unwrap_or(0);
            let entry = by_site.entry(site).or_default();
            entry.0 += a.size;
            entry.1 += 1;
            let c = by_cat.entry(category(snap, a.stack)).or_default();
            c.0 += a.size;
            c.1 += 1;
        }
        let by_site = top_shares(
            by_site
                .into_iter()
                .map(|(site, (b, n))| LiveShare {
                    label: sites
                        .get(site)
                        .map(|s| format!("{} ({})", s.short_label(), s.function))
                        .unwrap_or_default(),
                    bytes: b,
                    blocks: n,
                })
                .collect(),
            8,
        );
        let by_category = top_shares(
            by_cat
                .into_iter()
                .map(|(c, (b, n))| LiveShare {
                    label: c.to_string(),
                    bytes: b,
                    blocks: n,
                })
                .collect(),
            8,
        );
        let mut advice_text = advice(v, e.size, free_in_reserved, Some(largest));
        if v == Verdict::Capacity && !by_site.is_empty() {
            let top: Vec<String> = by_site
                .iter()
                .take(3)
                .map(|s| format!("{} {}", s.label, bytes(s.bytes)))
                .collect();
            advice_text.push_str(&format!(" Largest live call sites: {}.", top.join(", ")));
        }
        out.push(OomReport {
            event: i,
            requested: e.size,
            allocated,
            reserved,
            free_in_reserved,
            largest_free_block: largest,
            device_free: e.device_free,
            verdict: v,
            advice: advice_text,
            by_site,
            by_category,
            stack: e.stack,
        });
    }
    out
}

fn live_at(a: &Allocation, i: usize) -> bool {
    a.allocated_at(i as u32)
}

/// The numbers in a `torch.cuda.OutOfMemoryError` message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OomMessage {
    pub requested: Option<u64>,
    pub total_capacity: Option<u64>,
    pub device_free: Option<u64>,
    pub process_in_use: Option<u64>,
    pub allowed: Option<u64>,
    pub allocated: Option<u64>,
    pub reserved_unallocated: Option<u64>,
    /// Older messages give "reserved in total by PyTorch".
    pub reserved: Option<u64>,
    pub gpu: Option<u32>,
}

/// Parses the text of an OOM error (PyTorch 1.x and 2.x formats).
pub fn parse_message(text: &str) -> OomMessage {
    let t = text.replace('\n', " ");
    let num = |re_before: &str, after: &str| -> Option<u64> { find_size(&t, re_before, after) };
    let mut m = OomMessage {
        requested: num("Tried to allocate ", ""),
        ..Default::default()
    };
    // 2.x: "GPU 0 has a total capacity of 79.18 GiB of which 76.08 GiB is free."
    m.total_capacity = num("total capacity of ", "");
    m.device_free = num("of which ", " is free").or_else(|| num("; ", " free;"));
    m.process_in_use = num("this process has ", " memory in use");
    m.allowed = num("in use. ", " allowed").or_else(|| num("; ", " allowed"));
    m.allocated = num("Of the allocated memory ", " is allocated by PyTorch")
        .or_else(|| num("; ", " already allocated"));
    m.reserved_unallocated = num(" and ", " is reserved by PyTorch but unallocated");
    m.reserved = num("; ", " reserved in total by PyTorch");
    m.gpu = t
        .find("GPU ")
        .and_then(|p| t[p + 4..].split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok());
    m
}

/// Finds the size that follows `before` (and precedes `after`, when given) in `t`.
fn find_size(t: &str, before: &str, after: &str) -> Option<u64> {
    let mut search = 0;
    while let Some(p) = t[search..].find(before) {
        let start = search + p + before.len();
        let rest = &t[start..];
        if let Some((value, used)) = parse_size_prefix(rest) {
            if after.is_empty() || rest[used..].starts_with(after) {
                return Some(value);
            }
        }
        search = start;
    }
    None
}

/// Parses "600.00 MiB" / "1.02 GiB" / "0 bytes" at the start of `s`.
fn parse_size_prefix(s: &str) -> Option<(u64, usize)> {
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    if num_end == 0 {
        return None;
    }
    let value: f64 = s[..num_end].parse().ok()?;
    let rest = &s[num_end..];
    let rest_trim = rest.trim_start();
    let skipped = rest.len() - rest_trim.len();
    for (unit, mult) in [
        ("bytes", 1.0),
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("TiB", 1024f64.powi(4)),
        ("B", 1.0),
    ] {
        if rest_trim.starts_with(unit) {
            return Some((
                (value * mult).round() as u64,
                num_end + skipped + unit.len(),
            ));
        }
    }
    None
}

/// Verdict and advice from an error message alone.
pub fn explain_message(m: &OomMessage) -> Option<(Verdict, String)> {
    let requested = m.requested?;
    let free_in_reserved = match (m.reserved_unallocated, m.reserved, m.allocated) {
        (Some(ru), _, _) => ru,
        (None, Some(r), Some(a)) => r.saturating_sub(a),
        _ => 0,
    };
    let v = verdict(requested, free_in_reserved, None);
    Some((v, advice(v, requested, free_in_reserved, None)))
}
