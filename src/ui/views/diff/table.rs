//! The Diff view's numbers drawn: the totals at both moments and the call sites whose live
//! memory changed, growth in red and shrinking in green, each row linked to its call site.

use egui::{vec2, RichText, Ui};

use crate::analysis::diff::{Change, SiteDiff};
use crate::output::diff::{percent, point_text};
use crate::units::{bytes, signed_bytes};

use crate::ui::focus::ViewId;
use crate::ui::theme;
use crate::ui::view::{fitted_table, short_bytes, stack_lines, swatch, Cell, ViewCtx};

use super::model::Table;

/// Rows drawn at most: the table is sorted by the size of the change, so what is cut off is
/// what changed least, and a frame stays cheap with thousands of call sites.
const MAX_ROWS: usize = 300;

/// Lines of a call site's stack in its tooltip.
const STACK_LINES: usize = 24;

/// Allocated and reserved memory at both moments, and how many call sites moved which way.
pub fn totals(ui: &mut Ui, cx: &ViewCtx, t: &Table, b_name: &str) {
    let (a, b) = (&t.diff.a, &t.diff.b);
    let dark = cx.dark();
    let b_head = if b_name == "B" {
        "B".to_string()
    } else {
        format!("B ({b_name})")
    };
    // The moments are in the pickers above and on the headers' hover: a row of them made
    // the grid wider than the panel in a small window.
    egui::Grid::new("diff-totals")
        .num_columns(4)
        .spacing(vec2(16.0, 4.0))
        .show(ui, |ui| {
            ui.label("");
            ui.label(RichText::new("A (this file)").strong())
                .on_hover_text(point_text(a));
            ui.label(RichText::new(&b_head).strong())
                .on_hover_text(point_text(b));
            ui.label(RichText::new("change").strong());
            ui.end_row();
            for (what, x, y) in [
                ("allocated", a.allocated, b.allocated),
                ("reserved", a.reserved, b.reserved),
            ] {
                ui.label(what);
                ui.label(bytes(x));
                ui.label(bytes(y));
                let delta = y as i64 - x as i64;
                ui.label(
                    RichText::new(format!("{} ({})", signed_bytes(delta), percent(x, y)))
                        .color(change_color(delta, dark)),
                );
                ui.end_row();
            }
        });
    let n = |c: Change| t.diff.with(c).count();
    let (same, held) = t.diff.unchanged_held();
    ui.label(format!(
        "Call sites: {} grew, {} new, {} shrank, {} gone; {} unchanged holding {}.",
        n(Change::Grew),
        n(Change::New),
        n(Change::Shrank),
        n(Change::Gone),
        same,
        short_bytes(held)
    ));
}

/// Red for growth, green for shrinking, the text colour for none.
fn change_color(delta: i64, dark: bool) -> egui::Color32 {
    match delta.signum() {
        1 => theme::oom(dark),
        -1 => theme::good(dark),
        _ => {
            if dark {
                egui::Color32::LIGHT_GRAY
            } else {
                egui::Color32::DARK_GRAY
            }
        }
    }
}

/// The table's columns.
const HEADERS: [&str; 5] = ["call site", "at A", "at B", "change", "blocks"];

/// The call site column at least: a short `file.py:123` label and its swatch.
const MIN_SITE_W: f32 = 140.0;

/// The call sites whose live memory changed, largest change first. The numbers take the width
/// their widest text needs and the call site column what is left of the panel (its label and
/// function cut with "..." and shown whole on hover), so the table fits a small window
/// instead of running under the Stack panel.
pub fn sites(ui: &mut Ui, cx: &mut ViewCtx, t: &Table) {
    let changed: Vec<usize> = (0..t.diff.sites.len())
        .filter(|&i| t.diff.sites[i].change != Change::Same)
        .collect();
    if changed.is_empty() {
        ui.label("No call site's live memory changed.");
        return;
    }
    let shown = &changed[..changed.len().min(MAX_ROWS)];
    let dark = cx.dark();
    let cells: Vec<Vec<Cell>> = shown
        .iter()
        .map(|&i| numbers(&t.diff.sites[i], dark))
        .collect();
    fitted_table(
        ui,
        "diff-sites",
        &HEADERS,
        &cells,
        MIN_SITE_W,
        |ui, row, _| {
            let i = shown[row];
            site_cell(ui, cx, &t.diff.sites[i], t.sites.get(i).copied().flatten());
        },
        |ui| {
            if changed.len() > shown.len() {
                ui.label(
                    RichText::new(format!(
                        "... {} more call sites, each changed less",
                        changed.len() - shown.len()
                    ))
                    .weak(),
                );
            }
        },
    );
}

/// A row's number columns: bytes at A and at B, the change (red or green; its kind and share
/// on hover), the blocks at A and at B.
fn numbers(x: &SiteDiff, dark: bool) -> Vec<Cell> {
    vec![
        short_bytes(x.a.live_bytes).into(),
        short_bytes(x.b.live_bytes).into(),
        Cell {
            text: RichText::new(signed_bytes(x.delta_bytes))
                .color(change_color(x.delta_bytes, dark)),
            hover: Some(format!(
                "{} ({})",
                x.change.name(),
                percent(x.a.live_bytes, x.b.live_bytes)
            )),
        },
        format!("{} -> {}", x.a.live_blocks, x.b.live_blocks).into(),
    ]
}

/// A row's call site, in a cell as wide as the table leaves it: a click selects it everywhere
/// (a double click shows it in the timeline); hovering shows its stack.
fn site_cell(ui: &mut Ui, cx: &mut ViewCtx, x: &SiteDiff, site: Option<u32>) {
    let dark = cx.dark();
    // Blocks without a Python frame have no function to name.
    let function = (!x.function.is_empty()).then(|| format!("{}()", x.function));
    swatch(ui, site.map_or(theme::other(dark), |s| cx.site_color(s)));
    let selected = site.is_some() && cx.focus.selection.site == site;
    let resp =
        ui.add(egui::Button::selectable(selected, RichText::new(&x.label).monospace()).truncate());
    let whole = match &function {
        Some(f) => format!("{} in {f}", x.label),
        None => x.label.clone(),
    };
    let stack = site.and_then(|s| cx.analysis.sites.get(s)).map(|c| c.stack);
    let resp = match stack {
        Some(stack) => {
            let cx: &ViewCtx = cx;
            resp.on_hover_ui(|ui| {
                ui.label(RichText::new(&whole).monospace().strong());
                stack_lines(ui, cx, stack, STACK_LINES);
            })
        }
        None => resp.on_hover_text(format!(
            "{whole}\nNot a call site of this file: live only in B's file"
        )),
    };
    if let Some(s) = site {
        if resp.double_clicked() {
            cx.focus.show_site(s, ViewId::Timeline);
        } else if resp.clicked() {
            cx.focus.select_site(if selected { None } else { Some(s) });
        }
    }
    // The function where there is room for a few letters of it.
    if let Some(f) = function.filter(|_| ui.available_width() > 40.0) {
        ui.add(egui::Label::new(RichText::new(f).weak()).truncate());
    }
}
