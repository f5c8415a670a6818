//! The desktop app (egui/eframe). The only layer that knows egui.
//!
//! - [`app`]: the window: menus, tabs (one per open file), drag and drop, status bar;
//! - [`loader`]: reading and analysis on worker threads, with progress and cancel;
//! - [`data`], [`lod`]: per-device indexes built on the worker (timeline level of detail);
//! - [`views`]: Diagnosis, Memory timeline, Segments, Leaks, File, and the Stack panel;
//! - [`theme`], [`settings`], [`sources`], [`filters`], [`extensions`].

pub mod app;
pub mod data;
pub mod doc;
pub mod extensions;
pub mod filters;
pub mod loader;
pub mod lod;
pub mod settings;
pub mod sources;
pub mod theme;
pub mod views;

pub use app::MemsightApp;

/// Opens the app window with `files` (the bundled sample when empty).
pub fn run(files: Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("memsight")
            .with_inner_size([1500.0, 920.0])
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "memsight",
        options,
        Box::new(move |cc| Ok(Box::new(MemsightApp::new(cc, files)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
