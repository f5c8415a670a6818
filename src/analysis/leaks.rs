//! Leaks as growing bands: call sites whose surviving allocations pile up iteration after
//! iteration.
//!
//! A site is a suspect when memory it allocated in several different iterations is still
//! allocated at the end, and its live bytes at iteration boundaries rise and (almost) never
//! fall. A buffer allocated once and kept (weights, optimizer state) survives from a single
//! iteration, and memory freed later is not live at the end: neither is reported.

use serde::Serialize;

use super::iterations::Iterations;
use super::replay::{Replay, NONE};
use super::sites::SiteTable;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakSuspect {
    /// Index into the device's [`SiteTable`].
    #[serde(skip)]
    pub site: u32,
    pub file: String,
    pub line: i64,
    pub function: String,
    /// Bytes this site still holds at the end of the trace.
    pub live_bytes: u64,
    pub live_blocks: u64,
    pub growth_bytes_per_iteration: f64,
    /// Iterations in which the site's live memory grew.
    pub iterations: usize,
    /// 0..1: how steadily it grew (never shrinking, over many iterations).
    pub confidence: f64,
    /// Live bytes at each iteration boundary (for sparklines).
    #[serde(skip)]
    pub series: Vec<u64>,
}

/// Finds leak suspects, the most growth first.
pub fn find(
    replay: &Replay,
    sites: &SiteTable,
    allocation_site: &[u32],
    iterations: &Iterations,
    events: usize,
) -> Vec<LeakSuspect> {
    // The end of the trace closes the last (partial) iteration.
    let mut b = iterations.boundaries.clone();
    if b.last().is_some_and(|&l| l + 1 < events) {
        b.push(events - 1);
    }
    let b = &b;
    if b.len() < 3 || events == 0 {
        return Vec::new();
    }
    let nb = b.len();
    let ns = sites.sites.len();
    // Live bytes per site at each boundary, by difference arrays.
    let mut diff = vec![0i64; ns * (nb + 1)];
    let mut live_end = vec![(0u64, 0u64); ns];
    let mut bins: Vec<Vec<usize>> = vec![Vec::new(); ns];
    for (k, a) in replay.allocations.iter().enumerate() {
        let s = allocation_site.get(k).copied().unwrap_or(0) as usize;
        if s >= ns {
            continue;
        }
        let start = if a.alloc_event == NONE {
            0
        } else {
            b.partition_point(|&x| x < a.alloc_event as usize)
        };
        let end = if a.free_requested == NONE {
            nb
        } else {
            b.partition_point(|&x| x < a.free_requested as usize)
        };
        if start < end {
            diff[s * (nb + 1) + start] += a.size as i64;
            diff[s * (nb + 1) + end] -= a.size as i64;
        }
        if a.free_requested == NONE {
            live_end[s].0 += a.size;
            live_end[s].1 += 1;
            bins[s].push(start);
        }
    }
    let mut out = Vec::new();
    for s in 0..ns {
        if live_end[s].0 == 0 {
            continue;
        }
        let mut series = Vec::with_capacity(nb);
        let mut acc = 0i64;
        for k in 0..nb {
            acc += diff[s * (nb + 1) + k];
            series.push(acc.max(0) as u64);
        }
        let mut distinct = bins[s].clone();
        distinct.sort_unstable();
        distinct.dedup();
        let Some(first) = series.iter().position(|&v| v > 0) else {
            continue;
        };
        let (mut grew, mut shrank) = (0usize, 0usize);
        for k in first + 1..nb {
            if series[k] > series[k - 1] {
                grew += 1;
            } else if series[k] < series[k - 1] {
                shrank += 1;
            }
        }
        let end_live = live_end[s].0;
        let start_live = series[first];
        if distinct.len() < 3 || grew < 2 || end_live <= start_live || shrank * 4 > grew {
            continue;
        }
        let span = (nb - 1 - first).max(1) as f64;
        let growth = (end_live as f64 - start_live as f64) / span;
        let steadiness = grew as f64 / (grew + shrank) as f64;
        let breadth = (distinct.len() as f64 / 5.0).min(1.0);
        let confidence = (steadiness * breadth * 100.0).round() / 100.0;
        let site = &sites.sites[s];
        out.push(LeakSuspect {
            site: s as u32,
            file: site.file.clone(),
            line: site.line,
            function: site.function.clone(),
            live_bytes: end_live,
            live_blocks: live_end[s].1,
            growth_bytes_per_iteration: growth,
            // Appearing after the first boundary is growth too: the site held nothing before.
            iterations: grew + usize::from(first > 0),
            confidence,
            series,
        });
    }
    out.sort_by(|a, b| {
        b.growth_bytes_per_iteration
            .total_cmp(&a.growth_bytes_per_iteration)
            .then(a.line.cmp(&b.line))
    });
    out
}
