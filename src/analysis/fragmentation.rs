//! Fragmentation over time: how much reserved memory is free, and how badly it is split.
//!
//! One measure is used everywhere (the diagnosis, the reports, `check`, the app): memory is
//! *stranded* when it is free inside reserved segments but outside the largest free block, so
//! no request larger than that block can use it. Free means neither allocated nor waiting on
//! another stream (`reserved - active`).

use serde::Serialize;

use super::replay::Replay;

/// Fragmentation figures at one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FragmentationPoint {
    pub event: usize,
    pub reserved: u64,
    pub allocated: u64,
    pub active: u64,
    /// `reserved - allocated`: what PyTorch calls "reserved but unallocated".
    pub reserved_unallocated: u64,
    pub largest_free_block: u64,
    /// Free bytes outside the largest free block (see the module doc).
    pub stranded: u64,
    /// `1 - largest free block / free bytes in reserved memory` (0: one free block; near 1:
    /// the free memory is in many small pieces).
    pub external: f64,
    pub inactive_split: u64,
    pub segments: u32,
}

/// Summary of the fragmentation series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fragmentation {
    /// The moment with the most free memory *outside* the largest free block (free bytes no
    /// single large request could use). A fully free cached segment is not fragmentation.
    pub worst: Option<FragmentationPoint>,
    /// The moment of peak reserved memory.
    pub at_peak_reserved: Option<FragmentationPoint>,
    /// After the last event.
    pub at_end: Option<FragmentationPoint>,
    /// Highest external fragmentation while at least 1% of reserved memory was free.
    pub max_external: f64,
}

/// Stranded bytes after event `i`: free in reserved memory, outside the largest free block.
pub fn stranded_at(r: &Replay, i: usize) -> u64 {
    let s = &r.series;
    s.reserved[i]
        .saturating_sub(s.active[i])
        .saturating_sub(s.largest_free[i])
}

/// External fragmentation at event `i`.
pub fn external_at(r: &Replay, i: usize) -> f64 {
    let s = &r.series;
    let free = s.reserved[i].saturating_sub(s.active[i]);
    if free == 0 {
        0.0
    } else {
        (1.0 - s.largest_free[i] as f64 / free as f64).clamp(0.0, 1.0)
    }
}

pub fn point(r: &Replay, i: usize) -> FragmentationPoint {
    let s = &r.series;
    FragmentationPoint {
        event: i,
        reserved: s.reserved[i],
        allocated: s.allocated[i],
        active: s.active[i],
        reserved_unallocated: s.reserved[i].saturating_sub(s.allocated[i]),
        largest_free_block: s.largest_free[i],
        stranded: stranded_at(r, i),
        external: external_at(r, i),
        inactive_split: s.inactive_split[i],
        segments: s.segments[i],
    }
}

pub fn summarize(r: &Replay) -> Fragmentation {
    let s = &r.series;
    if s.is_empty() {
        return Fragmentation::default();
    }
    let mut worst = 0;
    let mut peak = 0;
    let mut max_external: f64 = 0.0;
    for i in 0..s.len() {
        if stranded_at(r, i) > stranded_at(r, worst) {
            worst = i;
        }
        if s.reserved[i] > s.reserved[peak] {
            peak = i;
        }
        let free = s.reserved[i].saturating_sub(s.active[i]);
        if free * 100 >= s.reserved[i] && free > 0 {
            max_external = max_external.max(external_at(r, i));
        }
    }
    Fragmentation {
        worst: Some(point(r, worst)),
        at_peak_reserved: Some(point(r, peak)),
        at_end: Some(point(r, s.len() - 1)),
        max_external,
    }
}

impl Fragmentation {
    /// Fragmentation as one figure: the share of reserved memory stranded at the moment of
    /// peak reserved memory, with that moment. 0 when the free memory was one block (or none),
    /// near 1 when most reserved memory sat in holes too small to use. Momentary figures such
    /// as `max_external` are high in healthy runs (a cache of freed activations is free and
    /// split), so they make poor verdicts and gates.
    pub fn stranded_share_at_peak(&self) -> Option<(f64, FragmentationPoint)> {
        let p = self.at_peak_reserved?;
        if p.reserved == 0 {
            return Some((0.0, p));
        }
        Some((p.stranded as f64 / p.reserved as f64, p))
    }
}
