//! The command line: one module per subcommand, each with its clap arguments and a `run`
//! returning the process exit code.

pub mod analyze;
pub mod check;
pub mod diff;
pub mod explain_oom;
pub mod flamegraph;
pub mod info;
pub mod ranks;
pub mod report;
mod run;
pub mod summarize;
pub mod whatif;

pub use run::{error_message, main_with_args};

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::analysis::{Analysis, DeviceAnalysis};
use crate::model::Snapshot;
use crate::read::{self, LoadOptions};

/// The exit codes of the command line (README.md, "Command line", lists them too).
pub mod exit {
    /// Done (a closed standard output counts: whoever read it has what they wanted).
    pub const OK: i32 = 0;
    /// A `check` rule failed.
    pub const RULE_FAILED: i32 = 1;
    /// The input could not be read, or the command line was wrong (clap uses 2 as well).
    pub const BAD_INPUT: i32 = 2;
    /// The output could not be written: standard output failed (a full disk, not a closed
    /// pipe), a file could not be written, or `-o` named an input.
    pub const WRITE_FAILED: i32 = 3;
}

/// Loads a snapshot for a command, with the file name in the error, and the load time in ms.
pub fn load(path: &Path) -> Result<(Snapshot, f64)> {
    let t = Instant::now();
    let snap = read::load_path(path, &LoadOptions::default()).map_err(|e| match e {
        // The reader's message names the path already: say it once.
        read::ReadError::Io { error, .. } => {
            anyhow::anyhow!("cannot open {}: {error}", path.display())
        }
        other => anyhow::Error::new(other).context(format!("cannot open {}", path.display())),
    })?;
    Ok((snap, t.elapsed().as_secs_f64() * 1e3))
}

/// Device `device` of an analysis, or its first device when `None`, with the file named in
/// the error.
pub fn pick_device<'a>(
    a: &'a Analysis,
    device: Option<usize>,
    file: &Path,
) -> Result<&'a DeviceAnalysis> {
    match device {
        Some(d) => a
            .device(d)
            .ok_or_else(|| anyhow!("{} has no device {d}", file.display())),
        None => a.devices.first().ok_or_else(|| {
            anyhow!(
                "{} has no device with segments or trace events",
                file.display()
            )
        }),
    }
}
