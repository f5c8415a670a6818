//! The timeline's legend: what each colour stands for, and the marks on the plot.

use egui::{vec2, RichText, Sense, Stroke, Ui};

use crate::analysis::oom::Category;
use crate::ui::focus::ColorBy;
use crate::ui::theme;
use crate::ui::view::{swatch, ViewCtx};
use crate::units;

pub(super) fn legend(ui: &mut Ui, cx: &mut ViewCtx) {
    let dark = cx.dark();
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        match cx.focus.color_by {
            ColorBy::Category => {
                for c in Category::ALL {
                    swatch(ui, crate::ui::view::category_color(c, dark));
                    ui.label(c.name());
                    ui.add_space(6.0);
                }
            }
            ColorBy::Site => {
                let groups = cx.lod.groups.clone();
                for g in groups.iter().take(14) {
                    let Some(site) = g.site else { continue };
                    swatch(ui, cx.site_color(site));
                    let selected = cx.focus.selection.site == Some(site);
                    let label = cx.site_label(site);
                    if ui
                        .selectable_label(selected, RichText::new(label).small())
                        .on_hover_text(format!("peak {}; click to select", units::bytes(g.peak)))
                        .clicked()
                    {
                        cx.focus
                            .select_site(if selected { None } else { Some(site) });
                    }
                }
                swatch(ui, theme::other(dark));
                ui.label(RichText::new("other").small());
            }
        }
        ui.add_space(12.0);
        let l = Stroke::new(1.5, theme::reserved(dark));
        let (r, p) = ui.allocate_painter(vec2(16.0, 10.0), Sense::hover());
        p.hline(r.rect.x_range(), r.rect.center().y, l);
        ui.label(RichText::new("reserved").small());
        let (r, p) = ui.allocate_painter(vec2(8.0, 10.0), Sense::hover());
        p.vline(
            r.rect.center().x,
            r.rect.y_range(),
            Stroke::new(2.0, theme::oom(dark)),
        );
        ui.label(RichText::new("OOM").small());
        let (r, p) = ui.allocate_painter(vec2(8.0, 10.0), Sense::hover());
        p.vline(
            r.rect.center().x,
            r.rect.y_range(),
            Stroke::new(1.0, theme::marker(dark)),
        );
        ui.label(RichText::new("snapshot marker").small());
        let (r, p) = ui.allocate_painter(vec2(8.0, 10.0), Sense::hover());
        p.vline(
            r.rect.center().x,
            r.rect.y_range(),
            Stroke::new(1.5, theme::accent(dark)),
        );
        ui.label(RichText::new("cursor").small());
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
