//! One open file (a tab): its loading state and everything its views share, in particular the
//! one selection and the one time cursor that link the views.

use std::sync::Arc;

use super::data::Loaded;
use super::filters::Filter;
use super::loader::{LoadJob, LodJob, Source};
use super::lod::Lod;
use super::views::View;

/// What the user picked: a call site, and possibly one allocation of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub site: Option<u32>,
    /// Index into `Replay::allocations`.
    pub allocation: Option<u32>,
}

/// How the timeline draws its bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bands {
    /// One band per call site (the top sites, then "other").
    #[default]
    BySite,
    /// One band per allocation, stacked in allocation order (when zoomed in enough).
    ByAllocation,
}

/// What colours the bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorBy {
    #[default]
    Site,
    Category,
}

/// What the timeline's horizontal axis is labelled in. The plot is laid out by event either way
/// (one column per event is what keeps bursts of allocations readable); with `Time`, the ticks
/// sit at round times since the first event.
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

/// Every segment with its blocks at one event.
pub type LayoutAt = Arc<Vec<crate::analysis::SegmentView>>;
/// Free in reserved, largest free block and split free memory per chart column (0..1).
pub type FragColumns = Arc<Vec<[f32; 3]>>;

/// Per-tab view state.
pub struct DocUi {
    pub view: View,
    /// Index into `Loaded::devices`.
    pub device: usize,
    /// The time cursor: an event index of the current device.
    pub cursor: usize,
    pub selection: Selection,
    pub bands: Bands,
    pub color_by: ColorBy,
    pub axis: Axis,
    /// `None` until the timeline is first shown (then the whole trace).
    pub window: Option<TimeWindow>,
    pub filter: Filter,
    /// The filtered timeline (`None`: the unfiltered one of the device).
    pub lod: Option<Arc<Lod>>,
    pub lod_job: Option<LodJob>,
    /// Segment layout at the cursor, cached by (device, cursor); `usize::MAX` for the layout as
    /// dumped of a device without a trace.
    pub layout_cache: Option<(usize, usize, LayoutAt)>,
    /// Fragmentation chart columns, cached by (device, width in columns).
    pub frag_cache: Option<(usize, usize, FragColumns)>,
    /// The What-if view: variants, cap, the simulation running or done.
    pub whatif: super::views::whatif::WhatIfState,
    /// Set by a view to analyse the file again under these options.
    pub reanalyse: Option<crate::analysis::Options>,
}

impl Default for DocUi {
    fn default() -> Self {
        DocUi {
            view: View::Diagnosis,
            device: 0,
            cursor: 0,
            selection: Selection::default(),
            bands: Bands::default(),
            color_by: ColorBy::default(),
            axis: Axis::default(),
            window: None,
            filter: Filter::default(),
            lod: None,
            lod_job: None,
            layout_cache: None,
            frag_cache: None,
            whatif: Default::default(),
            reanalyse: None,
        }
    }
}

impl DocUi {
    /// Drops what was built from the analysis (it is being redone): the selection and the
    /// timeline's caches.
    pub fn analysis_changed(&mut self) {
        self.selection = Selection::default();
        self.lod = None;
        self.lod_job = None;
        self.layout_cache = None;
        self.frag_cache = None;
    }

    /// Switches to another device: the selection and cursor belong to a device.
    pub fn set_device(&mut self, device: usize) {
        if device != self.device {
            self.device = device;
            self.cursor = 0;
            self.selection = Selection::default();
            self.window = None;
            self.lod = None;
            self.lod_job = None;
            self.layout_cache = None;
            self.frag_cache = None;
            self.filter = Filter::default();
        }
    }

    /// Selects a call site (and forgets the allocation unless it belongs to it).
    pub fn select_site(&mut self, site: Option<u32>) {
        self.selection = Selection {
            site,
            allocation: None,
        };
    }

    /// Moves the cursor and, in the timeline, brings it into view.
    pub fn jump_to(&mut self, event: usize) {
        self.cursor = event;
        if let Some(w) = self.window.as_mut() {
            let span = w.t1 - w.t0;
            let e = event as f64;
            if e < w.t0 || e > w.t1 {
                w.t0 = e - span / 2.0;
                w.t1 = e + span / 2.0;
            }
        }
    }
}

/// Where a tab is in its life.
pub enum DocState {
    Loading(LoadJob),
    Failed(String),
    Ready(Box<Loaded>),
}

/// One open file.
pub struct Document {
    pub source: Source,
    pub state: DocState,
    pub ui: DocUi,
}

impl Document {
    pub fn loaded(&self) -> Option<&Loaded> {
        match &self.state {
            DocState::Ready(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_loading(&self) -> bool {
        matches!(self.state, DocState::Loading(_))
    }
}
