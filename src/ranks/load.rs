//! Many files at once: every snapshot loaded, analysed and summarised in parallel, with at most
//! `jobs` of them in memory at any moment, and summaries read as they are.
//!
//! Why worker threads and not `par_iter` over the files: the analysis of one file is itself
//! parallel (its devices on rayon's pool), and a rayon worker that waits inside it may steal
//! the next file's task and load that file while its own snapshot is still alive, so the
//! number of snapshots in memory would have no bound. Here `jobs` plain threads take the
//! files one by one; each snapshot is dropped as soon as its summary is made, so memory stays
//! near `jobs` times the cost of one file (the reader's budget bounds that), whatever the
//! number of files. The analysis inside still runs its devices on rayon's pool.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::analysis::{self, Options};
use crate::read::{self, LoadOptions, ReadError};

use super::name::{natural_cmp, rank_from_name};
use super::summary::{self, FileSummary, SummaryError};

/// The name ending that marks a summary (`memsight summarize -o rank3.summary.json`).
pub const SUMMARY_SUFFIX: &str = ".summary.json";

/// Why one file gave no summary.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Summary(#[from] SummaryError),
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    /// A bug in memsight: caught, so that the other files are still summarised.
    #[error("memsight failed on it (a bug; please report it with the file)")]
    Panicked,
    #[error("it holds no device with segments or trace events: nothing to compare")]
    NoDevice,
    /// The caller's progress callback asked to stop before this file was started.
    #[error("cancelled")]
    Cancelled,
}

/// What went wrong listing the inputs.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot list {}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no snapshot (.pickle, .pkl, compressed or not) and no {SUMMARY_SUFFIX}", path.display())]
    EmptyDir { path: PathBuf },
}

/// Whether a path names a summary rather than a snapshot.
pub fn is_summary(path: &Path) -> bool {
    path.to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(SUMMARY_SUFFIX)
}

/// Whether a file in a directory is worth taking: a summary or a snapshot by its name.
fn is_input(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n.starts_with('.') || n.ends_with(".truth.json") {
        return false;
    }
    n.ends_with(SUMMARY_SUFFIX)
        || [".pickle", ".pkl"].iter().any(|e| {
            n.ends_with(e)
                || [".xz", ".gz", ".zst"]
                    .iter()
                    .any(|c| n.ends_with(&format!("{e}{c}")))
        })
}

/// The files the arguments name: a file as given, a directory as its snapshots and summaries
/// in natural order (`rank2` before `rank10`). A snapshot whose summary sits beside it
/// (`x.pickle` and `x.pickle.summary.json`) is taken once, from the summary.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for a in args {
        if !a.is_dir() {
            out.push(a.clone());
            continue;
        }
        let err = |source| InputError::Dir {
            path: a.clone(),
            source,
        };
        let mut names: Vec<String> = Vec::new();
        for e in std::fs::read_dir(a).map_err(err)? {
            let e = e.map_err(err)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if is_input(&name) && !e.path().is_dir() {
                names.push(name);
            }
        }
        let summarised: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_suffix(SUMMARY_SUFFIX).map(str::to_string))
            .collect();
        names.retain(|n| !summarised.contains(n));
        if names.is_empty() {
            return Err(InputError::EmptyDir { path: a.clone() });
        }
        names.sort_by(|x, y| natural_cmp(x, y));
        out.extend(names.into_iter().map(|n| a.join(n)));
    }
    Ok(out)
}

/// The file name of a path, as summaries and reports show it.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The summary of one file: a summary read (its rank taken from its own name when the
/// snapshot's name gave none), or a snapshot loaded, analysed and summarised, then dropped.
pub fn summarize_path(path: &Path, options: &Options) -> Result<FileSummary, FileError> {
    let summary = if is_summary(path) {
        let mut s = FileSummary::from_json(&std::fs::read_to_string(path)?)?;
        if s.rank_from_name.is_none() {
            s.rank_from_name = rank_from_name(&file_name(path));
        }
        s
    } else {
        let snap = read::load_path(path, &LoadOptions::default())?;
        let a = analysis::analyze_with(&snap, options);
        summary::summarize(&file_name(path), &snap, &a)
    };
    if summary.devices.is_empty() {
        return Err(FileError::NoDevice);
    }
    Ok(summary)
}

/// Summarises every file with `jobs` workers (see the module doc), results in the order of
/// `paths`. `progress(done, total)` is called after each file, from the worker that did it;
/// when it returns `false` no further file is started, and those not started are
/// [`FileError::Cancelled`] (as `LoadOptions::progress` cancels one load).
pub fn summarize_all(
    paths: &[PathBuf],
    options: &Options,
    jobs: usize,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Vec<Result<FileSummary, FileError>> {
    let total = paths.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<FileSummary, FileError>>>> =
        Mutex::new((0..total).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, total.max(1)) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let r =
                    std::panic::catch_unwind(AssertUnwindSafe(|| summarize_path(path, options)))
                        .unwrap_or(Err(FileError::Panicked));
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
                if !progress(done.fetch_add(1, Ordering::Relaxed) + 1, total) {
                    stop.store(true, Ordering::Relaxed);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or(Err(FileError::Cancelled)))
        .collect()
}

/// Workers by default: the machine's cores, at most 8. Each holds one snapshot and its
/// analysis (about 1x the decompressed file at peak: BENCHMARKS.md), so the cap keeps a
/// many-core host from holding dozens of large snapshots at once; past 8 the disk and the
/// per-file analysis, already parallel, gain little.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_by_name() {
        assert!(is_input("rank3.pickle"));
        assert!(is_input("rank3.pickle.xz"));
        assert!(is_input("rank3.PKL.gz"));
        assert!(is_input("rank3.pickle.summary.json"));
        assert!(!is_input("rank3.truth.json"));
        assert!(!is_input("README.md"));
        assert!(!is_input(".rank3.pickle.memsight-1-0.tmp"));
    }
}
