//! OOM forensics: for every failed allocation, was it capacity or fragmentation, and what held
//! the memory. The numbers only: the words and the fix are written by the output layer
//! (`output::words`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::allocator::Settings;
use crate::model::{Action, Event, Snapshot, StackId};

use super::pools::Pools;
use super::replay::{Allocation, Replay};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// What an allocation's memory is for, judged from its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Parameters,
    Activations,
    Gradients,
    OptimizerState,
    Other,
}

impl Category {
    /// Every category, in the order the app's colours and legends use.
    pub const ALL: [Category; 5] = [
        Category::Parameters,
        Category::Activations,
        Category::Gradients,
        Category::OptimizerState,
        Category::Other,
    ];

    /// The name reports and JSON use (`optimizer state`).
    pub fn name(self) -> &'static str {
        match self {
            Category::Parameters => "parameters",
            Category::Activations => "activations",
            Category::Gradients => "gradients",
            Category::OptimizerState => "optimizer state",
            Category::Other => "other",
        }
    }

    /// Position in [`Category::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Live memory of one call site at the OOM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteShare {
    /// Index into the device's [`SiteTable`](super::SiteTable).
    pub site: u32,
    pub bytes: u64,
    pub blocks: u64,
}

/// Live memory of one category at the OOM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryShare {
    pub category: Category,
    pub bytes: u64,
    pub blocks: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OomReport {
    pub event: usize,
    pub requested: u64,
    /// The block the request needed: the request rounded as the recording's allocator
    /// settings round it.
    pub block_size: u64,
    pub allocated: u64,
    pub reserved: u64,
    /// Reserved but unallocated bytes (`reserved - allocated`).
    pub free_in_reserved: u64,
    pub largest_free_block: u64,
    /// The part of `free_in_reserved` in the segments of private pools (a CUDA graph's, a
    /// `torch.cuda.MemPool`), which serve only their own requests: the verdict leaves it out,
    /// as it leaves their blocks out of the largest free block it weighs.
    #[serde(skip_serializing_if = "is_zero")]
    pub free_in_private_pools: u64,
    /// The largest free block outside private pools: what the verdict weighs
    /// (`largest_free_block` when the dump has no private pool).
    #[serde(skip)]
    pub largest_usable_block: u64,
    /// Free device memory reported by the driver at the failure.
    pub device_free: u64,
    pub verdict: Verdict,
    /// Live memory by call site at the OOM, largest first (at most [`TOP_SHARES`]).
    pub by_site: Vec<SiteShare>,
    /// Live memory by category, largest first.
    pub by_category: Vec<CategoryShare>,
    pub stack: StackId,
}

/// Call sites and categories an OOM report keeps.
pub const TOP_SHARES: usize = 8;

/// Decides the verdict from the numbers alone (shared with `explain-oom`): `need` is the
/// block the request needed (the request rounded by the allocator's settings).
pub fn verdict(need: u64, free_in_reserved: u64, largest_free_block: Option<u64>) -> Verdict {
    match largest_free_block {
        Some(largest) if free_in_reserved >= need && largest < need => Verdict::Fragmentation,
        // Without the layout (an error message only), a large reserved-but-unallocated pool
        // that covers the request can only be unusable because it is split.
        None if free_in_reserved >= need => Verdict::Fragmentation,
        _ => Verdict::Capacity,
    }
}

/// A coarse category for an allocation's stack, for "what the live memory consists of".
pub fn category(snap: &Snapshot, stack: StackId) -> Category {
    let frames = snap.stacks.get(stack);
    let mut cat = Category::Other;
    for &f in frames {
        let file = snap.frames.filename(f);
        let name = snap.frames.name(f);
        if file.contains("/optim/") {
            return Category::OptimizerState;
        }
        if name.contains("backward") || file.contains("/autograd/") {
            return Category::Gradients;
        }
        if file.ends_with("nn/modules/module.py")
            && matches!(
                name,
                "_apply" | "cuda" | "to" | "<lambda>" | "load_state_dict"
            )
        {
            return Category::Parameters;
        }
        if name == "forward" || name == "_call_impl" || name == "_wrapped_call_impl" {
            cat = Category::Activations;
        }
    }
    cat
}

/// Reports for every `oom` event of a device; `settings` are the recording's, which decide the
/// block a request needed.
pub fn reports(
    snap: &Snapshot,
    events: &[Event],
    replay: &Replay,
    pools: &Pools,
    settings: &Settings,
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
        let block_size = settings.round_size(e.size);
        let (free_in_private_pools, usable_largest) = if pools.has_private() {
            let split = pools.split_at(replay, i);
            (split.private_free, split.largest_outside)
        } else {
            (0, largest)
        };
        let usable = free_in_reserved.saturating_sub(free_in_private_pools);
        let mut by_site: HashMap<u32, (u64, u64)> = HashMap::new();
        let mut by_cat: HashMap<Category, (u64, u64)> = HashMap::new();
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
        let mut by_site = largest_first(by_site, |site, bytes, blocks| SiteShare {
            site,
            bytes,
            blocks,
        });
        by_site.truncate(TOP_SHARES);
        let by_category = largest_first(by_cat, |category, bytes, blocks| CategoryShare {
            category,
            bytes,
            blocks,
        });
        out.push(OomReport {
            event: i,
            requested: e.size,
            block_size,
            allocated,
            reserved,
            free_in_reserved,
            largest_free_block: largest,
            free_in_private_pools,
            largest_usable_block: usable_largest,
            device_free: e.device_free,
            verdict: verdict(block_size, usable, Some(usable_largest)),
            by_site,
            by_category,
            stack: e.stack,
        });
    }
    out
}

/// The `(bytes, blocks)` of each key as shares, the most bytes first (ties by key).
fn largest_first<K: Ord + Copy, T>(
    by: HashMap<K, (u64, u64)>,
    share: impl Fn(K, u64, u64) -> T,
) -> Vec<T> {
    let mut v: Vec<(K, u64, u64)> = by.into_iter().map(|(k, (b, n))| (k, b, n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, b, n)| share(k, b, n)).collect()
}

fn live_at(a: &Allocation, i: usize) -> bool {
    a.allocated_at(i as u32)
}

fn is_zero(v: &u64) -> bool {
    *v == 0
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
    /// Part of `allocated` in private pools (CUDA graphs, `torch.cuda.MemPool`): "with 2.02
    /// GiB allocated in private pools" (PyTorch 2.x, when there is some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_pools: Option<u64>,
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
    m.private_pools = num(", with ", " allocated in private pools");
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

impl OomMessage {
    /// Reserved but unallocated memory: given, or reserved minus allocated (older messages).
    pub fn free_in_reserved(&self) -> u64 {
        match (self.reserved_unallocated, self.reserved, self.allocated) {
            (Some(ru), _, _) => ru,
            (None, Some(r), Some(a)) => r.saturating_sub(a),
            _ => 0,
        }
    }
}

/// The verdict from an error message alone (the message does not say how the allocator was
/// configured, so the request is rounded by the defaults), or `None` when it names no request.
pub fn explain_message(m: &OomMessage) -> Option<Verdict> {
    let need = Settings::default().round_size(m.requested?);
    Some(verdict(need, m.free_in_reserved(), None))
}
