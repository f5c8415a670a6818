//! The desktop app (egui/eframe). The only layer that knows egui.
//!
//! - [`app`]: the window: menus, tabs (one per open file), drag and drop, status bar;
//! - [`commands`]: every command with its label and shortcut, one table;
//! - [`tab`]: one open file: its loading state, its [`focus`] (what the user looks at, shared
//!   by the views) and its [`views`] (each with its own state);
//! - [`job`]: the one promise type for background work; [`loader`] reads and analyses with it;
//! - [`data`], [`lod`]: per-device indexes built on the worker (timeline level of detail);
//! - [`viewbar`]: the view switcher and the filters above a loaded file's views;
//! - [`window`]: the window's first size, fitted to the monitor;
//! - [`theme`], [`plot`] (the charts' byte axis), [`preferences`], [`sources`], [`filters`],
//!   [`extensions`].
//!
//! Imports point one way: `app` > `tab` > `views` > `focus`, `filters`, `loader` > `data` >
//! `lod`, `theme` (and `job` under all of them).

pub mod app;
pub mod commands;
pub mod data;
pub mod export;
pub mod extensions;
pub mod filters;
pub mod focus;
pub mod job;
pub mod loader;
pub mod lod;
pub mod plot;
pub mod preferences;
pub mod sources;
pub mod tab;
pub mod theme;
pub mod view;
pub mod viewbar;
pub mod views;
pub mod window;

pub use app::MemsightApp;

/// Opens the app window with `files` (the bundled sample when empty).
pub fn run(files: Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("memsight")
            .with_inner_size(window::FALLBACK)
            .with_min_inner_size(window::MIN)
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
