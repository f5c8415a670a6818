//! Loading and analysis on a worker thread ([`Job`]), with progress and cancellation.
//!
//! The UI thread only polls: it never waits on the reader or the analysis, so the window keeps
//! repainting (the worker asks for a repaint whenever progress moves).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::analysis::Options;
use crate::model::Snapshot;
use crate::read::{LoadOptions, ReadError};

use super::data::{DeviceData, Loaded};
use super::job::{Job, Polled, Repaint, Worker};

/// Where a file comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Path(PathBuf),
    /// Bytes built into the binary (the bundled sample), with a display name.
    Embedded(&'static str, &'static [u8]),
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
        }
    }

    pub fn path(&self) -> Option<&PathBuf> {
        match self {
            Source::Path(p) => Some(p),
            Source::Embedded(..) => None,
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
    let devices = analysis
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| DeviceData::build(i, &snap, d))
        .collect();
    let analyze_ms = t1.elapsed().as_millis();
    Ok(Loaded {
        snap,
        analysis: Arc::new(analysis),
        options,
        devices,
        load_ms,
        analyze_ms,
    })
}
