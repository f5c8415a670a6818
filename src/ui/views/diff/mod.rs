//! Diff: two moments compared call site by call site, as `memsight diff` does. Side A is this
//! file at a moment of its trace (start, peak, end, the cursor, a marker, an iteration, an
//! OOM); side B is another moment of the same trace or another open file. The numbers are
//! [`crate::analysis::diff`]'s, so the view and the CLI can never disagree.

pub mod model;
mod table;

use std::sync::Arc;

use egui::{RichText, Ui};

use crate::analysis::point::Point;
use crate::analysis::{Analysis, DeviceAnalysis};

use crate::ui::job::{Job, Pending};
use crate::ui::theme;
use crate::ui::view::{section, View, ViewCtx};

pub use model::{Pick, Table};

/// Above this many allocations (both sides together) the table is computed on a worker
/// thread: the comparison walks every allocation, tens of milliseconds on large traces.
const INLINE_ALLOCATIONS: usize = 200_000;

/// What a table was computed from; when it changes, the table is computed again (never per
/// frame).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    epoch: u64,
    device: usize,
    a: Point,
    /// The other file's analysis (its address: a new analysis is another table), or `None`.
    other: Option<usize>,
    b_device: usize,
    b: Point,
}

/// The Diff view of one tab: the two moments picked and the comparison of them.
pub struct DiffView {
    pub a: Pick,
    pub b: Pick,
    /// The open file on side B, by its tab's name; `None`: this file (two moments of it).
    pub other: Option<String>,
    /// The epoch the picks were made for: another device or a new analysis picks again.
    picked_for: Option<u64>,
    key: Option<Key>,
    job: Pending<(), Result<Table, String>>,
    table: Option<Result<Arc<Table>, String>>,
}

impl Default for DiffView {
    fn default() -> Self {
        DiffView {
            a: Pick::Start,
            b: Pick::Peak,
            other: None,
            picked_for: None,
            key: None,
            job: Pending::default(),
            table: None,
        }
    }
}

/// Side B as resolved this frame.
struct SideB {
    analysis: Arc<Analysis>,
    /// Index into `analysis.devices`.
    index: usize,
    name: String,
    /// The address of `analysis` when it is another file's.
    other: Option<usize>,
}

impl SideB {
    fn device(&self) -> Option<&DeviceAnalysis> {
        self.analysis.devices.get(self.index)
    }
}

impl DiffView {
    /// Whether a comparison is being computed (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// The last comparison, when it succeeded.
    pub fn table(&self) -> Option<&Table> {
        match &self.table {
            Some(Ok(t)) => Some(t),
            _ => None,
        }
    }

    /// Side B: this file, or the open file named `self.other` on the device of A's number
    /// (else its first device, as `memsight diff` picks). `None` when that file has no device.
    fn side_b(&self, cx: &ViewCtx) -> Option<SideB> {
        let Some(name) = &self.other else {
            return Some(SideB {
                analysis: cx.loaded.analysis.clone(),
                index: cx.data.index,
                name: "B".into(),
                other: None,
            });
        };
        let f = cx.env.others.iter().find(|f| &f.name == name)?;
        let devices = &f.analysis.devices;
        let index = devices
            .iter()
            .position(|d| d.device == cx.analysis.device)
            .or((!devices.is_empty()).then_some(0))?;
        Some(SideB {
            analysis: f.analysis.clone(),
            index,
            name: f.name.clone(),
            other: Some(Arc::as_ptr(&f.analysis) as usize),
        })
    }

    /// Computes the table again when what it is computed from changed: here for small traces,
    /// on a worker for large ones.
    fn refresh(&mut self, cx: &ViewCtx, b: &SideB) {
        let Some(bd) = b.device() else {
            return;
        };
        let cursor = cx.focus.cursor;
        let key = Key {
            epoch: cx.focus.epoch,
            device: cx.data.index,
            a: self.a.point(cursor),
            other: b.other,
            b_device: b.index,
            b: self.b.point(cursor),
        };
        if self.key.as_ref() == Some(&key) {
            return;
        }
        let large =
            cx.analysis.replay.allocations.len() + bd.replay.allocations.len() > INLINE_ALLOCATIONS;
        let (a_all, ai) = (cx.loaded.analysis.clone(), cx.data.index);
        let (b_all, bi, name) = (b.analysis.clone(), b.index, b.name.clone());
        let (pa, pb) = (key.a, key.b);
        let work = move || match (a_all.devices.get(ai), b_all.devices.get(bi)) {
            (Some(a), Some(b)) => model::compute(a, pa, b, pb, &name).map_err(|e| e.to_string()),
            _ => Err("the device is no longer in the file".into()),
        };
        self.key = Some(key);
        if large {
            self.table = None;
            let repaint = cx.env.repaint.clone();
            self.job
                .start((), Job::spawn("memsight-diff", repaint, move |_| work()));
        } else {
            self.job.clear();
            self.table = Some(work().map(Arc::new));
        }
    }

    fn poll(&mut self) {
        if let Some((_, done)) = self.job.take() {
            let r = done.unwrap_or_else(|_| Err("the comparison stopped unexpectedly".into()));
            self.table = Some(r.map(Arc::new));
        }
    }

    /// The moments a trace opens on (see [`Pick::default_pair`]); two files open at their
    /// peaks, as `memsight diff A B` compares them.
    fn pick_defaults(&mut self, d: &DeviceAnalysis) {
        (self.a, self.b) = match self.other {
            None => Pick::default_pair(d),
            Some(_) => (Pick::Peak, Pick::Peak),
        };
    }
}

impl View for DiffView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        show(self, ui, cx);
    }
}

fn show(st: &mut DiffView, ui: &mut Ui, cx: &mut ViewCtx) {
    if st.picked_for != Some(cx.focus.epoch) {
        st.picked_for = Some(cx.focus.epoch);
        st.pick_defaults(cx.analysis);
    }
    section(ui, "Two moments, call site by call site");
    ui.label(
        "The memory each call site (your line) holds at A and at B, largest change first: two \
         moments of this trace, or this file against another open one, as memsight diff \
         compares them.",
    );
    ui.add_space(4.0);
    pick_a(st, ui, cx);
    let b = pick_b(st, ui, cx);
    if cx.env.others.is_empty() {
        ui.label(RichText::new("Open another file to compare with it (File > Open).").weak());
    }
    let Some(b) = b else {
        ui.label("The other file has no device to compare.");
        return;
    };
    st.poll();
    st.refresh(cx, &b);
    ui.add_space(6.0);
    match &st.table {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Comparing");
            });
        }
        Some(Err(e)) => {
            ui.label(RichText::new(e).color(theme::oom(cx.dark())));
        }
        Some(Ok(t)) => {
            let t = t.clone();
            table::totals(ui, cx, &t, &b.name);
            ui.add_space(6.0);
            table::sites(ui, cx, &t);
        }
    }
}

/// A combo box of the moments of `d`.
fn pick_combo(
    ui: &mut Ui,
    id: &str,
    pick: &mut Pick,
    d: &DeviceAnalysis,
    cursor: usize,
    this: bool,
) -> egui::Response {
    egui::ComboBox::from_id_salt(id)
        .width(220.0)
        .selected_text(pick.label(d, cursor))
        .show_ui(ui, |ui| {
            for p in Pick::all(d, this) {
                ui.selectable_value(pick, p, p.label(d, cursor));
            }
        })
        .response
}

/// Side A: this file at a moment.
fn pick_a(st: &mut DiffView, ui: &mut Ui, cx: &ViewCtx) {
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("A: this file at");
        pick_combo(ui, "diff-a", &mut st.a, cx.analysis, cx.focus.cursor, true)
            .labelled_by(label.id);
    });
}

/// Side B: which file (this one or another open one) and at what moment; B as resolved. The
/// row wraps in a narrow panel (its combo boxes and Swap are wider than a small window's).
fn pick_b(st: &mut DiffView, ui: &mut Ui, cx: &ViewCtx) -> Option<SideB> {
    let mut b = None;
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("B:");
        // A closed tab's file can no longer be B: back to two moments of this file.
        let open = |n: &String| cx.env.others.iter().any(|f| &f.name == n);
        let mut other = st.other.clone().filter(open);
        egui::ComboBox::from_id_salt("diff-file")
            .width(200.0)
            .selected_text(other.as_deref().unwrap_or("this file"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut other, None, "this file");
                for f in cx.env.others {
                    ui.selectable_value(&mut other, Some(f.name.clone()), &f.name);
                }
            })
            .response
            .on_hover_text("Another moment of this trace, or another open file")
            .labelled_by(label.id);
        if other != st.other {
            st.other = other;
            st.pick_defaults(cx.analysis);
        }
        b = st.side_b(cx);
        let Some(d) = b.as_ref().and_then(SideB::device) else {
            return;
        };
        let label = ui.label("at");
        let this = st.other.is_none();
        pick_combo(ui, "diff-b", &mut st.b, d, cx.focus.cursor, this).labelled_by(label.id);
        if this
            && ui
                .button("Swap")
                .on_hover_text("Exchange A and B")
                .clicked()
        {
            std::mem::swap(&mut st.a, &mut st.b);
        }
    });
    b
}
