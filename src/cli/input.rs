//! What every command reads: a snapshot from a path, one device of its analysis.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::analysis::{Analysis, DeviceAnalysis};
use crate::model::Snapshot;
use crate::read::{self, LoadOptions};

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
