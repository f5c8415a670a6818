//! Comparing two moments of memory: two snapshots of the same program (before/after a change),
//! or two points of one trace (`--at-a marker:1 --at-b marker:3`).
//!
//! Each side is a snapshot, a device and a [`Point`] of its trace. Call sites are matched by
//! file, line and function, so the comparison survives a re-run; for each one the diff puts the
//! live bytes and blocks at both points side by side, with the allocations made up to each
//! point, and sorts them into grew, shrank, new and gone.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::str::FromStr;

use serde::Serialize;

use crate::analysis::sites::{self, SiteKey};
use crate::analysis::DeviceAnalysis;
pub use crate::analysis::SiteAt;
use crate::model::Snapshot;
use crate::units::{bytes, signed_bytes};

/// A moment of a device's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The event after which allocated memory peaked (the default).
    Peak,
    /// After the last event.
    End,
    /// Just before the k-th `snapshot` marker (0-based; negative counts from the end, -1 last).
    Marker(i64),
    /// After event n.
    Event(usize),
    /// At the k-th OOM (0-based): what was live when the request failed.
    Oom(usize),
    /// At the end of the k-th iteration (0-based; negative from the end).
    Iteration(i64),
}

impl FromStr for Point {
    type Err = String;

    /// `peak`, `end`, `marker:K`, `event:N`, `oom:K`, `iteration:K`.
    fn from_str(s: &str) -> Result<Point, String> {
        let t = s.trim().to_ascii_lowercase();
        let (kind, arg) = match t.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (t.as_str(), None),
        };
        let bad = || {
            format!("{s:?} is not a point: use peak, end, marker:K, event:N, oom:K or iteration:K")
        };
        let int = |a: Option<&str>| a.and_then(|a| a.replace('_', "").parse::<i64>().ok());
        Ok(match kind {
            "peak" if arg.is_none() => Point::Peak,
            "end" if arg.is_none() => Point::End,
            "marker" | "m" => Point::Marker(int(arg).ok_or_else(bad)?),
            "iteration" | "iter" | "i" => Point::Iteration(int(arg).ok_or_else(bad)?),
            "event" | "e" => {
                Point::Event(usize::try_from(int(arg).ok_or_else(bad)?).map_err(|_| bad())?)
            }
            "oom" => Point::Oom(usize::try_from(int(arg).ok_or_else(bad)?).map_err(|_| bad())?),
            _ => return Err(bad()),
        })
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Peak => write!(f, "peak"),
            Point::End => write!(f, "end"),
            Point::Marker(k) => write!(f, "marker:{k}"),
            Point::Event(n) => write!(f, "event:{n}"),
            Point::Oom(k) => write!(f, "oom:{k}"),
            Point::Iteration(k) => write!(f, "iteration:{k}"),
        }
    }
}

/// Why a point does not exist in a trace.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PointError {
    #[error("device {device} has no trace events, so it has no {point} (only the dump-time state; use `end`)")]
    NoTrace { device: usize, point: Point },
    #[error("device {device} has {count} snapshot markers; {point} does not exist")]
    NoMarker {
        device: usize,
        point: Point,
        count: usize,
    },
    #[error("device {device} has {count} events; {point} does not exist")]
    NoEvent {
        device: usize,
        point: Point,
        count: usize,
    },
    #[error("device {device} has {count} OOMs; {point} does not exist")]
    NoOom {
        device: usize,
        point: Point,
        count: usize,
    },
    #[error("device {device} has {count} iterations; {point} does not exist")]
    NoIteration {
        device: usize,
        point: Point,
        count: usize,
    },
}

fn index(k: i64, len: usize) -> Option<usize> {
    let i = if k < 0 { len as i64 + k } else { k };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// The event a point names in `d` (`Ok(None)`: the trace is empty and the point is the dump).
pub fn resolve(d: &DeviceAnalysis, p: Point) -> Result<Option<usize>, PointError> {
    let device = d.device;
    if d.events == 0 {
        return match p {
            Point::End | Point::Peak => Ok(None),
            _ => Err(PointError::NoTrace { device, point: p }),
        };
    }
    match p {
        Point::Peak => Ok(Some(d.peak.allocated_event)),
        Point::End => Ok(Some(d.events - 1)),
        Point::Event(n) if n < d.events => Ok(Some(n)),
        Point::Event(_) => Err(PointError::NoEvent {
            device,
            point: p,
            count: d.events,
        }),
        Point::Marker(k) => index(k, d.markers.len())
            // The state just before the marker; the marker entry itself changes nothing.
            .map(|i| Some(d.markers[i].event))
            .ok_or(PointError::NoMarker {
                device,
                point: p,
                count: d.markers.len(),
            }),
        Point::Oom(k) => d
            .ooms
            .get(k)
            .map(|o| Some(o.event))
            .ok_or(PointError::NoOom {
                device,
                point: p,
                count: d.ooms.len(),
            }),
        Point::Iteration(k) => index(k, d.iterations.boundaries.len())
            .map(|i| Some(d.iterations.boundaries[i]))
            .ok_or(PointError::NoIteration {
                device,
                point: p,
                count: d.iterations.boundaries.len(),
            }),
    }
}

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
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let w2 = rows
        .iter()
        .map(|r| r.2.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
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
    let (same, held) = d.unchanged_held();
    if same > 0 {
        let _ = writeln!(
            s,
            "\nUnchanged: {} call site{} holding {} at both points",
            same,
            crate::units::plural(same),
            bytes(held)
        );
    }
    if d.sites.iter().all(|x| x.change == Change::Same) {
        s.push_str("\nNo call site's live memory changed.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse() {
        assert_eq!("peak".parse::<Point>(), Ok(Point::Peak));
        assert_eq!("END".parse::<Point>(), Ok(Point::End));
        assert_eq!("marker:3".parse::<Point>(), Ok(Point::Marker(3)));
        assert_eq!("marker:-1".parse::<Point>(), Ok(Point::Marker(-1)));
        assert_eq!("event:1_000".parse::<Point>(), Ok(Point::Event(1000)));
        assert_eq!("oom:0".parse::<Point>(), Ok(Point::Oom(0)));
        assert_eq!("iteration:2".parse::<Point>(), Ok(Point::Iteration(2)));
        assert!("event:-1".parse::<Point>().is_err());
        assert!("marker".parse::<Point>().is_err());
        assert!("yesterday".parse::<Point>().is_err());
        assert_eq!(index(-1, 4), Some(3));
        assert_eq!(index(4, 4), None);
        assert_eq!(percent(100, 150), "+50.0%");
        assert_eq!(percent(0, 5), "new");
    }
}
