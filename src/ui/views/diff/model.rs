//! What the Diff view computes, without drawing: the moments a user can pick and the table of
//! call sites, which is [`crate::analysis::diff::diff`], the very comparison `memsight diff`
//! prints, plus the call site of this file behind each row (for the selection and the stack).

use std::collections::HashMap;

use crate::analysis::diff::{self, Diff, Moment};
use crate::analysis::point::{resolve, Point, PointError};
use crate::analysis::{DeviceAnalysis, SiteKey};

/// A moment of a trace as the view offers it. Kept apart from [`Point`] so that `Cursor`
/// follows the time cursor and `Start` reads as a word, while each still resolves through
/// `analysis::point` like the CLI's `--at-a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pick {
    /// After the first event.
    Start,
    Peak,
    End,
    /// Where the time cursor is (this file only).
    Cursor,
    Marker(usize),
    Iteration(usize),
    Oom(usize),
}

impl Pick {
    /// The point of the trace this names; `cursor` is the tab's time cursor.
    pub fn point(self, cursor: usize) -> Point {
        match self {
            Pick::Start => Point::Event(0),
            Pick::Peak => Point::Peak,
            Pick::End => Point::End,
            Pick::Cursor => Point::Event(cursor),
            Pick::Marker(k) => Point::Marker(k as i64),
            Pick::Iteration(k) => Point::Iteration(k as i64),
            Pick::Oom(k) => Point::Oom(k),
        }
    }

    /// `iteration 3 (event 1,234)`: the name and where it falls in `d`'s trace.
    pub fn label(self, d: &DeviceAnalysis, cursor: usize) -> String {
        let name = match self {
            Pick::Start => "start".to_string(),
            Pick::Peak => "peak".to_string(),
            Pick::End => "end".to_string(),
            Pick::Cursor => "cursor".to_string(),
            Pick::Marker(k) => format!("marker {k}"),
            Pick::Iteration(k) => format!("iteration {k}"),
            Pick::Oom(k) => format!("OOM {k}"),
        };
        match resolve(d, self.point(cursor)) {
            Ok(Some(e)) => format!("{name} (event {e})"),
            Ok(None) => format!("{name} (dump)"),
            Err(_) => format!("{name} (not in this trace)"),
        }
    }

    /// Every moment `d` has, in the order of a menu; the cursor only when it is this file's.
    pub fn all(d: &DeviceAnalysis, with_cursor: bool) -> Vec<Pick> {
        if d.events == 0 {
            // A dump without a trace has one moment (`peak` and `end` both name it).
            return vec![Pick::End];
        }
        let mut v = vec![Pick::Start, Pick::Peak, Pick::End];
        if with_cursor {
            v.push(Pick::Cursor);
        }
        v.extend((0..d.markers.len()).map(Pick::Marker));
        v.extend((0..d.iterations.boundaries.len()).map(Pick::Iteration));
        v.extend((0..d.ooms.len()).map(Pick::Oom));
        v
    }

    /// The pair a trace opens on: the first iteration against the last (what a training loop
    /// kept), else the first marker against the last, else the start against the peak. A pair
    /// with the same allocated bytes at both ends (a loop that frees everything) is passed
    /// over: it would open on an empty table.
    pub fn default_pair(d: &DeviceAnalysis) -> (Pick, Pick) {
        if d.events == 0 {
            return (Pick::End, Pick::End);
        }
        let differ = |x: Pick, y: Pick| {
            let at = |p: Pick| {
                resolve(d, p.point(0))
                    .ok()
                    .flatten()
                    .filter(|&e| e < d.replay.series.len())
                    .map(|e| d.replay.series.at(e).allocated)
            };
            at(x) != at(y)
        };
        let (n, m) = (d.iterations.boundaries.len(), d.markers.len());
        [
            (n >= 2).then(|| (Pick::Iteration(0), Pick::Iteration(n - 1))),
            (m >= 2).then(|| (Pick::Marker(0), Pick::Marker(m - 1))),
        ]
        .into_iter()
        .flatten()
        .find(|&(x, y)| differ(x, y))
        .unwrap_or((Pick::Start, Pick::Peak))
    }
}

/// The comparison the view draws.
#[derive(Debug, Clone)]
pub struct Table {
    /// Exactly what `memsight diff` computes for the same two moments.
    pub diff: Diff,
    /// For each row of `diff.sites`, the call site of side A's file with that file, line and
    /// function (`None`: the site is live only in the other file).
    pub sites: Vec<Option<u32>>,
}

/// Compares `a` at `pa` with `b` at `pb`; rows are linked to `a`'s call sites.
pub fn compute(
    a: &DeviceAnalysis,
    pa: Point,
    b: &DeviceAnalysis,
    pb: Point,
    b_name: &str,
) -> Result<Table, PointError> {
    let diff = diff::diff(
        &Moment {
            name: "A",
            device: a,
            point: pa,
        },
        &Moment {
            name: b_name,
            device: b,
            point: pb,
        },
    )?;
    // Several call sites of one analysis can share a key (the same line reached through other
    // stacks); the first one stands for them, as the diff adds them up under that key.
    let mut by_key: HashMap<SiteKey, u32> = HashMap::new();
    for (i, s) in a.sites.sites.iter().enumerate() {
        by_key.entry(s.key()).or_insert(i as u32);
    }
    let sites = diff
        .sites
        .iter()
        .map(|s| {
            by_key
                .get(&SiteKey {
                    file: s.file.clone(),
                    line: s.line,
                    function: s.function.clone(),
                })
                .copied()
        })
        .collect();
    Ok(Table { diff, sites })
}
