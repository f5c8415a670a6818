//! What every view is given and the small widgets they share: the [`View`] trait, the
//! [`ViewCtx`] a view draws from, colours of call sites, byte labels, swatches.
//!
//! The views (`views/`) import this module, never each other's parent, so the import graph
//! has no circle.

use std::sync::Arc;

use egui::{Color32, RichText, Ui};

use crate::analysis::oom::Category;
use crate::analysis::{Analysis, DeviceAnalysis};
use crate::units;

use super::data::{DeviceData, Loaded};
use super::focus::{ColorBy, Focus};
use super::job::Repaint;
use super::lod::Lod;
use super::preferences::Preferences;
use super::sources::SourceCache;
use super::theme;

/// A view: draws itself into `ui` from the loaded file and the tab's shared focus.
pub trait View {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx);
}

/// App-wide things views use.
pub struct Env<'a> {
    pub dark: bool,
    pub preferences: &'a mut Preferences,
    pub sources: &'a mut SourceCache,
    /// For views that start background work.
    pub repaint: Repaint,
    /// The other open files, for the Diff view to compare with (empty in other views).
    pub others: &'a [OtherFile],
}

/// Another open file's analysis, read-only: what the Diff view needs to compare with it.
pub struct OtherFile {
    /// Its tab's title.
    pub name: String,
    pub analysis: Arc<Analysis>,
}

/// Everything a view may read or change.
pub struct ViewCtx<'a, 'e> {
    pub loaded: &'a Loaded,
    /// The analysis of the device in view.
    pub analysis: &'a DeviceAnalysis,
    /// What was built for drawing that device (site colours, the unfiltered timeline).
    pub data: &'a DeviceData,
    /// The timeline to draw: the filtered one when a filter is on.
    pub lod: &'a Lod,
    pub focus: &'a mut Focus,
    pub env: &'a mut Env<'e>,
}

impl ViewCtx<'_, '_> {
    pub fn dark(&self) -> bool {
        self.env.dark
    }

    /// The colour of call site `site` under the current colouring.
    pub fn site_color(&self, site: u32) -> Color32 {
        match self.focus.color_by {
            // Groups colour the timeline's bands; a call site keeps its own colour.
            ColorBy::Site | ColorBy::Group => {
                let fixed = self.data.site_fixed.get(site as usize).copied().flatten();
                match (fixed, self.data.site_tone.get(site as usize)) {
                    (Some(c), _) => c,
                    (None, Some(&(h, shade))) => theme::site_color(h, shade, self.dark()),
                    (None, None) => theme::other(self.dark()),
                }
            }
            ColorBy::Category => {
                let cat = self
                    .data
                    .site_category
                    .get(site as usize)
                    .copied()
                    .unwrap_or(Category::Other);
                category_color(cat, self.dark())
            }
        }
    }

    /// `workloads.py:158` for a site.
    pub fn site_label(&self, site: u32) -> String {
        self.analysis
            .sites
            .get(site)
            .map(|s| s.short_label())
            .unwrap_or_else(|| "<unknown>".into())
    }

    /// Time of event `e` relative to the first event, when the file has times.
    pub fn time_of(&self, e: usize) -> Option<String> {
        let ev = &self.loaded.snap.trace(self.analysis.device)?.events;
        let first = ev.first()?.time_us;
        let t = ev.get(e)?.time_us;
        (first != 0 && t != 0).then(|| format!("+{}", units::duration_us(t - first)))
    }
}

/// The colour of a category when the timeline is coloured by category.
pub fn category_color(cat: Category, dark: bool) -> Color32 {
    let hue = match cat {
        Category::Parameters => 0.58,
        Category::Activations => 0.08,
        Category::Gradients => 0.33,
        Category::OptimizerState => 0.80,
        Category::Other => return theme::other(dark),
    };
    theme::site_color(hue, 0.0, dark)
}

/// Bytes without trailing zeros: `2 GiB`, `1.5 MiB`.
pub fn short_bytes(n: u64) -> String {
    let s = units::bytes(n);
    match s.split_once(' ') {
        Some((num, unit)) if num.contains('.') => {
            let num = num.trim_end_matches('0').trim_end_matches('.');
            format!("{num} {unit}")
        }
        _ => s,
    }
}

/// A small colour square, as in legends.
pub fn swatch(ui: &mut Ui, color: Color32) {
    let (r, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    ui.painter().rect_filled(r, 2.0, color);
}

/// The width `text` takes on one line in `ui`'s body font: what a column of it needs, so a
/// table can give its text columns what the numbers leave of the panel.
pub fn text_width(ui: &Ui, text: impl Into<egui::WidgetText>) -> f32 {
    text.into()
        .into_galley(
            ui,
            Some(egui::TextWrapMode::Extend),
            f32::INFINITY,
            egui::TextStyle::Body,
        )
        .size()
        .x
}

/// A grid cell exactly `width` wide, laid out left to right: a truncated label or button in it
/// ends with "..." at the cell's edge instead of widening the column past the panel.
pub fn fixed_cell<R>(ui: &mut Ui, width: f32, add: impl FnOnce(&mut Ui) -> R) -> R {
    ui.horizontal(|ui| {
        ui.set_width(width);
        add(ui)
    })
    .inner
}

/// A heading for a section of a view.
pub fn section(ui: &mut Ui, text: &str) {
    ui.add_space(6.0);
    ui.label(RichText::new(text).strong().size(15.0));
    ui.add_space(2.0);
}

/// A cell of a [`fitted_table`]'s number columns: its text (coloured, if need be) and what
/// hovering it says.
pub struct Cell {
    pub text: RichText,
    pub hover: Option<String>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text: text.into(),
            hover: None,
        }
    }
}

/// A striped table in a vertical scroll area that fits its panel: the columns after the first
/// hold short texts (numbers) and are as wide as their widest text; the first takes what they
/// leave (at least `min_first`), each of its cells drawn by `first(ui, row, width)` in a cell
/// that wide (cut its text to fit). No horizontal scrolling: it would hide the numbers.
pub fn fitted_table(
    ui: &mut Ui,
    id: &str,
    headers: &[&str],
    cells: &[Vec<Cell>],
    min_first: f32,
    mut first: impl FnMut(&mut Ui, usize, f32),
    after: impl FnOnce(&mut Ui),
) {
    const SPACING: f32 = 12.0;
    let columns = cells
        .first()
        .map_or(headers.len().saturating_sub(1), Vec::len);
    let mut widths = vec![0.0f32; columns];
    for (w, h) in widths.iter_mut().zip(headers.iter().skip(1)) {
        *w = text_width(ui, RichText::new(*h).strong());
    }
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = w.max(text_width(ui, c.text.clone()));
        }
    }
    let scroll = ui.spacing().scroll;
    let first_w = (ui.available_width()
        - widths.iter().sum::<f32>()
        - SPACING * columns as f32
        - scroll.bar_width
        - scroll.bar_outer_margin)
        .max(min_first);
    egui::ScrollArea::vertical()
        .id_salt(id)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // No minimum column width: the columns are as wide as measured above.
            egui::Grid::new(id)
                .striped(true)
                .min_col_width(0.0)
                .spacing(egui::vec2(SPACING, 6.0))
                .show(ui, |ui| {
                    if !headers.is_empty() {
                        for h in headers {
                            ui.label(RichText::new(*h).strong());
                        }
                        ui.end_row();
                    }
                    for (i, row) in cells.iter().enumerate() {
                        fixed_cell(ui, first_w, |ui| first(ui, i, first_w));
                        for c in row {
                            let resp = ui.label(c.text.clone());
                            if let Some(h) = &c.hover {
                                resp.on_hover_text(h);
                            }
                        }
                        ui.end_row();
                    }
                });
            after(ui);
        });
}

/// The growth that is not a leak, each a link that selects its call site.
pub fn growth_list(ui: &mut Ui, cx: &mut ViewCtx) {
    let d = cx.analysis;
    for g in crate::analysis::findings::explained_growth(d) {
        ui.horizontal_wrapped(|ui| {
            swatch(ui, cx.site_color(g.site));
            if ui
                .link(RichText::new(cx.site_label(g.site)).monospace())
                .on_hover_text("Select this call site")
                .clicked()
            {
                cx.focus.select_site(Some(g.site));
            }
            ui.label(format!(
                "{}: {} ({})",
                g.kind.name(),
                short_bytes(g.bytes),
                crate::output::words::growth_kind(g.kind)
            ));
        });
    }
}

/// The frames of `stack` in a tooltip, innermost first as Python prints a traceback: the
/// user's own frames bright, library frames dim; at most `max` lines, then how many more.
pub fn stack_lines(ui: &mut Ui, cx: &ViewCtx, stack: crate::model::StackId, max: usize) {
    let snap = &cx.loaded.snap;
    let ids = snap.stacks.get(stack);
    if ids.is_empty() {
        ui.label(RichText::new("(recorded without a stack)").weak());
        return;
    }
    for &f in ids.iter().take(max) {
        let fr = snap.frames.get(f);
        let file = snap.frames.filename(f);
        let name = snap.frames.name(f);
        let text = if fr.line > 0 {
            format!("{name}  {file}:{}", fr.line)
        } else {
            name.to_string()
        };
        let rt = RichText::new(text).monospace().small();
        if crate::analysis::sites::is_library_file(file, fr.line) {
            ui.label(rt.weak());
        } else {
            ui.label(rt.strong());
        }
    }
    if ids.len() > max {
        ui.label(RichText::new(format!("... {} more frames", ids.len() - max)).weak());
    }
}
