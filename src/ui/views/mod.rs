//! The views of a loaded file. Each view is a struct that owns its own options and state and
//! draws itself with [`View::ui`] from a [`super::view::ViewCtx`]; what views share (the
//! cursor, the selection, the filter) is the tab's [`super::focus::Focus`].
//!
//! To add a view: a variant of [`ViewId`] with its label and tooltip, a module here, and its
//! arm in [`Views::show`]; a view with state of its own is a struct implementing [`View`] and
//! a field of [`Views`].

pub mod calltree;
pub mod diagnosis;
pub mod diff;
pub mod events;
pub mod leaks;
pub mod ranks;
pub mod segments;
pub mod stack;
pub mod summary;
pub mod timeline;
pub mod whatif;

use egui::Ui;

use super::focus::ViewId;
use super::view::{View, ViewCtx};

/// The state of the views of one tab that have any. Diagnosis, Leaks, File info and the Stack
/// panel draw the analysis and the focus as they are, so they are plain functions.
#[derive(Default)]
pub struct Views {
    pub timeline: timeline::TimelineView,
    pub calltree: calltree::CallTreeView,
    pub segments: segments::SegmentsView,
    pub whatif: whatif::WhatIfView,
    /// The Ranks tab's choice of two ranks to compare.
    pub ranks: ranks::RanksView,
    pub events: events::EventsView,
    pub diff: diff::DiffView,
}

impl Views {
    /// Draws view `id`.
    pub fn show(&mut self, id: ViewId, ui: &mut Ui, cx: &mut ViewCtx) {
        match id {
            ViewId::Diagnosis => diagnosis::show(ui, cx),
            ViewId::Timeline => self.timeline.ui(ui, cx),
            ViewId::CallTree => self.calltree.ui(ui, cx),
            ViewId::Segments => self.segments.ui(ui, cx),
            ViewId::Leaks => leaks::show(ui, cx),
            ViewId::WhatIf => self.whatif.ui(ui, cx),
            ViewId::Summary => summary::show(ui, cx),
            ViewId::Events => self.events.ui(ui, cx),
            ViewId::Diff => self.diff.ui(ui, cx),
        }
    }

    /// Whether a view has background work running (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.whatif.busy()
            || self.calltree.busy()
            || self.timeline.busy()
            || self.events.busy()
            || self.diff.busy()
    }
}
