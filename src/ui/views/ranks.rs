//! Ranks: the snapshots of one distributed job side by side. The outliers first (ranks whose
//! peak or end state stands above the median rank, with the lines that make the difference),
//! then the leaks and who has them, one row per rank, and each rank's memory over the job's
//! aligned iterations as small multiples on one scale. A rank's Open button opens its file.
//!
//! Everything here comes from `ranks::reduce` on the per-file summaries, computed on the
//! worker that read the files; the view only draws.

use std::path::PathBuf;

use egui::{pos2, vec2, Rect, RichText, Sense, Shape, Stroke, Ui};

use crate::output::ranks::{metric_name, site, who};
use crate::ranks::Job;
use crate::ui::loader::RanksLoaded;
use crate::ui::theme;
use crate::ui::view::{section, short_bytes};
use crate::units;

const MULTIPLE_W: f32 = 220.0;
const MULTIPLE_H: f32 = 70.0;

/// The two ranks the user compares, by index into the job's ranks, and at which moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct RanksView {
    pub a: usize,
    /// `None` until chosen: the median rank.
    pub b: Option<usize>,
    pub at_end: bool,
}

/// Draws the comparison; returns the file of a rank the user asked to open.
pub fn show(ui: &mut Ui, view: &mut RanksView, r: &RanksLoaded, dark: bool) -> Option<PathBuf> {
    let mut open = None;
    let frame = egui::Frame::central_panel(ui.style());
    frame.show(ui, |ui| {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.set_max_width(ui.available_width().min(1400.0));
                for e in &r.errors {
                    ui.colored_label(theme::oom(dark), format!("{}: {}", e.file, e.error));
                }
                let Some(job) = &r.job else {
                    ui.label("No file of this job could be read.");
                    return;
                };
                outliers(ui, job, dark);
                leaks(ui, job);
                table(ui, job, r, dark, &mut open);
                multiples(ui, job, dark);
                pair(ui, view, job);
            })
    });
    open
}

fn outliers(ui: &mut Ui, job: &Job, dark: bool) {
    let m = &job.median.peak_allocated;
    section(
        ui,
        &format!(
            "{} ranks; the median rank (rank {}) peaks at {} allocated",
            job.rank_count(),
            m.rank,
            short_bytes(m.value)
        ),
    );
    if job.outliers.is_empty() {
        ui.label("No rank stands out from the median: no rank's peak or end state exceeds it by 5% and 64 MiB.");
        return;
    }
    for o in &job.outliers {
        ui.label(
            RichText::new(format!(
                "{}: {} {} against the median's {} (rank {}), {} more",
                who(job, o.rank, o.device),
                metric_name(o.metric),
                short_bytes(o.value),
                short_bytes(o.median),
                o.median_rank,
                short_bytes(o.excess_bytes)
            ))
            .strong()
            .color(theme::warn(dark)),
        );
        for s in o.sites.iter().take(5) {
            ui.label(
                RichText::new(format!(
                    "    {}: {} here, {} on the median rank (+{})",
                    site(&s.key),
                    short_bytes(s.rank_bytes),
                    short_bytes(s.median_bytes),
                    short_bytes(s.bytes)
                ))
                .monospace(),
            );
        }
    }
}

fn leaks(ui: &mut Ui, job: &Job) {
    if job.leaks.is_empty() {
        return;
    }
    section(ui, "Leaks");
    for l in &job.leaks {
        let on = if l.every_rank {
            "every rank".to_string()
        } else {
            format!(
                "{} of {}: {}",
                l.ranks.len(),
                job.rank_count(),
                l.ranks
                    .iter()
                    .map(|r| format!("rank {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        ui.label(format!(
            "{} on {on} ({} to {} live)",
            site(&l.key),
            short_bytes(l.live_bytes_min),
            short_bytes(l.live_bytes_max)
        ));
    }
}

fn table(ui: &mut Ui, job: &Job, r: &RanksLoaded, dark: bool, open: &mut Option<PathBuf>) {
    section(ui, "Every rank");
    egui::Grid::new("ranks").striped(true).show(ui, |ui| {
        for h in [
            "rank",
            "file",
            "device",
            "peak allocated",
            "peak reserved",
            "end allocated",
            "OOMs",
            "leaks",
            "",
        ] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for (i, rank) in job.ranks.iter().enumerate() {
            let s = &rank.summary;
            let outlier = job.outliers.iter().any(|o| o.index == i);
            let text = |t: String| {
                if outlier {
                    RichText::new(t).color(theme::warn(dark))
                } else {
                    RichText::new(t)
                }
            };
            ui.label(text(rank.rank.to_string()));
            ui.label(text(rank.file.clone()));
            ui.label(format!("cuda:{}", s.device));
            ui.label(text(short_bytes(s.peak_allocated)));
            ui.label(short_bytes(s.peak_reserved));
            ui.label(short_bytes(s.end_allocated));
            ui.label(s.ooms.len().to_string());
            ui.label(s.leaks.len().to_string());
            let path = r.rank_paths.get(i).and_then(Option::as_ref);
            if ui
                .add_enabled(path.is_some(), egui::Button::new("Open"))
                .on_hover_text("Open this rank's file in a tab of its own")
                .clicked()
            {
                *open = path.cloned();
            }
            ui.end_row();
        }
    });
}

/// Each rank's allocated (filled) and reserved (line) memory over the aligned series, all on
/// one scale so a rank above the others shows at a glance.
fn multiples(ui: &mut Ui, job: &Job, dark: bool) {
    section(
        ui,
        &format!(
            "Memory of each rank over the {}, on one scale",
            match job.alignment.axis {
                crate::ranks::SeriesAxis::Iterations => "iterations",
                crate::ranks::SeriesAxis::Events => "events",
            }
        ),
    );
    let ymax = job
        .ranks
        .iter()
        .map(|r| r.summary.peak_reserved.max(r.summary.peak_allocated))
        .fold(1, Ord::max) as f32;
    ui.horizontal_wrapped(|ui| {
        for (i, rank) in job.ranks.iter().enumerate() {
            let outlier = job.outliers.iter().any(|o| o.index == i);
            ui.vertical(|ui| {
                let title = format!(
                    "{}: {}",
                    who(job, rank.rank, rank.summary.device),
                    units::bytes(rank.summary.peak_allocated)
                );
                ui.label(RichText::new(title).small());
                let (resp, painter) =
                    ui.allocate_painter(vec2(MULTIPLE_W, MULTIPLE_H), Sense::hover());
                let rect = resp.rect;
                painter.rect_filled(rect, 2.0, theme::plot_background(dark));
                let pts = &rank.summary.series.points;
                let n = pts.len().max(1) as f32;
                let x = |k: usize| rect.left() + (k as f32 + 0.5) / n * rect.width();
                let y = |v: u64| rect.bottom() - v as f32 / ymax * rect.height();
                let fill = if outlier {
                    theme::warn(dark)
                } else {
                    theme::accent(dark)
                };
                for (k, p) in pts.iter().enumerate() {
                    let w = (rect.width() / n).max(1.0);
                    painter.rect_filled(
                        Rect::from_min_max(
                            pos2(x(k) - w / 2.0, y(p.allocated_max)),
                            pos2(x(k) + w / 2.0, rect.bottom()),
                        ),
                        0.0,
                        fill.gamma_multiply(0.6),
                    );
                }
                let line: Vec<_> = pts
                    .iter()
                    .enumerate()
                    .map(|(k, p)| pos2(x(k), y(p.reserved_max)))
                    .collect();
                painter.add(Shape::line(line, Stroke::new(1.2, theme::reserved(dark))));
            });
        }
    });
}

/// Two ranks call site by call site (from each rank's summary: its top sites at the peak or at
/// the end), as `memsight diff` compares two files.
fn pair(ui: &mut Ui, v: &mut RanksView, job: &Job) {
    section(ui, "Compare two ranks");
    let n = job.ranks.len();
    if n < 2 {
        ui.label("A job of one rank has nothing to compare.");
        return;
    }
    v.a = v.a.min(n - 1);
    let mut b = v.b.unwrap_or(job.median.peak_allocated.index).min(n - 1);
    let name = |i: usize| {
        let r = &job.ranks[i];
        who(job, r.rank, r.summary.device)
    };
    ui.horizontal(|ui| {
        for (id, sel) in [("rank-a", &mut v.a), ("rank-b", &mut b)] {
            egui::ComboBox::from_id_salt(id)
                .selected_text(name(*sel))
                .show_ui(ui, |ui| {
                    for i in 0..n {
                        ui.selectable_value(sel, i, name(i));
                    }
                });
            if id == "rank-a" {
                ui.label("against");
            }
        }
        ui.label("at");
        ui.selectable_value(&mut v.at_end, false, "the peak");
        ui.selectable_value(&mut v.at_end, true, "the end");
    });
    v.b = Some(b);
    let table = |i: usize| {
        let s = &job.ranks[i].summary;
        if v.at_end {
            &s.sites_at_end
        } else {
            &s.sites_at_peak
        }
    };
    let (ta, tb) = (table(v.a), table(b));
    let more = crate::ranks::reduce::excess_sites(ta, tb, 10);
    let less = crate::ranks::reduce::excess_sites(tb, ta, 10);
    if more.is_empty() && less.is_empty() {
        ui.label("The two ranks hold the same bytes at every call site.");
        return;
    }
    egui::Grid::new("rank-pair").striped(true).show(ui, |ui| {
        for h in ["call site", &name(v.a), &name(b), "difference"] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for (e, sign) in more
            .iter()
            .map(|e| (e, "+"))
            .chain(less.iter().map(|e| (e, "-")))
        {
            let (x, y) = if sign == "+" {
                (e.rank_bytes, e.median_bytes)
            } else {
                (e.median_bytes, e.rank_bytes)
            };
            ui.label(RichText::new(site(&e.key)).monospace());
            ui.label(short_bytes(x));
            ui.label(short_bytes(y));
            ui.label(format!("{sign}{}", short_bytes(e.bytes)));
            ui.end_row();
        }
    });
}
