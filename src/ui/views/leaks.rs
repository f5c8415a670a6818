//! Leak suspects as a table with sparklines of live bytes at each iteration boundary. Selecting
//! a row selects its call site everywhere (its band is highlighted in the timeline).

use egui::{pos2, vec2, RichText, Sense, Shape, Stroke, Ui};

use crate::analysis::{findings, IterationSpec, LeakSuspect, Options};
use crate::output::words;
use crate::units;

use crate::ui::focus::ViewId;
use crate::ui::theme;
use crate::ui::view::{fixed_cell, short_bytes, swatch, text_width, ViewCtx};

pub fn show(ui: &mut Ui, cx: &mut ViewCtx) {
    let d = cx.analysis;
    iterations_picker(ui, cx);
    ui.label(words::leak_summary(d));
    let text = cx.focus.filtered.filter.text.to_lowercase();
    let leaks: Vec<_> = d
        .leaks
        .iter()
        .filter(|l| {
            text.is_empty()
                || l.file.to_lowercase().contains(&text)
                || l.function.to_lowercase().contains(&text)
        })
        .collect();
    if leaks.is_empty() {
        growth_table(ui, cx);
        return;
    }
    ui.add_space(6.0);
    egui::ScrollArea::vertical()
        .id_salt("leaks")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for l in leaks {
                ui.separator();
                suspect(ui, cx, l);
            }
        });
}

/// Widest sparkline: wider says no more about a few dozen iterations.
const SPARK_W: f32 = 420.0;

/// One leak suspect on three lines, so that it fits a narrow panel (a row of eight columns
/// ran under the Stack panel): its call site and function, with a button to its band in the
/// timeline; its numbers, wrapped; its live bytes at each iteration boundary.
fn suspect(ui: &mut Ui, cx: &mut ViewCtx, l: &LeakSuspect) {
    let selected = cx.focus.selection.site == Some(l.site);
    ui.horizontal(|ui| {
        swatch(ui, cx.site_color(l.site));
        let label = cx.site_label(l.site);
        if ui
            .selectable_label(selected, RichText::new(label).monospace())
            .on_hover_text(&l.file)
            .clicked()
        {
            cx.focus
                .select_site(if selected { None } else { Some(l.site) });
        }
        // The function takes what the button leaves, cut with "..." (whole on hover).
        let button = text_width(ui, "timeline") + 2.0 * ui.spacing().button_padding.x;
        let room = ui.available_width() - button - ui.spacing().item_spacing.x;
        if room > 40.0 {
            fixed_cell(ui, room, |ui| {
                ui.add(
                    egui::Label::new(RichText::new(format!("{}()", l.function)).weak()).truncate(),
                );
            });
        }
        if ui
            .button("timeline")
            .on_hover_text("Select it and show its band in the timeline")
            .clicked()
        {
            cx.focus.show_site(l.site, ViewId::Timeline);
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 12.0;
        ui.label(format!(
            "{} in {} live at the end",
            short_bytes(l.live_bytes),
            units::count(l.live_blocks, "block")
        ));
        ui.label(
            RichText::new(format!(
                "{} per iteration",
                units::signed_bytes(l.growth_bytes_per_iteration as i64)
            ))
            .color(theme::warn(cx.dark())),
        );
        ui.label(format!(
            "grew in {}",
            units::count(l.iterations as u64, "iteration")
        ));
        ui.label(format!("confidence {:.0}%", l.confidence * 100.0));
    });
    sparkline(ui, cx, &l.series, l.site);
}

fn sparkline(ui: &mut Ui, cx: &ViewCtx, series: &[u64], site: u32) {
    let width = ui.available_width().min(SPARK_W);
    let (resp, painter) = ui.allocate_painter(vec2(width, 28.0), Sense::hover());
    let r = resp.rect.shrink(2.0);
    let max = series.iter().copied().max().unwrap_or(1).max(1) as f32;
    let n = series.len().max(2) as f32 - 1.0;
    let pts: Vec<_> = series
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            pos2(
                r.left() + i as f32 / n * r.width(),
                r.bottom() - v as f32 / max * r.height(),
            )
        })
        .collect();
    let color = cx.site_color(site);
    for w in pts.windows(2) {
        let quad = vec![
            w[0],
            w[1],
            pos2(w[1].x, r.bottom()),
            pos2(w[0].x, r.bottom()),
        ];
        painter.add(Shape::convex_polygon(
            quad,
            color.gamma_multiply(0.25),
            Stroke::NONE,
        ));
    }
    painter.add(Shape::line(pts, Stroke::new(1.5, color)));
    resp.on_hover_text(format!(
        "live bytes at {} iteration boundaries: {} to {}",
        series.len(),
        units::bytes(series.first().copied().unwrap_or(0)),
        units::bytes(series.last().copied().unwrap_or(0))
    ));
}

/// The growth that is not a leak, when there is no leak to show.
fn growth_table(ui: &mut Ui, cx: &mut ViewCtx) {
    if findings::explained_growth(cx.analysis).next().is_none() {
        return;
    }
    ui.add_space(8.0);
    ui.label(RichText::new("Growth that is not a leak").strong());
    crate::ui::view::growth_list(ui, cx);
}

/// Where iterations come from: the evidence memsight found, or one the user names. A change
/// analyses the file again on the worker thread.
fn iterations_picker(ui: &mut Ui, cx: &mut ViewCtx) {
    let current = cx.loaded.options.iterations.clone();
    let mut choices: Vec<(IterationSpec, String)> = vec![
        (IterationSpec::Auto, "the best evidence (automatic)".into()),
        (IterationSpec::Markers, "snapshot markers".into()),
    ];
    let mut names: Vec<String> = cx
        .loaded
        .snap
        .annotations
        .iter()
        .filter(|a| a.device == cx.analysis.device && a.stage == "START")
        .map(|a| a.name.split('#').next().unwrap_or(&a.name).to_string())
        .collect();
    names.sort();
    names.dedup();
    for n in names {
        choices.push((
            IterationSpec::Annotation(n.clone()),
            format!("{n} annotations"),
        ));
    }
    if let Some(site) = cx
        .focus
        .selection
        .site
        .and_then(|s| cx.analysis.sites.get(s))
    {
        let spec = IterationSpec::Site {
            file: site.file.clone(),
            line: site.line,
        };
        choices.push((spec, format!("each allocation at {}", site.short_label())));
    }
    if !choices.iter().any(|(c, _)| *c == current) {
        choices.push((current.clone(), format!("{current:?}")));
    }
    let label = |spec: &IterationSpec| {
        choices
            .iter()
            .find(|(c, _)| c == spec)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let mut picked = current.clone();
    ui.horizontal(|ui| {
        egui::ComboBox::new("iterations", "iterations from")
            .selected_text(label(&current))
            .show_ui(ui, |ui| {
                for (spec, text) in &choices {
                    ui.selectable_value(&mut picked, spec.clone(), text);
                }
            })
            .response
            .on_hover_text(
                "Where one step ends and the next begins. Select a line that runs once per \
                 step (in the timeline or the table) to offer it here.",
            );
    });
    if picked != current {
        cx.focus.reanalyse = Some(Options { iterations: picked });
    }
}
