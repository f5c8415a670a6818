//! The memory timeline: allocated memory as stacked bands over events, `reserved` as a line
//! above, markers, OOMs and iteration boundaries on the time axis.
//!
//! Drawing costs about one quad per band per pixel column whatever the trace length (see
//! [`crate::ui::lod`]). Per-allocation bands are drawn only when the visible window holds few
//! enough live allocations to stay within the frame budget; otherwise the view says so and
//! draws bands by call site.
//!
//! On the wall-clock axis (`Axis::WallClock`) x is linear in time instead: the window is in
//! microseconds since the first event, and each column shows the events of its time range
//! (`clock.rs`), found by binary search.
//!
//! Coloured by the call tree's groups (`Focus::group`), or with a call tree node picked, the
//! bands are the groups, or the pick at the bottom and the rest dimmed (`groups.rs`).

mod axis;
mod bands;
mod clock;
mod frame;
mod groups;
mod legend;

use egui::{epaint::Mesh, pos2, vec2, Color32, Key, Rect, RichText, Sense, Shape, Stroke, Ui};

use crate::analysis::oom::Category;
use crate::analysis::NONE;
use crate::ui::focus::{ColorBy, GroupBy};
use crate::ui::lod::Lod;
use crate::ui::theme;
use crate::ui::view::{stack_lines, text_width, View, ViewCtx};
use crate::units;

use axis::{grid, markers, Ticks};
use bands::{quad, shade, AllocBands};
pub use clock::Clock;
pub use frame::{Frame, TimeWindow};
use groups::{pick_group, Banded, GroupBands};
use legend::legend;

/// Frames of the stack shown when hovering a band (MemoryViz shows them all; a tooltip taller
/// than the window helps nobody).
const HOVER_FRAMES: usize = 24;
/// Smallest visible window, in events (or microseconds on the wall clock).
const MIN_SPAN: f64 = 8.0;
/// The chart's height at least (with its axes), however tall the legend below it.
const MIN_PLOT_H: f32 = 120.0;
/// The legend's height before it was first measured: two lines.
const LEGEND_H: f32 = 64.0;
/// What the mouse and keys do, at the end of the toolbar.
const HINT: &str = "wheel: zoom   drag / shift+wheel / arrows: pan   click: select";

/// How the timeline draws its bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bands {
    /// One band per call site (the top sites, then "other").
    #[default]
    BySite,
    /// One band per allocation, stacked in allocation order (when zoomed in enough).
    ByAllocation,
}

/// How the horizontal axis is laid out and labelled. `Time` and `Events` lay the plot out by
/// event (one column per event is what keeps bursts of allocations readable); with `Time`,
/// the ticks sit at round times since the first event. `WallClock` lays it out linearly in
/// time, so pauses keep their length and a burst opens up as one zooms into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Axis {
    #[default]
    Time,
    Events,
    WallClock,
}

/// The timeline's own options and zoom.
pub struct TimelineView {
    pub bands: Bands,
    pub axis: Axis,
    /// `None` until the timeline is first shown (then the whole trace).
    pub window: Option<TimeWindow>,
    /// The focus epoch the window belongs to (another device starts at the whole trace).
    epoch: u64,
    /// Bands by the call tree's groups, or with the call tree's pick: built on a worker.
    grouped: GroupBands,
    /// Where the plot was last drawn (for a test or a script to aim at times).
    pub plot_rect: Option<Rect>,
    /// The height the legend took last frame, its entries wrapped to the panel's width.
    legend_h: f32,
}

impl Default for TimelineView {
    fn default() -> Self {
        TimelineView {
            bands: Bands::default(),
            axis: Axis::default(),
            window: None,
            epoch: 0,
            grouped: GroupBands::default(),
            plot_rect: None,
            legend_h: LEGEND_H,
        }
    }
}

impl TimelineView {
    /// Whether bands are being built (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.grouped.busy()
    }

    /// The trace's times when the wall-clock axis is on (and the file has usable times).
    fn clock<'a>(&self, cx: &ViewCtx<'a, '_>) -> Option<Clock<'a>> {
        times(cx).filter(|_| self.axis == Axis::WallClock)
    }
}

/// The trace's times, where the file has usable ones.
fn times<'a>(cx: &ViewCtx<'a, '_>) -> Option<Clock<'a>> {
    if !cx.data.timed {
        return None;
    }
    Clock::new(&cx.loaded.snap.trace(cx.analysis.device)?.events)
}

impl View for TimelineView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let n = cx.analysis.events;
        if n == 0 {
            ui.label("This device has no trace events (the file holds segments only).");
            return;
        }
        if cx.focus.filtered.lod.is_none() && cx.data.lod.get().is_none() {
            // The file opened before its pyramid was built (see `data::Pyramid`).
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Building the timeline…");
            });
            return;
        }
        if self.epoch != cx.focus.epoch {
            self.epoch = cx.focus.epoch;
            self.window = None;
        }
        let clock = self.clock(cx);
        // A link or button moved the cursor: bring it into view, keeping the zoom.
        if std::mem::take(&mut cx.focus.reveal_cursor) {
            if let Some(w) = self.window.as_mut() {
                let span = w.t1 - w.t0;
                let e = clock.map_or(cx.focus.cursor as f64, |c| c.time(cx.focus.cursor));
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
        // The legend gets the height it took last frame (its entries wrap onto more lines in
        // a narrow window); the chart the rest, at least MIN_PLOT_H. When the legend's height
        // changes, the frame is laid out again so that neither is cut for a frame.
        let avail = ui.available_size();
        let size = vec2(avail.x, (avail.y - self.legend_h).max(MIN_PLOT_H));
        let banded = self.grouped.current(cx);
        plot(ui, cx, self, size, banded.as_deref());
        let room = ui.available_height();
        let busy = self.grouped.busy();
        let out = egui::ScrollArea::vertical()
            .id_salt("timeline-legend")
            .max_height(room)
            .auto_shrink([false, true])
            .show(ui, |ui| legend(ui, cx, banded.as_deref(), busy));
        let need = out.content_size.y + ui.spacing().item_spacing.y;
        if (need - self.legend_h).abs() > 0.5 {
            self.legend_h = need;
            ui.ctx()
                .request_discard("the timeline legend changed height");
        }
    }
}

fn toolbar(ui: &mut Ui, cx: &mut ViewCtx, view: &mut TimelineView) {
    ui.horizontal_wrapped(|ui| {
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
        // The call tree's groups: choosing one here groups the call tree by it too.
        for g in [
            GroupBy::Annotation,
            GroupBy::CompileContext,
            GroupBy::Categories,
        ] {
            let on = cx.focus.color_by == ColorBy::Group && cx.focus.group == g;
            if ui
                .selectable_label(on, g.label())
                .on_hover_text(format!(
                    "{}; the same groups as the Call tree's Group by",
                    g.tooltip()
                ))
                .clicked()
            {
                cx.focus.set_group(g);
            }
        }
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
            ui.selectable_value(&mut view.axis, Axis::WallClock, "wall clock")
                .on_hover_text(
                    "Linear in time: pauses keep their length, bursts open up as you zoom in",
                );
            ui.separator();
        }
        if ui
            .button("Fit")
            .on_hover_text("Show the whole trace (Home)")
            .clicked()
        {
            view.window = None;
        }
        // The hint stays one line: on the next row when the rest of this one is too short
        // for it, cut with "..." (whole on hover) when even a row is.
        let hint = RichText::new(HINT).weak().small();
        if ui.available_width() < text_width(ui, hint.clone()) {
            ui.end_row();
        }
        ui.add(egui::Label::new(hint).truncate());
    });
}

/// Visible window, clamped to the trace, in the units of the axis (a window from the other
/// layout is converted, so switching axes keeps the same stretch of the trace in view).
fn window(cx: &ViewCtx, view: &TimelineView, clock: Option<Clock>) -> TimeWindow {
    let n = cx.analysis.events;
    let total = clock.map_or(n as f64, |c| c.span());
    let whole = TimeWindow {
        t0: 0.0,
        t1: total,
        wall: clock.is_some(),
    };
    let w = match (view.window, clock) {
        (None, _) => whole,
        (Some(w), Some(c)) if !w.wall => TimeWindow {
            t0: c.time(w.t0.max(0.0) as usize),
            t1: c.time(w.t1.ceil().max(0.0) as usize),
            wall: true,
        },
        (Some(w), None) if w.wall => match times(cx) {
            Some(c) => to_events(w, c),
            None => whole,
        },
        (Some(w), _) => w,
    };
    clamp(w, total)
}

/// The window `w` on the event layout, for a window on the wall clock.
fn to_events(w: TimeWindow, c: Clock) -> TimeWindow {
    let (a, b) = c.events_in(w.t0, w.t1);
    TimeWindow {
        t0: a as f64,
        t1: b as f64,
        wall: false,
    }
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

/// The plot's pixel columns: their edges (window positions), the events each shows and, as
/// its sample, the event where the filtered allocated total peaks among them (so no spike
/// vanishes when zoomed out).
struct Columns {
    edges: Vec<f64>,
    ranges: Vec<(usize, usize)>,
    events: Vec<usize>,
}

/// About one column per pixel (at most one per event on the event layout).
fn columns(cx: &ViewCtx, f: &Frame) -> Columns {
    let n = cx.analysis.events;
    let w = f.w;
    let span = w.t1 - w.t0;
    let mut cols = f.rect.width().max(1.0) as usize;
    if f.clock.is_none() {
        cols = cols.min(span.ceil() as usize);
    }
    let cols = cols.max(1);
    let step = span / cols as f64;
    let edges: Vec<f64> = (0..=cols).map(|c| w.t0 + c as f64 * step).collect();
    let ranges: Vec<(usize, usize)> = edges
        .windows(2)
        .map(|e| f.events_in(e[0], e[1], n))
        .collect();
    let events = ranges
        .iter()
        .map(|&(a, b)| cx.lod.total_max.argmax(&cx.lod.total, a, b))
        .collect();
    Columns {
        edges,
        ranges,
        events,
    }
}

fn plot(
    ui: &mut Ui,
    cx: &mut ViewCtx,
    view: &mut TimelineView,
    size: egui::Vec2,
    banded: Option<&Banded>,
) {
    let dark = cx.dark();
    let (resp, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    let axis_left = 72.0;
    let axis_bottom = 22.0;
    let rect = Rect::from_min_max(
        resp.rect.min + vec2(axis_left, 8.0),
        resp.rect.max - vec2(8.0, axis_bottom),
    );
    let n = cx.analysis.events;
    view.plot_rect = Some(rect);
    let clock = view.clock(cx);
    let mut w = window(cx, view, clock);
    interact(
        ui,
        &resp,
        rect,
        &mut w,
        clock.map_or(n as f64, |c| c.span()),
    );
    view.window = Some(w);

    let s = &cx.analysis.replay.series;
    let mut f = Frame {
        rect,
        w,
        ymax: 1.0,
        clock,
    };
    let Columns {
        edges,
        ranges,
        events,
    } = columns(cx, &f);
    let (a0, a1) = f.visible(n);
    let res_peak = s.reserved[cx.lod.reserved_max.argmax(&s.reserved, a0, a1)];
    let tot_peak = cx.lod.total[cx.lod.total_max.argmax(&cx.lod.total, a0, a1)];
    f.ymax = (res_peak.max(tot_peak).max(1) as f64) * 1.06;

    painter.rect_filled(rect, 0.0, theme::plot_background(dark));
    let ticks = match view.axis {
        Axis::Time => times(cx).map(Ticks::TimeOnEvents),
        Axis::WallClock if clock.is_some() => Some(Ticks::WallClock),
        _ => None,
    };
    grid(&painter, &f, dark, resp.rect.left(), ticks);

    // Bands.
    let mut mesh = Mesh::default();
    let want_alloc = view.bands == Bands::ByAllocation;
    let mut alloc_layout: Option<AllocBands> = None;
    if want_alloc {
        alloc_layout = AllocBands::build(cx, &events, (a0, a1));
    }
    let sel_site = cx.focus.selection.site;
    let picked = cx.focus.selection.picked.clone();
    // A pick (a call tree node) lights its own allocations; else a call site lights its.
    let lit = |k: Option<u32>, site: Option<u32>| match (&picked, sel_site) {
        (Some(p), _) => k.is_some_and(|k| p.contains(k)),
        (None, Some(s)) => site == Some(s),
        (None, None) => true,
    };
    let dim = |c: Color32, on: bool| if on { c } else { c.gamma_multiply(0.35) };
    // The bands in use: by group or with the pick once built, else by call site.
    let lod: &Lod = banded.map_or(cx.lod, |b| &b.lod);
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
                let group = banded
                    .and_then(|b| b.groups.as_ref())
                    .and_then(|g| g.labels.get(*g.of.get(k as usize)? as usize));
                let mut color = match (group, site) {
                    (Some(name), _) => theme::group_color(name, dark),
                    (None, Some(s)) => cx.site_color(s),
                    (None, None) => theme::other(dark),
                };
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
                    dim(color, lit(Some(k), site)),
                );
            }
        }
    } else {
        let g = lod.groups.len();
        let rows = lod.sample(&events);
        let colors: Vec<Color32> = lod
            .groups
            .iter()
            .map(|gr| match (banded, gr.site) {
                (Some(b), key) => b.color(cx, key),
                (None, Some(site)) => dim(cx.site_color(site), lit(None, Some(site))),
                (None, None) => dim(theme::other(dark), sel_site.is_none()),
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
    for (c, &(a, b)) in ranges.iter().enumerate() {
        let r = s.reserved[cx.lod.reserved_max.argmax(&s.reserved, a, b)];
        let y = f.y(r as f64);
        pts.push(pos2(f.x(edges[c]), y));
        pts.push(pos2(f.x(edges[c + 1]), y));
    }
    painter.add(Shape::line(pts, Stroke::new(1.5, theme::reserved(dark))));

    markers(&painter, cx, &f, dark);

    // Cursor.
    let cx_x = f.x_event(cx.focus.cursor as f64 + 0.5);
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
                let g = lod.groups.len();
                let mut acc = 0u64;
                let mut found = None;
                for gi in 0..g {
                    let v = rows[c * g + gi];
                    if (acc as f64) <= bytes && bytes < (acc + v) as f64 {
                        found = Some(Hit::Band(lod.groups[gi].site, v));
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
            .on_hover_ui_at_pointer(|ui| hover_text(ui, cx, banded, t, hit));
        if resp.clicked() {
            // The click goes to the event the hover names, on either axis: the column's sample,
            // whose state is the one drawn under the pointer and the one the band or block
            // under it was found in. (On the wall clock the event in force at the exact time
            // would differ from it inside a column of many events, naming one event on hover
            // and moving the cursor to another.)
            cx.focus.cursor = t;
            match hit {
                Some(Hit::Allocation(k)) => {
                    let site = cx.analysis.allocation_site.get(k as usize).copied();
                    cx.focus.select_allocation(k, site);
                }
                Some(Hit::Band(key, _)) => match banded {
                    // The pick's own band: it stays picked.
                    Some(b) if key.is_some() && key == b.pinned => {}
                    Some(b) => match key.and_then(|k| b.group_name(k).map(|n| (k, n))) {
                        Some((k, name)) => pick_group(cx, b, k, name, t),
                        None => cx.focus.select_site(b.site(key)),
                    },
                    None => cx.focus.select_site(key),
                },
                None => cx.focus.select_site(None),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Hit {
    Allocation(u32),
    /// A band (its key: a call site, a group, the pick; `None`: other) and its bytes.
    Band(Option<u32>, u64),
}

fn hover_text(ui: &mut Ui, cx: &ViewCtx, banded: Option<&Banded>, t: usize, hit: Option<Hit>) {
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
        Some(Hit::Band(key, v)) => {
            let site = banded.map_or(key, |b| b.site(key));
            let group = banded.and_then(|b| Some((b, key?))).and_then(|(b, k)| {
                if Some(k) == b.pinned {
                    let p = b.picked.as_ref()?;
                    Some(format!("picked: {}", p.path.join(" > ")))
                } else {
                    b.group_name(k)
                        .map(|n| format!("{}: {n}", cx.focus.group.label()))
                }
            });
            let label = match (group, site) {
                (Some(g), _) => g,
                (None, Some(site)) => {
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
                (None, None) => "the rest".to_string(),
            };
            ui.label(RichText::new(label).monospace());
            ui.label(format!("{} allocated here", units::bytes(v)));
            if let Some(s) = site {
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

/// Zoom and pan `w` over a trace `n` positions long (events, or microseconds).
fn interact(ui: &Ui, resp: &egui::Response, rect: Rect, w: &mut TimeWindow, n: f64) {
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
            w.t0 = 0.0;
            w.t1 = n;
        }
    }
    *w = clamp(*w, n);
}
