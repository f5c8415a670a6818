//! Comparing two moments of memory: two snapshots of the same program (before/after a change),
//! or two points of one trace (`--at-a marker:1 --at-b marker:3`).
//!
//! Each side is a snapshot, a device and a [`Point`] of its trace. The numbers come from
//! [`crate::analysis::diff`] (which the app's Diff view runs too); this module words them for
//! the terminal and the reports.

use std::fmt::Write;

use crate::analysis::diff::{self as model, Moment};
pub use crate::analysis::diff::{Change, Diff, SideSummary, SiteDiff};
pub use crate::analysis::point::{resolve, Point, PointError};
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

impl Side<'_> {
    fn moment(&self) -> Moment<'_> {
        Moment {
            name: &self.name,
            device: self.device,
            point: self.point,
        }
    }
}

/// Compares side `a` with side `b` (see [`crate::analysis::diff::diff`], which the app's Diff
/// view also runs).
pub fn diff(a: &Side, b: &Side) -> Result<Diff, PointError> {
    model::diff(&a.moment(), &b.moment())
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

/// "Unchanged: N call sites holding X at both points", when any unchanged site holds memory
/// (the text and Markdown renderings share it).
pub fn unchanged_sentence(d: &Diff) -> Option<String> {
    let (same, held) = d.unchanged_held();
    (same > 0).then(|| {
        format!(
            "Unchanged: {same} call site{} holding {} at both points",
            crate::units::plural(same),
            bytes(held)
        )
    })
}

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
    if let Some(u) = unchanged_sentence(d) {
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
