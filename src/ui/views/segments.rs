//! Segments at the time cursor: each segment a bar of its blocks (coloured by call site), free
//! gaps visible; a scrubber; the fragmentation chart under it; jumps to every OOM.

use std::sync::Arc;

use egui::{pos2, vec2, Rect, RichText, Sense, Shape, Stroke, Ui};

use crate::analysis::{fragmentation, SegmentView};
use crate::units;

use crate::analysis::pools::PoolKind;
use crate::ui::plot;
use crate::ui::theme;
use crate::ui::view::{short_bytes, View, ViewCtx};

const ROW_H: f32 = 26.0;
const LABEL_W: f32 = 190.0;
const CHART_H: f32 = 120.0;

/// Every segment with its blocks at one event.
type Layout = Arc<Vec<SegmentView>>;
/// Free in reserved, largest free block and split free memory per chart column (0..1).
type FragColumns = Arc<Vec<[f32; 3]>>;

/// The Segments view's caches: the view draws every frame, and both a layout query and the
/// chart's columns walk far more than a frame allows.
#[derive(Default)]
pub struct SegmentsView {
    /// The layout, keyed by (focus epoch, event); `usize::MAX`: as dumped, for a device
    /// without a trace.
    layout: Option<((u64, usize), Layout)>,
    /// The fragmentation chart's columns, keyed by (focus epoch, width in columns).
    frag: Option<((u64, usize), FragColumns)>,
}

impl View for SegmentsView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        self.show(ui, cx);
    }
}

impl SegmentsView {
    fn show(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let n = cx.analysis.events;
        if n == 0 {
            self.dump_time(ui, cx);
            return;
        }
        cx.focus.cursor = cx.focus.cursor.min(n - 1);
        scrubber(ui, cx);
        let layout = self.layout_at(cx, Some(cx.focus.cursor));
        status(ui, cx, &layout);
        if layout.is_empty() {
            ui.label(RichText::new("No segment is reserved after this event.").weak());
        } else {
            ui.label(
            RichText::new(
                "One bar per segment: blocks coloured by call site, free gaps dark, grey blocks \
                 freed but pending on a stream. Blocks are to scale inside a bar; bar lengths \
                 follow the square root of segment sizes.",
            )
            .weak()
            .small(),
        );
        }
        let avail = ui.available_height() - CHART_H - 28.0;
        egui::ScrollArea::vertical()
            .id_salt("segments")
            .max_height(avail.max(80.0))
            .auto_shrink([false, false])
            .show_rows(ui, ROW_H, layout.len(), |ui, range| {
                let max = layout.iter().map(|s| s.size).max().unwrap_or(1).max(1);
                // At an OOM, free gaps show whether they could hold the failed request.
                let need = cx
                    .analysis
                    .ooms
                    .iter()
                    .find(|o| o.event == cx.focus.cursor)
                    .map(|o| o.block_size);
                for i in range {
                    segment_row(ui, cx, &layout[i], max, need);
                }
            });
        ui.separator();
        self.frag_chart(ui, cx);
    }

    /// A device without trace events (a torch 2.0 file, or one dumped with history recording off):
    /// there is no time to scrub, but the snapshot's segment list still gives the layout at dump
    /// time, which is what a user opening such a file wants to see.
    fn dump_time(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let layout = self.layout_at(cx, None);
        if layout.is_empty() {
            ui.label("This device has no trace events and no segments.");
            return;
        }
        let reserved: u64 = layout.iter().map(|s| s.size).sum();
        let allocated: u64 = layout
            .iter()
            .flat_map(|s| &s.blocks)
            .filter(|b| b.allocated)
            .map(|b| b.size)
            .sum();
        let largest_free = layout.iter().map(|s| s.largest_free()).max().unwrap_or(0);
        ui.label(RichText::new("Segments at dump time").strong());
        ui.label(format!(
            "This device has no trace events, so there is no time to scrub: the layout below is \
         the snapshot's segment list as it was dumped. {} segments, {} reserved, {} allocated, \
         largest free block {}.",
            layout.len(),
            short_bytes(reserved),
            short_bytes(allocated),
            short_bytes(largest_free),
        ));
        egui::ScrollArea::vertical()
            .id_salt("segments-dump")
            .auto_shrink([false, false])
            .show_rows(ui, ROW_H, layout.len(), |ui, range| {
                let max = layout.iter().map(|s| s.size).max().unwrap_or(1).max(1);
                for i in range {
                    segment_row(ui, cx, &layout[i], max, None);
                }
            });
    }
}

/// The `history` PyTorch 2.0 files keep for the block at `addr` (the allocations made in that
/// block, oldest first), one line each; empty for newer files, which have a trace instead.
pub(super) fn block_history(cx: &ViewCtx, addr: u64) -> Vec<String> {
    let snap = &cx.loaded.snap;
    snap.segments_of(cx.analysis.device)
        .flat_map(|s| &s.blocks)
        .find(|b| b.address == addr)
        .map(|b| {
            b.history
                .iter()
                .map(|h| {
                    format!(
                        "{} at {:#x}  {}",
                        units::bytes(h.real_size),
                        h.addr,
                        crate::analysis::sites::site_of_stack(snap, h.stack).short_label()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The layout after event `t` (`None`: as dumped, for a device without a trace), cached: the
/// view draws every frame, a layout query walks every block.
impl SegmentsView {
    fn layout_at(&mut self, cx: &ViewCtx, t: Option<usize>) -> Layout {
        let key = (cx.focus.epoch, t.unwrap_or(usize::MAX));
        match &self.layout {
            Some((k, l)) if *k == key => l.clone(),
            _ => {
                let l = Arc::new(cx.analysis.layout.layout_after(&cx.analysis.replay, t));
                self.layout = Some((key, l.clone()));
                l
            }
        }
    }
}

/// The scrubber's slider width in a row `avail` wide: the row's width less the jump buttons
/// (420 points) where that leaves a usable slider, else the row less its value box and label (the
/// buttons then wrap onto the next row).
fn slider_width(avail: f32) -> f32 {
    if avail - 420.0 >= 200.0 {
        avail - 420.0
    } else {
        (avail - 170.0).max(80.0)
    }
}

fn scrubber(ui: &mut Ui, cx: &mut ViewCtx) {
    let n = cx.analysis.events;
    // Wrapped: in a narrow panel the jump buttons go under the slider.
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("<")
            .on_hover_text("Previous event (Left)")
            .clicked()
        {
            cx.focus.cursor = cx.focus.cursor.saturating_sub(1);
        }
        if ui.button(">").on_hover_text("Next event (Right)").clicked() {
            cx.focus.cursor = (cx.focus.cursor + 1).min(n - 1);
        }
        ui.spacing_mut().slider_width = slider_width(ui.available_width());
        ui.add(
            egui::Slider::new(&mut cx.focus.cursor, 0..=n - 1)
                .text("event")
                .clamping(egui::SliderClamping::Always),
        )
        .on_hover_text("The time cursor, shared by all views");
        let ooms: Vec<usize> = cx.analysis.ooms.iter().map(|o| o.event).collect();
        let prev = ooms.iter().rev().find(|&&e| e < cx.focus.cursor).copied();
        let next = ooms.iter().find(|&&e| e > cx.focus.cursor).copied();
        if ui
            .add_enabled(prev.is_some(), egui::Button::new("Previous OOM"))
            .clicked()
        {
            if let Some(e) = prev {
                cx.focus.move_cursor(e);
            }
        }
        if ui
            .add_enabled(next.is_some(), egui::Button::new("Next OOM"))
            .on_hover_text("Move the cursor to the next out-of-memory error")
            .clicked()
        {
            if let Some(e) = next {
                cx.focus.move_cursor(e);
            }
        }
        let peak = cx.analysis.peak;
        if ui
            .button("Peak")
            .on_hover_text("Peak allocated memory (the peak the Diagnosis names)")
            .clicked()
        {
            cx.focus.move_cursor(peak.allocated_event);
        }
        if ui
            .button("Reserved")
            .on_hover_text("Peak reserved memory (segments held from the driver)")
            .clicked()
        {
            cx.focus.move_cursor(peak.reserved_event);
        }
    });
    if !ui.ctx().egui_wants_keyboard_input() {
        let (l, r) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
            )
        });
        if l {
            cx.focus.cursor = cx.focus.cursor.saturating_sub(1);
        }
        if r {
            cx.focus.cursor = (cx.focus.cursor + 1).min(n - 1);
        }
    }
}

fn status(ui: &mut Ui, cx: &mut ViewCtx, layout: &[SegmentView]) {
    let t = cx.focus.cursor;
    let p = fragmentation::point(&cx.analysis.replay, t);
    let ev = cx
        .loaded
        .snap
        .trace(cx.analysis.device)
        .and_then(|tr| tr.events.get(t));
    let action = ev
        .and_then(|e| e.action.name())
        .unwrap_or("event")
        .to_string();
    let oom = cx.analysis.ooms.iter().find(|o| o.event == t);
    ui.horizontal_wrapped(|ui| {
        let mut head = format!("After event {t} ({action}");
        if let Some(e) = ev {
            if e.size > 0 {
                head.push_str(&format!(" {}", short_bytes(e.size)));
            }
        }
        head.push(')');
        if let Some(time) = cx.time_of(t) {
            head.push_str(&format!(" {time}"));
        }
        ui.label(RichText::new(head).strong());
        ui.label(format!(
            "{} segments, {} reserved, {} allocated, largest free block {}, external \
             fragmentation {:.0}%",
            layout.len(),
            short_bytes(p.reserved),
            short_bytes(p.allocated),
            short_bytes(p.largest_free_block),
            p.external * 100.0
        ));
    });
    if let Some(o) = oom {
        ui.label(
            RichText::new(
                "Free gaps underlined red are too small for the failed request; green ones \
                 could hold it.",
            )
            .small(),
        );
        ui.label(
            RichText::new(format!(
                "OUT OF MEMORY here: {} requested, verdict {}. {}",
                units::bytes(o.requested),
                o.verdict.name(),
                crate::output::words::oom_advice(cx.analysis, o)
            ))
            .color(theme::oom(cx.dark())),
        );
    }
}

fn segment_row(ui: &mut Ui, cx: &mut ViewCtx, s: &SegmentView, max: u64, need: Option<u64>) {
    let dark = cx.dark();
    let width = ui.available_width();
    let (resp, painter) = ui.allocate_painter(vec2(width, ROW_H), Sense::click());
    let r = resp.rect;
    let text_color = ui.visuals().text_color();
    // Segments of a CUDA graph's or a user pool serve only that pool's requests.
    let pools = &cx.analysis.pools;
    let pool = pools
        .pools
        .get(pools.of_address(s.addr, cx.focus.cursor as u32) as usize)
        .map_or("", |p| match p.kind {
            PoolKind::Default => "",
            PoolKind::Graph => " graph",
            PoolKind::User => " user",
        });
    painter.text(
        pos2(r.left() + 2.0, r.center().y),
        egui::Align2::LEFT_CENTER,
        format!(
            "{:#x}  {}{}{pool}",
            s.addr,
            short_bytes(s.size),
            if s.expandable { " exp" } else { "" }
        ),
        egui::FontId::monospace(11.0),
        text_color,
    );
    let full = (width - LABEL_W - 8.0).max(50.0);
    // Log-ish scale so that 2 MiB segments stay visible beside 2 GiB ones.
    let frac = ((s.size as f64).sqrt() / (max as f64).sqrt()).clamp(0.03, 1.0) as f32;
    let bar = Rect::from_min_size(
        pos2(r.left() + LABEL_W, r.top() + 3.0),
        vec2(full * frac, ROW_H - 6.0),
    );
    painter.rect_filled(bar, 2.0, theme::free(dark));
    let x_of = |addr: u64| {
        bar.left() + ((addr - s.addr) as f64 / s.size.max(1) as f64) as f32 * bar.width()
    };
    if let Some(need) = need {
        for (addr, size) in s.free_ranges() {
            let (x0, x1) = (x_of(addr), x_of(addr + size).max(x_of(addr) + 1.0));
            let fits = size >= need;
            let c = if fits {
                theme::good(dark)
            } else {
                theme::oom(dark)
            };
            let gap = Rect::from_min_max(pos2(x0, bar.top()), pos2(x1, bar.bottom()));
            painter.rect_filled(gap, 0.0, c.gamma_multiply(0.22));
            painter.hline(x0..=x1, bar.bottom() - 1.0, Stroke::new(2.0, c));
        }
    }
    let sel = cx.focus.selection.clone();
    let mut mesh = egui::epaint::Mesh::default();
    let mut last_px = f32::NEG_INFINITY;
    let mut hovered = None;
    let pointer = resp.hover_pos();
    for b in &s.blocks {
        let x0 = x_of(b.addr);
        let x1 = x_of(b.addr + b.size).max(x0 + 1.0);
        if let Some(p) = pointer {
            if p.x >= x0 && p.x < x1 && bar.y_range().contains(p.y) {
                hovered = Some(*b);
            }
        }
        // Blocks narrower than a pixel that fall on an already painted pixel add nothing.
        if x1 <= last_px + 0.01 && x1 - x0 <= 1.0 {
            continue;
        }
        last_px = x1;
        let site = cx
            .analysis
            .allocation_site
            .get(b.allocation as usize)
            .copied();
        let mut color = if b.allocated {
            site.map_or(theme::other(dark), |s| cx.site_color(s))
        } else {
            theme::pending(dark)
        };
        if !cx.lod.keeps(b.allocation as usize) {
            color = color.gamma_multiply(0.25);
        }
        // A call tree pick paints its blocks in the accent, as the timeline paints its band;
        // else the selected call site lights its own.
        match (&sel.picked, sel.site) {
            (Some(p), _) if p.contains(b.allocation) => color = theme::accent(dark),
            (Some(_), _) => color = color.gamma_multiply(0.35),
            (None, Some(ss)) if site != Some(ss) => color = color.gamma_multiply(0.45),
            _ => {}
        }
        if sel.allocation == Some(b.allocation) {
            color = theme::accent(dark);
        }
        mesh.add_colored_rect(
            Rect::from_min_max(pos2(x0, bar.top()), pos2(x1, bar.bottom())),
            color,
        );
    }
    painter.add(Shape::mesh(mesh));
    painter.rect_stroke(
        bar,
        2.0,
        Stroke::new(1.0, theme::reserved(dark).gamma_multiply(0.3)),
        egui::StrokeKind::Inside,
    );
    if let Some(b) = hovered {
        let site = cx
            .analysis
            .allocation_site
            .get(b.allocation as usize)
            .copied()
            .unwrap_or(0);
        let a = cx
            .analysis
            .replay
            .allocations
            .get(b.allocation as usize)
            .copied();
        resp.clone().on_hover_ui_at_pointer(|ui| {
            ui.label(RichText::new(cx.site_label(site)).monospace().strong());
            ui.label(format!(
                "{} block at {:#x} ({} requested){}",
                units::bytes(b.size),
                b.addr,
                units::bytes(b.requested),
                if b.allocated {
                    ""
                } else {
                    ", freed, pending on a stream"
                }
            ));
            if let Some(a) = a {
                ui.label(super::timeline::lifetime(
                    cx,
                    a.alloc_event,
                    a.free_requested,
                ));
            }
            let history = block_history(cx, b.addr).len();
            if history > 0 {
                ui.label(format!(
                    "The file keeps this block's history ({history} entries): click the block \
                     to see it beside the stack."
                ));
            }
        });
        if resp.clicked() {
            cx.focus.select_allocation(b.allocation, Some(site));
        }
    } else if resp.hovered() {
        let free: u64 = s.free_ranges().iter().map(|f| f.1).sum();
        resp.clone().on_hover_text(format!(
            "segment {:#x}: {} blocks, {} free, largest free {}",
            s.addr,
            s.blocks.len(),
            units::bytes(free),
            units::bytes(s.largest_free())
        ));
    }
}

/// Free-in-reserved, largest free block and allocated over the whole trace, one column per
/// pixel (the highest value inside each column); click or drag to move the cursor.
impl SegmentsView {
    fn frag_chart(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let dark = cx.dark();
        let n = cx.analysis.events;
        let width = ui.available_width();
        let (resp, painter) = ui.allocate_painter(vec2(width, CHART_H), Sense::click_and_drag());
        let rect = Rect::from_min_max(
            resp.rect.min + vec2(LABEL_W, 14.0),
            resp.rect.max - vec2(8.0, 4.0),
        );
        painter.rect_filled(rect, 0.0, theme::plot_background(dark));
        let cols = rect.width().max(1.0) as usize;
        let key = (cx.focus.epoch, cols);
        let data = match &self.frag {
            Some((k, v)) if *k == key => v.clone(),
            _ => {
                let s = &cx.analysis.replay.series;
                // Bytes as f32: 24 bits of precision is far finer than a pixel.
                let mut v = vec![[0f32; 3]; cols];
                for (c, slot) in v.iter_mut().enumerate() {
                    let a = c * n / cols;
                    let b = ((c + 1) * n / cols).max(a + 1).min(n);
                    let mut m = [0u64; 3];
                    for i in a..b {
                        let free = s.reserved[i].saturating_sub(s.active[i]);
                        m[0] = m[0].max(free);
                        m[1] = m[1].max(s.largest_free[i]);
                        m[2] = m[2].max(free.saturating_sub(s.largest_free[i]));
                    }
                    *slot = m.map(|b| b as f32);
                }
                let v = Arc::new(v);
                self.frag = Some((key, v.clone()));
                v
            }
        };
        // Bytes of the highest free-in-reserved, with headroom for the top gridline's label.
        let ymax = data.iter().map(|c| c[0]).fold(1.0f32, f32::max) * 1.05;
        let colors = [theme::other(dark), theme::good(dark), theme::warn(dark)];
        // Split free memory as a filled area, the others as lines.
        let y = |v: f32| rect.bottom() - v / ymax * rect.height();
        plot::byte_grid(&painter, rect, ymax as f64, |b| y(b as f32), dark);
        let mut mesh = egui::epaint::Mesh::default();
        for (c, d) in data.iter().enumerate() {
            let x = rect.left() + c as f32;
            mesh.add_colored_rect(
                Rect::from_min_max(pos2(x, y(d[2])), pos2(x + 1.0, rect.bottom())),
                colors[2].gamma_multiply(0.6),
            );
        }
        painter.add(Shape::mesh(mesh));
        for k in 0..2 {
            let pts: Vec<_> = data
                .iter()
                .enumerate()
                .map(|(c, d)| pos2(rect.left() + c as f32 + 0.5, y(d[k])))
                .collect();
            painter.add(Shape::line(pts, Stroke::new(1.2, colors[k])));
        }
        let x_of = |e: usize| rect.left() + (e as f32 + 0.5) / n as f32 * rect.width();
        for o in &cx.analysis.ooms {
            painter.vline(
                x_of(o.event),
                rect.y_range(),
                Stroke::new(1.5, theme::oom(dark)),
            );
        }
        painter.vline(
            x_of(cx.focus.cursor),
            rect.y_range(),
            Stroke::new(1.5, theme::accent(dark)),
        );
        let font = egui::FontId::proportional(11.0);
        let tc = ui.visuals().text_color();
        painter.text(
            resp.rect.left_top() + vec2(2.0, 14.0),
            egui::Align2::LEFT_TOP,
            "Fragmentation",
            egui::FontId::proportional(13.0),
            tc,
        );
        let items = [
            ("free in reserved", colors[0]),
            ("largest free block", colors[1]),
            ("free but split", colors[2]),
        ];
        for (i, (label, c)) in items.iter().enumerate() {
            let p = resp.rect.left_top() + vec2(2.0, 34.0 + i as f32 * 15.0);
            painter.rect_filled(
                Rect::from_min_size(p + vec2(0.0, 3.0), vec2(8.0, 8.0)),
                1.0,
                *c,
            );
            painter.text(
                p + vec2(12.0, 0.0),
                egui::Align2::LEFT_TOP,
                *label,
                font.clone(),
                tc,
            );
        }
        if let Some(p) = resp.interact_pointer_pos() {
            if (resp.clicked() || resp.dragged()) && rect.x_range().contains(p.x) {
                cx.focus.cursor = (((p.x - rect.left()) / rect.width()) * n as f32)
                    .clamp(0.0, (n - 1) as f32) as usize;
            }
        }
        resp.on_hover_text("Click or drag to move the time cursor");
    }
}
