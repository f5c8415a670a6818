//! The command line: one module per subcommand, each with its clap arguments and a `run`
//! returning the process exit code.

pub mod analyze;
pub mod check;
pub mod diff;
pub mod explain_oom;
pub mod info;
pub mod report;
pub mod whatif;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::model::Snapshot;
use crate::read::{self, LoadOptions};

/// Loads a snapshot for a command, with the file name in the error, and the load time in ms.
pub fn load(path: &Path) -> Result<(Snapshot, f64)> {
    let t = Instant::now();
    let snap = read::load_path(path, &LoadOptions::default())
        .with_context(|| format!("cannot open {}", path.display()))?;
    Ok((snap, t.elapsed().as_secs_f64() * 1e3))
}
