//! What a report shows, computed once from the analysis and shared by every format: the
//! diagnosis in a few findings, what held the peak, downsampled time series and leak stacks.
//!
//! Charts are built from one sample per pixel column (never one shape per allocation), so a
//! 1M-event trace gives the same small document as a 1k-event one.

use std::collections::HashMap;

use serde::Serialize;

use crate::analysis::findings::{self, Severity};
use crate::analysis::fragmentation::{external_at, stranded_at};
use crate::analysis::oom::category;
use crate::analysis::{DeviceAnalysis, NONE};
use crate::model::{FormatVariant, Snapshot, StackId};
use crate::output::colours;
use crate::output::words::{self, FindingText};

pub use crate::analysis::sites::NO_STACK;

/// Columns of the memory-over-time chart: about one per pixel of its plot area.
pub const CHART_COLUMNS: usize = 880;
/// Call sites drawn as their own band; the rest is one "other" band.
pub const MAX_BANDS: usize = 8;
/// Rows of the "what held the peak" table.
pub const PEAK_SITES: usize = 10;

/// A call site's share of the live memory at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteShare {
    /// `workloads.py:158`-style label.
    pub label: String,
    pub file: String,
    pub line: i64,
    pub function: String,
    pub bytes: u64,
    pub blocks: u64,
    /// Fraction of the allocated bytes at that moment (0..1).
    pub share: f64,
    /// `parameters`, `activations`, `gradients`, `optimizer state` or `other` (of the largest
    /// block).
    pub category: &'static str,
}

/// What a band stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// One call site.
    Site,
    /// One call site that is a leak suspect.
    Leak,
    /// Every call site not drawn on its own.
    Other,
}

/// One band of the memory-over-time chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub label: String,
    /// Bytes this band holds at each column's sample event.
    pub values: Vec<u64>,
    /// Fill colour (`#rrggbb`): the call site's colour in the app too
    /// ([`crate::output::colours`]).
    pub colour: String,
    pub kind: BandKind,
}

/// The memory-over-time chart, downsampled to [`CHART_COLUMNS`] columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Trace events in the device's trace.
    pub events: usize,
    /// The event each column shows (the one with the most allocated memory in its range, so
    /// no peak is lost between columns). Increasing.
    pub sample: Vec<usize>,
    /// Bottom band first; at each column the bands add up to the allocated bytes.
    pub bands: Vec<Band>,
    /// Highest reserved bytes within each column's range of events.
    pub reserved: Vec<u64>,
    /// OOM events.
    pub ooms: Vec<usize>,
    /// `snapshot` marker events.
    pub markers: Vec<usize>,
    pub peak_event: usize,
}

impl Timeline {
    /// The highest value the chart has to show.
    pub fn max_value(&self) -> u64 {
        let stacked = (0..self.sample.len())
            .map(|c| self.bands.iter().map(|b| b.values[c]).sum::<u64>())
            .max()
            .unwrap_or(0);
        stacked.max(self.reserved.iter().copied().max().unwrap_or(0))
    }
}

/// Fragmentation at one column of the fragmentation chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FragSample {
    pub event: usize,
    pub reserved: u64,
    /// Reserved but not allocated (highest in the column).
    pub reserved_unallocated: u64,
    /// Largest free block at the column's sample event.
    pub largest_free_block: u64,
    /// External fragmentation (0..1) at the column's sample event.
    pub external: f64,
    /// Free bytes outside the largest free block at the column's sample event (the most in
    /// the column): memory no request larger than that block can use.
    pub split: u64,
}

/// One frame of a stack for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackLine {
    pub function: String,
    pub file: String,
    pub line: i64,
    /// The user's own code (not PyTorch, not an installed package, not C++).
    pub user: bool,
}

impl StackLine {
    /// `file:line in function`, with long library paths shortened.
    pub fn text(&self) -> String {
        let file = short_path(&self.file);
        if self.line > 0 {
            format!("{file}:{} in {}", self.line, self.function)
        } else if self.function.is_empty() {
            file
        } else {
            format!("{} ({file})", self.function)
        }
    }
}

/// Shortens `/…/site-packages/torch/x.py` to `torch/x.py`: the prefix is the same on every
/// line and pushes what matters out of view.
pub fn short_path(path: &str) -> String {
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(p) = path.rfind(marker) {
            return path[p + marker.len()..].to_string();
        }
    }
    path.to_string()
}

/// Everything a report shows for one device.
#[derive(Debug, Clone)]
pub struct DeviceReport<'a> {
    pub d: &'a DeviceAnalysis,
    /// The snapshot's format (what its trace can tell).
    pub variant: FormatVariant,
    pub findings: Vec<FindingText>,
    /// The advice of each OOM (same order as `d.ooms`).
    pub oom_advice: Vec<String>,
    /// Call sites live at the allocated peak, largest first.
    pub peak_sites: Vec<SiteShare>,
    pub timeline: Timeline,
    pub frag: Vec<FragSample>,
    /// The representative stack of each leak suspect (same order as `d.leaks`).
    pub leak_stacks: Vec<Vec<StackLine>>,
    /// The representative stack of each OOM (same order as `d.ooms`).
    pub oom_stacks: Vec<Vec<StackLine>>,
    /// Time from the first to the last event, when the trace has times.
    pub duration_us: Option<i64>,
    /// The call site the user selected (the app's export of its selection).
    pub focus: Option<Focus>,
    /// Call trees of the memory at the peak, then at each OOM.
    pub flames: Vec<Flame>,
}

/// What a node of a flame chart stands for (its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlameKind {
    Root,
    /// The user's own line.
    User,
    /// A run of PyTorch, package or standard-library frames.
    Library,
    /// C++ frames.
    Native,
}

/// One bar of a flame chart: a node of the call tree wide enough to see.
#[derive(Debug, Clone, PartialEq)]
pub struct FlameBar {
    /// Left edge and width as fractions of the chart (0..1).
    pub x: f64,
    pub width: f64,
    /// Row, the root's being 0.
    pub depth: u32,
    pub name: String,
    pub bytes: u64,
    pub blocks: u64,
    pub kind: FlameKind,
}

/// The call tree of the memory allocated at one moment, ready to draw (an icicle: the root on
/// top, callees below), library frames folded so that the user's own lines stand out.
#[derive(Debug, Clone, PartialEq)]
pub struct Flame {
    /// `At the peak`, `At OOM 1`.
    pub title: String,
    pub event: Option<usize>,
    /// Bytes at the root: the allocated memory at the moment.
    pub bytes: u64,
    pub bars: Vec<FlameBar>,
    /// The heaviest path: from the root, the largest child each time (name, bytes).
    pub heaviest: Vec<(String, u64)>,
}

/// Bars narrower than this fraction of the chart are left out (a tenth of a pixel's worth
/// would be invisible; their bytes are in their parent's bar).
pub const FLAME_MIN_WIDTH: f64 = 1.0 / 880.0;
/// Rows drawn at most.
pub const FLAME_MAX_DEPTH: u32 = 32;

/// The flame chart of the memory allocated after event `t`.
pub fn flame(snap: &Snapshot, d: &DeviceAnalysis, t: Option<usize>, title: &str) -> Flame {
    use crate::analysis::calltree::{CallTree, Frames, Key, TreeOptions};
    let opts = TreeOptions {
        frames: Frames::FoldLibrary,
        ..Default::default()
    };
    let tree = CallTree::at_event(snap, d, t, &opts);
    let x = tree.layout(0, |n| n.total.bytes);
    let total = tree.root().total.bytes.max(1) as f64;
    let name = |n: u32| crate::output::flamegraph::node_name(snap, &tree, n);
    let bars = tree
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            n.total.bytes as f64 / total >= FLAME_MIN_WIDTH && n.depth < FLAME_MAX_DEPTH
        })
        .map(|(i, n)| FlameBar {
            x: x[i],
            width: n.total.bytes as f64 / total,
            depth: n.depth,
            name: name(i as u32),
            bytes: n.total.bytes,
            blocks: n.total.blocks,
            kind: match n.key {
                Key::Root => FlameKind::Root,
                Key::Frame(_) | Key::Label(_) => FlameKind::User,
                Key::Library(_) => FlameKind::Library,
                Key::Native => FlameKind::Native,
            },
        })
        .collect();
    let mut heaviest = Vec::new();
    let mut n = 0u32;
    while let Some(c) = tree.children(n).next() {
        heaviest.push((name(c), tree.nodes[c as usize].total.bytes));
        n = c;
    }
    Flame {
        title: title.to_string(),
        event: t,
        bytes: tree.root().total.bytes,
        bars,
        heaviest,
    }
}

/// A call site the report singles out: what it allocated, what it held and its stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Focus {
    /// `workloads.py:158`.
    pub site: String,
    pub function: String,
    /// Allocations the site made in the trace.
    pub allocations: u64,
    /// Bytes it held at the allocated peak, and at the end of the trace.
    pub live_at_peak: u64,
    pub live_at_end: u64,
    /// Blocks it held at the end.
    pub blocks_at_end: u64,
    /// Growth per iteration, when the site is a leak suspect.
    pub leak_growth_per_iteration: Option<f64>,
    pub stack: Vec<StackLine>,
}

/// The [`Focus`] of call site `site` (an index into `d.sites`), `None` when there is none.
pub fn focus(snap: &Snapshot, d: &DeviceAnalysis, site: u32) -> Option<Focus> {
    let s = d.sites.get(site)?;
    let end = d.events.checked_sub(1);
    let (mut allocations, mut at_peak, mut at_end, mut blocks) = (0u64, 0u64, 0u64, 0u64);
    for (i, a) in d.replay.allocations.iter().enumerate() {
        if d.allocation_site.get(i) != Some(&site) {
            continue;
        }
        allocations += 1;
        if d.events > 0 && a.allocated_at(d.peak.allocated_event as u32) {
            at_peak += a.size;
        }
        if end.is_some_and(|t| a.allocated_at(t as u32)) {
            at_end += a.size;
            blocks += 1;
        }
    }
    Some(Focus {
        site: s.short_label(),
        function: s.function.clone(),
        allocations,
        live_at_peak: at_peak,
        live_at_end: at_end,
        blocks_at_end: blocks,
        leak_growth_per_iteration: d
            .leaks
            .iter()
            .find(|l| l.site == site)
            .map(|l| l.growth_bytes_per_iteration),
        stack: stack_lines(snap, s.stack),
    })
}

/// The headline verdict of a device, e.g. `Fragmentation OOM` or `Healthy`.
pub fn headline(findings: &[FindingText]) -> String {
    findings
        .iter()
        .find(|f| f.severity == Severity::Problem)
        .or_else(|| findings.first())
        .map(|f| f.title.clone())
        .unwrap_or_else(|| "Nothing to analyse".into())
}

/// Builds the report of one device.
pub fn device_report<'a>(snap: &Snapshot, d: &'a DeviceAnalysis) -> DeviceReport<'a> {
    let events = snap.trace(d.device).map(|t| &t.events[..]).unwrap_or(&[]);
    let duration_us = match (events.first(), events.last()) {
        (Some(a), Some(b)) if a.time_us != 0 && b.time_us != 0 => Some(b.time_us - a.time_us),
        _ => None,
    };
    let peak_t = if d.events == 0 {
        None
    } else {
        Some(d.peak.allocated_event)
    };
    let peak_sites = sites_at(snap, d, peak_t, PEAK_SITES);
    DeviceReport {
        d,
        variant: snap.format.variant,
        findings: words::findings(d, &findings::findings(d, snap.format.variant)),
        oom_advice: d.ooms.iter().map(|o| words::oom_advice(d, o)).collect(),
        timeline: timeline(d, &peak_sites),
        frag: frag_series(d),
        leak_stacks: d
            .leaks
            .iter()
            .map(|l| {
                let stack = d.sites.get(l.site).map(|s| s.stack).unwrap_or(0);
                stack_lines(snap, stack)
            })
            .collect(),
        oom_stacks: d.ooms.iter().map(|o| stack_lines(snap, o.stack)).collect(),
        peak_sites,
        duration_us,
        focus: None,
        flames: std::iter::once(flame(snap, d, peak_t, "At the peak"))
            .chain(
                d.ooms
                    .iter()
                    .enumerate()
                    .map(|(k, o)| flame(snap, d, Some(o.event), &format!("At OOM {}", k + 1))),
            )
            .collect(),
    }
}

/// The frames of a stack, innermost first, C++ frames left out when there are Python ones.
pub fn stack_lines(snap: &Snapshot, stack: StackId) -> Vec<StackLine> {
    let all: Vec<StackLine> = snap
        .stacks
        .get(stack)
        .iter()
        .map(|&f| {
            let fr = snap.frames.get(f);
            let file = snap.frames.filename(f).to_string();
            StackLine {
                function: snap.frames.strings.get(fr.name).to_string(),
                user: !crate::analysis::sites::is_library_file(&file, fr.line),
                file,
                line: fr.line,
            }
        })
        .collect();
    let python: Vec<StackLine> = all
        .iter()
        .filter(|l| crate::analysis::sites::is_python_frame(&l.file, l.line))
        .cloned()
        .collect();
    if python.is_empty() {
        all
    } else {
        python
    }
}

/// Live memory by call site after event `t`, largest first, at most `n` rows.
pub fn sites_at(snap: &Snapshot, d: &DeviceAnalysis, t: Option<usize>, n: usize) -> Vec<SiteShare> {
    // site -> (bytes, blocks, largest block's stack)
    let mut by: HashMap<u32, (u64, u64, u64, StackId)> = HashMap::new();
    let mut total = 0u64;
    for (k, a) in d.replay.allocations.iter().enumerate() {
        if !a.allocated_at_point(t) {
            continue;
        }
        let site = d.allocation_site.get(k).copied().unwrap_or(0);
        let e = by.entry(site).or_insert((0, 0, 0, a.stack));
        e.0 += a.size;
        e.1 += 1;
        if a.size > e.2 {
            e.2 = a.size;
            e.3 = a.stack;
        }
        total += a.size;
    }
    let mut v: Vec<SiteShare> = by
        .into_iter()
        .map(|(site, (b, blocks, _, stack))| {
            let s = d.sites.get(site);
            SiteShare {
                label: match s {
                    Some(s) if s.file == "<unknown>" => NO_STACK.to_string(),
                    Some(s) => s.short_label(),
                    None => String::new(),
                },
                file: s.map(|s| s.file.clone()).unwrap_or_default(),
                line: s.map(|s| s.line).unwrap_or(0),
                function: s.map(|s| s.function.clone()).unwrap_or_default(),
                bytes: b,
                blocks,
                share: if total == 0 {
                    0.0
                } else {
                    b as f64 / total as f64
                },
                category: category(snap, stack).name(),
            }
        })
        .collect();
    v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.label.cmp(&b.label)));
    v.truncate(n);
    v
}

/// Column `c` of `cols` covers events `[c*n/cols, (c+1)*n/cols)`.
fn column_ranges(n: usize, cols: usize) -> Vec<(usize, usize)> {
    (0..cols)
        .map(|c| (c * n / cols, ((c + 1) * n / cols).max(c * n / cols + 1)))
        .collect()
}

/// The memory-over-time chart: top call sites as stacked bands, downsampled.
pub fn timeline(d: &DeviceAnalysis, peak_sites: &[SiteShare]) -> Timeline {
    let n = d.events;
    let s = &d.replay.series;
    if n == 0 || s.len() < n {
        return Timeline::default();
    }
    let cols = CHART_COLUMNS.min(n);
    let mut sample = Vec::with_capacity(cols);
    let mut reserved = Vec::with_capacity(cols);
    for (lo, hi) in column_ranges(n, cols) {
        let mut best = lo;
        let mut res = 0;
        for i in lo..hi {
            if s.allocated[i] > s.allocated[best] {
                best = i;
            }
            res = res.max(s.reserved[i]);
        }
        // Keep the peak event itself when it falls in this column.
        if (lo..hi).contains(&d.peak.allocated_event) {
            best = d.peak.allocated_event;
        }
        sample.push(best);
        reserved.push(res);
    }
    // Live bytes of every site at every column, by difference arrays over the columns.
    let ns = d.sites.sites.len().max(1);
    let mut diff = vec![0i64; ns * (cols + 1)];
    for (k, a) in d.replay.allocations.iter().enumerate() {
        let site = d.allocation_site.get(k).copied().unwrap_or(0) as usize;
        if site >= ns {
            continue;
        }
        let start = if a.alloc_event == NONE {
            0
        } else {
            sample.partition_point(|&x| x < a.alloc_event as usize)
        };
        let end = if a.free_requested == NONE {
            cols
        } else {
            sample.partition_point(|&x| x < a.free_requested as usize)
        };
        if start < end {
            diff[site * (cols + 1) + start] += a.size as i64;
            diff[site * (cols + 1) + end] -= a.size as i64;
        }
    }
    let mut per_site: Vec<Vec<u64>> = Vec::with_capacity(ns);
    let mut tallest: Vec<(u64, usize)> = Vec::with_capacity(ns);
    for site in 0..ns {
        let mut acc = 0i64;
        let mut v = Vec::with_capacity(cols);
        let mut max = 0;
        for c in 0..cols {
            acc += diff[site * (cols + 1) + c];
            let x = acc.max(0) as u64;
            max = max.max(x);
            v.push(x);
        }
        per_site.push(v);
        tallest.push((max, site));
    }
    // Bands: the leak suspects, then the sites that held the peak, then the tallest others.
    let mut chosen: Vec<usize> = Vec::new();
    let push = |site: usize, chosen: &mut Vec<usize>| {
        if chosen.len() < MAX_BANDS && site < ns && !chosen.contains(&site) {
            chosen.push(site);
        }
    };
    for l in d.leaks.iter().take(3) {
        push(l.site as usize, &mut chosen);
    }
    for p in peak_sites.iter().take(MAX_BANDS) {
        if let Some(site) = d
            .sites
            .sites
            .iter()
            .position(|s| s.file == p.file && s.line == p.line && s.function == p.function)
        {
            push(site, &mut chosen);
        }
    }
    tallest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(max, site) in &tallest {
        if max > 0 {
            push(site, &mut chosen);
        }
    }
    // Steady call sites at the bottom, largest first (it reads best), then everything else,
    // then the leak suspects on top in warm colours: the growing part of the stack is theirs.
    let leak_sites: Vec<usize> = d.leaks.iter().take(3).map(|l| l.site as usize).collect();
    let (mut leaking, mut steady): (Vec<usize>, Vec<usize>) =
        chosen.iter().partition(|s| leak_sites.contains(s));
    steady.sort_by_key(|&site| std::cmp::Reverse(per_site[site].iter().sum::<u64>()));
    leaking.sort_by_key(|s| leak_sites.iter().position(|l| l == s));
    let mut other = vec![0u64; cols];
    for (site, v) in per_site.iter().enumerate() {
        if !chosen.contains(&site) {
            for c in 0..cols {
                other[c] += v[c];
            }
        }
    }
    let label = |site: usize| {
        d.sites
            .get(site as u32)
            .map(|s| {
                if s.file == "<unknown>" {
                    NO_STACK.to_string()
                } else if s.function.is_empty() {
                    s.short_label()
                } else {
                    format!("{} ({})", s.short_label(), s.function)
                }
            })
            .unwrap_or_default()
    };
    let fixed = colours::site_colours(d);
    let colour = |site: usize| {
        let fixed = fixed.get(site).copied().flatten();
        let named = || {
            d.sites
                .get(site as u32)
                .map_or(colours::OTHER, colours::by_name)
        };
        colours::hex(fixed.unwrap_or_else(named))
    };
    let mut bands: Vec<Band> = Vec::new();
    for &site in &steady {
        bands.push(Band {
            label: label(site),
            values: std::mem::take(&mut per_site[site]),
            colour: colour(site),
            kind: BandKind::Site,
        });
    }
    if other.iter().any(|&x| x > 0) {
        bands.push(Band {
            label: "other call sites".into(),
            values: other,
            colour: colours::hex(colours::OTHER),
            kind: BandKind::Other,
        });
    }
    for &site in &leaking {
        bands.push(Band {
            label: format!("{} · leak", label(site)),
            values: std::mem::take(&mut per_site[site]),
            colour: colour(site),
            kind: BandKind::Leak,
        });
    }
    let trace_events = n;
    Timeline {
        events: trace_events,
        sample,
        bands,
        reserved,
        ooms: d.ooms.iter().map(|o| o.event).collect(),
        markers: d.markers.iter().map(|m| m.event).collect(),
        peak_event: d.peak.allocated_event,
    }
}

/// Fragmentation over time, one sample per chart column.
pub fn frag_series(d: &DeviceAnalysis) -> Vec<FragSample> {
    let n = d.events;
    let s = &d.replay.series;
    if n == 0 || s.len() < n {
        return Vec::new();
    }
    let cols = CHART_COLUMNS.min(n);
    column_ranges(n, cols)
        .into_iter()
        .map(|(lo, hi)| {
            // The event with the most stranded free memory in the column represents it.
            let split = |i: usize| stranded_at(&d.replay, i);
            let mut best = lo;
            let mut ru = 0;
            for i in lo..hi {
                if split(i) > split(best) {
                    best = i;
                }
                ru = ru.max(s.reserved[i].saturating_sub(s.allocated[i]));
            }
            FragSample {
                event: best,
                reserved: s.reserved[best],
                reserved_unallocated: ru,
                largest_free_block: s.largest_free[best],
                external: external_at(&d.replay, best),
                split: split(best),
            }
        })
        .collect()
}
