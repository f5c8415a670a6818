//! The ranks of one job side by side: the median rank, the outliers and the call sites that
//! make each one's difference, which leaks are everywhere and which on some ranks only, who ran
//! out of memory first. Numbers only; `output::ranks` writes the words.
//!
//! **The median rank** is a real rank, so that there is a site table to diff against: with an
//! even number of ranks, the lower of the two middle ones (in a pair, the smaller), so one rank
//! that holds more than the others is measured against the others. It is taken per metric:
//! peak allocated, peak reserved, allocated at the end.
//!
//! **An outlier** exceeds the median by at least [`threshold`]: 5% of the median, and never
//! less than 64 MiB. Why both: ranks of one job differ by a few percent for honest reasons
//! (uneven shards, the last bucket of a data loader, NCCL buffers), and on a small model a few
//! MiB of such noise is more than 5%; 64 MiB is more than those and less than any imbalance
//! worth a look on a GPU with tens of gigabytes. Its sites are the diff of its site table
//! against the median rank's at the same point (the peak for peak metrics, the end for the end),
//! matched by file, line and function as `memsight diff` matches them, largest excess first.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::analysis::{sites, IterationSource, SiteKey, Verdict};

use super::summary::{FileSummary, RankSummary, SeriesAxis, SiteTable};

/// Share of the median an outlier exceeds it by, at least (see the module doc).
pub const OUTLIER_SHARE: f64 = 0.05;
/// Bytes an outlier exceeds the median by, at least (see the module doc).
pub const OUTLIER_MIN_BYTES: u64 = 64 << 20;
/// Sites listed for each outlier.
pub const OUTLIER_SITES: usize = 10;

/// How far above the median a rank must be to be an outlier.
pub fn threshold(median: u64) -> u64 {
    ((median as f64 * OUTLIER_SHARE) as u64).max(OUTLIER_MIN_BYTES)
}

/// A figure the ranks are compared on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    PeakAllocated,
    PeakReserved,
    EndAllocated,
}

impl Metric {
    pub const ALL: [Metric; 3] = [
        Metric::PeakAllocated,
        Metric::PeakReserved,
        Metric::EndAllocated,
    ];

    pub fn value(self, r: &RankSummary) -> u64 {
        match self {
            Metric::PeakAllocated => r.peak_allocated,
            Metric::PeakReserved => r.peak_reserved,
            Metric::EndAllocated => r.end_allocated,
        }
    }

    /// The site table that explains this metric: reserved memory has no sites of its own,
    /// so a peak-reserved outlier is explained by what was allocated at the allocated peak.
    pub fn sites(self, r: &RankSummary) -> &SiteTable {
        match self {
            Metric::PeakAllocated | Metric::PeakReserved => &r.sites_at_peak,
            Metric::EndAllocated => &r.sites_at_end,
        }
    }
}

/// One device of one rank.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rank {
    pub file: String,
    pub rank: u32,
    #[serde(flatten)]
    pub summary: RankSummary,
}

/// Where the rank numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RankSource {
    /// Every file name gives a rank, and no two the same one.
    FileNames,
    /// The position of each file among the inputs, because `file` names no number...
    NoNumber { file: String },
    /// ...or two files name the same rank (two steps of one rank, say).
    Repeated { rank: u32, files: [String; 2] },
}

/// The median rank for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MedianOf {
    pub value: u64,
    pub rank: u32,
    pub device: usize,
    /// Index into [`Job::ranks`].
    pub index: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Median {
    pub peak_allocated: MedianOf,
    pub peak_reserved: MedianOf,
    pub end_allocated: MedianOf,
}

impl Median {
    pub fn of(&self, m: Metric) -> &MedianOf {
        match m {
            Metric::PeakAllocated => &self.peak_allocated,
            Metric::PeakReserved => &self.peak_reserved,
            Metric::EndAllocated => &self.end_allocated,
        }
    }
}

/// A rank above the median by at least [`threshold`] on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlier {
    /// Index into [`Job::ranks`].
    pub index: usize,
    pub rank: u32,
    pub device: usize,
    pub metric: Metric,
    pub value: u64,
    pub median: u64,
    pub median_rank: u32,
    pub excess_bytes: u64,
    /// The sites holding more than on the median rank, the largest excess first.
    pub sites: Vec<SiteExcess>,
}

/// A call site's excess over the median rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteExcess {
    #[serde(flatten)]
    pub key: SiteKey,
    /// `rank_bytes - median_bytes`.
    pub bytes: u64,
    pub rank_bytes: u64,
    pub median_bytes: u64,
}

/// A leaking call site and the ranks it leaks on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedLeak {
    #[serde(flatten)]
    pub key: SiteKey,
    /// The ranks it leaks on, in order.
    pub ranks: Vec<u32>,
    /// Whether it leaks on every rank of the job.
    pub every_rank: bool,
    /// The most it holds at the end on one rank, and the least among the ranks it leaks on.
    pub live_bytes_max: u64,
    pub live_bytes_min: u64,
}

/// The first OOM of the job: the earliest iteration, then the earliest time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstOom {
    pub index: usize,
    pub rank: u32,
    pub device: usize,
    pub iteration: Option<usize>,
    pub time_us: i64,
    pub verdict: Verdict,
    /// How many ranks had an OOM.
    pub ranks_with_ooms: usize,
}

/// How the ranks' series line up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alignment {
    /// `Iterations` when every rank has iterations (point k of every series covers the same
    /// iterations when the counts agree); `Events` when one has none: the series are then
    /// only comparable by their position in the run.
    pub axis: SeriesAxis,
    /// Where the iterations come from, when all ranks agree on it.
    pub source: Option<IterationSource>,
    pub iterations_min: usize,
    pub iterations_max: usize,
}

/// The reduction of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// One entry per device of each rank, by rank then device.
    pub ranks: Vec<Rank>,
    pub rank_source: RankSource,
    pub median: Median,
    /// By rank, then metric.
    pub outliers: Vec<Outlier>,
    /// Every leaking site, the ones on most ranks first.
    pub leaks: Vec<SharedLeak>,
    pub first_oom: Option<FirstOom>,
    pub alignment: Alignment,
}

impl Job {
    /// The number of distinct ranks.
    pub fn rank_count(&self) -> usize {
        self.ranks
            .iter()
            .map(|r| r.rank)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// The rank of each file: from the names when every name gives one and no two agree, else
/// the position among the inputs.
fn assign_ranks(files: &[FileSummary]) -> (Vec<u32>, RankSource) {
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    let mut source = RankSource::FileNames;
    for f in files {
        match f.rank_from_name {
            None => {
                source = RankSource::NoNumber {
                    file: f.file.clone(),
                };
                break;
            }
            Some(r) => {
                if let Some(other) = seen.insert(r, &f.file) {
                    source = RankSource::Repeated {
                        rank: r,
                        files: [other.to_string(), f.file.clone()],
                    };
                    break;
                }
            }
        }
    }
    let ranks = match source {
        RankSource::FileNames => files.iter().filter_map(|f| f.rank_from_name).collect(),
        _ => (0..files.len() as u32).collect(),
    };
    (ranks, source)
}

/// The median entry of `ranks` for `m` (see the module doc); `ranks` is not empty.
fn median_of(ranks: &[Rank], m: Metric) -> MedianOf {
    let mut order: Vec<usize> = (0..ranks.len()).collect();
    order.sort_by_key(|&i| {
        (
            m.value(&ranks[i].summary),
            ranks[i].rank,
            ranks[i].summary.device,
        )
    });
    let index = order[(order.len() - 1) / 2];
    let r = &ranks[index];
    MedianOf {
        value: m.value(&r.summary),
        rank: r.rank,
        device: r.summary.device,
        index,
    }
}

/// The sites of `a` holding more than at the same site of `b`, largest excess first. A table
/// keeps its [`TOP_SITES`](super::summary::TOP_SITES) largest sites: one that `b` holds below
/// its top counts as 0 there, which can only happen for a site smaller than `b`'s 64th.
pub fn excess_sites(a: &SiteTable, b: &SiteTable, n: usize) -> Vec<SiteExcess> {
    let mut v: Vec<SiteExcess> = sites::join(a.by_key(), b.by_key())
        .into_iter()
        .filter(|(_, x, y)| x > y)
        .map(|(key, x, y)| SiteExcess {
            key,
            bytes: x - y,
            rank_bytes: x,
            median_bytes: y,
        })
        .collect();
    v.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.key.cmp(&y.key)));
    v.truncate(n);
    v
}

/// Reduces the summaries of a job's files (in the order given); `None` when no file has a
/// device.
pub fn reduce(files: Vec<FileSummary>) -> Option<Job> {
    let (numbers, rank_source) = assign_ranks(&files);
    let mut ranks: Vec<Rank> = files
        .into_iter()
        .zip(numbers)
        .flat_map(|(f, rank)| {
            let file = f.file;
            f.devices.into_iter().map(move |summary| Rank {
                file: file.clone(),
                rank,
                summary,
            })
        })
        .collect();
    if ranks.is_empty() {
        return None;
    }
    ranks.sort_by_key(|r| (r.rank, r.summary.device));
    let median = Median {
        peak_allocated: median_of(&ranks, Metric::PeakAllocated),
        peak_reserved: median_of(&ranks, Metric::PeakReserved),
        end_allocated: median_of(&ranks, Metric::EndAllocated),
    };
    let mut outliers = Vec::new();
    for (index, r) in ranks.iter().enumerate() {
        for m in Metric::ALL {
            let med = median.of(m);
            let value = m.value(&r.summary);
            let excess = value.saturating_sub(med.value);
            if index == med.index || excess < threshold(med.value) {
                continue;
            }
            let reference = &ranks[med.index].summary;
            outliers.push(Outlier {
                index,
                rank: r.rank,
                device: r.summary.device,
                metric: m,
                value,
                median: med.value,
                median_rank: med.rank,
                excess_bytes: excess,
                sites: excess_sites(m.sites(&r.summary), m.sites(reference), OUTLIER_SITES),
            });
        }
    }
    let job_ranks = ranks.iter().map(|r| r.rank).collect::<BTreeSet<_>>().len();
    Some(Job {
        leaks: shared_leaks(&ranks, job_ranks),
        first_oom: first_oom(&ranks),
        alignment: alignment(&ranks),
        ranks,
        rank_source,
        median,
        outliers,
    })
}

fn shared_leaks(ranks: &[Rank], job_ranks: usize) -> Vec<SharedLeak> {
    let mut by: BTreeMap<SiteKey, (BTreeSet<u32>, u64, u64)> = BTreeMap::new();
    for r in ranks {
        for l in &r.summary.leaks {
            let key = SiteKey {
                file: l.file.clone(),
                line: l.line,
                function: l.function.clone(),
            };
            let e = by.entry(key).or_insert((BTreeSet::new(), 0, u64::MAX));
            e.0.insert(r.rank);
            e.1 = e.1.max(l.live_bytes);
            e.2 = e.2.min(l.live_bytes);
        }
    }
    let mut v: Vec<SharedLeak> = by
        .into_iter()
        .map(|(key, (on, max, min))| SharedLeak {
            key,
            every_rank: on.len() == job_ranks,
            ranks: on.into_iter().collect(),
            live_bytes_max: max,
            live_bytes_min: min,
        })
        .collect();
    v.sort_by(|a, b| {
        b.ranks
            .len()
            .cmp(&a.ranks.len())
            .then(b.live_bytes_max.cmp(&a.live_bytes_max))
            .then(a.key.cmp(&b.key))
    });
    v
}

fn first_oom(ranks: &[Rank]) -> Option<FirstOom> {
    let with: BTreeSet<u32> = ranks
        .iter()
        .filter(|r| !r.summary.ooms.is_empty())
        .map(|r| r.rank)
        .collect();
    ranks
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.summary.ooms.first().map(|o| (i, r, o)))
        .min_by_key(|(_, r, o)| (o.iteration.unwrap_or(usize::MAX), o.time_us, r.rank))
        .map(|(index, r, o)| FirstOom {
            index,
            rank: r.rank,
            device: r.summary.device,
            iteration: o.iteration,
            time_us: o.time_us,
            verdict: o.verdict,
            ranks_with_ooms: with.len(),
        })
}

fn alignment(ranks: &[Rank]) -> Alignment {
    let counts = ranks.iter().map(|r| r.summary.iterations.count());
    let first = ranks[0].summary.iterations.source;
    let one_source = ranks.iter().all(|r| r.summary.iterations.source == first);
    let all_iterations = ranks
        .iter()
        .all(|r| r.summary.series.axis == SeriesAxis::Iterations);
    Alignment {
        axis: if all_iterations {
            SeriesAxis::Iterations
        } else {
            SeriesAxis::Events
        },
        source: one_source.then_some(first),
        iterations_min: counts.clone().min().unwrap_or(0),
        iterations_max: counts.max().unwrap_or(0),
    }
}
