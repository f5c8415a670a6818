//! The Diff view's numbers drawn: the totals at both moments and the call sites whose live
//! memory changed, growth in red and shrinking in green, each row linked to its call site.

use egui::{vec2, RichText, Ui};

use crate::analysis::diff::{Change, SiteDiff};
use crate::output::diff::{percent, point_text};
use crate::units::{bytes, signed_bytes};

use crate::ui::focus::ViewId;
use crate::ui::theme;
use crate::ui::view::{scroll_table, short_bytes, stack_lines, swatch, ViewCtx};

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
    egui::Grid::new("diff-totals")
        .num_columns(4)
        .spacing(vec2(24.0, 4.0))
        .show(ui, |ui| {
            for h in ["", "A (this file)", &b_head, "change"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            ui.label("moment");
            ui.label(point_text(a));
            ui.label(point_text(b));
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

/// The call sites whose live memory changed, largest change first.
pub fn sites(ui: &mut Ui, cx: &mut ViewCtx, t: &Table) {
    let changed: Vec<usize> = (0..t.diff.sites.len())
        .filter(|&i| t.diff.sites[i].change != Change::Same)
        .collect();
    if changed.is_empty() {
        ui.label("No call site's live memory changed.");
        return;
    }
    scroll_table(
        ui,
        "diff-sites",
        &["call site", "function", "at A", "at B", "change", "blocks"],
        |ui| {
            for &i in changed.iter().take(MAX_ROWS) {
                row(ui, cx, &t.diff.sites[i], t.sites.get(i).copied().flatten());
            }
        },
        |ui| {
            if changed.len() > MAX_ROWS {
                ui.label(
                    RichText::new(format!(
                        "... {} more call sites, each changed less",
                        changed.len() - MAX_ROWS
                    ))
                    .weak(),
                );
            }
        },
    );
}

/// One call site: a click selects it everywhere (a double click shows it in the timeline);
/// hovering shows its stack.
fn row(ui: &mut Ui, cx: &mut ViewCtx, x: &SiteDiff, site: Option<u32>) {
    let dark = cx.dark();
    ui.horizontal(|ui| {
        swatch(ui, site.map_or(theme::other(dark), |s| cx.site_color(s)));
        let selected = site.is_some() && cx.focus.selection.site == site;
        let resp = ui.selectable_label(selected, RichText::new(&x.label).monospace());
        let stack = site.and_then(|s| cx.analysis.sites.get(s)).map(|c| c.stack);
        let resp = match stack {
            Some(stack) => {
                let cx: &ViewCtx = cx;
                resp.on_hover_ui(|ui| stack_lines(ui, cx, stack, STACK_LINES))
            }
            None => resp.on_hover_text("Not a call site of this file: live only in B's file"),
        };
        if let Some(s) = site {
            if resp.double_clicked() {
                cx.focus.show_site(s, ViewId::Timeline);
            } else if resp.clicked() {
                cx.focus.select_site(if selected { None } else { Some(s) });
            }
        }
    });
    // Blocks without a Python frame have no function to name.
    if x.function.is_empty() {
        ui.label("");
    } else {
        ui.label(format!("{}()", x.function));
    }
    ui.label(short_bytes(x.a.live_bytes));
    ui.label(short_bytes(x.b.live_bytes));
    ui.label(
        RichText::new(format!(
            "{} ({})",
            signed_bytes(x.delta_bytes),
            x.change.name()
        ))
        .color(change_color(x.delta_bytes, dark)),
    );
    ui.label(format!("{} -> {}", x.a.live_blocks, x.b.live_blocks));
    ui.end_row();
}
