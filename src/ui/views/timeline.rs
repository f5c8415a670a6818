//! The memory timeline: allocated memory as stacked bands over events, `reserved` as a line
//! above, markers, OOMs and iteration boundaries on the time axis.
//!
//! Drawing costs about one quad per band per pixel column whatever the trace length (see
//! [`crate::ui::lod`]). Per-allocation bands are drawn only when the visible window holds few
//! enough live allocations to stay within the frame budget; otherwise the view says so and
//! draws bands by call site.

use egui::{
    epaint::{Mesh, Vertex, WHITE_UV},
    pos2, vec2, Color32, Key, Painter, Pos2, Rect, RichText, Sense, Shape, Stroke, Ui,
};

use crate::analysis::NONE;
use crate::units;

use crate::analysis::oom::Category;
use crate::model::Event;
use crate::ui::focus::ColorBy;
use crate::ui::theme;
use crate::ui::view::{short_bytes, stack_lines, swatch, View, ViewCtx};

/// Work allowed for per-allocation bands (live allocations times columns).
const ALLOC_BUDGET: usize = 1_500_000;
/// Frames of the stack shown when hovering a band (MemoryViz shows them all; a tooltip taller
/// than the window helps nobody).
const HOVER_FRAMES: usize = 24;
/// Smallest visible window, in events.
const MIN_SPAN: f64 = 8.0;

/// How the timeline draws its bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bands {
    /// One band per call site (the top sites, then "other").
    #[default]
    BySite,
    /// One band per allocation, stacked in allocation order (when zoomed in enough).
    ByAllocation,
}

/// What the horizontal axis is labelled in. The plot is laid out by event either way (one
/// column per event is what keeps bursts of allocations readable); with `Time`, the ticks sit
/// at round times since the first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Axis {
    #[default]
    Time,
    Events,
}

/// The visible part of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindow {
    /// First and last visible event (fractional while zooming).
    pub t0: f64,
    pub t1: f64,
}

/// The timeline's own options and zoom.
#[derive(Default)]
pub struct TimelineView {
    pub bands: Bands,
    pub axis: Axis,
    /// `None` until the timeline is first shown (then the whole trace).
    pub window: Option<TimeWindow>,
    /// The focus epoch the window belongs to (another device starts at the whole trace).
    epoch: u64,
}

impl View for TimelineView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let n = cx.analysis.events;
        if n == 0 {
            ui.label("This device has no trace events (the file holds segments only).");
            return;
        }
        if self.epoch != cx.focus.epoch {
            self.epoch = cx.focus.epoch;
            self.window = None;
        }
        // A link or button moved the cursor: bring it into view, keeping the zoom.
        if std::mem::take(&mut cx.focus.reveal_cursor) {
            if let Some(w) = self.window.as_mut() {
                let (span, e) = (w.t1 - w.t0, cx.focus.cursor as f64);
                if e < w.t0 || e > w.t1 {
                    w.t0 = e - span / 2.0;
                    w.t1 = e + span / 2.0;
                }
            }
        }
        toolbar(ui, cx, self);
        let filtered = cx.focus.filtered.lod.is_some();
        if filtered && cx.lod.total[cx.lod.total_max.argmax(&cx.lod.total, 0, n)] == 0 {
            ui.add_space(20.0);
            ui.label(
                RichText::new(
                    "No allocation passes the filters: loosen them (or clear them) to see bands.",
                )
                .color(theme::warn(cx.dark())),
            );
            return;
        }
        let legend_h = 64.0;
        let avail = ui.available_size();
        let size = vec2(avail.x, (avail.y - legend_h).max(120.0));
        plot(ui, cx, self, size);
        legend(ui, cx);
    }
}

fn toolbar(ui: &mut Ui, cx: &mut ViewCtx, view: &mut TimelineView) {
    ui.horizontal(|ui| {
        ui.label("Bands:");
        ui.selectable_value(&mut view.bands, Bands::BySite, "by call site")
            .on_hover_text("One band per call site (top sites, then other)");
        ui.selectable_value(&mut view.bands, Bands::ByAllocation, "by allocation")
            .on_hover_text("One band per allocation, stacked in allocation order (zoom in)");
        ui.separator();
        ui.label("Colour:");
        ui.selectable_value(&mut cx.focus.color_by, ColorBy::Site, "call site");
        ui.selectable_value(&mut cx.focus.color_by, ColorBy::Category, "category")
            .on_hover_text("parameters, activations, gradients, optimizer state, other");
        ui.separator();
        if cx.data.timed {
            ui.label("Axis:");
            ui.selectable_value(&mut view.axis, Axis::Time, "time")
                .on_hover_text(
                    "Ticks at round times since the first event (the plot stays one column \
                     per event, so bursts of allocations keep their width)",
                );
            ui.selectable_value(&mut view.axis, Axis::Events, "events")
                .on_hover_text("Ticks at event numbers");
            ui.separator();
        }
        if ui
            .button("Fit")
            .on_hover_text("Show the whole trace (Home)")
            .clicked()
        {
            view.window = None;
        }
        ui.label(
            RichText::new("wheel: zoom   drag / shift+wheel / arrows: pan   click: select")
                .weak()
                .small(),
        );
    });
}

/// Visible window, clamped to the trace.
fn window(cx: &ViewCtx, view: &TimelineView) -> TimeWindow {
    let n = cx.analysis.events as f64;
    let w = view.window.unwrap_or(TimeWindow { t0: 0.0, t1: n });
    clamp(w, n)
}

fn clamp(mut w: TimeWindow, n: f64) -> TimeWindow {
    let span = (w.t1 - w.t0).clamp(MIN_SPAN.min(n), n);
    if w.t0 < 0.0 {
        w.t0 = 0.0;
    }
    if w.t0 + span > n {
        w.t0 = n - span;
    }
    w.t1 = w.t0 + span;
    w
}

/// Per-column sample events: the peak of the filtered allocated total inside each column.
pub fn columns(cx: &ViewCtx, w: TimeWindow, width: f32) -> (Vec<usize>, Vec<f64>) {
    let n = cx.analysis.events;
    let span = w.t1 - w.t0;
    let cols = (width.max(1.0) as usize).min(span.ceil() as usize).max(1);
    let step = span / cols as f64;
    let mut events = Vec::with_capacity(cols);
    let mut edges = Vec::with_capacity(cols + 1);
    for c in 0..=cols {
        edges.push(w.t0 + c as f64 * step);
    }
    for c in 0..cols {
        let a = (edges[c].floor() as usize).min(n - 1);
        let b = (edges[c + 1].ceil() as usize).clamp(a + 1, n);
        events.push(cx.lod.total_max.argmax(&cx.lod.total, a, b));
    }
    (events, edges)
}

struct Frame {
    rect: Rect,
    w: TimeWindow,
    ymax: f64,
}

impl Frame {
    fn x(&self, e: f64) -> f32 {
        self.rect.left() + ((e - self.w.t0) / (self.w.t1 - self.w.t0)) as f32 * self.rect.width()
    }
    fn y(&self, bytes: f64) -> f32 {
        self.rect.bottom() - (bytes / self.ymax) as f32 * self.rect.height()
    }
}

/// `c` darkened by `f` (0..1), alpha kept.
fn shade(c: Color32, f: f32) -> Color32 {
    let m = |v: u8| (v as f32 * f) as u8;
    Color32::from_rgba_premultiplied(m(c.r()), m(c.g()), m(c.b()), c.a())
}

fn quad(mesh: &mut Mesh, r: Rect, color: Color32) {
    let i = mesh.vertices.len() as u32;
    for p in [
        r.left_top(),
        r.right_top(),
        r.right_bottom(),
        r.left_bottom(),
    ] {
        mesh.vertices.push(Vertex {
            pos: p,
            uv: WHITE_UV,
            color,
        });
    }
    mesh.indices
        .extend_from_slice(&[i, i + 1, i + 2, i, i + 2, i + 3]);
}

fn plot(ui: &mut Ui, cx: &mut ViewCtx, view: &mut TimelineView, size: egui::Vec2) {
    let dark = cx.dark();
    let (resp, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    let axis_left = 72.0;
    let axis_bottom = 22.0;
    let rect = Rect::from_min_max(
        resp.rect.min + vec2(axis_left, 8.0),
        resp.rect.max - vec2(8.0, axis_bottom),
    );
    let n = cx.analysis.events;
    let mut w = window(cx, view);
    interact(ui, cx, &resp, rect, &mut w);
    view.window = Some(w);

    let s = &cx.analysis.replay.series;
    let (events, edges) = columns(cx, w, rect.width());
    let a0 = (w.t0.floor() as usize).min(n - 1);
    let a1 = (w.t1.ceil() as usize).clamp(a0 + 1, n);
    let res_peak = s.reserved[cx.lod.reserved_max.argmax(&s.reserved, a0, a1)];
    let tot_peak = cx.lod.total[cx.lod.total_max.argmax(&cx.lod.total, a0, a1)];
    let ymax = (res_peak.max(tot_peak).max(1) as f64) * 1.06;
    let f = Frame { rect, w, ymax };

    painter.rect_filled(rect, 0.0, theme::plot_background(dark));
    let timed = (cx.data.timed && view.axis == Axis::Time)
        .then(|| {
            cx.loaded
                .snap
                .trace(cx.analysis.device)
                .map(|t| t.events.as_slice())
        })
        .flatten();
    grid(&painter, &f, dark, resp.rect.left(), timed);

    // Bands.
    let mut mesh = Mesh::default();
    let want_alloc = view.bands == Bands::ByAllocation;
    let mut alloc_layout: Option<AllocBands> = None;
    if want_alloc {
        alloc_layout = AllocBands::build(cx, &events, w);
    }
    let sel_site = cx.focus.selection.site;
    let dim = |c: Color32, site: Option<u32>| -> Color32 {
        match sel_site {
            Some(s) if site != Some(s) => c.gamma_multiply(0.35),
            _ => c,
        }
    };
    let mut group_rows: Option<Vec<u64>> = None;
    if let Some(ab) = &alloc_layout {
        for (c, col) in ab.cols.iter().enumerate() {
            let (x0, x1) = (f.x(edges[c]), f.x(edges[c + 1]).max(f.x(edges[c]) + 0.5));
            for &(k, lo, hi) in col {
                let (y0, y1) = (f.y(lo as f64), f.y(hi as f64));
                if y0 - y1 < 0.4 {
                    continue;
                }
                let site = cx.analysis.allocation_site.get(k as usize).copied();
                let mut color = site.map_or(theme::other(dark), |s| cx.site_color(s));
                // Neighbouring allocations of one site alternate shades to stay apart.
                if k % 2 == 1 {
                    color = shade(color, 0.82);
                }
                if cx.focus.selection.allocation == Some(k) {
                    color = theme::accent(dark);
                }
                quad(
                    &mut mesh,
                    Rect::from_min_max(pos2(x0, y1), pos2(x1, y0)),
                    dim(color, site),
                );
            }
        }
    } else {
        let g = cx.lod.groups.len();
        let rows = cx.lod.sample(&events);
        let colors: Vec<Color32> = cx
            .lod
            .groups
            .iter()
            .map(|gr| match gr.site {
                Some(site) => dim(cx.site_color(site), Some(site)),
                None => dim(theme::other(dark), None),
            })
            .collect();
        for c in 0..events.len() {
            let (x0, x1) = (f.x(edges[c]), f.x(edges[c + 1]).max(f.x(edges[c]) + 0.5));
            let mut acc = 0u64;
            for (gi, color) in colors.iter().enumerate() {
                let v = rows[c * g + gi];
                if v == 0 {
                    continue;
                }
                let (y0, y1) = (f.y(acc as f64), f.y((acc + v) as f64));
                acc += v;
                if y0 - y1 < 0.05 {
                    continue;
                }
                quad(
                    &mut mesh,
                    Rect::from_min_max(pos2(x0, y1), pos2(x1, y0)),
                    *color,
                );
            }
        }
        group_rows = Some(rows);
    }
    painter.add(Shape::mesh(mesh));

    // Reserved line (the highest reserved inside each column).
    let mut pts = Vec::with_capacity(events.len() * 2);
    for c in 0..events.len() {
        let a = (edges[c].floor() as usize).min(n - 1);
        let b = (edges[c + 1].ceil() as usize).clamp(a + 1, n);
        let r = s.reserved[cx.lod.reserved_max.argmax(&s.reserved, a, b)];
        let y = f.y(r as f64);
        pts.push(pos2(f.x(edges[c]), y));
        pts.push(pos2(f.x(edges[c + 1]), y));
    }
    painter.add(Shape::line(pts, Stroke::new(1.5, theme::reserved(dark))));

    markers(&painter, cx, &f, dark);

    // Cursor.
    let cx_x = f.x(cx.focus.cursor as f64 + 0.5);
    if rect.x_range().contains(cx_x) {
        painter.vline(cx_x, rect.y_range(), Stroke::new(1.5, theme::accent(dark)));
    }

    if w.t1 - w.t0 > 0.0 && want_alloc && alloc_layout.is_none() {
        painter.text(
            rect.left_top() + vec2(8.0, 6.0),
            egui::Align2::LEFT_TOP,
            "Too many live allocations here for one band each: zoom in (bands by call site shown)",
            egui::FontId::proportional(12.0),
            theme::warn(dark),
        );
    }

    // Hover and click.
    let pointer = resp.hover_pos().filter(|p| rect.contains(*p));
    if let Some(p) = pointer {
        let c = events
            .len()
            .saturating_sub(1)
            .min(((p.x - rect.left()) / rect.width() * events.len() as f32).max(0.0) as usize);
        let t = events[c];
        let bytes = (rect.bottom() - p.y) as f64 / rect.height() as f64 * f.ymax;
        let hit = match (&alloc_layout, &group_rows) {
            (Some(ab), _) => ab.cols[c]
                .iter()
                .find(|(_, lo, hi)| (*lo as f64) <= bytes && bytes < *hi as f64)
                .map(|&(k, ..)| Hit::Allocation(k)),
            (None, Some(rows)) => {
                let g = cx.lod.groups.len();
                let mut acc = 0u64;
                let mut found = None;
                for gi in 0..g {
                    let v = rows[c * g + gi];
                    if (acc as f64) <= bytes && bytes < (acc + v) as f64 {
                        found = Some(Hit::Group(gi, v));
                        break;
                    }
                    acc += v;
                }
                found
            }
            _ => None,
        };
        painter.vline(
            p.x,
            rect.y_range(),
            Stroke::new(0.5, theme::reserved(dark).gamma_multiply(0.4)),
        );
        resp.clone()
            .on_hover_ui_at_pointer(|ui| hover_text(ui, cx, t, hit));
        if resp.clicked() {
            cx.focus.cursor = t;
            match hit {
                Some(Hit::Allocation(k)) => {
                    cx.focus.selection.allocation = Some(k);
                    cx.focus.selection.site = cx.analysis.allocation_site.get(k as usize).copied();
                }
                Some(Hit::Group(gi, _)) => cx
                    .focus
                    .select_site(cx.lod.groups.get(gi).and_then(|g| g.site)),
                None => cx.focus.select_site(None),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Hit {
    Allocation(u32),
    Group(usize, u64),
}

fn hover_text(ui: &mut Ui, cx: &ViewCtx, t: usize, hit: Option<Hit>) {
    let s = &cx.analysis.replay.series;
    let mut head = format!("event {t}");
    if let Some(time) = cx.time_of(t) {
        head.push_str(&format!("  {time}"));
    }
    ui.label(RichText::new(head).strong());
    match hit {
        Some(Hit::Allocation(k)) => {
            if let Some(a) = cx.analysis.replay.allocations.get(k as usize) {
                let site = cx
                    .analysis
                    .allocation_site
                    .get(k as usize)
                    .copied()
                    .unwrap_or(0);
                ui.label(format!(
                    "{} block ({} requested), stream {}",
                    units::bytes(a.size),
                    units::bytes(a.requested),
                    a.stream
                ));
                ui.label(RichText::new(cx.site_label(site)).monospace());
                ui.label(lifetime(cx, a.alloc_event, a.free_requested));
                ui.separator();
                stack_lines(ui, cx, a.stack, HOVER_FRAMES);
            }
        }
        Some(Hit::Group(gi, v)) => {
            let label = match cx.lod.groups.get(gi).and_then(|g| g.site) {
                Some(site) => {
                    let fun = cx
                        .analysis
                        .sites
                        .get(site)
                        .map(|s| s.function.clone())
                        .unwrap_or_default();
                    let cat = cx
                        .data
                        .site_category
                        .get(site as usize)
                        .copied()
                        .unwrap_or(Category::Other)
                        .name();
                    format!("{} in {}()  [{}]", cx.site_label(site), fun, cat)
                }
                None => "other call sites".to_string(),
            };
            ui.label(RichText::new(label).monospace());
            ui.label(format!("{} allocated here", units::bytes(v)));
            if let Some(s) = cx.lod.groups.get(gi).and_then(|g| g.site) {
                if let Some(site) = cx.analysis.sites.get(s) {
                    ui.separator();
                    stack_lines(ui, cx, site.stack, HOVER_FRAMES);
                }
            }
        }
        None => {}
    }
    ui.label(format!(
        "allocated {}   reserved {}",
        units::bytes(s.allocated[t]),
        units::bytes(s.reserved[t])
    ));
}

/// "allocated at event 12, freed at event 40 (1.2 ms)".
pub fn lifetime(cx: &ViewCtx, alloc: u32, free: u32) -> String {
    if cx.analysis.events == 0 {
        return "in the snapshot at dump time (this device recorded no trace)".into();
    }
    let from = if alloc == NONE {
        "before the trace".to_string()
    } else {
        format!("event {alloc}")
    };
    let to = if free == NONE {
        "still allocated at the end".to_string()
    } else {
        format!("freed at event {free}")
    };
    let mut s = format!("allocated {from}, {to}");
    if alloc != NONE && free != NONE {
        if let Some(ev) = cx.loaded.snap.trace(cx.analysis.device).map(|t| &t.events) {
            if let (Some(a), Some(b)) = (ev.get(alloc as usize), ev.get(free as usize)) {
                if a.time_us != 0 && b.time_us != 0 {
                    s.push_str(&format!(
                        " (lived {})",
                        units::duration_us(b.time_us - a.time_us)
                    ));
                }
            }
        }
        s.push_str(&format!(", {} events", free - alloc));
    }
    s
}

/// Per-allocation bands at each column: (allocation, low bytes, high bytes).
struct AllocBands {
    cols: Vec<Vec<(u32, u64, u64)>>,
}

impl AllocBands {
    fn build(cx: &ViewCtx, events: &[usize], w: TimeWindow) -> Option<AllocBands> {
        let n = cx.analysis.events;
        let r = &cx.analysis.replay;
        let t0 = (w.t0.floor() as usize).min(n - 1);
        let t1 = (w.t1.ceil() as usize).min(n - 1);
        if t1 - t0 > ALLOC_BUDGET {
            return None;
        }
        // Candidates: allocated at t0, or allocated inside the window.
        let mut cand: Vec<u32> = cx
            .analysis
            .layout
            .active_after(r, Some(t0))
            .into_iter()
            .filter(|&k| r.allocations[k as usize].allocated_at(t0 as u32))
            .collect();
        for e in t0 + 1..=t1 {
            let k = r.event_allocation[e];
            if k != NONE && r.allocations[k as usize].alloc_event as usize == e {
                cand.push(k);
            }
        }
        cand.retain(|&k| cx.lod.keeps(k as usize));
        if cand.len() * events.len() > ALLOC_BUDGET {
            return None;
        }
        // Oldest at the bottom.
        cand.sort_by_key(|&k| {
            let a = r.allocations[k as usize].alloc_event;
            (if a == NONE { 0 } else { a as u64 + 1 }, k)
        });
        let cols = events
            .iter()
            .map(|&t| {
                let mut acc = 0u64;
                let mut col = Vec::new();
                for &k in &cand {
                    let a = &r.allocations[k as usize];
                    if a.allocated_at(t as u32) {
                        col.push((k, acc, acc + a.size));
                        acc += a.size;
                    }
                }
                col
            })
            .collect();
        Some(AllocBands { cols })
    }
}

fn interact(ui: &Ui, cx: &mut ViewCtx, resp: &egui::Response, rect: Rect, w: &mut TimeWindow) {
    let n = cx.analysis.events as f64;
    let span = w.t1 - w.t0;
    let (scroll, zoom, shift, keys) = ui.input(|i| {
        (
            i.smooth_scroll_delta,
            i.zoom_delta(),
            i.modifiers.shift,
            [
                i.key_pressed(Key::ArrowLeft) || i.key_pressed(Key::A),
                i.key_pressed(Key::ArrowRight) || i.key_pressed(Key::D),
                i.key_pressed(Key::ArrowUp)
                    || i.key_pressed(Key::W)
                    || i.key_pressed(Key::Plus)
                    || i.key_pressed(Key::Equals),
                i.key_pressed(Key::ArrowDown) || i.key_pressed(Key::S) || i.key_pressed(Key::Minus),
                i.key_pressed(Key::Home),
            ],
        )
    });
    let focus_x = resp
        .hover_pos()
        .map(|p| p.x)
        .unwrap_or(rect.center().x)
        .clamp(rect.left(), rect.right());
    let frac = ((focus_x - rect.left()) / rect.width()) as f64;
    let zoom_by = |factor: f64, w: &mut TimeWindow| {
        let center = w.t0 + frac * (w.t1 - w.t0);
        let new_span = ((w.t1 - w.t0) * factor).clamp(MIN_SPAN.min(n), n);
        w.t0 = center - frac * new_span;
        w.t1 = w.t0 + new_span;
    };
    if resp.hovered() {
        if zoom != 1.0 {
            zoom_by(1.0 / zoom as f64, w);
        } else if shift && (scroll.y != 0.0 || scroll.x != 0.0) {
            let d = if scroll.x != 0.0 { scroll.x } else { scroll.y };
            let shift_by = -(d as f64) / rect.width() as f64 * span;
            w.t0 += shift_by;
            w.t1 += shift_by;
        } else if scroll.y != 0.0 {
            zoom_by((-(scroll.y as f64) * 0.004).exp(), w);
        } else if scroll.x != 0.0 {
            let shift_by = -(scroll.x as f64) / rect.width() as f64 * span;
            w.t0 += shift_by;
            w.t1 += shift_by;
        }
    }
    if resp.dragged() {
        let d = -(resp.drag_delta().x as f64) / rect.width() as f64 * (w.t1 - w.t0);
        w.t0 += d;
        w.t1 += d;
    }
    // Keys act when no text field has focus.
    if !ui.ctx().egui_wants_keyboard_input() {
        if keys[0] {
            w.t0 -= span * 0.15;
            w.t1 -= span * 0.15;
        }
        if keys[1] {
            w.t0 += span * 0.15;
            w.t1 += span * 0.15;
        }
        if keys[2] {
            zoom_by(0.7, w);
        }
        if keys[3] {
            zoom_by(1.0 / 0.7, w);
        }
        if keys[4] {
            *w = TimeWindow { t0: 0.0, t1: n };
        }
    }
    *w = clamp(*w, n);
}

/// A "nice" step (1, 2 or 5 times a power of ten) for about `target` units.
fn nice_step(target: f64) -> f64 {
    let p = 10f64.powf(target.max(1e-9).log10().floor());
    let m = target / p;
    p * if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    }
}

fn grid(painter: &Painter, f: &Frame, dark: bool, left: f32, timed: Option<&[Event]>) {
    let line = if dark {
        Color32::from_gray(0x33)
    } else {
        Color32::from_gray(0xdd)
    };
    let text = if dark {
        Color32::from_gray(0xaa)
    } else {
        Color32::from_gray(0x55)
    };
    let font = egui::FontId::proportional(11.0);
    // Bytes: a power-of-two step for about five lines.
    let step = 2f64.powf((f.ymax / 5.0).max(1.0).log2().ceil());
    let mut v = step;
    while v < f.ymax {
        let y = f.y(v);
        painter.hline(f.rect.x_range(), y, Stroke::new(1.0, line));
        painter.text(
            pos2(left + 4.0, y),
            egui::Align2::LEFT_CENTER,
            short_bytes(v as u64),
            font.clone(),
            text,
        );
        v += step;
    }
    // The horizontal axis: time since the first event where the file has it, else events.
    let (ticks, name) = match timed.and_then(|events| time_ticks(f, events)) {
        Some(ticks) => (ticks, "time"),
        None => (event_ticks(f), "event"),
    };
    for (x, label) in ticks {
        painter.vline(
            x,
            f.rect.y_range(),
            Stroke::new(1.0, line.gamma_multiply(0.6)),
        );
        painter.text(
            pos2(x, f.rect.bottom() + 3.0),
            egui::Align2::CENTER_TOP,
            label,
            font.clone(),
            text,
        );
    }
    painter.text(
        pos2(f.rect.right(), f.rect.bottom() + 3.0),
        egui::Align2::RIGHT_TOP,
        name,
        font,
        text,
    );
}

/// Ticks (x, label) at round event numbers.
fn event_ticks(f: &Frame) -> Vec<(f32, String)> {
    let span = f.w.t1 - f.w.t0;
    let estep = nice_step(span / 8.0).max(1.0);
    let mut e = (f.w.t0 / estep).ceil() * estep;
    let mut out = Vec::new();
    while e <= f.w.t1 {
        let x = f.x(e);
        if x > f.rect.right() - 40.0 {
            break; // room for the axis name
        }
        out.push((x, event_label(e as u64)));
        e += estep;
    }
    out
}

/// Ticks (x, label) in time since the first event, spread evenly over the plot.
///
/// The plot is laid out by event, and a job's time is far from uniform over its events (a
/// real sample spends 6 s on its first 300 events and 0.14 s on the next 2,800), so ticks at
/// evenly spaced times would pile up in a few pixels. Instead, each of about eight evenly
/// spaced positions gets the time there rounded to a step that suits the local pace, and the
/// tick sits at the first event at or after that exact time. `None` when the window spans no
/// time.
fn time_ticks(f: &Frame, events: &[Event]) -> Option<Vec<(f32, String)>> {
    let first = events.first()?;
    let n = events.len();
    let at = |e: f64| (events[(e.max(0.0) as usize).min(n - 1)].time_us - first.time_us) as f64;
    let (t0, t1) = (f.w.t0, f.w.t1);
    if at(t1.ceil() - 1.0) <= at(t0.floor()) {
        return None;
    }
    const TICKS: usize = 8;
    let span = (t1 - t0) / TICKS as f64;
    let mut out: Vec<(f32, String)> = Vec::new();
    for i in 0..=TICKS {
        let e = t0 + span * i as f64;
        // How fast time moves here: over one tick interval around this position.
        let pace = (at(e + span / 2.0) - at(e - span / 2.0)).max(1.0);
        let step = nice_step(pace / 4.0).max(1.0);
        let t = (at(e) / step).round() * step;
        let tick = events.partition_point(|ev| ((ev.time_us - first.time_us) as f64) < t);
        let x = f.x(tick as f64);
        if x < f.rect.left() || x > f.rect.right() - 60.0 {
            continue; // outside, or where the axis name goes
        }
        let label = time_label(t, step);
        if out
            .last()
            .is_some_and(|(lx, ll)| x - lx < 64.0 || *ll == label)
        {
            continue; // times bunch up where the job was fast; keep labels apart
        }
        out.push((x, label));
    }
    Some(out)
}

/// `t` microseconds as a tick label: in the unit of its size (6.065 s, not 6065 ms), with as
/// many decimals as the tick step needs.
fn time_label(t_us: f64, step_us: f64) -> String {
    let big = t_us.abs().max(step_us);
    let (unit, scale) = if big >= 1e6 {
        ("s", 1e6)
    } else if big >= 1e3 {
        ("ms", 1e3)
    } else {
        ("µs", 1.0)
    };
    let decimals = (-(step_us / scale).log10().floor()).max(0.0) as usize;
    format!("{:.*} {unit}", decimals, t_us / scale)
}

fn event_label(e: u64) -> String {
    if e >= 1_000_000 && e.is_multiple_of(100_000) {
        format!("{:.1}M", e as f64 / 1e6)
    } else if e >= 10_000 && e.is_multiple_of(1000) {
        format!("{}k", e / 1000)
    } else {
        e.to_string()
    }
}

fn markers(painter: &Painter, cx: &ViewCtx, f: &Frame, dark: bool) {
    let rect = f.rect;
    let in_view = |e: usize| (e as f64) >= f.w.t0 && (e as f64) <= f.w.t1;
    // Iteration boundaries: ticks under the plot, thinned to at least 4 px apart.
    let mut last_x = f32::NEG_INFINITY;
    let tick = theme::reserved(dark).gamma_multiply(0.5);
    let b = &cx.analysis.iterations.boundaries;
    let from = b.partition_point(|&e| (e as f64) < f.w.t0);
    for &e in &b[from..] {
        if !in_view(e) {
            break;
        }
        let x = f.x(e as f64 + 1.0);
        if x - last_x >= 4.0 {
            painter.vline(
                x,
                (rect.bottom() - 6.0)..=rect.bottom(),
                Stroke::new(1.0, tick),
            );
            last_x = x;
        }
    }
    // Snapshot markers.
    let m = &cx.analysis.markers;
    let from = m.partition_point(|mk| (mk.event as f64) < f.w.t0);
    let mut last_x = f32::NEG_INFINITY;
    for mk in &m[from..] {
        if !in_view(mk.event) {
            break;
        }
        let x = f.x(mk.event as f64 + 0.5);
        if x - last_x >= 3.0 {
            painter.vline(
                x,
                rect.y_range(),
                Stroke::new(1.0, theme::marker(dark).gamma_multiply(0.3)),
            );
            last_x = x;
        }
    }
    // OOMs.
    for o in &cx.analysis.ooms {
        if in_view(o.event) {
            let x = f.x(o.event as f64 + 0.5);
            painter.vline(x, rect.y_range(), Stroke::new(2.0, theme::oom(dark)));
            painter.text(
                pos2(x + 3.0, rect.top() + 2.0),
                egui::Align2::LEFT_TOP,
                format!("OOM {}", short_bytes(o.requested)),
                egui::FontId::proportional(11.0),
                theme::oom(dark),
            );
        }
    }
}

fn legend(ui: &mut Ui, cx: &mut ViewCtx) {
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
    let _ = Pos2::ZERO;
}

#[cfg(test)]
mod tests {
    use super::time_label;

    #[test]
    fn time_labels_use_the_unit_of_their_size_and_the_decimals_of_their_step() {
        assert_eq!(time_label(0.0, 1e6), "0 s");
        assert_eq!(time_label(6_065_000.0, 5_000.0), "6.065 s");
        assert_eq!(time_label(2_500_000.0, 500_000.0), "2.5 s");
        assert_eq!(time_label(120e6, 20e6), "120 s");
        assert_eq!(time_label(250_000.0, 50_000.0), "250 ms");
        assert_eq!(time_label(1_500.0, 100.0), "1.5 ms");
        assert_eq!(time_label(20.0, 10.0), "20 µs");
    }
}
