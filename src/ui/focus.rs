//! What the user is looking at in one tab, shared by every view: which view, which device, the
//! time cursor, the selection, the colouring and the filter. Views link through it (a click in
//! Leaks selects a site the timeline then highlights); each view's own options live in the
//! view ([`super::views`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::analysis::calltree::{parse_categories, Group};
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

/// What the user picked: a call site, possibly one allocation of it, or a set of allocations
/// (a call tree node) whose largest call site is `site`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub site: Option<u32>,
    /// Index into `Replay::allocations`.
    pub allocation: Option<u32>,
    /// A call tree node's allocations: views that draw allocations highlight these.
    pub picked: Option<Arc<Picked>>,
}

/// A set of allocations picked as one (the allocations under a call tree node).
#[derive(Debug)]
pub struct Picked {
    /// Unique per pick, so that caches built for one pick are never taken for another.
    pub id: u64,
    /// What was picked, outermost first (the node's path in the tree).
    pub path: Vec<String>,
    /// Bytes and blocks of the node at the tree's moment.
    pub bytes: u64,
    pub blocks: u64,
    /// Indices into `Replay::allocations`, ascending.
    pub allocations: Vec<u32>,
    /// Membership by allocation index: a view asks once per drawn block, so a lookup must be
    /// O(1) (a megabyte for a million allocations).
    member: Vec<bool>,
}

impl Picked {
    /// The set of `allocations` (indices below `total`, the device's allocation count).
    pub fn new(
        path: Vec<String>,
        (bytes, blocks): (u64, u64),
        allocations: Vec<u32>,
        total: usize,
    ) -> Picked {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut allocations = allocations;
        allocations.sort_unstable();
        allocations.dedup();
        let mut member = vec![false; total];
        for &k in &allocations {
            if let Some(m) = member.get_mut(k as usize) {
                *m = true;
            }
        }
        Picked {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            path,
            bytes,
            blocks,
            allocations,
            member,
        }
    }

    /// Whether allocation `k` is in the set.
    pub fn contains(&self, k: u32) -> bool {
        self.member.get(k as usize).copied().unwrap_or(false)
    }
}

/// What colours call sites in every view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorBy {
    #[default]
    Site,
    Category,
    /// The group of each allocation under [`Focus::group`], as the call tree's first level.
    Group,
}

/// What sits above the stack in the call tree, and what the timeline's bands are when it is
/// coloured by group: one choice, so that both views show the same groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    Stack,
    /// The `record_function` ranges open when each block was allocated.
    Annotation,
    /// The `torch.compile` context of each allocation.
    CompileContext,
    /// The user's own categories, regular expressions over frames (in the preferences).
    Categories,
}

impl GroupBy {
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Stack => "stack",
            GroupBy::Annotation => "annotation",
            GroupBy::CompileContext => "compile context",
            GroupBy::Categories => "my categories",
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            GroupBy::Stack => "No groups: the stack alone",
            GroupBy::Annotation => {
                "The record_function ranges (forward, backward, Optimizer.step...) open when \
                 each block was allocated"
            }
            GroupBy::CompileContext => "The torch.compile context of each allocation",
            GroupBy::Categories => {
                "Your own categories: NAME = REGEX lines over each frame's FILE:LINE FUNCTION \
                 (the first match wins)"
            }
        }
    }

    /// The tree's grouping, the user's categories given as `NAME = REGEX` lines (lines that do
    /// not parse are left out; the editor shows them).
    pub fn group(self, categories: &str) -> Group {
        match self {
            GroupBy::Stack => Group::Stack,
            GroupBy::Annotation => Group::Annotation,
            GroupBy::CompileContext => Group::CompileContext,
            GroupBy::Categories => Group::Categories(parse_categories(categories).0),
        }
    }
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
    /// The grouping of the call tree and of the timeline's colours by group.
    pub group: GroupBy,
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
            ..Selection::default()
        };
    }

    /// Selects one allocation of call site `site`.
    pub fn select_allocation(&mut self, allocation: u32, site: Option<u32>) {
        self.selection = Selection {
            site,
            allocation: Some(allocation),
            picked: None,
        };
    }

    /// Selects a set of allocations (a call tree node) whose largest call site is `site`.
    pub fn select_picked(&mut self, site: Option<u32>, picked: Picked) {
        self.selection = Selection {
            site,
            allocation: None,
            picked: Some(Arc::new(picked)),
        };
    }

    /// Groups the call tree by `group`, and colours the timeline by it (by call site again
    /// when grouping by the stack alone).
    pub fn set_group(&mut self, group: GroupBy) {
        self.group = group;
        if group != GroupBy::Stack {
            self.color_by = ColorBy::Group;
        } else if self.color_by == ColorBy::Group {
            self.color_by = ColorBy::Site;
        }
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
