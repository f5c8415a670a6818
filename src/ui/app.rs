//! The window: menu bar, one tab per open file, drag and drop, File > Open on a thread,
//! recent files and settings (persisted), the status bar.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Align2, Color32, FontId, RichText, Ui};

use crate::units;

use super::commands::{Command, GESTURES};
use super::data::Loaded;
use super::export::{export_to, ExportForm, FormAction};
use super::extensions::{export_formats, ExportFormat};
use super::focus::ViewId;
use super::job::Repaint;
use super::loader::{LoadJob, RanksJob, Source};
use super::preferences::{self, Preferences};
use super::sources::SourceCache;
use super::tab::{Tab, TabState};
use super::view::{Env, ViewCtx};
use super::viewbar::view_bar;
use super::window::{FirstSize, WINDOW_KEY};

/// The rectangles of a loaded file's two panels, in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Panels {
    /// The view in the centre.
    pub central: egui::Rect,
    /// The Stack panel on the right.
    pub stack: egui::Rect,
}

/// Frames whose CPU time is kept for the status bar and benchmarks.
const FRAME_HISTORY: usize = 600;

pub struct MemsightApp {
    pub tabs: Vec<Tab>,
    pub active: usize,
    pub preferences: Preferences,
    sources: SourceCache,
    /// A file dialog running on its thread.
    dialog: Option<Receiver<Vec<PathBuf>>>,
    /// Messages from background work (exports), shown in the status bar.
    notices: Option<Receiver<String>>,
    notice: Option<(String, Instant)>,
    repaint: Repaint,
    show_settings: bool,
    show_help: bool,
    roots_text: String,
    applied_theme: Option<super::theme::ThemeChoice>,
    /// CPU time of recent frames (seconds), newest last.
    frame_times: VecDeque<f32>,
    /// File > Export's window, while open.
    export_form: Option<ExportForm>,
    /// When the app was created, for `MEMSIGHT_FIRST_VIEW` (see [`MemsightApp::first_view`]).
    created: Instant,
    first_view_reported: bool,
    /// Where the last frame put a loaded file's panels.
    panels: Option<Panels>,
    /// The window fitted to its monitor on the first frames (not in tests: no window).
    first_size: FirstSize,
}

impl MemsightApp {
    /// Where the last frame put the active file's views and its Stack panel (none before a
    /// file is loaded): the layout tests check that the one never runs under the other.
    pub fn panels(&self) -> Option<Panels> {
        self.panels
    }

    /// The app as eframe creates it: settings from storage; `files` opened (the embedded
    /// sample when there are none).
    pub fn new(cc: &eframe::CreationContext<'_>, files: Vec<PathBuf>) -> MemsightApp {
        let prefs: Preferences = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let sources = if files.is_empty() {
            vec![Source::Embedded(
                preferences::EMBEDDED_NAME,
                preferences::EMBEDDED_SAMPLE,
            )]
        } else {
            files.into_iter().map(source_of).collect()
        };
        let mut app = Self::with_sources(&cc.egui_ctx, prefs, sources);
        // eframe restores the size the user left the window at: that one stays.
        let remembered = cc
            .storage
            .is_some_and(|s| s.get_string(WINDOW_KEY).is_some());
        app.first_size = FirstSize::new(remembered);
        app
    }

    /// The app with explicit preferences and files (tests use this).
    pub fn with_sources(
        ctx: &egui::Context,
        mut prefs: Preferences,
        sources: Vec<Source>,
    ) -> MemsightApp {
        if prefs.source_roots.is_empty() {
            if let Some(dir) = preferences::samples_dir() {
                prefs.source_roots.push(dir);
            }
        }
        let c = ctx.clone();
        let roots_text = roots_to_text(&prefs.source_roots);
        let mut app = MemsightApp {
            tabs: Vec::new(),
            active: 0,
            preferences: prefs,
            sources: SourceCache::default(),
            dialog: None,
            notices: None,
            notice: None,
            repaint: Arc::new(move || c.request_repaint()),
            show_settings: false,
            show_help: false,
            roots_text,
            applied_theme: None,
            frame_times: VecDeque::with_capacity(FRAME_HISTORY),
            export_form: None,
            created: Instant::now(),
            first_view_reported: false,
            first_size: FirstSize::new(true),
            panels: None,
        };
        for s in sources {
            app.open(s);
        }
        app
    }

    /// Opens a file in a new tab (or focuses its tab when already open) and starts loading.
    pub fn open(&mut self, source: Source) {
        if let Some(i) = self.tabs.iter().position(|d| d.source == source) {
            if !matches!(self.tabs[i].state, TabState::Failed(_)) {
                self.active = i;
                return;
            }
            self.tabs.remove(i);
        }
        if let Some(p) = source.path() {
            self.preferences.add_recent(p);
        }
        let state = match &source {
            Source::Ranks(paths) => {
                TabState::LoadingRanks(RanksJob::start(paths.clone(), self.repaint.clone()))
            }
            _ => TabState::Loading(LoadJob::start(source.clone(), self.repaint.clone())),
        };
        self.tabs.push(Tab::loading(source, state));
        self.active = self.tabs.len() - 1;
    }

    pub fn active_tab(&self) -> Option<&Tab> {
        self.tabs.get(self.active)
    }

    pub fn active_tab_mut(&mut self) -> Option<&mut Tab> {
        self.tabs.get_mut(self.active)
    }

    /// Whether any file is still loading, or building its timeline after opening.
    pub fn is_loading(&self) -> bool {
        self.tabs.iter().any(|t| t.is_loading() || t.is_indexing())
    }

    /// CPU time of the recent frames, in seconds (oldest first).
    pub fn frame_times(&self) -> Vec<f32> {
        self.frame_times.iter().copied().collect()
    }

    pub fn clear_frame_times(&mut self) {
        self.frame_times.clear();
    }

    fn poll_jobs(&mut self) {
        for tab in &mut self.tabs {
            tab.poll();
        }
        if let Some(rx) = &self.dialog {
            if let Ok(paths) = rx.try_recv() {
                self.dialog = None;
                for p in paths {
                    self.open(source_of(p));
                }
            }
        }
        if let Some(rx) = &self.notices {
            if let Ok(msg) = rx.try_recv() {
                self.notice = Some((msg, Instant::now()));
            }
        }
    }

    /// With `MEMSIGHT_FIRST_VIEW` set, prints once to standard error how long after the app
    /// was created the first loaded view was drawn (time to first view, BENCHMARKS.md), and
    /// with `MEMSIGHT_FIRST_VIEW=exit` closes the window then.
    fn first_view(&mut self, ctx: &egui::Context) {
        if self.first_view_reported {
            return;
        }
        let ready = self
            .active_tab()
            .is_some_and(|t| matches!(t.state, TabState::Ready(_) | TabState::Ranks(_)));
        let Some(mode) = std::env::var_os("MEMSIGHT_FIRST_VIEW") else {
            self.first_view_reported = true;
            return;
        };
        if ready {
            self.first_view_reported = true;
            eprintln!(
                "memsight: first view drawn {} ms after start",
                self.created.elapsed().as_millis()
            );
            if mode == "exit" {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    /// File > Open a job's ranks: a folder of one snapshot per rank, compared side by side.
    fn open_ranks_dialog(&mut self) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = channel();
        let repaint = self.repaint.clone();
        std::thread::spawn(move || {
            let dir = rfd::FileDialog::new()
                .set_title("Open the folder of a job's snapshots (one per rank)")
                .pick_folder();
            let _ = tx.send(dir.into_iter().collect());
            repaint();
        });
        self.dialog = Some(rx);
    }

    /// File > Open: the dialog runs on its own thread so the window keeps painting.
    fn open_dialog(&mut self) {
        if self.dialog.is_some() {
            return;
        }
        let (tx, rx) = channel();
        let repaint = self.repaint.clone();
        let start = preferences::samples_dir();
        std::thread::spawn(move || {
            let mut d = rfd::FileDialog::new()
                .set_title("Open memory snapshots")
                .add_filter("Memory snapshots", &["pickle", "pkl", "xz", "gz", "zst"])
                .add_filter("All files", &["*"]);
            if let Some(dir) = start {
                d = d.set_directory(dir);
            }
            let files = d.pick_files().unwrap_or_default();
            let _ = tx.send(files);
            repaint();
        });
        self.dialog = Some(rx);
    }

    /// File > Export > format: render and save on a thread.
    /// File > Export > format: asks where, in a window with the path typed out
    /// ([`ExportForm`]).
    pub fn export(&mut self, fmt: ExportFormat) {
        if let Some(tab) = self.tabs.get(self.active) {
            self.export_form = Some(ExportForm::new(fmt, tab));
        }
    }

    /// The Export window, and the export it asked for.
    fn export_window(&mut self, ctx: &egui::Context) {
        let Some(form) = self.export_form.as_mut() else {
            return;
        };
        match form.show(ctx, &self.repaint) {
            FormAction::Open => {}
            FormAction::Close => self.export_form = None,
            FormAction::Save(fmt, path) => {
                self.export_form = None;
                if let Some(tab) = self.tabs.get(self.active) {
                    self.notices = export_to(tab, fmt, path, self.repaint.clone());
                }
            }
        }
    }

    fn close(&mut self, i: usize) {
        if i < self.tabs.len() {
            // Dropping the tab cancels its jobs.
            self.tabs.remove(i);
            if self.active >= self.tabs.len() {
                self.active = self.tabs.len().saturating_sub(1);
            }
        }
    }

    /// Carries out a command from a menu or a shortcut.
    fn execute(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::Open => self.open_dialog(),
            Command::CloseTab => self.close(self.active),
            Command::NextTab => {
                if !self.tabs.is_empty() {
                    self.active = (self.active + 1) % self.tabs.len();
                }
            }
            Command::Show(v) => {
                if let Some(t) = self.active_tab_mut() {
                    t.focus.view = v;
                }
            }
            Command::FindEvent => {
                if let Some(t) = self.active_tab_mut() {
                    t.focus.view = ViewId::Events;
                    t.views.events.find();
                }
            }
            Command::Settings => self.show_settings = true,
            Command::Keys => self.show_help = true,
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    fn menu_bar(&mut self, ui: &mut Ui) {
        let mut run = None;
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if Command::Open.menu_button(ui) {
                    run = Some(Command::Open);
                    ui.close();
                }
                if ui
                    .button("Open a job's ranks (folder)...")
                    .on_hover_text("One snapshot per rank, compared side by side")
                    .clicked()
                {
                    self.open_ranks_dialog();
                    ui.close();
                }
                ui.menu_button("Open recent", |ui| {
                    if self.preferences.recent.is_empty() {
                        ui.label(RichText::new("nothing yet").weak());
                    }
                    let mut pick = None;
                    for p in &self.preferences.recent {
                        if ui.button(p.display().to_string()).clicked() {
                            pick = Some(p.clone());
                        }
                    }
                    if !self.preferences.recent.is_empty() && ui.button("Clear the list").clicked()
                    {
                        self.preferences.recent.clear();
                    }
                    if let Some(p) = pick {
                        self.open(Source::Path(p));
                        ui.close();
                    }
                });
                ui.menu_button("Samples", |ui| {
                    for (name, bytes) in &preferences::SAMPLES {
                        if ui.button(*name).clicked() {
                            self.open(Source::Embedded(name, bytes));
                            ui.close();
                        }
                    }
                });
                // Export: formats registered in `extensions::export_formats`.
                let formats = export_formats();
                let ready = self.active_tab().is_some_and(|d| d.loaded().is_some());
                ui.add_enabled_ui(ready && !formats.is_empty(), |ui| {
                    ui.menu_button("Export", |ui| {
                        for f in formats {
                            if ui.button(f.label).clicked() {
                                self.export(f);
                                ui.close();
                            }
                        }
                    });
                });
                ui.separator();
                for c in [Command::CloseTab, Command::NextTab, Command::Quit] {
                    if c.menu_button(ui) {
                        run = Some(c);
                        ui.close();
                    }
                }
            });
            ui.menu_button("View", |ui| {
                for c in Command::all() {
                    if matches!(c, Command::Show(_) | Command::FindEvent) && c.menu_button(ui) {
                        run = Some(c);
                        ui.close();
                    }
                }
                ui.separator();
                ui.radio_value(
                    &mut self.preferences.theme,
                    super::theme::ThemeChoice::Dark,
                    "Dark theme",
                );
                ui.radio_value(
                    &mut self.preferences.theme,
                    super::theme::ThemeChoice::Light,
                    "Light theme",
                );
                ui.checkbox(&mut self.preferences.show_frame_time, "Show frame time");
                ui.separator();
                if Command::Settings.menu_button(ui) {
                    run = Some(Command::Settings);
                    ui.close();
                }
            });
            ui.menu_button("Help", |ui| {
                if Command::Keys.menu_button(ui) {
                    run = Some(Command::Keys);
                    ui.close();
                }
                ui.label(format!("memsight {}", env!("CARGO_PKG_VERSION")));
            });
        });
        if let Some(c) = run {
            self.execute(c, ui.ctx());
        }
    }

    fn tab_bar(&mut self, ui: &mut Ui) {
        // Wraps onto more rows when the tabs outgrow the window.
        ui.horizontal_wrapped(|ui| {
            let mut close = None;
            for (i, d) in self.tabs.iter().enumerate() {
                let mut title = d.source.title();
                if d.is_loading() {
                    title.push_str(" (loading)");
                }
                let resp = ui
                    .selectable_label(i == self.active, RichText::new(title).strong())
                    .on_hover_text(match &d.source {
                        Source::Path(p) => p.display().to_string(),
                        Source::Embedded(..) => "sample built into memsight".into(),
                        Source::Ranks(paths) => paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    });
                if resp.clicked() {
                    self.active = i;
                }
                if ui
                    .small_button("x")
                    .on_hover_text("Close this file")
                    .clicked()
                {
                    close = Some(i);
                }
                ui.add_space(6.0);
            }
            if ui
                .button("+ Open...")
                .on_hover_text("Open snapshots (or drop them on the window)")
                .clicked()
            {
                self.open_dialog();
            }
            if let Some(i) = close {
                self.close(i);
            }
        });
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        for c in Command::pressed(ctx) {
            self.execute(c, ctx);
        }
    }

    fn drag_and_drop(&mut self, ctx: &egui::Context) {
        let (hovering, dropped) =
            ctx.input(|i| (!i.raw.hovered_files.is_empty(), i.raw.dropped_files.clone()));
        for f in dropped {
            // Native drops name a path; the reader opens (and decompresses) it itself.
            let p = f.path();
            if !p.as_os_str().is_empty() {
                self.open(source_of(p.to_path_buf()));
            }
        }
        if hovering {
            let screen = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("memsight-drop-overlay"),
            ));
            painter.rect_filled(screen, 0.0, Color32::from_black_alpha(170));
            painter.rect_stroke(
                screen.shrink(24.0),
                12.0,
                egui::Stroke::new(3.0, super::theme::accent(true)),
                egui::StrokeKind::Inside,
            );
            painter.text(
                screen.center(),
                Align2::CENTER_CENTER,
                "Drop memory snapshots to open them",
                FontId::proportional(28.0),
                Color32::WHITE,
            );
        }
    }

    fn settings_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_settings;
        egui::Window::new("Settings").open(&mut open).resizable(true).show(ctx, |ui| {
            ui.label(RichText::new("Source roots").strong());
            ui.label("Folders where the Stack panel looks for the files named in stack frames (one per line).");
            ui.add(egui::TextEdit::multiline(&mut self.roots_text).desired_rows(4).desired_width(480.0));
            if ui.button("Apply").clicked() {
                self.preferences.source_roots = self
                    .roots_text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .collect();
                self.sources.clear();
            }
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("Theme:");
                ui.radio_value(&mut self.preferences.theme, super::theme::ThemeChoice::Dark, "dark");
                ui.radio_value(&mut self.preferences.theme, super::theme::ThemeChoice::Light, "light");
            });
            ui.label(format!(
                "$EDITOR: {}",
                std::env::var("EDITOR").unwrap_or_else(|_| "not set (file:line links copy the path)".into())
            ));
        });
        self.show_settings = open;
        let mut help = self.show_help;
        egui::Window::new("Keys and mouse")
            .open(&mut help)
            .show(ctx, |ui| {
                egui::Grid::new("keys").striped(true).show(ui, |ui| {
                    for c in Command::all() {
                        let key = c.shortcut_text(ui.ctx());
                        if !key.is_empty() {
                            ui.label(RichText::new(key).monospace());
                            ui.label(c.label());
                            ui.end_row();
                        }
                    }
                    for (k, v) in GESTURES {
                        ui.label(RichText::new(k).monospace());
                        ui.label(v);
                        ui.end_row();
                    }
                });
            });
        self.show_help = help;
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if let Some(doc) = self.tabs.get(self.active) {
                if let Some(l) = doc.loaded() {
                    if let Some((d, _)) = l.device(doc.focus.device) {
                        ui.label(format!(
                            "device {}   {} events   cursor at event {}",
                            d.device, d.events, doc.focus.cursor
                        ));
                        if let Some(w) = doc.views.timeline.window {
                            ui.label(if w.wall {
                                format!(
                                    "   view {} .. {}",
                                    units::duration_us(w.t0 as i64),
                                    units::duration_us(w.t1 as i64)
                                )
                            } else {
                                format!("   view {:.0} .. {:.0}", w.t0, w.t1)
                            });
                        }
                        if doc.focus.filtered.busy() {
                            ui.spinner();
                            ui.label("filtering");
                        }
                    }
                }
            }
            if let Some((msg, at)) = &self.notice {
                if at.elapsed() < Duration::from_secs(8) {
                    ui.label(RichText::new(msg).strong());
                }
            }
            if self.preferences.show_frame_time {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let n = self.frame_times.len().max(1) as f32;
                    let mean = self.frame_times.iter().sum::<f32>() / n;
                    ui.label(
                        RichText::new(format!("frame {:.1} ms", mean * 1e3))
                            .weak()
                            .small(),
                    );
                });
            }
        });
    }

    fn document(&mut self, ui: &mut Ui) {
        let dark = self.preferences.theme.is_dark();
        // The central area has no frame (the loaded views bring their own panels): paint the
        // panel background for the welcome, loading and error screens.
        ui.painter()
            .rect_filled(ui.max_rect(), 0.0, ui.visuals().panel_fill);
        self.panels = None;
        let others = super::tab::other_files(&self.tabs, self.active);
        let Some(doc) = self.tabs.get_mut(self.active) else {
            welcome(ui);
            return;
        };
        // A rank the Ranks view asked to open in a tab of its own.
        let mut open = None;
        match &doc.state {
            TabState::Loading(job) => {
                let (label, frac) = match job.phase() {
                    super::loader::Phase::Reading => ("Reading", job.fraction()),
                    super::loader::Phase::Analysing => ("Replaying the allocator", 1.0),
                    super::loader::Phase::Indexing => ("Indexing for the timeline", 1.0),
                };
                if progress_screen(ui, &doc.source.title(), label, frac, job.started()) {
                    job.cancel();
                }
            }
            TabState::LoadingRanks(job) => {
                let frac = job.fraction();
                if progress_screen(ui, &doc.source.title(), "Summarising", frac, job.started()) {
                    job.cancel();
                }
            }
            TabState::Ranks(r) => {
                if let Some(path) = super::views::ranks::show(ui, &mut doc.views.ranks, r, dark) {
                    open = Some(path);
                }
            }
            TabState::Failed(msg) => {
                let msg = msg.clone();
                let mut retry = false;
                ui.vertical_centered(|ui| {
                    ui.add_space(ui.available_height() / 3.0);
                    ui.heading(format!("Could not open {}", doc.source.title()));
                    ui.add_space(6.0);
                    ui.label(
                        RichText::new(&msg)
                            .color(super::theme::oom(dark))
                            .monospace(),
                    );
                    ui.add_space(8.0);
                    if ui.button("Try again").clicked() {
                        retry = true;
                    }
                });
                if retry {
                    let src = doc.source.clone();
                    self.tabs.remove(self.active);
                    self.open(src);
                    return;
                }
            }
            TabState::Ready(l) => {
                let l: &Loaded = l;
                let repaint = self.repaint.clone();
                egui::Panel::top("viewbar").show(ui, |ui| {
                    view_bar(ui, l, &mut doc.focus, repaint.clone());
                });
                let Some((analysis, data)) = l.device(doc.focus.device) else {
                    ui.label("This file holds no device.");
                    return;
                };
                // Until the device's pyramid is built an empty one stands in (it keeps every
                // allocation); the timeline says it is being built.
                let lod = doc
                    .focus
                    .filtered
                    .lod
                    .clone()
                    .or_else(|| data.lod.get().cloned())
                    .unwrap_or_default();
                let mut env = Env {
                    dark,
                    preferences: &mut self.preferences,
                    sources: &mut self.sources,
                    repaint,
                    others: &others,
                };
                let mut cx = ViewCtx {
                    loaded: l,
                    analysis,
                    data,
                    lod: &lod,
                    focus: &mut doc.focus,
                    env: &mut env,
                };
                let views = &mut doc.views;
                let stack = egui::Panel::right("stack")
                    .resizable(true)
                    // (The range after the default: a default outside it widens it.)
                    .default_size(STACK_WIDTH)
                    .size_range(stack_width(ui.available_width()))
                    .show(ui, |ui| {
                        ui.add_space(4.0);
                        ui.label(RichText::new("Stack").strong().size(15.0));
                        ui.separator();
                        super::views::stack::show(ui, &mut cx);
                    });
                let central = egui::CentralPanel::default().show(ui, |ui| {
                    views.show(cx.focus.view, ui, &mut cx);
                });
                self.panels = Some(Panels {
                    central: central.response.rect,
                    stack: stack.response.rect,
                });
            }
        }
        // A view asked for the analysis again under other options (the iterations picker):
        // it runs on a worker like a load, and the views wait for it.
        if let Some(options) = doc.focus.reanalyse.take() {
            if let TabState::Ready(l) = &doc.state {
                let job = LoadJob::reanalyse(l, options, self.repaint.clone());
                doc.focus.analysis_changed();
                doc.state = TabState::Loading(job);
            }
        }
        if let Some(path) = open {
            self.open(Source::Path(path));
        }
    }
}

/// The Stack panel's width when the window leaves room for it.
const STACK_WIDTH: f32 = 360.0;

/// The widths the Stack panel may take in a document `width` wide: at most a third of it, so
/// that the views keep two thirds of a narrow window (the panel clips what does not fit, and
/// its labels wrap).
fn stack_width(width: f32) -> egui::Rangef {
    let max = (width / 3.0).max(160.0);
    egui::Rangef::new(160.0_f32.min(max), max)
}

/// What a path opens as: a folder is a job's ranks, side by side; a file is one snapshot.
fn source_of(path: PathBuf) -> Source {
    if path.is_dir() {
        Source::Ranks(vec![path])
    } else {
        Source::Path(path)
    }
}

fn roots_to_text(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The screen of a tab being loaded: what, how far, since when, and a Cancel button (whether
/// it was clicked).
fn progress_screen(ui: &mut Ui, title: &str, label: &str, frac: f32, started: Instant) -> bool {
    let mut cancel = false;
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading(format!("Opening {title}"));
        ui.add(
            egui::ProgressBar::new(frac)
                .desired_width(420.0)
                .text(format!(
                    "{label}  {:.0}%   {:.1} s",
                    frac * 100.0,
                    started.elapsed().as_secs_f32()
                ))
                .animate(true),
        );
        ui.add_space(8.0);
        cancel = ui.button("Cancel").clicked();
    });
    cancel
}

fn welcome(ui: &mut Ui) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading("memsight");
        ui.label("Drop PyTorch CUDA memory snapshots here, or use File > Open.");
        ui.label(RichText::new("torch.cuda.memory._dump_snapshot(\"snap.pickle\")").monospace());
    });
}

impl eframe::App for MemsightApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();
        if self.applied_theme != Some(self.preferences.theme) {
            ctx.set_visuals(self.preferences.theme.visuals());
            self.applied_theme = Some(self.preferences.theme);
        }
        self.first_size.apply(&ctx);
        self.poll_jobs();
        self.shortcuts(&ctx);
        // The window names the file in view.
        let title = match self.tabs.get(self.active) {
            Some(doc) => format!("{} - memsight", doc.source.title()),
            None => "memsight".to_string(),
        };
        if ctx.input(|i| i.viewport().title.as_deref() != Some(title.as_str())) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title));
        }
        egui::Panel::top("menu").show(ui, |ui| {
            self.menu_bar(ui);
            self.tab_bar(ui);
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::CentralPanel::no_frame().show(ui, |ui| self.document(ui));
        self.settings_window(&ctx);
        self.export_window(&ctx);
        self.first_view(&ctx);
        self.drag_and_drop(&ctx);
        if self.tabs.iter().any(Tab::busy) || self.dialog.is_some() {
            // Progress needs no more than 10 frames a second; each frame costs CPU the loader
            // could use (on a software renderer, a whole core).
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        if self.frame_times.len() == FRAME_HISTORY {
            self.frame_times.pop_front();
        }
        self.frame_times.push_back(started.elapsed().as_secs_f32());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.preferences);
    }
}
