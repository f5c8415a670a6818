//! Iteration boundaries: where one training (or inference) step ends and the next begins.
//!
//! Leak verdicts compare memory across iterations, so they are only as good as the
//! boundaries. They are taken from evidence in the file, in this order, and never guessed:
//!
//! 1. `snapshot` markers (`torch.cuda.memory._snapshot()` calls), when there are two or more;
//! 2. `external_annotations` of `record_function` ranges: `memsight.step#N` (the Python
//!    package's `memsight.record(...).step()`), `ProfilerStep#N`, then
//!    `Optimizer.step#...`, `enumerate(DataLoader)#...__next__`, `Optimizer.zero_grad#...`;
//! 3. the optimizer's `step()` calls, seen as runs of events whose stacks pass through
//!    `torch/optim/`;
//! 4. the period of the loop itself: a training loop allocates from the same stacks in the
//!    same order every step, so a stack that allocates once per step, at evenly spaced
//!    points across the whole trace, marks where each step begins (several such stacks must
//!    agree on the count).
//!
//! A source is taken when it finds at least [`MIN_ITERATIONS`] iterations; otherwise the
//! first source that found any is kept (a single optimizer step is one iteration), and with
//! none the trace has no iterations. The user can name the source instead
//! ([`IterationSpec`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Action, Event, Snapshot, StackId};

use super::replay::{Replay, NONE};
use super::sites::SiteTable;

/// Iterations needed before growth across them can be called a leak.
pub const MIN_ITERATIONS: usize = 3;

/// Where the iteration boundaries came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IterationSource {
    /// `snapshot` markers.
    Markers,
    /// `record_function` annotations (`ProfilerStep#N`, `Optimizer.step#...`).
    Annotations,
    /// The optimizer's `step()` calls, from the stacks.
    OptimizerSteps,
    /// A stack that allocates once per step, evenly spaced over the trace.
    Period,
    /// Allocations at a line the user named (`--iterations site:FILE:LINE`).
    Site,
    /// Nothing in the trace shows iterations.
    None,
}

impl IterationSource {
    /// How much a boundary from this source can be trusted (0..1): markers and annotations
    /// are placed by the program itself; the optimizer's calls and the loop's period are
    /// inferred.
    pub fn trust(self) -> f64 {
        match self {
            IterationSource::Markers | IterationSource::Annotations | IterationSource::Site => 1.0,
            IterationSource::OptimizerSteps => 0.9,
            IterationSource::Period => 0.8,
            IterationSource::None => 0.0,
        }
    }
}

/// The iterations of a device's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iterations {
    /// Event indices where each iteration ends (the state *after* event `b` closes one).
    /// Events after the last boundary form a last, possibly partial, window.
    pub boundaries: Vec<usize>,
    pub source: IterationSource,
    /// What the boundaries are, e.g. `ProfilerStep` or the anchor line `train.py:41`.
    pub detail: Option<String>,
    /// Whether the events after the last boundary are an iteration too: true when
    /// boundaries open iterations (an anchor line, a `ProfilerStep` start), false when they
    /// close them (a marker after each step: what follows the last one is not a step).
    pub open_end: bool,
}

impl Iterations {
    /// No iterations.
    pub fn none() -> Iterations {
        Iterations {
            boundaries: Vec::new(),
            source: IterationSource::None,
            detail: None,
            open_end: false,
        }
    }

    /// How many iterations were found.
    pub fn count(&self) -> usize {
        self.boundaries.len()
    }

    /// Whether there are enough iterations to tell a leak from one-time growth.
    pub fn can_judge_leaks(&self) -> bool {
        self.count() >= MIN_ITERATIONS
    }
}

/// Which source to take the iterations from (`--iterations`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IterationSpec {
    /// The first source with evidence (the module doc's order).
    #[default]
    Auto,
    /// `snapshot` markers only.
    Markers,
    /// Annotations whose name starts with this (`ProfilerStep`, `Optimizer.step`).
    Annotation(String),
    /// Each allocation at this line (file name or path suffix) starts an iteration.
    Site { file: String, line: i64 },
}

impl std::str::FromStr for IterationSpec {
    type Err = String;

    /// `auto`, `marker`, `annotation:NAME` or `site:FILE:LINE`.
    fn from_str(s: &str) -> Result<IterationSpec, String> {
        let s = s.trim();
        if s == "auto" {
            return Ok(IterationSpec::Auto);
        }
        if s == "marker" || s == "markers" {
            return Ok(IterationSpec::Markers);
        }
        if let Some(name) = s.strip_prefix("annotation:") {
            if name.is_empty() {
                return Err("annotation: needs a name, e.g. annotation:ProfilerStep".into());
            }
            return Ok(IterationSpec::Annotation(name.to_string()));
        }
        if let Some(site) = s.strip_prefix("site:") {
            let (file, line) = site
                .rsplit_once(':')
                .and_then(|(f, l)| Some((f, l.parse::<i64>().ok()?)))
                .filter(|(f, _)| !f.is_empty())
                .ok_or_else(|| format!("{s:?}: expected site:FILE:LINE, e.g. site:train.py:41"))?;
            return Ok(IterationSpec::Site {
                file: file.to_string(),
                line,
            });
        }
        Err(format!(
            "{s:?}: expected auto, marker, annotation:NAME or site:FILE:LINE"
        ))
    }
}

/// What detection can look at besides the events.
pub struct Context<'a> {
    pub snap: &'a Snapshot,
    pub device: usize,
    pub events: &'a [Event],
    pub replay: &'a Replay,
    pub sites: &'a SiteTable,
    pub allocation_site: &'a [u32],
}

/// Finds the iterations of a device's trace.
pub fn detect(cx: &Context, spec: &IterationSpec) -> Iterations {
    if cx.events.is_empty() {
        return Iterations::none();
    }
    match spec {
        IterationSpec::Markers => markers(cx.events).unwrap_or_else(Iterations::none),
        IterationSpec::Annotation(name) => {
            annotations(cx, &[name.as_str()]).unwrap_or_else(Iterations::none)
        }
        IterationSpec::Site { file, line } => {
            site(cx, file, *line).unwrap_or_else(Iterations::none)
        }
        IterationSpec::Auto => {
            let mut first_found: Option<Iterations> = None;
            let sources: [&dyn Fn() -> Option<Iterations>; 4] = [
                &|| markers(cx.events),
                &|| annotations(cx, &STEP_ANNOTATIONS),
                &|| optimizer_steps(cx),
                &|| period(cx),
            ];
            for source in sources {
                if let Some(it) = source() {
                    if it.can_judge_leaks() {
                        return it;
                    }
                    first_found.get_or_insert(it);
                }
            }
            first_found.unwrap_or_else(Iterations::none)
        }
    }
}

fn markers(events: &[Event]) -> Option<Iterations> {
    let boundaries: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.action == Action::Snapshot)
        .map(|(i, _)| i)
        .collect();
    (boundaries.len() >= 2).then_some(Iterations {
        boundaries,
        source: IterationSource::Markers,
        detail: None,
        open_end: false,
    })
}

/// Annotation names that mark steps, most telling first. `memsight.step` is what the Python
/// package's `record(...).step()` opens for each iteration: placed by the user on purpose, it
/// comes before the profiler's own steps.
const STEP_ANNOTATIONS: [&str; 5] = [
    "memsight.step",
    "ProfilerStep",
    "Optimizer.step",
    "enumerate(DataLoader)",
    "Optimizer.zero_grad",
];

/// Boundaries from `record_function` annotations: the first name (prefix before `#`) of
/// `names` with two or more ranges on this device. An optimizer step closes an iteration
/// where it ends; the other names open one where they start.
fn annotations(cx: &Context, names: &[&str]) -> Option<Iterations> {
    if !cx.events.iter().any(|e| e.time_us != 0) {
        return None;
    }
    for &name in names {
        let of = |stage: &str| -> Vec<i64> {
            let mut t: Vec<i64> = cx
                .snap
                .annotations
                .iter()
                .filter(|a| a.device == cx.device && a.stage == stage && a.name.starts_with(name))
                .map(|a| a.time_us)
                .collect();
            t.sort_unstable();
            t
        };
        let starts = of("START");
        let ends = of("END");
        let closes_at_end = name.starts_with("Optimizer.step") && ends.len() >= 2;
        let mut boundaries: Vec<usize> = if closes_at_end {
            // The last event at or before the step ends.
            ends.iter()
                .filter_map(|&t| cx.events.partition_point(|e| e.time_us <= t).checked_sub(1))
                .collect()
        } else {
            // The last event before the range starts.
            starts
                .iter()
                .filter_map(|&t| cx.events.partition_point(|e| e.time_us < t).checked_sub(1))
                .collect()
        };
        boundaries.dedup();
        if boundaries.len() >= 2 {
            return Some(Iterations {
                boundaries,
                source: IterationSource::Annotations,
                detail: Some(name.to_string()),
                open_end: !closes_at_end,
            });
        }
    }
    None
}

/// Whether a stack passes through an optimizer's step: `torch/optim/` (learning-rate
/// schedulers aside), or a `step` function in a file named for an optimizer (a hand-written
/// `optimizer.py`).
fn in_optimizer(snap: &Snapshot, stack: StackId) -> bool {
    snap.stacks.get(stack).iter().any(|&f| {
        let file = snap.frames.filename(f).replace('\\', "/");
        let base = file.rsplit('/').next().unwrap_or(&file);
        (file.contains("torch/optim/") && !file.ends_with("lr_scheduler.py"))
            || (snap.frames.name(f) == "step" && base.contains("optim"))
    })
}

/// Share of the bytes allocated from position `from` of `allocs` on that are freed before
/// the trace ends. A training or inference step returns most of what it allocates
/// (activations, temporaries); a loop whose allocations all stay (the optimizer creating its
/// state parameter by parameter, a forward pass keeping each layer's activations for the
/// backward) repeats inside one step and is not one.
fn returned_share(cx: &Context, allocs: &[(usize, StackId)], from: usize) -> f64 {
    let (mut total, mut freed) = (0u64, 0u64);
    for &(i, _) in &allocs[from..] {
        let Some(a) = cx
            .replay
            .event_allocation
            .get(i)
            .filter(|&&k| k != NONE)
            .and_then(|&k| cx.replay.allocations.get(k as usize))
        else {
            continue;
        };
        total += a.size;
        if a.free_requested != NONE {
            freed += a.size;
        }
    }
    if total == 0 {
        0.0
    } else {
        freed as f64 / total as f64
    }
}

/// A loop whose steps keep less than this share of what they allocate is not an iteration
/// (see [`returned_share`]).
const MIN_RETURNED_SHARE: f64 = 0.5;

/// Boundaries at the end of each optimizer `step()`: runs of events whose stacks pass
/// through `torch/optim/`, split where the gap between two such events is much longer than
/// the gaps inside a step.
fn optimizer_steps(cx: &Context) -> Option<Iterations> {
    let mut cache: HashMap<StackId, bool> = HashMap::new();
    let flagged: Vec<usize> = cx
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.action, Action::Alloc | Action::FreeRequested))
        .filter(|(_, e)| {
            *cache
                .entry(e.stack)
                .or_insert_with(|| in_optimizer(cx.snap, e.stack))
        })
        .map(|(i, _)| i)
        .collect();
    if flagged.is_empty() {
        return None;
    }
    let mut gaps: Vec<usize> = flagged.windows(2).map(|w| w[1] - w[0] - 1).collect();
    gaps.sort_unstable();
    let median = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
    let split = (4 * median).max(8);
    let mut boundaries = Vec::new();
    for w in flagged.windows(2) {
        if w[1] - w[0] - 1 > split {
            boundaries.push(w[0]);
        }
    }
    boundaries.extend(flagged.last());
    Some(Iterations {
        boundaries,
        source: IterationSource::OptimizerSteps,
        detail: None,
        open_end: false,
    })
}

/// Boundaries from the loop's own period (see the module doc).
fn period(cx: &Context) -> Option<Iterations> {
    // Positions (in the sequence of allocations) of each stack's allocations.
    let allocs: Vec<(usize, StackId)> = cx
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.action == Action::Alloc)
        .map(|(i, e)| (i, e.stack))
        .collect();
    let n = allocs.len();
    if n < 2 * MIN_ITERATIONS {
        return None;
    }
    let mut positions: HashMap<StackId, Vec<u32>> = HashMap::new();
    for (p, &(_, stack)) in allocs.iter().enumerate() {
        positions.entry(stack).or_default().push(p as u32);
    }
    // Candidates: stacks allocating 2+ times, evenly spaced, over most of the trace. Not
    // the optimizer's: its loop over parameters repeats inside one step.
    let mut candidates: Vec<(usize, u32, StackId)> = Vec::new();
    for (&stack, pos) in &positions {
        let c = pos.len();
        if c < 2 || c > n / 2 || in_optimizer(cx.snap, stack) {
            continue;
        }
        let mut d: Vec<u32> = pos.windows(2).map(|w| w[1] - w[0]).collect();
        d.sort_unstable();
        let med = d[d.len() / 2] as f64;
        let mut dev: Vec<f64> = d.iter().map(|&x| (x as f64 - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let spread = dev[dev.len() / 2] / med.max(1.0);
        let covered = (pos[c - 1] - pos[0]) as f64 + med;
        if spread <= 0.2 && covered >= 0.6 * n as f64 {
            candidates.push((c, pos[0], stack));
        }
    }
    // The count most candidates agree on (the larger on a tie); at least two must agree.
    let mut votes: HashMap<usize, usize> = HashMap::new();
    for &(c, _, _) in &candidates {
        *votes.entry(c).or_default() += 1;
    }
    let (&count, &agree) = votes.iter().max_by_key(|(&c, &v)| (v, c))?;
    if agree < 2 {
        return None;
    }
    // The anchor: the agreeing stack that allocates first, so each iteration starts there.
    let &(_, first, anchor) = candidates
        .iter()
        .filter(|(c, _, _)| *c == count)
        .min_by_key(|(_, first, _)| *first)?;
    if returned_share(cx, &allocs, first as usize) < MIN_RETURNED_SHARE {
        return None;
    }
    let boundaries: Vec<usize> = positions[&anchor]
        .iter()
        .map(|&p| allocs[p as usize].0.saturating_sub(1))
        .collect();
    let detail = cx
        .replay
        .event_allocation
        .get(allocs[positions[&anchor][0] as usize].0)
        .filter(|&&k| k != NONE)
        .and_then(|&k| cx.allocation_site.get(k as usize))
        .and_then(|&s| cx.sites.get(s))
        .map(|s| s.short_label());
    Some(Iterations {
        boundaries,
        source: IterationSource::Period,
        detail,
        open_end: true,
    })
}

/// Boundaries before each allocation at `file:line` (a file name or path suffix).
fn site(cx: &Context, file: &str, line: i64) -> Option<Iterations> {
    let matches = |s: u32| {
        cx.sites.get(s).is_some_and(|s| {
            s.line == line && (s.file == file || s.file.ends_with(&format!("/{file}")))
        })
    };
    let mut boundaries = Vec::new();
    let mut label = None;
    for (i, e) in cx.events.iter().enumerate() {
        if e.action != Action::Alloc {
            continue;
        }
        let Some(&k) = cx.replay.event_allocation.get(i) else {
            continue;
        };
        let Some(&s) = cx.allocation_site.get(k as usize) else {
            continue;
        };
        if matches(s) {
            boundaries.push(i.saturating_sub(1));
            label.get_or_insert_with(|| cx.sites.get(s).map(|s| s.short_label()));
        }
    }
    boundaries.dedup();
    (!boundaries.is_empty()).then(|| Iterations {
        boundaries,
        source: IterationSource::Site,
        detail: label.flatten(),
        open_end: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("auto".parse(), Ok(IterationSpec::Auto));
        assert_eq!("marker".parse(), Ok(IterationSpec::Markers));
        assert_eq!(
            "annotation:ProfilerStep".parse(),
            Ok(IterationSpec::Annotation("ProfilerStep".into()))
        );
        assert_eq!(
            "site:train.py:41".parse(),
            Ok(IterationSpec::Site {
                file: "train.py".into(),
                line: 41
            })
        );
        assert!("site:train.py".parse::<IterationSpec>().is_err());
        assert!("annotation:".parse::<IterationSpec>().is_err());
        assert!("weekly".parse::<IterationSpec>().is_err());
    }
}
