//! One snapshot reduced to what comparing the ranks of a job needs: a few kilobytes, whatever
//! the size of the trace.
//!
//! A job has 8 to thousands of ranks, so `memsight ranks` cannot keep every snapshot (or its
//! analysis, which holds a counter per event) in memory. It keeps a [`FileSummary`] of each:
//! the peaks, the OOMs, the leaks, the worst fragmentation, the iterations, a downsampled
//! memory series and the live bytes of the largest call sites at the peak and at the end
//! (enough to diff a rank against the median rank). The same summary is what
//! `memsight summarize` writes, so a cluster can summarise each rank where it was recorded and
//! reduce the summaries on one machine; the reduction cannot tell the two apart.
//!
//! The JSON carries [`FORMAT`]: a summary written in another format (another memsight
//! version) is refused with both versions named, never read half-right.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::{
    Analysis, DeviceAnalysis, IterationSource, LeakSuspect, SiteAt, SiteKey, Verdict,
};
use crate::model::Snapshot;

use super::name::rank_from_name;

/// The format of summaries this memsight writes and reads. Bumped whenever a field changes
/// meaning or is removed; a reader refuses any other value.
pub const FORMAT: &str = "memsight-summary/1";

/// Call sites kept by name in each site table; the rest are summed as `other`. 64 sites at
/// both points keep a summary small (a few kilobytes) while the sites that differ between two
/// ranks by a meaningful amount are, in every sample, far inside the top 64.
pub const TOP_SITES: usize = 64;

/// Points of the memory series at most: enough for a small multiple per rank, small enough
/// for thousands of ranks in one process.
pub const SERIES_POINTS: usize = 256;

/// What `memsight summarize` writes: one snapshot file, one entry per device that held memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    /// [`FORMAT`].
    pub format: String,
    /// The memsight version that wrote it (named when the format is refused).
    pub memsight: String,
    /// The snapshot's file name, without its directories.
    pub file: String,
    /// The rank its file name gives (`snapshot_100_3.pickle`: 3), if it gives one.
    pub rank_from_name: Option<u32>,
    /// One entry per device that reserved memory (every device when none did).
    pub devices: Vec<RankSummary>,
    /// Devices with a trace that never reserved a byte: in a multi-process job each rank's
    /// file holds the markers of the other GPUs, and nothing else.
    pub idle_devices: Vec<usize>,
}

/// One device of one rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankSummary {
    pub device: usize,
    pub events: usize,
    /// The trace starts from an empty allocator (see `DeviceAnalysis::trace_complete`).
    pub trace_complete: bool,
    pub peak_allocated: u64,
    pub peak_allocated_event: usize,
    pub peak_reserved: u64,
    pub peak_reserved_event: usize,
    /// Allocated and reserved after the last event.
    pub end_allocated: u64,
    pub end_reserved: u64,
    pub ooms: Vec<OomSummary>,
    /// Leak suspects, the most growth per iteration first (`analysis::growth`), without
    /// `site` (an index into a site table the summary does not keep: 0) and `series`
    /// (empty), which a summary file does not hold either.
    pub leaks: Vec<LeakSuspect>,
    pub fragmentation: FragmentationSummary,
    pub iterations: IterationSummary,
    /// Event index of each `snapshot` marker.
    pub markers: Vec<usize>,
    pub series: MemorySeries,
    /// Live memory by call site at the allocated peak.
    pub sites_at_peak: SiteTable,
    /// Live memory by call site at the end.
    pub sites_at_end: SiteTable,
}

/// An OOM, placed in the run so that ranks can be compared on when they ran out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OomSummary {
    pub event: usize,
    /// The iteration it happened in (0-based), when the trace has iterations.
    pub iteration: Option<usize>,
    /// The trace's clock at the failure (microseconds; ranks of one host share it).
    pub time_us: i64,
    pub requested: u64,
    pub allocated: u64,
    pub reserved: u64,
    pub verdict: Verdict,
}

/// Fragmentation as the diagnosis measures it (`Fragmentation::stranded_share_at_peak`), and
/// its worst moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FragmentationSummary {
    /// Share of reserved memory stranded in holes at peak reserved (0..1).
    pub stranded_share_at_peak: f64,
    /// The most bytes ever stranded outside the largest free block, and when.
    pub worst_stranded: u64,
    pub worst_event: usize,
}

/// Where the iterations are: what aligns the ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationSummary {
    pub source: IterationSource,
    pub detail: Option<String>,
    /// The event that closes each iteration.
    pub boundaries: Vec<usize>,
    pub open_end: bool,
}

impl IterationSummary {
    pub fn count(&self) -> usize {
        self.boundaries.len()
    }

    /// The iteration (0-based) that event `e` belongs to; `None` without iterations, or after
    /// the last one when the events after it are not an iteration.
    pub fn of_event(&self, e: usize) -> Option<usize> {
        let k = self.boundaries.partition_point(|&b| b < e);
        (k < self.count() || (self.open_end && !self.boundaries.is_empty())).then_some(k)
    }
}

/// What one point of a [`MemorySeries`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesAxis {
    /// Each point covers `group` iterations (the last point: the rest, with the events after
    /// the last boundary).
    Iterations,
    /// Each point covers `group` events (no iterations to align on).
    Events,
}

/// Allocated and reserved memory over the run, at most [`SERIES_POINTS`] points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemorySeries {
    pub axis: SeriesAxis,
    /// Iterations or events per point.
    pub group: usize,
    pub points: Vec<SeriesPoint>,
}

/// One point: the highest memory inside it and the memory at its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// The last event the point covers.
    pub end_event: usize,
    pub allocated_max: u64,
    pub reserved_max: u64,
    pub allocated_end: u64,
    pub reserved_end: u64,
}

/// The largest call sites by live bytes at one point, the rest summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteTable {
    /// At most [`TOP_SITES`], largest first.
    pub sites: Vec<SiteBytes>,
    /// Bytes and number of the sites left out.
    pub other_bytes: u64,
    pub other_sites: usize,
}

impl SiteTable {
    /// The table by key, for matching against another rank's.
    pub fn by_key(&self) -> BTreeMap<SiteKey, u64> {
        self.sites
            .iter()
            .map(|s| (s.key.clone(), s.bytes))
            .collect()
    }
}

/// One call site's live memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteBytes {
    #[serde(flatten)]
    pub key: SiteKey,
    pub bytes: u64,
    pub blocks: u64,
}

/// Why a summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("not a memsight summary (not JSON: {0})")]
    NotJson(#[source] serde_json::Error),
    #[error("not a memsight summary (no \"format\" field)")]
    NoFormat,
    #[error(
        "summary format {found:?} (written by memsight {by}); this memsight {ours} reads \
         {FORMAT:?}: run `memsight summarize` again with this version",
        ours = env!("CARGO_PKG_VERSION")
    )]
    OtherFormat { found: String, by: String },
    #[error("malformed summary: {0}")]
    Malformed(#[source] serde_json::Error),
}

impl FileSummary {
    /// Reads a summary, refusing any other [`FORMAT`].
    pub fn from_json(text: &str) -> Result<FileSummary, SummaryError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(SummaryError::NotJson)?;
        let format = v.get("format").and_then(|f| f.as_str());
        match format {
            None => return Err(SummaryError::NoFormat),
            Some(f) if f != FORMAT => {
                let by = v.get("memsight").and_then(|m| m.as_str()).unwrap_or("?");
                return Err(SummaryError::OtherFormat {
                    found: f.to_string(),
                    by: by.to_string(),
                });
            }
            Some(_) => {}
        }
        serde_json::from_value(v).map_err(SummaryError::Malformed)
    }

    /// The summary as compact JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        // Plain data (strings, integers, finite floats): serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }
}

/// Summarises an analysed snapshot; `file` is its name as the reduction shows it.
pub fn summarize(file: &str, snap: &Snapshot, a: &Analysis) -> FileSummary {
    let idle = |d: &&DeviceAnalysis| d.peak.reserved == 0 && d.replay.allocations.is_empty();
    let busy = a.devices.iter().filter(|d| !idle(d)).count();
    let (devices, idle_devices) = if busy == 0 {
        (a.devices.iter().map(|d| device(snap, d)).collect(), vec![])
    } else {
        (
            a.devices
                .iter()
                .filter(|d| !idle(d))
                .map(|d| device(snap, d))
                .collect(),
            a.devices.iter().filter(idle).map(|d| d.device).collect(),
        )
    };
    FileSummary {
        format: FORMAT.to_string(),
        memsight: env!("CARGO_PKG_VERSION").to_string(),
        file: file.to_string(),
        rank_from_name: rank_from_name(file),
        devices,
        idle_devices,
    }
}

fn device(snap: &Snapshot, d: &DeviceAnalysis) -> RankSummary {
    let iterations = IterationSummary {
        source: d.iterations.source,
        detail: d.iterations.detail.clone(),
        boundaries: d.iterations.boundaries.clone(),
        open_end: d.iterations.open_end,
    };
    let trace = snap.trace(d.device);
    let ooms = d
        .ooms
        .iter()
        .map(|o| OomSummary {
            event: o.event,
            iteration: iterations.of_event(o.event),
            time_us: trace
                .and_then(|t| t.events.get(o.event))
                .map_or(0, |e| e.time_us),
            requested: o.requested,
            allocated: o.allocated,
            reserved: o.reserved,
            verdict: o.verdict,
        })
        .collect();
    let fragmentation = FragmentationSummary {
        stranded_share_at_peak: d
            .fragmentation
            .stranded_share_at_peak()
            .map_or(0.0, |f| f.0),
        worst_stranded: d.fragmentation.worst.map_or(0, |w| w.stranded),
        worst_event: d.fragmentation.worst.map_or(0, |w| w.event),
    };
    let peak_point = (d.events > 0).then_some(d.peak.allocated_event);
    RankSummary {
        device: d.device,
        events: d.events,
        trace_complete: d.trace_complete,
        peak_allocated: d.peak.allocated,
        peak_allocated_event: d.peak.allocated_event,
        peak_reserved: d.peak.reserved,
        peak_reserved_event: d.peak.reserved_event,
        end_allocated: d.final_counters.allocated,
        end_reserved: d.final_counters.reserved,
        ooms,
        leaks: d
            .leaks
            .iter()
            .map(|l| LeakSuspect {
                site: 0,
                series: Vec::new(),
                ..l.clone()
            })
            .collect(),
        fragmentation,
        markers: d.markers.iter().map(|m| m.event).collect(),
        series: series(d, &iterations),
        iterations,
        sites_at_peak: site_table(d, peak_point),
        sites_at_end: site_table(d, None),
    }
}

/// The largest sites at `t` (see [`DeviceAnalysis::sites_at`]).
fn site_table(d: &DeviceAnalysis, t: Option<usize>) -> SiteTable {
    let mut live: Vec<(SiteKey, SiteAt)> = d
        .sites_at(t)
        .into_iter()
        .enumerate()
        .filter(|(_, at)| at.live_bytes > 0)
        .filter_map(|(i, at)| d.sites.get(i as u32).map(|s| (s.key(), at)))
        .collect();
    live.sort_by(|a, b| b.1.live_bytes.cmp(&a.1.live_bytes).then(a.0.cmp(&b.0)));
    let rest = live.split_off(live.len().min(TOP_SITES));
    SiteTable {
        sites: live
            .into_iter()
            .map(|(key, at)| SiteBytes {
                key,
                bytes: at.live_bytes,
                blocks: at.live_blocks,
            })
            .collect(),
        other_bytes: rest.iter().map(|r| r.1.live_bytes).sum(),
        other_sites: rest.len(),
    }
}

/// The memory series: per iteration when there are two or more, else per run of events.
fn series(d: &DeviceAnalysis, it: &IterationSummary) -> MemorySeries {
    let s = &d.replay.series;
    let n = s.len();
    // The last event of each window (an iteration, or a run of events).
    let (axis, windows): (SeriesAxis, Vec<usize>) = if it.count() >= 2 {
        let mut w: Vec<usize> = it.boundaries.iter().copied().filter(|&b| b < n).collect();
        if n > 0 && w.last().is_none_or(|&l| l + 1 < n) {
            w.push(n - 1);
        }
        (SeriesAxis::Iterations, w)
    } else {
        (SeriesAxis::Events, (0..n).collect())
    };
    let group = windows.len().div_ceil(SERIES_POINTS).max(1);
    let mut points = Vec::with_capacity(windows.len().div_ceil(group));
    let mut start = 0usize;
    for chunk in windows.chunks(group) {
        let end = chunk[chunk.len() - 1];
        let mut p = SeriesPoint {
            end_event: end,
            allocated_max: 0,
            reserved_max: 0,
            allocated_end: s.allocated[end],
            reserved_end: s.reserved[end],
        };
        for i in start..=end {
            p.allocated_max = p.allocated_max.max(s.allocated[i]);
            p.reserved_max = p.reserved_max.max(s.reserved[i]);
        }
        points.push(p);
        start = end + 1;
    }
    MemorySeries {
        axis,
        group,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fall_in_iterations() {
        let it = IterationSummary {
            source: IterationSource::Markers,
            detail: None,
            boundaries: vec![10, 20, 30],
            open_end: false,
        };
        assert_eq!(it.of_event(0), Some(0));
        assert_eq!(it.of_event(10), Some(0));
        assert_eq!(it.of_event(11), Some(1));
        assert_eq!(it.of_event(30), Some(2));
        assert_eq!(it.of_event(31), None);
        let open = IterationSummary {
            open_end: true,
            ..it
        };
        assert_eq!(open.of_event(31), Some(3));
    }

    #[test]
    fn other_formats_are_refused() {
        let e = FileSummary::from_json(r#"{"format":"memsight-summary/0","memsight":"0.0.1"}"#)
            .expect_err("old format");
        assert!(e.to_string().contains("memsight 0.0.1"), "{e}");
        assert!(matches!(
            FileSummary::from_json("{}"),
            Err(SummaryError::NoFormat)
        ));
        assert!(matches!(
            FileSummary::from_json("\u{80}PK"),
            Err(SummaryError::NotJson(_))
        ));
    }
}
