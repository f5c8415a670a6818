//! The timeline's legend: what each colour stands for, and the marks on the plot.

use egui::{vec2, RichText, Sense, Stroke, Ui};

use crate::analysis::oom::Category;
use crate::ui::focus::ColorBy;
use crate::ui::lod::TOP_SITES;
use crate::ui::theme;
use crate::ui::view::{swatch, ViewCtx};
use crate::units;

use super::groups::{pick_group, Banded};

/// Legend entries for groups: the largest bands (as many as the site legend shows).
const SHOWN: usize = 14;

pub(super) fn legend(ui: &mut Ui, cx: &mut ViewCtx, banded: Option<&Banded>, busy: bool) {
    let dark = cx.dark();
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        if let Some(p) = cx.focus.selection.picked.clone() {
            swatch(ui, theme::accent(dark));
            // The innermost level names the pick; its whole path is on hover.
            let last = p.path.last().map_or("everything", String::as_str);
            ui.label(RichText::new(format!("picked: {last}")).small().strong())
                .on_hover_text(format!(
                    "{}\n{} allocations ({} in {} at the pick's moment)",
                    p.path.join("\n> "),
                    p.allocations.len(),
                    units::bytes(p.bytes),
                    units::count(p.blocks, "block")
                ));
            if ui.small_button("clear").clicked() {
                cx.focus.select_site(None);
            }
            ui.add_space(10.0);
        }
        let groups = banded.filter(|b| b.groups.is_some());
        match cx.focus.color_by {
            ColorBy::Group => match groups {
                Some(b) => group_entries(ui, cx, b),
                None => {
                    if busy {
                        ui.spinner();
                    }
                    ui.label(
                        RichText::new(format!("grouping by {}...", cx.focus.group.label()))
                            .small()
                            .weak(),
                    );
                }
            },
            ColorBy::Category => {
                for c in Category::ALL {
                    entry(ui, c.name(), |ui| {
                        swatch(ui, crate::ui::view::category_color(c, dark));
                        ui.label(c.name());
                    });
                    ui.add_space(6.0);
                }
            }
            ColorBy::Site => {
                let groups = cx.lod.groups.clone();
                for g in groups.iter().take(14) {
                    let Some(site) = g.site else { continue };
                    let selected = cx.focus.selection.site == Some(site);
                    let label = cx.site_label(site);
                    let colour = cx.site_color(site);
                    let hover = format!("peak {}; click to select", units::bytes(g.peak));
                    if band_entry(ui, ("site", site), colour, &label, selected, hover) {
                        cx.focus
                            .select_site(if selected { None } else { Some(site) });
                    }
                }
                entry(ui, "other", |ui| {
                    swatch(ui, theme::other(dark));
                    ui.label(RichText::new("other").small());
                });
            }
        }
        ui.add_space(12.0);
        entry(ui, "reserved", |ui| {
            let l = Stroke::new(1.5, theme::reserved(dark));
            let (r, p) = ui.allocate_painter(vec2(16.0, 10.0), Sense::hover());
            p.hline(r.rect.x_range(), r.rect.center().y, l);
            ui.label(RichText::new("reserved").small());
        });
        for (width, colour, name) in [
            (2.0, theme::oom(dark), "OOM"),
            (1.0, theme::marker(dark), "snapshot marker"),
            (1.5, theme::accent(dark), "cursor"),
        ] {
            entry(ui, name, |ui| {
                let (r, p) = ui.allocate_painter(vec2(8.0, 10.0), Sense::hover());
                p.vline(
                    r.rect.center().x,
                    r.rect.y_range(),
                    Stroke::new(width, colour),
                );
                ui.label(RichText::new(name).small());
            });
        }
        ui.label(
            RichText::new(format!(
                "ticks: iterations (from {})",
                crate::output::words::iteration_source(&cx.analysis.iterations)
            ))
            .small()
            .weak(),
        );
    });
}

/// One entry per group band, largest first: its colour and name; a click picks its
/// allocations (as a click on its band does).
fn group_entries(ui: &mut Ui, cx: &mut ViewCtx, b: &Banded) {
    let dark = cx.dark();
    ui.label(
        RichText::new(format!("{}:", cx.focus.group.label()))
            .small()
            .weak(),
    );
    let mut rest = 0;
    for g in &b.lod.groups {
        let Some(key) = g.site.filter(|&k| Some(k) != b.pinned) else {
            continue;
        };
        let Some(name) = b.group_name(key) else {
            continue;
        };
        if rest >= SHOWN {
            rest += 1;
            continue;
        }
        rest += 1;
        let colour = theme::group_color(name, dark);
        let hover = format!(
            "peak {}; click to select its allocations",
            units::bytes(g.peak)
        );
        if band_entry(ui, ("group", key), colour, name, false, hover) {
            let name = name.to_string();
            pick_group(cx, b, key, &name, cx.focus.cursor);
        }
    }
    let hidden = rest.saturating_sub(SHOWN);
    if hidden > 0 || b.lod.groups.len() > TOP_SITES {
        entry(ui, "other groups", |ui| {
            swatch(ui, theme::other(dark));
            ui.label(RichText::new("other").small());
        });
    }
}

/// One legend entry, its mark and its name kept on one line: the legend wraps between
/// entries, never between a colour and what it stands for. An entry starts a new row when its
/// width (as drawn last frame, kept under `salt`) is more than the row has left.
/// A band's entry: its colour and its name, selectable; whether it was clicked.
fn band_entry(
    ui: &mut Ui,
    salt: impl std::hash::Hash + std::fmt::Debug,
    colour: egui::Color32,
    name: &str,
    selected: bool,
    hover: String,
) -> bool {
    entry(ui, salt, |ui| {
        swatch(ui, colour);
        ui.selectable_label(selected, RichText::new(name).small())
            .on_hover_text(hover)
            .clicked()
    })
}

fn entry<R>(
    ui: &mut Ui,
    salt: impl std::hash::Hash + std::fmt::Debug,
    add: impl FnOnce(&mut Ui) -> R,
) -> R {
    let id = ui.scope_id().with(("legend entry", salt));
    let width: f32 = ui.data(|d| d.get_temp(id)).unwrap_or(0.0);
    let left = ui.available_size_before_wrap().x;
    if width > left && left < ui.max_rect().width() - 1.0 {
        ui.end_row();
    }
    let r = ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        add(ui)
    });
    let drawn = r.response.rect.width();
    if drawn != width {
        ui.data_mut(|d| d.insert_temp(id, drawn));
    }
    r.inner
}
