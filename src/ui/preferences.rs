//! Preferences that survive restarts (eframe persistence): recent files, theme, source roots,
//! the user's call tree categories.

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
    /// The user's categories for the call tree and the timeline, one `NAME = REGEX` a line
    /// over each frame's `FILE:LINE FUNCTION` (as `memsight flamegraph --category`).
    pub categories: String,
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

/// The small sample built into the binary, so the app always has something to show.
pub const EMBEDDED_NAME: &str = "train_val_leak.pickle";
pub static EMBEDDED_SAMPLE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/sample_snapshots/train_val_leak.pickle"
));

/// Every bundled sample, built into the binary so File > Samples works wherever memsight is
/// installed (a binary has no source tree beside it): name and bytes, in menu order.
pub static SAMPLES: [(&str, &[u8]); 5] = [
    (EMBEDDED_NAME, EMBEDDED_SAMPLE),
    (
        "capacity_oom.pickle",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample_snapshots/capacity_oom.pickle"
        )),
    ),
    (
        "frag_oom.pickle",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample_snapshots/frag_oom.pickle"
        )),
    ),
    (
        "frag_oom_expandable.pickle",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample_snapshots/frag_oom_expandable.pickle"
        )),
    ),
    (
        "gpt_train_amp.pickle",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample_snapshots/gpt_train_amp.pickle"
        )),
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_bundled_sample_is_built_in_byte_for_byte() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_snapshots");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("sample_snapshots/")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pickle"))
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = super::SAMPLES.iter().map(|s| s.0.to_string()).collect();
        built_in.sort();
        assert_eq!(on_disk, built_in);
        for (name, bytes) in &super::SAMPLES {
            assert_eq!(std::fs::read(dir.join(name)).expect("a sample"), *bytes);
        }
    }
}
