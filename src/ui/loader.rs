//! Loading and analysis on a worker thread, with progress and cancellation.
//!
//! The UI thread only polls: it never waits on the reader or the analysis, so the window keeps
//! repainting (the worker asks for a repaint whenever progress moves).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use crate::analysis::Options;
use crate::model::Snapshot;
use crate::read::{LoadOptions, ReadError};

use super::data::{DeviceData, Loaded};

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

/// A load in progress.
pub struct LoadJob {
    /// Bytes consumed, in millionths of the file.
    progress: Arc<AtomicU64>,
    phase: Arc<AtomicU8>,
    cancel: Arc<AtomicBool>,
    rx: Receiver<Result<Loaded, String>>,
    pub started: Instant,
}

/// The outcome of polling a job.
pub enum Poll {
    Running,
    Done(Box<Result<Loaded, String>>),
}

impl LoadJob {
    /// Starts reading `source` on a new thread; `repaint` is called when there is news.
    pub fn start(source: Source, repaint: Arc<dyn Fn() + Send + Sync>) -> LoadJob {
        LoadJob::spawn(Phase::Reading, repaint, move |p, ph, c, repaint| {
            run(&source, p, ph, c, repaint)
        })
    }

    /// Analyses an already loaded snapshot again under other options (the iterations the
    /// user picked), on a new thread.
    pub fn reanalyse(
        loaded: &Loaded,
        options: Options,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> LoadJob {
        let snap = loaded.snap.clone();
        let load_ms = loaded.load_ms;
        LoadJob::spawn(Phase::Analysing, repaint, move |_, ph, c, repaint| {
            analyse(snap, options, load_ms, ph, c, repaint)
        })
    }

    fn spawn(
        first: Phase,
        repaint: Arc<dyn Fn() + Send + Sync>,
        work: impl FnOnce(
                &Arc<AtomicU64>,
                &AtomicU8,
                &Arc<AtomicBool>,
                &(dyn Fn() + Send + Sync),
            ) -> Result<Loaded, String>
            + Send
            + 'static,
    ) -> LoadJob {
        let progress = Arc::new(AtomicU64::new(0));
        let phase = Arc::new(AtomicU8::new(first as u8));
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = channel();
        let (p, ph, c) = (progress.clone(), phase.clone(), cancel.clone());
        std::thread::Builder::new()
            .name("memsight-load".into())
            .spawn(move || {
                let r = work(&p, &ph, &c, &*repaint);
                let _ = tx.send(r);
                repaint();
            })
            .ok();
        LoadJob {
            progress,
            phase,
            cancel,
            rx,
            started: Instant::now(),
        }
    }

    /// Fraction of the file read (0..1).
    pub fn fraction(&self) -> f32 {
        self.progress.load(Ordering::Relaxed) as f32 / 1e6
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Reading,
            1 => Phase::Analysing,
            _ => Phase::Indexing,
        }
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn poll(&self) -> Poll {
        match self.rx.try_recv() {
            Ok(r) => Poll::Done(Box::new(r)),
            Err(TryRecvError::Empty) => Poll::Running,
            Err(TryRecvError::Disconnected) => Poll::Done(Box::new(Err(
                "the loading thread stopped unexpectedly".to_string(),
            ))),
        }
    }
}

fn run(
    source: &Source,
    progress: &Arc<AtomicU64>,
    phase: &AtomicU8,
    cancel: &Arc<AtomicBool>,
    repaint: &(dyn Fn() + Send + Sync),
) -> Result<Loaded, String> {
    let t0 = Instant::now();
    let (p, c) = (progress.clone(), cancel.clone());
    // The callback cannot borrow `repaint`, so it marks progress and the UI repaints on a
    // timer while a job runs (see `App::ui`).
    let opts = LoadOptions {
        progress: Some(Arc::new(move |done, total| {
            let f = if total == 0 {
                0
            } else {
                (done as f64 / total as f64 * 1e6) as u64
            };
            p.store(f.min(1_000_000), Ordering::Relaxed);
            !c.load(Ordering::Relaxed)
        })),
    };
    let loaded = match source {
        Source::Path(path) => crate::read::load_path(path, &opts),
        Source::Embedded(_, bytes) => crate::read::load_bytes(bytes, &opts),
    };
    let snap = match loaded {
        Ok(s) => s,
        Err(ReadError::Cancelled) => return Err("Loading was cancelled.".into()),
        Err(e) => return Err(e.to_string()),
    };
    if cancel.load(Ordering::Relaxed) {
        return Err("Loading was cancelled.".into());
    }
    let load_ms = t0.elapsed().as_millis();
    progress.store(1_000_000, Ordering::Relaxed);
    analyse(
        Arc::new(snap),
        Options::default(),
        load_ms,
        phase,
        cancel,
        repaint,
    )
}

/// The analysis and the per-device data the views need, of a loaded snapshot.
fn analyse(
    snap: Arc<Snapshot>,
    options: Options,
    load_ms: u128,
    phase: &AtomicU8,
    cancel: &Arc<AtomicBool>,
    repaint: &(dyn Fn() + Send + Sync),
) -> Result<Loaded, String> {
    phase.store(Phase::Analysing as u8, Ordering::Relaxed);
    repaint();
    let t1 = Instant::now();
    let analysis = crate::analysis::analyze_with(&snap, &options);
    if cancel.load(Ordering::Relaxed) {
        return Err("Loading was cancelled.".into());
    }
    phase.store(Phase::Indexing as u8, Ordering::Relaxed);
    repaint();
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

/// A filtered timeline being rebuilt on a worker thread.
pub struct LodJob {
    pub filter: super::filters::Filter,
    pub device: usize,
    rx: Receiver<super::lod::Lod>,
}

impl LodJob {
    pub fn start(
        loaded: &Loaded,
        device: usize,
        filter: super::filters::Filter,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> LodJob {
        let (tx, rx) = channel();
        let snap = loaded.snap.clone();
        let analysis = loaded.analysis.clone();
        let index = loaded.devices.get(device).map(|d| d.index).unwrap_or(0);
        let f = filter.clone();
        std::thread::Builder::new()
            .name("memsight-filter".into())
            .spawn(move || {
                if let Some(d) = analysis.devices.get(index) {
                    let mask = f.mask(&snap, d);
                    let _ = tx.send(super::lod::Lod::build(d, mask));
                    repaint();
                }
            })
            .ok();
        LodJob { filter, device, rx }
    }

    pub fn poll(&self) -> Option<super::lod::Lod> {
        self.rx.try_recv().ok()
    }
}
