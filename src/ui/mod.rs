//! The desktop app (egui/eframe). The only layer that knows egui.

/// Opens the app window with `files` (a bundled sample when empty).
pub fn run(files: Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    let _ = files;
    anyhow::bail!("the app window is not written yet")
}
