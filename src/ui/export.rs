//! File > Export: where to write (a path typed out, or picked in a native dialog when the
//! machine has one), then the report rendered and written on a thread.
//!
//! Why a window with a path field and not just the native dialog: on a remote GPU box over X
//! forwarding there is often no dialog at all (no portal, no zenity), and an export that can
//! only say "cancelled" there is no export.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};

use egui::RichText;

use super::extensions::{ExportFormat, ExportScope};
use super::job::Repaint;
use super::tab::Tab;

/// The Export window's state: the format, the path, a native dialog running.
pub struct ExportForm {
    format: ExportFormat,
    pub path: String,
    browse: Option<Receiver<Option<PathBuf>>>,
    note: Option<String>,
}

/// What the window asks for this frame.
pub enum FormAction {
    Open,
    Close,
    Save(ExportFormat, PathBuf),
}

impl ExportForm {
    /// The form for `tab`'s report in `format`, at `<the file's folder>/<name>.<extension>`.
    pub fn new(format: ExportFormat, tab: &Tab) -> ExportForm {
        let name = format!("{}.{}", tab.source.title(), format.extension);
        let dir = tab
            .source
            .path()
            .and_then(|p| p.parent().map(PathBuf::from))
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        ExportForm {
            format,
            path: dir.join(name).display().to_string(),
            browse: None,
            note: None,
        }
    }

    pub fn show(&mut self, ctx: &egui::Context, repaint: &Repaint) -> FormAction {
        if let Some(rx) = &self.browse {
            if let Ok(picked) = rx.try_recv() {
                self.browse = None;
                match picked {
                    Some(p) => self.path = p.display().to_string(),
                    None => {
                        self.note = Some(
                            "No file chosen (or no file dialog on this machine): type the path."
                                .into(),
                        )
                    }
                }
            }
        }
        let (mut open, mut save, mut browse) = (true, false, false);
        egui::Window::new(format!("Export {}", self.format.label))
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label("Save to:");
                let field = ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(520.0));
                if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    save = true;
                }
                ui.horizontal(|ui| {
                    save |= ui.button("Save").clicked();
                    browse = ui
                        .add_enabled(self.browse.is_none(), egui::Button::new("Browse..."))
                        .clicked();
                });
                if let Some(n) = &self.note {
                    ui.label(RichText::new(n).weak());
                }
            });
        if browse {
            self.browse = Some(native_dialog(PathBuf::from(&self.path), repaint.clone()));
        }
        if save && !self.path.trim().is_empty() {
            FormAction::Save(self.format, PathBuf::from(self.path.trim()))
        } else if !open {
            FormAction::Close
        } else {
            FormAction::Open
        }
    }
}

/// The native save dialog on its own thread (the window keeps painting), starting at `current`.
fn native_dialog(current: PathBuf, repaint: Repaint) -> Receiver<Option<PathBuf>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut d = rfd::FileDialog::new();
        if let Some(name) = current.file_name() {
            d = d.set_file_name(name.to_string_lossy());
        }
        if let Some(dir) = current.parent().filter(|p| p.is_dir()) {
            d = d.set_directory(dir);
        }
        let _ = tx.send(d.save_file());
        repaint();
    });
    rx
}

/// Renders `tab`'s report in `fmt` and writes it to `path` on a thread; the receiver gets the
/// line for the status bar (`None` when the tab is not loaded).
pub fn export_to(
    tab: &Tab,
    fmt: ExportFormat,
    path: PathBuf,
    repaint: Repaint,
) -> Option<Receiver<String>> {
    let l = tab.loaded()?;
    let (snap, analysis) = (l.snap.clone(), l.analysis.clone());
    let scope = ExportScope {
        device: l
            .device(tab.focus.device)
            .map(|(d, _)| d.device)
            .unwrap_or(0),
        site: tab.focus.selection.site,
    };
    let title = tab.source.title();
    let input = tab.source.path().cloned();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let written = (fmt.render)(&snap, &analysis, scope, &title).and_then(|b| {
            // Atomic, and never over the snapshot itself.
            let inputs: Vec<&std::path::Path> = input.iter().map(|p| p.as_path()).collect();
            crate::output::write::file(&path, &b, &inputs).map_err(|e| e.to_string())
        });
        let msg = match written {
            Ok(()) => format!("Exported {}", path.display()),
            Err(e) => format!("Export failed: {e}"),
        };
        let _ = tx.send(msg);
        repaint();
    });
    Some(rx)
}
