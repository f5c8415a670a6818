//! The views of a loaded file. Each view is a struct that owns its own options and state and
//! draws itself with [`View::ui`] from a [`super::view::ViewCtx`]; what views share (the
//! cursor, the selection, the filter) is the tab's [`super::focus::Focus`].
//!
//! To add a view: a variant of [`ViewId`] with its label and tooltip, a module here with a
//! struct implementing [`View`], a field of [`Views`] and its arm in [`Views::get`].

pub mod diagnosis;
pub mod leaks;
pub mod segments;
pub mod stack;
pub mod summary;
pub mod timeline;
pub mod whatif;

use super::focus::ViewId;
use super::view::View;

/// Every view of one tab, each with its own state.
#[derive(Default)]
pub struct Views {
    pub diagnosis: diagnosis::DiagnosisView,
    pub timeline: timeline::TimelineView,
    pub segments: segments::SegmentsView,
    pub leaks: leaks::LeaksView,
    pub whatif: whatif::WhatIfView,
    pub summary: summary::SummaryView,
    /// The Stack panel beside every view.
    pub stack: stack::StackPanel,
}

impl Views {
    pub fn get(&mut self, id: ViewId) -> &mut dyn View {
        match id {
            ViewId::Diagnosis => &mut self.diagnosis,
            ViewId::Timeline => &mut self.timeline,
            ViewId::Segments => &mut self.segments,
            ViewId::Leaks => &mut self.leaks,
            ViewId::WhatIf => &mut self.whatif,
            ViewId::Summary => &mut self.summary,
        }
    }

    /// Whether a view has background work running (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.whatif.busy()
    }
}
