//! Loading and analysis on a worker thread ([`Job`]), with progress and cancellation.
//!
//! The UI thread only polls: it never waits on the reader or the analysis, so the window keeps
//! repainting (the worker asks for a repaint whenever progress moves).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::analysis::Options;
use crate::model::Snapshot;
use crate::read::{LoadOptions, ReadError};

use super::data::{DeviceData, Loaded, Pyramid};
use super::job::{Job, Polled, Repaint, Worker};

/// Where a file comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Path(PathBuf),
    /// Bytes built into the binary (the bundled sample), with a display name.
    Embedded(&'static str, &'static [u8]),
    /// The snapshots of one job's ranks (files, or folders of them), compared side by side.
    Ranks(Vec<PathBuf>),
}

impl Source {
    /// A short name for the tab.
    pub fn title(&self) -> String {
        match self {
            Source::Path(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            Source::Embedded(name, _) => (*name).to_string(),
            Source::Ranks(paths) => match paths.as_slice() {
                [one] => format!("ranks in {}", Source::Path(one.clone()).title()),
                many => format!("{} ranks", many.len()),
            },
        }
    }

    pub fn path(&self) -> Option<&PathBuf> {
        match self {
            Source::Path(p) => Some(p),
            Source::Embedded(..) | Source::Ranks(_) => None,
        }
    }
}

/// What the worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Reading = 0,
    Analysing = 1,
    Indexing = 2,
}

/// A load (or a new analysis) in progress.
pub struct LoadJob(Job<Result<Loaded, String>>);

impl LoadJob {
    /// Starts reading `source` on a new thread; `repaint` is called when there is news.
    pub fn start(source: Source, repaint: Repaint) -> LoadJob {
        LoadJob(Job::spawn("memsight-load", repaint, move |w| {
            run(&source, w)
        }))
    }

    /// Analyses an already loaded snapshot again under other options (the iterations the
    /// user picked), on a new thread.
    pub fn reanalyse(loaded: &Loaded, options: Options, repaint: Repaint) -> LoadJob {
        let snap = loaded.snap.clone();
        let load_ms = loaded.load_ms;
        LoadJob(Job::spawn("memsight-analyse", repaint, move |w| {
            analyse(snap, options, load_ms, w)
        }))
    }

    /// Fraction of the file read (0..1).
    pub fn fraction(&self) -> f32 {
        match self.phase() {
            Phase::Reading => self.0.fraction(),
            _ => 1.0,
        }
    }

    pub fn phase(&self) -> Phase {
        match self.0.stage() {
            0 => Phase::Reading,
            1 => Phase::Analysing,
            _ => Phase::Indexing,
        }
    }

    pub fn started(&self) -> std::time::Instant {
        self.0.started
    }

    pub fn cancel(&self) {
        self.0.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// The loaded file or why it failed, once the worker is done.
    pub fn poll(&self) -> Option<Result<Loaded, String>> {
        match self.0.poll() {
            Polled::Running => None,
            Polled::Done(r) => Some(r),
            Polled::Lost => Some(Err("the loading thread stopped unexpectedly".to_string())),
        }
    }
}

const CANCELLED: &str = "Loading was cancelled.";

fn run(source: &Source, w: &Worker) -> Result<Loaded, String> {
    let t0 = Instant::now();
    let opts = LoadOptions {
        progress: Some(w.progress_callback()),
    };
    let loaded = match source {
        Source::Path(path) => crate::read::load_path(path, &opts),
        Source::Embedded(_, bytes) => crate::read::load_bytes(bytes, &opts),
        Source::Ranks(_) => return Err("a job's ranks open with RanksJob".into()),
    };
    let snap = match loaded {
        Ok(s) => s,
        Err(ReadError::Cancelled) => return Err(CANCELLED.into()),
        Err(e) => return Err(e.to_string()),
    };
    if w.is_cancelled() {
        return Err(CANCELLED.into());
    }
    let load_ms = t0.elapsed().as_millis();
    analyse(Arc::new(snap), Options::default(), load_ms, w)
}

/// The analysis and the per-device data the views need, of a loaded snapshot.
fn analyse(
    snap: Arc<Snapshot>,
    options: Options,
    load_ms: u128,
    w: &Worker,
) -> Result<Loaded, String> {
    w.stage(Phase::Analysing as u8);
    let t1 = Instant::now();
    let analysis = crate::analysis::analyze_with(&snap, &options);
    if w.is_cancelled() {
        return Err(CANCELLED.into());
    }
    w.stage(Phase::Indexing as u8);
    let devices: Vec<DeviceData> = analysis
        .devices
        .par_iter()
        .enumerate()
        .map(|(i, d)| DeviceData::build(i, &snap, d))
        .collect();
    let analyze_ms = t1.elapsed().as_millis();
    let pyramids = devices.iter().map(|d| d.lod.clone()).collect();
    let analysis = Arc::new(analysis);
    let repaint = w.repaint();
    Pyramid::build_later(analysis.clone(), pyramids, move || repaint());
    Ok(Loaded {
        snap,
        analysis,
        options,
        devices,
        load_ms,
        analyze_ms,
    })
}

/// A job's ranks, summarised and compared.
pub struct RanksLoaded {
    /// `None` when no file could be read.
    pub job: Option<crate::ranks::Job>,
    /// Each file that could not be read, and why.
    pub errors: Vec<crate::output::ranks::FileFailure>,
    /// The file of each of `job`'s ranks (same order), found once here: the view draws every
    /// frame, and a job can have thousands of ranks.
    pub rank_paths: Vec<Option<PathBuf>>,
}

/// Summarising a job's ranks on worker threads (one snapshot per worker at a time, so memory
/// stays bounded whatever the number of files: `ranks::summarize_all`).
pub struct RanksJob(Job<Result<RanksLoaded, String>>);

impl RanksJob {
    pub fn start(paths: Vec<PathBuf>, repaint: Repaint) -> RanksJob {
        RanksJob(Job::spawn("memsight-ranks", repaint, move |w| {
            let files = crate::ranks::expand(&paths).map_err(|e| e.to_string())?;
            let progress = |done: usize, total: usize| {
                w.progress(done as u64, total as u64);
                !w.is_cancelled()
            };
            let results = crate::ranks::summarize_all(
                &files,
                &Options::default(),
                crate::ranks::default_jobs(),
                &progress,
            );
            let mut summaries = Vec::new();
            let mut errors = Vec::new();
            for (path, r) in files.iter().zip(results) {
                match r {
                    Ok(s) => summaries.push(s),
                    Err(e) => errors.push(crate::output::ranks::FileFailure {
                        file: path.display().to_string(),
                        error: e.to_string(),
                    }),
                }
            }
            if w.is_cancelled() {
                return Err(CANCELLED.into());
            }
            let job = crate::ranks::reduce(summaries);
            let by_name: std::collections::HashMap<String, &PathBuf> = files
                .iter()
                .map(|p| (crate::ranks::load::file_name(p), p))
                .collect();
            let rank_paths = job.as_ref().map_or_else(Vec::new, |j| {
                j.ranks
                    .iter()
                    .map(|r| by_name.get(&r.file).map(|p| (*p).clone()))
                    .collect()
            });
            Ok(RanksLoaded {
                job,
                errors,
                rank_paths,
            })
        }))
    }

    /// Fraction of the files summarised (0..1).
    pub fn fraction(&self) -> f32 {
        self.0.fraction()
    }

    pub fn started(&self) -> std::time::Instant {
        self.0.started
    }

    pub fn cancel(&self) {
        self.0.cancel();
    }

    pub fn poll(&self) -> Option<Result<RanksLoaded, String>> {
        match self.0.poll() {
            Polled::Running => None,
            Polled::Done(r) => Some(r),
            Polled::Lost => Some(Err("the ranks' worker stopped unexpectedly".to_string())),
        }
    }
}
