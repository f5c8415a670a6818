//! Two moments of memory compared call site by call site: the numbers behind `memsight diff`
//! and the app's Diff view, defined once so that both always agree.
//!
//! Each side is a device's analysis and a [`Point`] of its trace. Call sites are matched by
//! file, line and function, so the comparison survives a re-run; for each one the diff puts the
//! live bytes and blocks at both points side by side, with the allocations made up to each
//! point, and sorts them into grew, shrank, new and gone. No prose here: `output::diff` words
//! it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::point::{resolve, Point, PointError};
use super::sites::{self, SiteKey};
use super::{DeviceAnalysis, SiteAt};

/// One side of a diff: a device of a file at a point.
#[derive(Debug, Clone, Copy)]
pub struct Moment<'a> {
    /// Shown in the output, usually the file name.
    pub name: &'a str,
    pub device: &'a DeviceAnalysis,
    pub point: Point,
}

/// How a call site changed from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Live in B only.
    New,
    /// More live bytes in B.
    Grew,
    /// Fewer live bytes in B (still some).
    Shrank,
    /// Live in A only.
    Gone,
    /// Same live bytes (possibly zero in both, with allocations made).
    Same,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Grew => "grew",
            Change::Shrank => "shrank",
            Change::Gone => "gone",
            Change::Same => "same",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteDiff {
    /// `workloads.py:158`.
    pub label: String,
    pub file: String,
    pub line: i64,
    pub function: String,
    pub a: SiteAt,
    pub b: SiteAt,
    /// `b.live_bytes - a.live_bytes`.
    pub delta_bytes: i64,
    pub change: Change,
}

/// The whole-trace and at-the-point figures of one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideSummary {
    pub name: String,
    pub device: usize,
    /// The point as asked (`peak`, `marker:1`, ...).
    pub point: String,
    /// The event it resolved to (`None`: the dump of a trace-less file).
    pub event: Option<usize>,
    pub events: usize,
    pub allocated: u64,
    pub reserved: u64,
    pub active: u64,
    pub peak_allocated: u64,
    pub peak_reserved: u64,
    pub ooms: usize,
    /// Verdict of each OOM in the trace.
    pub oom_verdicts: Vec<&'static str>,
    pub leaks: usize,
    /// See [`crate::analysis::Fragmentation::stranded_share_at_peak`].
    pub fragmentation_at_peak_reserved: f64,
}

/// Two moments side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub a: SideSummary,
    pub b: SideSummary,
    /// Every call site live (or allocating) at either point, largest change first.
    pub sites: Vec<SiteDiff>,
}

impl Diff {
    /// Sites with a given change, in order.
    pub fn with(&self, c: Change) -> impl Iterator<Item = &SiteDiff> {
        self.sites.iter().filter(move |s| s.change == c)
    }

    /// The unchanged sites that hold memory, in order.
    pub fn unchanged_holding(&self) -> impl Iterator<Item = &SiteDiff> {
        self.with(Change::Same).filter(|x| x.a.live_bytes > 0)
    }

    /// How many unchanged sites hold memory, and the bytes they hold at both points.
    pub fn unchanged_held(&self) -> (usize, u64) {
        self.unchanged_holding()
            .fold((0, 0), |(n, b), x| (n + 1, b + x.a.live_bytes))
    }

    /// Whether no call site's live memory changed between the two points.
    pub fn nothing_changed(&self) -> bool {
        self.sites.iter().all(|x| x.change == Change::Same)
    }
}

/// The sites live (or allocating) at `t`, by key.
fn sites_at(d: &DeviceAnalysis, t: Option<usize>) -> BTreeMap<SiteKey, SiteAt> {
    let mut out = BTreeMap::new();
    for (i, at) in d.sites_at(t).into_iter().enumerate() {
        if at.live_bytes == 0 && at.allocs == 0 {
            continue;
        }
        let e: &mut SiteAt = out.entry(d.sites.sites[i].key()).or_default();
        e.live_bytes += at.live_bytes;
        e.live_blocks += at.live_blocks;
        e.allocs += at.allocs;
    }
    out
}

/// `workloads.py:158`, or what reports call a block without a stack.
fn label(key: &SiteKey) -> String {
    if key.file == "<unknown>" {
        sites::NO_STACK.to_string()
    } else {
        key.short_label()
    }
}

fn summary(side: &Moment, t: Option<usize>) -> SideSummary {
    let d = side.device;
    let c = match t {
        Some(t) if t < d.replay.series.len() => d.replay.series.at(t),
        _ => d.final_counters,
    };
    SideSummary {
        name: side.name.to_string(),
        device: d.device,
        point: side.point.to_string(),
        event: t,
        events: d.events,
        allocated: c.allocated,
        reserved: c.reserved,
        active: c.active,
        peak_allocated: d.peak.allocated,
        peak_reserved: d.peak.reserved,
        ooms: d.ooms.len(),
        oom_verdicts: d.ooms.iter().map(|o| o.verdict.name()).collect(),
        leaks: d.leaks.len(),
        fragmentation_at_peak_reserved: d
            .fragmentation
            .stranded_share_at_peak()
            .map(|f| f.0)
            .unwrap_or(0.0),
    }
}

/// Compares moment `a` with moment `b`, call site by call site.
pub fn diff(a: &Moment, b: &Moment) -> Result<Diff, PointError> {
    let ta = resolve(a.device, a.point)?;
    let tb = resolve(b.device, b.point)?;
    let mut sites = Vec::new();
    for (key, x, y) in sites::join(sites_at(a.device, ta), sites_at(b.device, tb)) {
        let delta = y.live_bytes as i64 - x.live_bytes as i64;
        let change = if x.live_bytes == 0 && y.live_bytes > 0 {
            Change::New
        } else if x.live_bytes > 0 && y.live_bytes == 0 {
            Change::Gone
        } else if delta > 0 {
            Change::Grew
        } else if delta < 0 {
            Change::Shrank
        } else {
            Change::Same
        };
        sites.push(SiteDiff {
            label: label(&key),
            file: key.file,
            line: key.line,
            function: key.function,
            a: x,
            b: y,
            delta_bytes: delta,
            change,
        });
    }
    sites.sort_by(|x, y| {
        y.delta_bytes
            .unsigned_abs()
            .cmp(&x.delta_bytes.unsigned_abs())
            .then(y.b.live_bytes.cmp(&x.b.live_bytes))
            .then(x.label.cmp(&y.label))
    });
    Ok(Diff {
        a: summary(a, ta),
        b: summary(b, tb),
        sites,
    })
}
