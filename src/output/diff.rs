//! Comparing two moments of memory: two snapshots of the same program (before/after a change),
//! or two points of one trace (`--at-a marker:1 --at-b marker:3`).
//!
//! Each side is a snapshot, a device and a [`Point`] of its trace. Call sites are matched by
//! file, line and function, so the comparison survives a re-run; for each one the diff puts the
//! live bytes and blocks at both points side by side, with the allocations made up to each
//! point, and sorts them into grew, shrank, new and gone.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

pub use crate::analysis::point::{resolve, Point, PointError};
use crate::analysis::sites::{self, SiteKey};
use crate::analysis::DeviceAnalysis;
pub use crate::analysis::SiteAt;
use crate::model::Snapshot;
use crate::units::{bytes, signed_bytes};

/// One side of a diff, as given.
pub struct Side<'a> {
    /// Shown in the output, usually the file name.
    pub name: String,
    pub snap: &'a Snapshot,
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

    /// "Unchanged: N call sites holding X at both points", when any unchanged site holds
    /// memory (the text and Markdown renderings share it).
    pub fn unchanged_sentence(&self) -> Option<String> {
        let (same, held) = self.unchanged_held();
        (same > 0).then(|| {
            format!(
                "Unchanged: {same} call site{} holding {} at both points",
                crate::units::plural(same),
                bytes(held)
            )
        })
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
        super::report::model::NO_STACK.to_string()
    } else {
        key.short_label()
    }
}

fn summary(side: &Side, t: Option<usize>) -> SideSummary {
    let d = side.device;
    let c = match t {
        Some(t) if t < d.replay.series.len() => d.replay.series.at(t),
        _ => d.final_counters,
    };
    SideSummary {
        name: side.name.clone(),
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

/// Compares side `a` with side `b`.
pub fn diff(a: &Side, b: &Side) -> Result<Diff, PointError> {
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

/// `+12.5%`, or `new` when A is zero.
pub fn percent(a: u64, b: u64) -> String {
    if a == 0 {
        if b == 0 {
            "0%".into()
        } else {
            "new".into()
        }
    } else {
        format!("{:+.1}%", (b as f64 - a as f64) / a as f64 * 100.0)
    }
}

/// Where a side's point is, in words: `peak (event 1,234)`.
pub fn point_text(s: &SideSummary) -> String {
    match s.event {
        Some(e) => format!("{} (event {e})", s.point),
        None => format!("{} (dump, no trace)", s.point),
    }
}

/// The rows of the headline comparison: (what, A, B, change).
pub fn headline_rows(d: &Diff) -> Vec<(String, String, String, String)> {
    let (a, b) = (&d.a, &d.b);
    let row = |what: &str, x: u64, y: u64| {
        (
            what.to_string(),
            bytes(x),
            bytes(y),
            format!("{} ({})", signed_bytes(y as i64 - x as i64), percent(x, y)),
        )
    };
    let verdicts = |s: &SideSummary| {
        if s.oom_verdicts.is_empty() {
            "none".to_string()
        } else {
            s.oom_verdicts.join(", ")
        }
    };
    vec![
        row("peak allocated", a.peak_allocated, b.peak_allocated),
        row("peak reserved", a.peak_reserved, b.peak_reserved),
        row("allocated at the point", a.allocated, b.allocated),
        row("reserved at the point", a.reserved, b.reserved),
        (
            "OOMs".into(),
            format!("{} ({})", a.ooms, verdicts(a)),
            format!("{} ({})", b.ooms, verdicts(b)),
            format!("{:+}", b.ooms as i64 - a.ooms as i64),
        ),
        (
            "leak suspects".into(),
            a.leaks.to_string(),
            b.leaks.to_string(),
            format!("{:+}", b.leaks as i64 - a.leaks as i64),
        ),
        (
            "fragmentation at peak reserved".into(),
            format!("{:.1}%", a.fragmentation_at_peak_reserved * 100.0),
            format!("{:.1}%", b.fragmentation_at_peak_reserved * 100.0),
            format!(
                "{:+.1} pts",
                (b.fragmentation_at_peak_reserved - a.fragmentation_at_peak_reserved) * 100.0
            ),
        ),
    ]
}

/// How many call sites each group lists in text and reports.
pub const LIST: usize = 15;

/// The diff as plain text for the terminal.
pub fn text(d: &Diff) -> String {
    let mut s = String::new();
    for (tag, side) in [("A", &d.a), ("B", &d.b)] {
        let _ = writeln!(
            s,
            "{tag}: {} device {} at {}",
            side.name,
            side.device,
            point_text(side)
        );
    }
    s.push('\n');
    let rows = headline_rows(d);
    // Column widths in characters (sizes hold non-ASCII spaces and signs).
    let width = |cell: fn(&(String, String, String, String)) -> &str| {
        rows.iter()
            .map(|r| cell(r).chars().count())
            .fold(1, Ord::max)
    };
    let (w0, w1, w2) = (width(|r| &r.0), width(|r| &r.1), width(|r| &r.2));
    let _ = writeln!(s, "  {:w0$}  {:>w1$}  {:>w2$}  change", "", "A", "B");
    for (k, a, b, c) in &rows {
        let _ = writeln!(s, "  {k:w0$}  {a:>w1$}  {b:>w2$}  {c}");
    }
    for (change, title) in [
        (Change::Grew, "Grew"),
        (Change::New, "New (not live in A)"),
        (Change::Gone, "Gone (not live in B)"),
        (Change::Shrank, "Shrank"),
    ] {
        let list: Vec<&SiteDiff> = d.with(change).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n{title}: {} call site{}",
            list.len(),
            crate::units::plural(list.len())
        );
        for x in list.iter().take(LIST) {
            let _ = writeln!(
                s,
                "  {:>12}  {} ({})  {} in {} blocks -> {} in {} blocks; {} -> {} allocations",
                signed_bytes(x.delta_bytes),
                x.label,
                x.function,
                bytes(x.a.live_bytes),
                x.a.live_blocks,
                bytes(x.b.live_bytes),
                x.b.live_blocks,
                x.a.allocs,
                x.b.allocs
            );
        }
        if list.len() > LIST {
            let _ = writeln!(s, "  ... {} more", list.len() - LIST);
        }
    }
    if let Some(u) = d.unchanged_sentence() {
        let _ = writeln!(s, "\n{u}");
    }
    if d.nothing_changed() {
        s.push_str("\nNo call site's live memory changed.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents() {
        assert_eq!(percent(100, 150), "+50.0%");
        assert_eq!(percent(0, 5), "new");
    }
}
