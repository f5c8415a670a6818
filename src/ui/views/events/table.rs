//! The table of the Events view: a header and the rows in view (`ScrollArea::show_rows`), the
//! cursor's row highlighted and brought into view whenever the cursor moves elsewhere.

use egui::{vec2, Align, Color32, Label, Layout, Rect, RichText, Sense, Ui, UiBuilder};

use crate::analysis::sites;
use crate::model::{Action, Event};
use crate::ui::theme;
use crate::ui::view::{short_bytes, stack_lines, swatch, ViewCtx};

use super::filter::{allocation_of, block_size};
use super::rows::Rows;

const ROW_H: f32 = 20.0;
/// Frames in a row's tooltip.
const HOVER_FRAMES: usize = 24;

/// A column: its title, width (`0`: the rest of the row) and whether it reads from the right
/// (numbers).
struct Column(&'static str, f32, bool);

const COLUMNS: [Column; 7] = [
    Column("#", 80.0, true),
    Column("time (s)", 96.0, true),
    Column("action", 120.0, false),
    Column("size", 90.0, true),
    Column("address", 140.0, false),
    Column("stream", 72.0, false),
    Column("top frame (your code)", 0.0, false),
];
const GAP: f32 = 12.0;

/// What the table keeps between frames to bring a row into view.
#[derive(Default)]
pub struct Table {
    /// The (epoch, cursor) the table last showed: a cursor that differs moved elsewhere (a
    /// click in another view, a key) and its row is scrolled into view.
    shown: Option<(u64, usize)>,
    /// The list's scroll offset and height last frame.
    offset: f32,
    height: f32,
    stride: f32,
}

impl Table {
    /// Rows that fit in the list's height (what PageUp/PageDown move by).
    pub fn page_rows(&self) -> usize {
        if self.stride > 0.0 {
            ((self.height / self.stride) as usize)
                .saturating_sub(1)
                .max(1)
        } else {
            20
        }
    }

    pub fn show(&mut self, ui: &mut Ui, cx: &mut ViewCtx, rows: &Rows) {
        let Some(events) = cx
            .loaded
            .snap
            .trace(cx.analysis.device)
            .map(|t| &t.events[..])
        else {
            return;
        };
        header(ui);
        self.stride = ROW_H + ui.spacing().item_spacing.y;
        self.height = ui.available_height();
        let mut area = egui::ScrollArea::vertical()
            .id_salt("events")
            .auto_shrink([false, false]);
        let cursor = (cx.focus.epoch, cx.focus.cursor);
        if self.shown != Some(cursor) {
            if let Some(offset) = self.reveal(rows, cursor.1) {
                area = area.vertical_scroll_offset(offset);
            }
        }
        let first_time = events.first().map_or(0, |e| e.time_us);
        let out = area.show_rows(ui, ROW_H, rows.len(), |ui, range| {
            for row in range {
                let Some((e, ev)) = rows.event(row).and_then(|e| Some((e, events.get(e)?))) else {
                    continue;
                };
                event_row(ui, cx, e, ev, row, first_time);
            }
        });
        self.offset = out.state.clamped_offset().y;
        // A click above moved the cursor to a row already in view: nothing to scroll.
        self.shown = Some((cx.focus.epoch, cx.focus.cursor));
    }

    /// The scroll offset that brings the cursor's row (or the first listed after it) into
    /// view: the least scroll for a row just outside, the row centred for one further away;
    /// `None` when it is in view.
    fn reveal(&self, rows: &Rows, cursor: usize) -> Option<f32> {
        let row = match rows.position(cursor) {
            Ok(r) | Err(r) => r.min(rows.len().checked_sub(1)?),
        };
        let top = row as f32 * self.stride;
        let bottom = top + self.stride;
        let (lo, hi) = (self.offset, self.offset + self.height);
        if top >= lo && bottom <= hi {
            None
        } else if top >= lo - self.height && bottom <= hi + self.height {
            Some(if top < lo { top } else { bottom - self.height }.max(0.0))
        } else {
            Some((top - self.height / 2.0).max(0.0))
        }
    }
}

/// The column cells of a row `rect`, left to right. In a narrow panel the fixed columns
/// shrink (their text is cut, whole in the row's tooltip) so that the row keeps to the panel.
fn cells(rect: Rect) -> impl Iterator<Item = (Rect, &'static Column)> {
    let mut x = rect.left() + 4.0;
    let scale = fixed_scale(rect.width());
    COLUMNS.iter().map(move |c| {
        let w = if c.1 > 0.0 {
            c.1 * scale
        } else {
            (rect.right() - x).max(LAST_MIN)
        };
        let cell = Rect::from_min_size(egui::pos2(x, rect.top()), vec2(w, rect.height()));
        x += w + GAP;
        (cell, c)
    })
}

/// The share of their widths the fixed columns get in a row `width` wide: all of it where
/// the last column keeps [`LAST_MIN`].
fn fixed_scale(width: f32) -> f32 {
    let fixed: f32 = COLUMNS.iter().map(|c| c.1).sum();
    let room = width - 4.0 - GAP * COLUMNS.len() as f32 - LAST_MIN;
    (room / fixed).clamp(0.4, 1.0)
}

/// The narrowest the last column (the top frame) gets.
const LAST_MIN: f32 = 40.0;

/// Text in a cell, cut to its width.
fn cell(ui: &mut Ui, rect: Rect, right: bool, text: RichText) {
    let layout = if right {
        Layout::right_to_left(Align::Center)
    } else {
        Layout::left_to_right(Align::Center)
    };
    ui.scope_builder(UiBuilder::new().max_rect(rect).layout(layout), |ui| {
        ui.add(Label::new(text).selectable(false).truncate());
    });
}

fn header(ui: &mut Ui) {
    let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), ROW_H), Sense::hover());
    for (r, c) in cells(rect) {
        cell(ui, r, c.2, RichText::new(c.0).strong());
    }
    ui.separator();
}

/// One event: a click moves the cursor to it and selects its allocation.
fn event_row(ui: &mut Ui, cx: &mut ViewCtx, e: usize, ev: &Event, row: usize, first_time: i64) {
    let dark = cx.dark();
    let (rect, resp) = ui.allocate_exact_size(vec2(ui.available_width(), ROW_H), Sense::click());
    let bg = if e == cx.focus.cursor {
        theme::accent(dark).gamma_multiply(0.35)
    } else if resp.hovered() {
        ui.visuals().widgets.hovered.weak_bg_fill
    } else if row % 2 == 1 {
        ui.visuals().faint_bg_color
    } else {
        Color32::TRANSPARENT
    };
    ui.painter().rect_filled(rect, 2.0, bg);
    let site = event_site(cx, e, ev);
    let action = match ev.action {
        Action::Other(id) => cx.loaded.snap.frames.strings.get(id).to_string(),
        a => a.name().unwrap_or_default().to_string(),
    };
    // Events of allocations the filter bar leaves out (stream, pool, min size, frames) are
    // dimmed, as Segments dims their blocks: listed, so the history stays whole.
    let dim = match allocation_of(cx.analysis, e) {
        Some(k) => !cx.lod.keeps(k as usize),
        None => false,
    };
    let mono = |s: String| {
        let t = RichText::new(s).monospace();
        if dim {
            t.weak()
        } else {
            t
        }
    };
    let texts = [
        mono(e.to_string()),
        mono(relative_time(first_time, ev.time_us)),
        if ev.action == Action::Oom {
            mono(action).color(theme::oom(dark))
        } else {
            mono(action)
        },
        mono(if ev.size != 0 {
            short_bytes(ev.size)
        } else {
            String::new()
        }),
        mono(if ev.addr != 0 {
            format!("{:#x}", ev.addr)
        } else {
            String::new()
        }),
        mono(cx.data.stream_name(ev.stream)),
        mono(frame_label(cx, site, ev)),
    ];
    for ((r, c), text) in cells(rect).zip(texts) {
        if c.1 == 0.0 {
            if let Some(s) = site {
                let mut sw = r;
                sw.set_width(14.0);
                ui.scope_builder(
                    UiBuilder::new()
                        .max_rect(sw)
                        .layout(Layout::left_to_right(Align::Center)),
                    |ui| {
                        swatch(ui, cx.site_color(s));
                    },
                );
            }
            cell(
                ui,
                Rect::from_min_max(r.min + vec2(16.0, 0.0), r.max),
                c.2,
                text,
            );
        } else {
            cell(ui, r, c.2, text);
        }
    }
    if resp.clicked() {
        go_to(cx, e);
    }
    resp.on_hover_ui(|ui| {
        ui.label(RichText::new(format!("event {e}: click to move the time cursor here")).strong());
        if let Some(b) = block_size(cx.analysis, e).filter(|&b| b != ev.size) {
            ui.label(format!(
                "{} block for {} requested",
                short_bytes(b),
                short_bytes(ev.size)
            ));
        }
        ui.label(format!("CUDA stream handle {:#x}", ev.stream));
        ui.separator();
        stack_lines(ui, cx, ev.stack, HOVER_FRAMES);
    });
}

/// Moves the time cursor to event `e` and selects what it concerns: its allocation and call
/// site, or the call site of its stack (a segment or OOM event has no allocation).
pub fn go_to(cx: &mut ViewCtx, e: usize) {
    cx.focus.move_cursor(e);
    let d = cx.analysis;
    let Some(ev) = cx.loaded.snap.trace(d.device).and_then(|t| t.events.get(e)) else {
        return;
    };
    let site = event_site(cx, e, ev);
    match allocation_of(d, e) {
        Some(k) => {
            cx.focus.selection.allocation = Some(k);
            cx.focus.selection.site = site;
        }
        _ if site.is_some() => cx.focus.select_site(site),
        _ => {}
    }
}

/// The call site of event `e`, as the analysis found it: its allocation's, or that of a stack
/// some allocation shares.
fn event_site(cx: &ViewCtx, e: usize, ev: &Event) -> Option<u32> {
    let d = cx.analysis;
    match allocation_of(d, e) {
        Some(k) => d.allocation_site.get(k as usize).copied(),
        // An event recorded without a stack (a `snapshot` marker) has no line to name.
        _ if cx.loaded.snap.stacks.get(ev.stack).is_empty() => None,
        _ => d.sites.site_of_stack(ev.stack),
    }
}

/// `workloads.py:158 forward`: the user's line behind the event; for a stack no allocation
/// shares (a segment event's), the same rule applied to its stack; empty without a stack.
fn frame_label(cx: &ViewCtx, site: Option<u32>, ev: &Event) -> String {
    let snap = &cx.loaded.snap;
    match site.and_then(|s| cx.analysis.sites.get(s)) {
        Some(s) => format!("{}  {}", s.short_label(), s.function),
        None if snap.stacks.get(ev.stack).is_empty() => String::new(),
        None => {
            let s = sites::site_of_stack(snap, ev.stack);
            format!("{}  {}", s.short_label(), s.function)
        }
    }
}

/// Seconds since the first event, to the microsecond; empty when the file has no times.
fn relative_time(first: i64, t: i64) -> String {
    if first == 0 || t == 0 {
        String::new()
    } else {
        format!("{:.6}", (t - first) as f64 / 1e6)
    }
}
