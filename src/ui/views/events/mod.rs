//! Events: every trace event of the device in a table (PyTorch's memory_viz calls it the
//! allocator state history), synced with the time cursor both ways, filtered by action, size
//! range, address (the events whose block or segment holds it) and text in the stack, and
//! stepped with the keyboard.
//!
//! The table draws only the rows in view, so a million events scroll like ten. A filter over
//! a large trace runs on a worker ([`Job`]) and only when the filter changes.

pub mod filter;
pub mod rows;
mod table;

use std::sync::Arc;

use egui::{RichText, TextEdit, Ui};

use crate::model::Action;
use crate::ui::job::{Job, Pending};
use crate::ui::theme;
use crate::ui::view::{View, ViewCtx};

use filter::{EventFilter, ACTIONS};
use rows::{Rows, Step};

/// Above this many events a filter runs on a worker; below, at once (a few milliseconds).
const INLINE_EVENTS: usize = 200_000;

/// What a filtered list depends on: the focus epoch (the device and its analysis) and the
/// filter.
type RowsKey = (u64, EventFilter);

/// The Events view's filter fields as typed, and the list they give.
#[derive(Default)]
pub struct EventsView {
    pub action: Option<Action>,
    /// Size bounds as typed (`1.5 MiB`, `4096`, `2GB`).
    pub min_size: String,
    pub max_size: String,
    /// An address in hex: the events whose block or segment holds it.
    pub address: String,
    /// Text in a frame of the event's stack: file, `file:line` or function.
    pub text: String,
    /// Set by the "Find address or size" command: the address field takes the keyboard.
    focus_address: bool,
    rows: Option<(RowsKey, Rows)>,
    job: Pending<RowsKey, Vec<u32>>,
    table: table::Table,
}

impl View for EventsView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        self.show(ui, cx);
    }
}

impl EventsView {
    /// Puts the keyboard in the address field the next time the view draws.
    pub fn find(&mut self) {
        self.focus_address = true;
    }

    /// Whether a filter is running on a worker.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// The events listed now (`None` while a filter is running).
    pub fn rows(&self) -> Option<&Rows> {
        if self.job.busy() {
            return None;
        }
        self.rows.as_ref().map(|(_, r)| r)
    }

    fn show(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let n = cx.analysis.events;
        if n == 0 {
            ui.label(
                "This device has no trace events (a PyTorch 2.0 file, or one dumped with \
                 history recording off): there is no event to list.",
            );
            return;
        }
        let filter = self.filter_bar(ui);
        let key = (cx.focus.epoch, filter);
        self.refresh(cx, &key);
        self.poll();
        let Some(rows) = self
            .rows
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, r)| r.clone())
        else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Filtering {} events...", n));
            });
            return;
        };
        ui.label(RichText::new(format!("{} of {} events", rows.len(), n)).strong());
        if rows.is_empty() {
            ui.add_space(8.0);
            ui.label(
                "No event matches these filters. An address matches the events whose block or \
                 segment holds it; sizes are the sizes in the trace (requested bytes for blocks).",
            );
            return;
        }
        self.keys(ui, cx, &rows);
        self.table.show(ui, cx, &rows);
    }

    /// The filter fields; what they say, parsed (a field that does not parse is left out and
    /// says why beside it).
    fn filter_bar(&mut self, ui: &mut Ui) -> EventFilter {
        let dark = ui.visuals().dark_mode;
        let mut errors = Vec::new();
        let mut f = EventFilter::default();
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("action");
            egui::ComboBox::from_id_salt("events-action")
                .width(120.0)
                .selected_text(self.action.and_then(Action::name).unwrap_or("all"))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.action, None, "all");
                    for a in ACTIONS {
                        ui.selectable_value(&mut self.action, Some(a), a.name().unwrap_or(""));
                    }
                })
                .response
                .labelled_by(label.id);
            f.action = self.action;
            ui.label("size");
            ui.add(
                TextEdit::singleline(&mut self.min_size)
                    .hint_text("1.5 MiB")
                    .desired_width(80.0),
            )
            .on_hover_text("Smallest size listed: 4096, 1.5 MiB, 2GB");
            ui.label("to");
            ui.add(
                TextEdit::singleline(&mut self.max_size)
                    .hint_text("2GB")
                    .desired_width(80.0),
            )
            .on_hover_text("Largest size listed");
            let mut bound = |text: &str, none: u64| match filter::parse_size_bound(text) {
                Ok(v) => v.unwrap_or(none),
                Err(e) => {
                    errors.push(e);
                    none
                }
            };
            f.sizes = bound(&self.min_size, 0)..=bound(&self.max_size, u64::MAX);
            ui.label("address");
            let resp = ui
                .add(
                    TextEdit::singleline(&mut self.address)
                        .hint_text("0x7f3a00000000")
                        .desired_width(150.0),
                )
                .on_hover_text("The events whose block or segment holds this address");
            if std::mem::take(&mut self.focus_address) {
                resp.request_focus();
            }
            match filter::parse_address(&self.address) {
                Ok(v) => f.address = v,
                Err(e) => errors.push(e),
            }
            ui.add(
                TextEdit::singleline(&mut self.text)
                    .hint_text("frame: file:line or function")
                    .desired_width(200.0),
            );
            f.text = self.text.trim().to_lowercase();
            if !f.is_empty() && ui.small_button("clear").clicked() {
                self.clear();
                f = EventFilter::default();
                errors.clear();
            }
        });
        for e in errors {
            ui.label(RichText::new(e).color(theme::oom(dark)).small());
        }
        f
    }

    fn clear(&mut self) {
        self.action = None;
        self.min_size.clear();
        self.max_size.clear();
        self.address.clear();
        self.text.clear();
    }

    /// Builds the list for `key` unless it is built or being built: at once for a small trace,
    /// on a worker for a large one.
    fn refresh(&mut self, cx: &ViewCtx, key: &RowsKey) {
        if self.rows.as_ref().is_some_and(|(k, _)| k == key) || self.job.is_for(key) {
            return;
        }
        self.job.clear();
        let n = cx.analysis.events;
        if key.1.is_empty() {
            self.rows = Some((key.clone(), Rows::All(n)));
            return;
        }
        if n <= INLINE_EVENTS {
            let v = filter::matching(&cx.loaded.snap, cx.analysis, &key.1, &|| false);
            self.rows = Some((key.clone(), Rows::Some(Arc::new(v))));
            return;
        }
        let snap = cx.loaded.snap.clone();
        let analysis = cx.loaded.analysis.clone();
        let index = cx.data.index;
        let f = key.1.clone();
        let job = Job::spawn(
            "memsight-events",
            cx.env.repaint.clone(),
            move |w| match analysis.devices.get(index) {
                Some(d) => filter::matching(&snap, d, &f, &|| w.is_cancelled()),
                None => Vec::new(),
            },
        );
        self.job.start(key.clone(), job);
    }

    fn poll(&mut self) {
        if let Some((key, Ok(v))) = self.job.take() {
            self.rows = Some((key, Rows::Some(Arc::new(v))));
        }
    }

    /// Up/Down, PageUp/PageDown, Home/End step the cursor through the listed events (not
    /// while a text field has the keyboard).
    fn keys(&mut self, ui: &Ui, cx: &mut ViewCtx, rows: &Rows) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let pressed = ui.input_mut(|i| {
            Step::KEYS
                .into_iter()
                .find(|&(k, _)| i.consume_key(egui::Modifiers::NONE, k))
                .map(|(_, s)| s)
        });
        let page = self.table.page_rows();
        if let Some(row) = pressed.and_then(|s| rows::step(rows, cx.focus.cursor, s, page)) {
            if let Some(e) = rows.event(row) {
                table::go_to(cx, e);
            }
        }
    }
}
