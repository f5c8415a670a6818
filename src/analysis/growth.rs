//! Growth by call site, named for what it is: a leak, or memory that grows for a reason.
//!
//! The iterations ([`super::iterations`]) cut the trace into windows; for every call site
//! the analysis knows which window made each allocation that is still live at the end (its
//! *survivors*) and the site's live bytes at every boundary. From that:
//!
//! - **leak**: survivors from at least [`MIN_ITERATIONS`] windows, the site's live bytes
//!   rising at those boundaries, and still growing at the end: no window without survivors
//!   since the last one longer than the site's own cadence (a validation pass every fourth
//!   step that keeps its graph leaks every fourth step). A site whose live bytes rise at each
//!   of the last [`MIN_ITERATIONS`] boundaries through the end (a tensor replaced by a larger
//!   one every step) is a leak too. Never with fewer than [`MIN_ITERATIONS`] iterations.
//! - **one-time**: survivors from one or two windows only: made once and kept (weights,
//!   optimizer state created in the first `step()`, lazy initialisation, workspaces).
//! - **bounded**: survivors from several windows, then no more for longer than its cadence:
//!   a cache that filled up, optimizer state filled parameter by parameter.
//! - **transient**: live bytes that climb inside an iteration and are released by its end
//!   (a KV cache per request, activations between forward and backward).
//!
//! A leak's confidence is the product of four parts, each 0..1 (README explains them):
//! breadth (`1 - 2^-(w-2)` for survivors from `w` windows: 0.5 at 3, 0.94 at 6), regularity
//! (the share of boundaries in its span where its live bytes did not fall), continuation
//! (1 when it grew in the last window, less the longer it has been quiet) and the trust in
//! the iteration source (1 for markers and annotations, 0.9 for optimizer steps, 0.8 for the
//! loop's period). It is capped at 0.99: a trace can show a leak, not prove it.

use serde::{Deserialize, Serialize};

use super::iterations::{Iterations, MIN_ITERATIONS};
use super::replay::{Replay, NONE};
use super::sites::SiteTable;

/// A leak suspect (the `leaks` entries of `analyze --json`, never renamed; read back from
/// `memsight summarize` files, without `site` and `series`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// 0..0.99, from the evidence (see the module doc).
    pub confidence: f64,
    /// Live bytes at each iteration boundary (for sparklines).
    #[serde(skip)]
    pub series: Vec<u64>,
}

/// What kind of growth a call site shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrowthKind {
    Leak,
    OneTime,
    Bounded,
    Transient,
}

impl GrowthKind {
    /// The name outputs use (`one-time`).
    pub fn name(self) -> &'static str {
        match self {
            GrowthKind::Leak => "leak",
            GrowthKind::OneTime => "one-time",
            GrowthKind::Bounded => "bounded",
            GrowthKind::Transient => "transient",
        }
    }
}

/// One call site's growth (the `growth` entries of `analyze --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub kind: GrowthKind,
    #[serde(skip)]
    pub site: u32,
    pub file: String,
    pub line: i64,
    pub function: String,
    /// Leak, one-time, bounded: bytes still held at the end. Transient: the most it climbed
    /// inside one iteration above the level it started and ended at.
    pub bytes: u64,
    /// Iterations it grew in (transient: iterations it climbed in).
    pub iterations: usize,
}

/// Growth entries kept of each non-leak kind (the largest first).
const KEEP: [(GrowthKind, usize); 3] = [
    (GrowthKind::OneTime, 5),
    (GrowthKind::Bounded, 10),
    (GrowthKind::Transient, 3),
];

/// The result of the classification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Classified {
    /// Leak suspects, the most growth per iteration first.
    pub leaks: Vec<LeakSuspect>,
    /// Every leak, then the largest other growth of each kind.
    pub growth: Vec<Growth>,
}

/// What one site did across the windows.
#[derive(Default, Clone)]
struct SiteWindows {
    /// Bytes and blocks live at the end.
    live_end: (u64, u64),
    /// Windows that made survivors, increasing, deduplicated.
    survivor_windows: Vec<usize>,
    /// Survivors that were allocated before the trace began.
    before_trace: bool,
    /// Bytes live when the trace began (blocks from before a wrapped ring).
    initial: u64,
    /// The most its live bytes climbed inside one window, and in how many windows it climbed.
    transient: (u64, usize),
}

/// Classifies every call site's growth. `peak_allocated` scales what counts as worth naming.
pub fn classify(
    replay: &Replay,
    sites: &SiteTable,
    allocation_site: &[u32],
    iterations: &Iterations,
    events: usize,
    peak_allocated: u64,
) -> Classified {
    if events == 0 {
        return Classified::default();
    }
    // The end of the trace closes the last (partial) window.
    let mut b = iterations.boundaries.clone();
    if b.last().is_none_or(|&l| l + 1 < events) {
        b.push(events - 1);
    }
    let nb = b.len();
    let ns = sites.sites.len();
    let window = |e: u32| -> usize {
        if e == NONE {
            0
        } else {
            b.partition_point(|&x| x < e as usize)
        }
    };
    // Live bytes per site at each boundary, by difference arrays.
    let mut diff = vec![0i64; ns * (nb + 1)];
    let mut per_site = vec![SiteWindows::default(); ns];
    for (k, a) in replay.allocations.iter().enumerate() {
        let s = allocation_site.get(k).copied().unwrap_or(0) as usize;
        if s >= ns {
            continue;
        }
        let start = window(a.alloc_event);
        if a.alloc_event == NONE {
            per_site[s].initial += a.size;
        }
        let end = if a.free_requested == NONE {
            nb
        } else {
            window(a.free_requested)
        };
        if start < end {
            diff[s * (nb + 1) + start] += a.size as i64;
            diff[s * (nb + 1) + end] -= a.size as i64;
        }
        if a.free_requested == NONE {
            per_site[s].live_end.0 += a.size;
            per_site[s].live_end.1 += 1;
            // Blocks from before the trace (a wrapped ring) are not growth the trace saw,
            // but they are evidence that the site kept memory before it.
            if a.alloc_event == NONE {
                per_site[s].before_trace = true;
            } else {
                per_site[s].survivor_windows.push(start);
            }
        }
    }
    if iterations.count() >= 2 {
        transient_climbs(replay, allocation_site, &b, &mut per_site);
    }
    // The last window in which anything was allocated, and that is an iteration: a window
    // after it (the dump after the last marker) says nothing about whether a site stopped
    // growing.
    let last_iteration = if iterations.open_end {
        nb - 1
    } else {
        iterations.count().saturating_sub(1)
    };
    let last_active = replay
        .allocations
        .iter()
        .filter(|a| a.alloc_event != NONE)
        .map(|a| window(a.alloc_event))
        .max()
        .unwrap_or(0)
        .min(last_iteration);
    let noteworthy = (peak_allocated / 100).max(1 << 20);
    let mut out = Classified::default();
    let mut others: Vec<Growth> = Vec::new();
    for (s, w) in per_site.iter_mut().enumerate() {
        let mut series = Vec::with_capacity(nb);
        let mut acc = 0i64;
        for k in 0..nb {
            acc += diff[s * (nb + 1) + k];
            series.push(acc.max(0) as u64);
        }
        w.survivor_windows.sort_unstable();
        w.survivor_windows.dedup();
        let site = &sites.sites[s];
        let entry = |kind: GrowthKind, bytes: u64, iterations: usize| Growth {
            kind,
            site: s as u32,
            file: site.file.clone(),
            line: site.line,
            function: site.function.clone(),
            bytes,
            iterations,
        };
        if iterations.can_judge_leaks() {
            if let Some(leak) = leak(s as u32, site, w, &series, iterations, last_active) {
                out.growth
                    .push(entry(GrowthKind::Leak, leak.live_bytes, leak.iterations));
                out.leaks.push(leak);
                continue;
            }
        }
        let made_in = w.survivor_windows.len();
        if w.live_end.0 >= noteworthy && made_in > 0 {
            let kind = if made_in >= MIN_ITERATIONS {
                GrowthKind::Bounded
            } else {
                GrowthKind::OneTime
            };
            others.push(entry(kind, w.live_end.0, made_in));
        } else if w.transient.0 >= noteworthy {
            others.push(entry(GrowthKind::Transient, w.transient.0, w.transient.1));
        }
    }
    out.leaks.sort_by(|a, b| {
        b.growth_bytes_per_iteration
            .total_cmp(&a.growth_bytes_per_iteration)
            .then(a.line.cmp(&b.line))
    });
    out.growth
        .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.line.cmp(&b.line)));
    others.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.line.cmp(&b.line)));
    for (kind, keep) in KEEP {
        out.growth
            .extend(others.iter().filter(|g| g.kind == kind).take(keep).cloned());
    }
    out
}

/// The leak verdict of one site, or `None` (see the module doc).
fn leak(
    site: u32,
    cs: &super::sites::CallSite,
    w: &SiteWindows,
    series: &[u64],
    iterations: &Iterations,
    last_active: usize,
) -> Option<LeakSuspect> {
    let nb = series.len();
    let last_window = last_active.min(nb - 1);
    if w.live_end.0 == 0 {
        return None;
    }
    // Survivors from before a wrapped ring count as growth in its first window.
    let mut sw = w.survivor_windows.clone();
    if w.before_trace && sw.first() != Some(&0) {
        sw.insert(0, 0);
    }
    let (first, grew_in, quiet_for, cadence) = if sw.len() >= MIN_ITERATIONS {
        let cadence = sw.windows(2).map(|p| p[1] - p[0]).max().unwrap_or(1).max(1);
        let quiet = last_window.saturating_sub(sw[sw.len() - 1]);
        (sw[0], sw.len(), quiet, cadence)
    } else {
        // A tensor replaced by a larger one every iteration: only the last survives, but the
        // live bytes rise at each of the last boundaries.
        let active = &series[..=last_window];
        let flat_tail = active.windows(2).rev().take_while(|p| p[1] == p[0]).count();
        let rising = active
            .windows(2)
            .rev()
            .skip(flat_tail)
            .take_while(|p| p[1] > p[0])
            .count();
        if rising < MIN_ITERATIONS || flat_tail > 1 {
            return None;
        }
        (last_window - flat_tail - rising, rising, flat_tail, 1)
    };
    if quiet_for > cadence {
        return None; // it stopped growing: bounded, not a leak
    }
    let (mut rises, mut falls) = (0usize, 0usize);
    for k in first.max(1)..nb {
        if series[k] > series[k - 1] {
            rises += 1;
        } else if series[k] < series[k - 1] {
            falls += 1;
        }
    }
    let start_live = if first == 0 {
        w.initial
    } else {
        series[first - 1]
    };
    if rises < 2 || falls * 4 > rises || w.live_end.0 <= start_live {
        return None;
    }
    let span = (nb - first).max(1) as f64;
    let breadth = 1.0 - 0.5f64.powi(grew_in as i32 - 2);
    let regularity = rises as f64 / (rises + falls) as f64;
    let continuation = 1.0 - 0.5 * quiet_for as f64 / (cadence + 1) as f64;
    let confidence = (breadth * regularity * continuation * iterations.source.trust()).min(0.99);
    Some(LeakSuspect {
        site,
        file: cs.file.clone(),
        line: cs.line,
        function: cs.function.clone(),
        live_bytes: w.live_end.0,
        live_blocks: w.live_end.1,
        growth_bytes_per_iteration: (w.live_end.0 - start_live) as f64 / span,
        iterations: grew_in,
        confidence: (confidence * 100.0).round() / 100.0,
        series: series.to_vec(),
    })
}

/// For every site, the most its live bytes climbed inside one window above both the level
/// it started the window at and the level it ended it at, and how many windows it climbed
/// in. One pass over the allocations' events.
fn transient_climbs(
    replay: &Replay,
    allocation_site: &[u32],
    boundaries: &[usize],
    per_site: &mut [SiteWindows],
) {
    let ns = per_site.len();
    let mut level = vec![0u64; ns];
    let mut start = vec![0u64; ns];
    let mut peak = vec![0u64; ns];
    let mut touched: Vec<usize> = Vec::new();
    let mut seen = vec![false; ns];
    let site_of = |k: usize| {
        allocation_site
            .get(k)
            .map(|&s| s as usize)
            .filter(|&s| s < ns)
    };
    for (k, a) in replay.allocations.iter().enumerate() {
        if let (Some(s), true) = (site_of(k), a.alloc_event == NONE) {
            level[s] += a.size;
        }
    }
    start.copy_from_slice(&level);
    peak.copy_from_slice(&level);
    let mut next = 0usize;
    for (i, &k) in replay.event_allocation.iter().enumerate() {
        if k != NONE {
            let a = &replay.allocations[k as usize];
            if let Some(s) = site_of(k as usize) {
                if a.alloc_event as usize == i {
                    level[s] += a.size;
                    peak[s] = peak[s].max(level[s]);
                } else if a.free_requested as usize == i {
                    level[s] = level[s].saturating_sub(a.size);
                }
                if !seen[s] {
                    seen[s] = true;
                    touched.push(s);
                }
            }
        }
        if boundaries.get(next) == Some(&i) {
            next += 1;
            for &s in &touched {
                let climb = peak[s].saturating_sub(start[s].max(level[s]));
                if climb > 0 {
                    let t = &mut per_site[s].transient;
                    t.0 = t.0.max(climb);
                    t.1 += 1;
                }
                start[s] = level[s];
                peak[s] = level[s];
                seen[s] = false;
            }
            touched.clear();
        }
    }
}
