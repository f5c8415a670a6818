//! The views of a loaded file. Each view is one module with a `show(ui, &mut ViewCtx)`.
//!
//! To add a view (the What-if allocator simulator, for instance): add a variant to [`View`],
//! its label and tooltip below, a module here, and one arm in [`show`]. The view gets the
//! loaded data, the shared selection and cursor, and the app environment through [`ViewCtx`].

pub mod diagnosis;
pub mod leaks;
pub mod segments;
pub mod stack;
pub mod summary;
pub mod timeline;
pub mod whatif;

use egui::{Color32, RichText, Ui};

use crate::analysis::oom::Category;
use crate::analysis::DeviceAnalysis;
use crate::units;

use super::data::{DeviceData, Loaded};
use super::doc::{ColorBy, DocUi};
use super::lod::Lod;
use super::settings::Settings;
use super::sources::SourceCache;
use super::theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Diagnosis,
    Timeline,
    Segments,
    Leaks,
    WhatIf,
    Summary,
}

impl View {
    /// The views in tab order.
    pub const ALL: [View; 6] = [
        View::Diagnosis,
        View::Timeline,
        View::Segments,
        View::Leaks,
        View::WhatIf,
        View::Summary,
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Diagnosis => "Diagnosis",
            View::Timeline => "Memory timeline",
            View::Segments => "Segments",
            View::Leaks => "Leaks",
            View::WhatIf => "What if",
            View::Summary => "File info",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            View::Diagnosis => "The verdict in plain words: leaks, OOMs, peak, fragmentation",
            View::Timeline => "Allocated memory over time, stacked by call site or allocation",
            View::Segments => "The blocks of every segment at the time cursor",
            View::Leaks => "Call sites whose memory grows iteration after iteration",
            View::WhatIf => {
                "Replay the same requests under other allocator settings or another cap"
            }
            View::Summary => "What the file holds: format, devices, events, counters",
        }
    }

    /// Keyboard shortcut number (1-based) shown in tooltips.
    pub fn key(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0) + 1
    }
}

/// App-wide things views use.
pub struct Env<'a> {
    pub dark: bool,
    pub settings: &'a mut Settings,
    pub sources: &'a mut SourceCache,
}

/// Everything a view may read or change.
pub struct ViewCtx<'a, 'e> {
    pub loaded: &'a Loaded,
    pub d: &'a DeviceAnalysis,
    pub dd: &'a DeviceData,
    pub lod: &'a Lod,
    pub doc: &'a mut DocUi,
    pub env: &'a mut Env<'e>,
}

impl ViewCtx<'_, '_> {
    pub fn dark(&self) -> bool {
        self.env.dark
    }

    /// The colour of call site `site` under the current colouring.
    pub fn site_color(&self, site: u32) -> Color32 {
        match self.doc.color_by {
            ColorBy::Site => match self.dd.site_tone.get(site as usize) {
                Some(&(h, shade)) => theme::site_color(h, shade, self.dark()),
                None => theme::other(self.dark()),
            },
            ColorBy::Category => {
                let cat = self
                    .dd
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
        self.d
            .sites
            .get(site)
            .map(|s| s.short_label())
            .unwrap_or_else(|| "<unknown>".into())
    }

    /// Time of event `e` relative to the first event, when the file has times.
    pub fn time_of(&self, e: usize) -> Option<String> {
        let ev = &self.loaded.snap.trace(self.d.device)?.events;
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

/// Shows the current view.
pub fn show(ui: &mut Ui, cx: &mut ViewCtx) {
    match cx.doc.view {
        View::Diagnosis => diagnosis::show(ui, cx),
        View::Timeline => timeline::show(ui, cx),
        View::Segments => segments::show(ui, cx),
        View::Leaks => leaks::show(ui, cx),
        View::WhatIf => whatif::show(ui, cx),
        View::Summary => summary::show(ui, cx),
    }
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

/// A heading for a section of a view.
pub fn section(ui: &mut Ui, text: &str) {
    ui.add_space(6.0);
    ui.label(RichText::new(text).strong().size(15.0));
    ui.add_space(2.0);
}

/// The growth that is not a leak, each a link that selects its call site.
pub fn growth_list(ui: &mut Ui, cx: &mut ViewCtx) {
    let d = cx.d;
    for g in crate::analysis::findings::explained_growth(d) {
        ui.horizontal_wrapped(|ui| {
            swatch(ui, cx.site_color(g.site));
            if ui
                .link(RichText::new(cx.site_label(g.site)).monospace())
                .on_hover_text("Select this call site")
                .clicked()
            {
                cx.doc.select_site(Some(g.site));
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
