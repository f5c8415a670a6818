//! Preferences that survive restarts (eframe persistence): recent files, theme, source roots.

use std::path::{Path, PathBuf};

use super::theme::ThemeChoice;

/// How many recent files are remembered.
pub const MAX_RECENT: usize = 12;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
#[serde(default)]
pub struct Preferences {
    pub recent: Vec<PathBuf>,
    pub theme: ThemeChoice,
    /// Folders where the Stack panel looks for source files named in frames (the recorded
    /// paths are from the machine that ran the job).
    pub source_roots: Vec<PathBuf>,
    pub show_frame_time: bool,
}

impl Preferences {
    /// Puts `path` first in the recent list.
    pub fn add_recent(&mut self, path: &Path) {
        let p = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.recent.retain(|r| r != &p);
        self.recent.insert(0, p);
        self.recent.truncate(MAX_RECENT);
    }
}

/// The bundled sample folder: next to the executable, above it (`target/release/..`), or in
/// the source tree this binary was built from.
pub fn samples_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        for _ in 0..4 {
            let Some(d) = dir else { break };
            candidates.push(d.join("sample_snapshots"));
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_snapshots"));
    candidates.into_iter().find(|p| p.is_dir())
}

/// The sample snapshots found in [`samples_dir`], sorted by name.
pub fn sample_files() -> Vec<PathBuf> {
    let Some(dir) = samples_dir() else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.to_string_lossy();
                    n.ends_with(".pickle") || n.ends_with(".pickle.xz") || n.ends_with(".pickle.gz")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The small sample built into the binary, so the app always has something to show.
pub const EMBEDDED_NAME: &str = "train_val_leak.pickle";
pub static EMBEDDED_SAMPLE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/sample_snapshots/train_val_leak.pickle"
));
