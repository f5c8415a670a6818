//! `memsight ranks`: the job as text, and the JSON contract other tools read:
//!
//! ```text
//! {"ranks":[{"file","rank","device","peak_allocated","peak_reserved","end_allocated",
//!            "end_reserved","ooms","oom_events":[...],"leaks":[{"file","line","function",
//!            "live_bytes",...}],"fragmentation","events","iterations","iteration_source"}],
//!  "median":{"peak_allocated","peak_reserved","end_allocated","rank","ranks":{METRIC:RANK}},
//!  "outliers":[{"rank","device","file","metric","value","median","median_rank",
//!               "excess_bytes","sites":[{"file","line","function","bytes",
//!                                        "rank_bytes","median_bytes"}]}],
//!  "leak_sites":[{"file","line","function","ranks","every_rank",...}],
//!  "first_oom","alignment","rank_source","threshold":{"share","min_bytes"},
//!  "errors":[{"file","error"}]}
//! ```
//! `metric` is `peak_allocated`, `peak_reserved` or `end_allocated`; an outlier's `sites`
//! `bytes` is what the site holds on that rank beyond what it holds on the median rank.
//! `median` is `null` when no file could be read. Fields may be added; the ones above are
//! never renamed or removed.

use std::fmt::Write;

use serde::Serialize;

use crate::analysis::LeakSuspect;
use crate::ranks::reduce::{OUTLIER_MIN_BYTES, OUTLIER_SHARE};
use crate::ranks::summary::{FragmentationSummary, OomSummary};
use crate::ranks::{Job, Metric, Outlier, RankSource, SeriesAxis, SharedLeak, SiteExcess};
use crate::units::{bytes, count, plural, signed_bytes};

/// A file that gave no summary, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFailure {
    pub file: String,
    pub error: String,
}

#[derive(Serialize)]
pub struct RanksJson<'a> {
    pub ranks: Vec<RankJson<'a>>,
    pub median: Option<MedianJson>,
    pub outliers: Vec<OutlierJson<'a>>,
    pub leak_sites: &'a [SharedLeak],
    pub first_oom: Option<&'a crate::ranks::FirstOom>,
    pub alignment: Option<&'a crate::ranks::Alignment>,
    pub rank_source: Option<&'a RankSource>,
    pub threshold: ThresholdJson,
    pub errors: &'a [FileFailure],
}

#[derive(Serialize)]
pub struct RankJson<'a> {
    pub file: &'a str,
    pub rank: u32,
    pub device: usize,
    pub peak_allocated: u64,
    pub peak_reserved: u64,
    pub end_allocated: u64,
    pub end_reserved: u64,
    pub ooms: usize,
    pub oom_events: &'a [OomSummary],
    pub leaks: &'a [LeakSuspect],
    pub fragmentation: &'a FragmentationSummary,
    pub events: usize,
    pub iterations: usize,
    pub iteration_source: crate::analysis::IterationSource,
}

#[derive(Serialize)]
pub struct MedianJson {
    pub peak_allocated: u64,
    pub peak_reserved: u64,
    pub end_allocated: u64,
    /// The median rank by peak allocated.
    pub rank: u32,
    /// The median rank of each metric.
    pub ranks: MedianRanks,
}

#[derive(Serialize)]
pub struct MedianRanks {
    pub peak_allocated: u32,
    pub peak_reserved: u32,
    pub end_allocated: u32,
}

#[derive(Serialize)]
pub struct OutlierJson<'a> {
    pub rank: u32,
    pub device: usize,
    pub file: &'a str,
    pub metric: Metric,
    pub value: u64,
    pub median: u64,
    pub median_rank: u32,
    pub excess_bytes: u64,
    pub sites: &'a [SiteExcess],
}

#[derive(Serialize)]
pub struct ThresholdJson {
    pub share: f64,
    pub min_bytes: u64,
}

/// The JSON contract (module doc) of a job (`None`: no file could be read).
pub fn to_json<'a>(job: Option<&'a Job>, errors: &'a [FileFailure]) -> RanksJson<'a> {
    let ranks = job.map_or(&[][..], |j| &j.ranks[..]);
    RanksJson {
        ranks: ranks
            .iter()
            .map(|r| {
                let s = &r.summary;
                RankJson {
                    file: &r.file,
                    rank: r.rank,
                    device: s.device,
                    peak_allocated: s.peak_allocated,
                    peak_reserved: s.peak_reserved,
                    end_allocated: s.end_allocated,
                    end_reserved: s.end_reserved,
                    ooms: s.ooms.len(),
                    oom_events: &s.ooms,
                    leaks: &s.leaks,
                    fragmentation: &s.fragmentation,
                    events: s.events,
                    iterations: s.iterations.count(),
                    iteration_source: s.iterations.source,
                }
            })
            .collect(),
        median: job.map(|j| MedianJson {
            peak_allocated: j.median.peak_allocated.value,
            peak_reserved: j.median.peak_reserved.value,
            end_allocated: j.median.end_allocated.value,
            rank: j.median.peak_allocated.rank,
            ranks: MedianRanks {
                peak_allocated: j.median.peak_allocated.rank,
                peak_reserved: j.median.peak_reserved.rank,
                end_allocated: j.median.end_allocated.rank,
            },
        }),
        outliers: job.map_or(vec![], |j| {
            j.outliers
                .iter()
                .map(|o| OutlierJson {
                    rank: o.rank,
                    device: o.device,
                    file: &j.ranks[o.index].file,
                    metric: o.metric,
                    value: o.value,
                    median: o.median,
                    median_rank: o.median_rank,
                    excess_bytes: o.excess_bytes,
                    sites: &o.sites,
                })
                .collect()
        }),
        leak_sites: job.map_or(&[][..], |j| &j.leaks[..]),
        first_oom: job.and_then(|j| j.first_oom.as_ref()),
        alignment: job.map(|j| &j.alignment),
        rank_source: job.map(|j| &j.rank_source),
        threshold: ThresholdJson {
            share: OUTLIER_SHARE,
            min_bytes: OUTLIER_MIN_BYTES,
        },
        errors,
    }
}

/// The words for a metric.
pub fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::PeakAllocated => "peak allocated",
        Metric::PeakReserved => "peak reserved",
        Metric::EndAllocated => "allocated at the end",
    }
}

/// `rank 3` or, for a rank with several devices in the job, `rank 3 device 1`.
pub fn who(job: &Job, rank: u32, device: usize) -> String {
    let devices = job.ranks.iter().filter(|r| r.rank == rank).count();
    if devices > 1 {
        format!("rank {rank} device {device}")
    } else {
        format!("rank {rank}")
    }
}

/// `ranks.py:47 (<module>)`.
pub fn site(key: &crate::analysis::SiteKey) -> String {
    if key.function.is_empty() {
        key.short_label()
    } else {
        format!("{} ({})", key.short_label(), key.function)
    }
}

/// The job as plain text for the terminal.
pub fn text(job: Option<&Job>, errors: &[FileFailure]) -> String {
    let mut s = String::new();
    if let Some(job) = job {
        job_text(&mut s, job);
    } else {
        s.push_str("No file could be read: nothing to compare.\n");
    }
    if !errors.is_empty() {
        let _ = writeln!(
            s,
            "\n{} could not be read:",
            count(errors.len() as u64, "file")
        );
        for e in errors {
            let _ = writeln!(s, "  {}: {}", e.file, e.error);
        }
    }
    s
}

fn job_text(s: &mut String, job: &Job) {
    let files: std::collections::BTreeSet<&str> =
        job.ranks.iter().map(|r| r.file.as_str()).collect();
    let _ = write!(
        s,
        "{} from {}",
        count(job.rank_count() as u64, "rank"),
        count(files.len() as u64, "file")
    );
    match &job.rank_source {
        RankSource::FileNames => s.push_str(" (ranks from the file names)"),
        RankSource::NoNumber { file } => {
            let _ = write!(s, " (ranks in the order given: {file} names no rank)");
        }
        RankSource::Repeated { rank, files } => {
            let _ = write!(
                s,
                " (ranks in the order given: {} and {} both name rank {rank})",
                files[0], files[1]
            );
        }
    }
    let a = &job.alignment;
    match a.axis {
        SeriesAxis::Iterations if a.iterations_min == a.iterations_max => {
            let _ = write!(s, "; {} each", count(a.iterations_min as u64, "iteration"));
        }
        SeriesAxis::Iterations => {
            let _ = write!(
                s,
                "; {} to {} iterations: aligned on the first {}",
                a.iterations_min, a.iterations_max, a.iterations_min
            );
        }
        SeriesAxis::Events => s.push_str("; some ranks show no iterations: aligned by events"),
    }
    s.push_str("\n\n");
    table(s, job);
    outliers_text(s, job);
    leaks_text(s, job);
    if let Some(o) = &job.first_oom {
        let at = o
            .iteration
            .map(|i| format!(" in iteration {i}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "\nFirst out of memory: {}{at} ({}); {} of {} had an OOM.",
            who(job, o.rank, o.device),
            o.verdict.name(),
            count(o.ranks_with_ooms as u64, "rank"),
            job.rank_count()
        );
    }
}

fn table(s: &mut String, job: &Job) {
    let header = [
        "rank",
        "device",
        "peak allocated",
        "peak reserved",
        "at the end",
        "OOMs",
        "leaks",
        "fragmented",
    ];
    let mut rows: Vec<[String; 8]> = job
        .ranks
        .iter()
        .map(|r| {
            let x = &r.summary;
            [
                r.rank.to_string(),
                x.device.to_string(),
                bytes(x.peak_allocated),
                bytes(x.peak_reserved),
                bytes(x.end_allocated),
                x.ooms.len().to_string(),
                x.leaks.len().to_string(),
                format!("{:.0}%", x.fragmentation.stranded_share_at_peak * 100.0),
            ]
        })
        .collect();
    let m = &job.median;
    rows.push([
        "median".into(),
        String::new(),
        bytes(m.peak_allocated.value),
        bytes(m.peak_reserved.value),
        bytes(m.end_allocated.value),
        String::new(),
        String::new(),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..8)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let _ = write!(l, "  {cell:>w$}", w = widths[c]);
        }
        l
    };
    let _ = writeln!(s, "{}  file", line(&header));
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let file = job.ranks.get(i).map_or("", |x| x.file.as_str());
        let _ = writeln!(s, "{}", format!("{}  {file}", line(&cells)).trim_end());
    }
}

fn outliers_text(s: &mut String, job: &Job) {
    if job.outliers.is_empty() {
        let _ = writeln!(
            s,
            "\nNo outlier: no rank exceeds the median by {:.0}% or {} (whichever is more) on \
             peak allocated, peak reserved or allocated at the end.",
            OUTLIER_SHARE * 100.0,
            bytes(OUTLIER_MIN_BYTES)
        );
        return;
    }
    let _ = writeln!(
        s,
        "\nOutliers (above the median by {:.0}% or {}, whichever is more):",
        OUTLIER_SHARE * 100.0,
        bytes(OUTLIER_MIN_BYTES)
    );
    let mut last: Option<(u32, usize)> = None;
    for o in &job.outliers {
        if last != Some((o.rank, o.device)) {
            let _ = writeln!(s, "  {}:", who(job, o.rank, o.device));
            last = Some((o.rank, o.device));
        }
        outlier_text(s, o);
    }
}

fn outlier_text(s: &mut String, o: &Outlier) {
    let _ = writeln!(
        s,
        "    {} {}, {} over the median (rank {}, {})",
        metric_name(o.metric),
        bytes(o.value),
        signed_bytes(o.excess_bytes as i64),
        o.median_rank,
        bytes(o.median)
    );
    for x in &o.sites {
        let _ = writeln!(
            s,
            "      {:>12}  {}  {} here, {} on rank {}",
            signed_bytes(x.bytes as i64),
            site(&x.key),
            bytes(x.rank_bytes),
            bytes(x.median_bytes),
            o.median_rank
        );
    }
}

fn leaks_text(s: &mut String, job: &Job) {
    if job.leaks.is_empty() {
        return;
    }
    let n = job.rank_count();
    let _ = writeln!(s, "\nLeaks:");
    for l in &job.leaks {
        let on = if l.every_rank {
            format!("on every rank ({n})")
        } else {
            let list: Vec<String> = l.ranks.iter().map(u32::to_string).collect();
            format!(
                "on {} of {n}: rank{} {}",
                l.ranks.len(),
                plural(l.ranks.len()),
                list.join(", ")
            )
        };
        let held = if l.live_bytes_min == l.live_bytes_max {
            bytes(l.live_bytes_max)
        } else {
            format!("{} to {}", bytes(l.live_bytes_min), bytes(l.live_bytes_max))
        };
        let _ = writeln!(s, "  {} {on}, holding {held} at the end", site(&l.key));
    }
}
