//! What the user is looking at in one tab, shared by every view: which view, which device, the
//! time cursor, the selection, the colouring and the filter. Views link through it (a click in
//! Leaks selects a site the timeline then highlights); each view's own options live in the
//! view ([`super::views`]).

use crate::analysis::Options;

use super::filters::Filtered;

/// The views of a loaded file, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewId {
    #[default]
    Diagnosis,
    Timeline,
    CallTree,
    Segments,
    Leaks,
    WhatIf,
    Summary,
    Events,
    Diff,
}

impl ViewId {
    /// The views in tab order (keys 1, 2, ... in this order).
    pub const ALL: [ViewId; 9] = [
        ViewId::Diagnosis,
        ViewId::Timeline,
        ViewId::CallTree,
        ViewId::Segments,
        ViewId::Leaks,
        ViewId::WhatIf,
        ViewId::Summary,
        ViewId::Events,
        ViewId::Diff,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ViewId::Diagnosis => "Diagnosis",
            ViewId::Timeline => "Memory timeline",
            ViewId::CallTree => "Call tree",
            ViewId::Segments => "Segments",
            ViewId::Leaks => "Leaks",
            ViewId::WhatIf => "What if",
            ViewId::Summary => "File info",
            ViewId::Events => "Events",
            ViewId::Diff => "Diff",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            ViewId::Diagnosis => "The verdict in plain words: leaks, OOMs, peak, fragmentation",
            ViewId::Timeline => "Allocated memory over time, stacked by call site or allocation",
            ViewId::CallTree => "The memory live at the time cursor by full stack, or its growth",
            ViewId::Segments => "The blocks of every segment at the time cursor",
            ViewId::Leaks => "Call sites whose memory grows iteration after iteration",
            ViewId::WhatIf => {
                "Replay the same requests under other allocator settings or another cap"
            }
            ViewId::Summary => "What the file holds: format, devices, events, counters",
            ViewId::Events => {
                "Every trace event in order, synced with the time cursor; search by address or \
                 size"
            }
            ViewId::Diff => {
                "Two moments of this trace, or this file and another, call site by call site"
            }
        }
    }
}

/// What the user picked: a call site, and possibly one allocation of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub site: Option<u32>,
    /// Index into `Replay::allocations`.
    pub allocation: Option<u32>,
}

/// What colours call sites in every view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorBy {
    #[default]
    Site,
    Category,
}

/// The shared state of one tab.
#[derive(Default)]
pub struct Focus {
    pub view: ViewId,
    /// Index into `Loaded::devices`.
    pub device: usize,
    /// The time cursor: an event index of the current device.
    pub cursor: usize,
    /// Set when the cursor jumps (a link, a button), so the timeline brings it into view.
    pub reveal_cursor: bool,
    pub selection: Selection,
    pub color_by: ColorBy,
    pub filtered: Filtered,
    /// Bumped whenever what the views draw changes under them (another device, a new
    /// analysis): views key their caches on it.
    pub epoch: u64,
    /// Set by a view to analyse the file again under these options.
    pub reanalyse: Option<Options>,
}

impl Focus {
    /// Drops what was built from the analysis (it is being redone).
    pub fn analysis_changed(&mut self) {
        self.selection = Selection::default();
        self.filtered.clear();
        self.epoch += 1;
    }

    /// Switches to another device: the selection, cursor and filter belong to a device.
    pub fn set_device(&mut self, device: usize) {
        if device != self.device {
            self.device = device;
            self.cursor = 0;
            self.analysis_changed();
        }
    }

    /// Selects a call site (and forgets the allocation unless it belongs to it).
    pub fn select_site(&mut self, site: Option<u32>) {
        self.selection = Selection {
            site,
            allocation: None,
        };
    }

    /// Moves the cursor to `event` (and the timeline with it).
    pub fn move_cursor(&mut self, event: usize) {
        self.cursor = event;
        self.reveal_cursor = true;
    }

    /// Moves the cursor to `event` and shows it in `view`.
    pub fn jump_to(&mut self, event: usize, view: ViewId) {
        self.move_cursor(event);
        self.view = view;
    }

    /// Selects `site` and shows it in `view`.
    pub fn show_site(&mut self, site: u32, view: ViewId) {
        self.select_site(Some(site));
        self.view = view;
    }
}
