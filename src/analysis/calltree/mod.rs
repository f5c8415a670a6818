//! Call trees of live memory: where the bytes allocated at one moment are, by full stack.
//!
//! A model's memory at its peak spreads over dozens of lines that only make sense as a tree
//! (memray, heaptrack and py-spy show it as a flame graph). [`CallTree::at`] builds that tree
//! at any [`Point`] of a device's trace; [`CallTree::growth`] builds the difference between two
//! points (bytes live at B minus bytes live at A, per stack).
//!
//! The tree is a flat arena in depth-first order: node 0 is the root, and the subtree of node
//! `n` is the contiguous range `n..nodes[n].end`, children largest first. A view draws an
//! icicle in one forward pass ([`CallTree::layout`]), selects a subtree's allocations with one
//! binary search ([`CallTree::allocations`]), and never recurses.
//!
//! Above the stack, allocations can be grouped by the `record_function` /
//! `external_annotations` ranges active when they were made, by `torch.compile` context, or by
//! the user's own categories (regular expressions over frames). Frames run outermost first,
//! Python frames before C++ ones (PyTorch interleaves them; the Python ones say which line of
//! the program, the C++ ones which operator below it), and C++ or library frames can be folded.
//!
//! Live blocks come from one scan of `Replay::allocations` (each knows its alloc and free
//! events), so a tree at any event of a 1M-event trace costs milliseconds (BENCHMARKS.md).
//! Numbers only: node names are written in `output::flamegraph`.

mod build;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use crate::model::{FrameId, Snapshot};

use super::point::{self, Point, PointError};
use super::DeviceAnalysis;
use build::{allocation_groups as groups_of_allocations, build};

/// "No node": the root's parent.
pub const NO_NODE: u32 = u32::MAX;

/// Group label of allocations made before the trace starts (their context is unknown).
pub const BEFORE_TRACE: &str = "(before the trace)";
/// Group label of allocations made outside every annotation range.
pub const NO_ANNOTATION: &str = "(no annotation)";
/// Group label of allocations without a `torch.compile` context.
pub const NO_COMPILE_CONTEXT: &str = "(no compile context)";
/// Group label of allocations that match no user category.
pub const UNCATEGORISED: &str = "(other)";
/// The one group of [`allocation_groups`] when grouping by the stack alone.
pub const ALL: &str = "(all)";

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// Everything live at the point.
    Root,
    /// A group above the stack (an annotation range, a compile context, a user category):
    /// index into [`CallTree::labels`].
    Label(u32),
    /// One stack frame.
    Frame(FrameId),
    /// A run of library frames (PyTorch, installed packages, C++) entered through this frame,
    /// folded into one node ([`Frames::FoldLibrary`]).
    Library(FrameId),
    /// Every C++ frame of a stack folded into one node ([`Frames::FoldNative`]), or the C++
    /// frames below the user's last own frame ([`Frames::FoldLibrary`]).
    Native,
}

/// How a stack's frames become levels of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Frames {
    /// Every frame: the Python ones outermost first, then the C++ ones outermost first.
    #[default]
    All,
    /// Python frames, and the C++ frames below them as one node.
    FoldNative,
    /// The user's own frames; each run of library frames (PyTorch, installed packages, the
    /// standard library, C++) is one node named after the frame that entered it.
    FoldLibrary,
    /// No frames: the groups alone (bytes per annotation range, per category).
    Omit,
}

impl FromStr for Frames {
    type Err = String;

    /// `all`, `native` (fold C++ frames), `library` (fold library frames) or `none`.
    fn from_str(s: &str) -> Result<Frames, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Frames::All),
            "native" | "c++" | "cpp" => Ok(Frames::FoldNative),
            "library" | "lib" => Ok(Frames::FoldLibrary),
            "none" => Ok(Frames::Omit),
            _ => Err(format!("{s:?}: expected all, native, library or none")),
        }
    }
}

/// A user category: allocations whose stack has a frame matching `pattern`.
#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    /// Matched against `FILE:LINE FUNCTION` of each frame.
    pub pattern: regex_lite::Regex,
}

impl FromStr for Category {
    type Err = String;

    /// `NAME=REGEX`, e.g. `attention=attn|softmax` (spaces around either side are dropped, so
    /// `attention = attn|softmax` reads the same).
    fn from_str(s: &str) -> Result<Category, String> {
        let (name, re) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NAME=REGEX, e.g. attention=attn|softmax"))?;
        let (name, re) = (name.trim(), re.trim());
        if name.is_empty() {
            return Err(format!("{s:?}: the category has no name before the ="));
        }
        let pattern = regex_lite::Regex::new(re).map_err(|e| format!("{re:?}: {e}"))?;
        Ok(Category {
            name: name.to_string(),
            pattern,
        })
    }
}

/// A line of a category list that does not parse: its number (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryError {
    pub line: usize,
    pub message: String,
}

/// Categories written one `NAME = REGEX` a line, as the app's editor holds them (blank lines
/// and `#` comments skipped): the ones that parse, in order, and the lines that do not, so
/// that one typo never hides the other categories.
pub fn parse_categories(text: &str) -> (Vec<Category>, Vec<CategoryError>) {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.parse::<Category>() {
            Ok(c) => ok.push(c),
            Err(message) => bad.push(CategoryError {
                line: i + 1,
                message,
            }),
        }
    }
    (ok, bad)
}

/// What sits above the stack.
#[derive(Debug, Clone, Default)]
pub enum Group {
    /// Nothing: the stack alone.
    #[default]
    Stack,
    /// The `external_annotations` ranges (`record_function`: forward, backward,
    /// `Optimizer.step#...`) active when the block was allocated, outermost first.
    Annotation,
    /// The `torch.compile` context of the allocation.
    CompileContext,
    /// The first matching user category, in the order given.
    Categories(Vec<Category>),
}

/// How to build a tree.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    pub group: Group,
    pub frames: Frames,
    /// Bottom-up: innermost frame first (below the groups), so top-level frames carry the
    /// bytes they allocated themselves.
    pub inverted: bool,
}

/// One node of a [`CallTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub key: Key,
    /// [`NO_NODE`] for the root.
    pub parent: u32,
    /// One past the last node of this subtree (`self..end` is the subtree).
    pub end: u32,
    pub depth: u32,
    /// What this subtree holds.
    pub total: Tally,
    /// What the stacks that end at this node hold.
    pub own: Tally,
}

/// Memory live at the tree's point (at B for a growth tree), and at A for a growth tree (0
/// otherwise). One type for a node's subtree, its own stacks and the build's accumulators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub bytes: u64,
    pub blocks: u64,
    pub base_bytes: u64,
    pub base_blocks: u64,
}

impl Tally {
    /// Growth from A to B (the bytes themselves for a tree at one point).
    pub fn delta(&self) -> i64 {
        self.bytes as i64 - self.base_bytes as i64
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, x: Tally) {
        self.bytes += x.bytes;
        self.blocks += x.blocks;
        self.base_bytes += x.base_bytes;
        self.base_blocks += x.base_blocks;
    }
}

/// The live memory at a point (or its growth between two), as a tree.
#[derive(Debug, Clone)]
pub struct CallTree {
    pub device: usize,
    /// The event shown (`None`: the dump of a file without a trace).
    pub event: Option<usize>,
    /// For a growth tree, the event it grew from (`Some(None)`: the dump); `None` otherwise.
    pub base_event: Option<Option<usize>>,
    pub inverted: bool,
    /// Depth-first, node 0 the root.
    pub nodes: Vec<Node>,
    /// Group labels, indexed by [`Key::Label`].
    pub labels: Vec<String>,
    /// (node, allocation index) of every block live at either point, sorted by node.
    leaves: Vec<(u32, u32)>,
}

/// Children of a node, largest first.
pub struct Children<'a> {
    tree: &'a CallTree,
    next: u32,
    end: u32,
}

impl Iterator for Children<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.next >= self.end {
            return None;
        }
        let c = self.next;
        self.next = self.tree.nodes[c as usize].end;
        Some(c)
    }
}

impl CallTree {
    /// The tree of the memory allocated at `point` of device `d`.
    pub fn at(
        snap: &Snapshot,
        d: &DeviceAnalysis,
        point: Point,
        opts: &TreeOptions,
    ) -> Result<CallTree, PointError> {
        let t = point::resolve(d, point)?;
        Ok(CallTree::at_event(snap, d, t, opts))
    }

    /// The growth from `from` to `to`: each node's `bytes` at `to`, `base_bytes` at `from`.
    pub fn growth(
        snap: &Snapshot,
        d: &DeviceAnalysis,
        from: Point,
        to: Point,
        opts: &TreeOptions,
    ) -> Result<CallTree, PointError> {
        let a = point::resolve(d, from)?;
        let b = point::resolve(d, to)?;
        Ok(build(snap, d, b, Some(a), opts))
    }

    /// The tree after event `t` (`None`: the dump of a trace-less file).
    pub fn at_event(
        snap: &Snapshot,
        d: &DeviceAnalysis,
        t: Option<usize>,
        opts: &TreeOptions,
    ) -> CallTree {
        build(snap, d, t, None, opts)
    }

    /// The root (always present, possibly with 0 bytes).
    pub fn root(&self) -> &Node {
        &self.nodes[0]
    }

    pub fn is_growth(&self) -> bool {
        self.base_event.is_some()
    }

    /// Children of node `n`, largest first.
    pub fn children(&self, n: u32) -> Children<'_> {
        let end = self.nodes.get(n as usize).map_or(0, |x| x.end);
        Children {
            tree: self,
            next: n + 1,
            end,
        }
    }

    /// The nodes from the root down to `n` (root first).
    pub fn path(&self, n: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut c = n;
        while let Some(node) = self.nodes.get(c as usize) {
            out.push(c);
            c = node.parent;
        }
        out.reverse();
        out
    }

    /// Allocations (indices into `Replay::allocations`) live in the subtree of `n`, at either
    /// point of a growth tree: what a click on the node selects.
    pub fn allocations(&self, n: u32) -> impl Iterator<Item = u32> + '_ {
        let end = self.nodes.get(n as usize).map_or(n, |x| x.end);
        let lo = self.leaves.partition_point(|&(node, _)| node < n);
        let hi = self.leaves.partition_point(|&(node, _)| node < end);
        self.leaves[lo..hi].iter().map(|&(_, a)| a)
    }

    /// Nodes whose stacks end there (self bytes at either point), in depth-first order: the
    /// lines of a folded-stack file.
    pub fn stack_ends(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.nodes.len() as u32).filter(|&i| {
            let n = &self.nodes[i as usize];
            n.own.blocks > 0 || n.own.base_blocks > 0
        })
    }

    /// An icicle of the subtree of `zoom`: for each node of it (`zoom..end`), its left edge as
    /// a fraction of `zoom`'s width, its width being `weight(node) / weight(zoom)`. `weight`
    /// must not give a node less than the sum of its children (`bytes` and `base_bytes` both
    /// qualify). One forward pass, no recursion.
    pub fn layout(&self, zoom: u32, weight: impl Fn(&Node) -> u64) -> Vec<f64> {
        let Some(z) = self.nodes.get(zoom as usize) else {
            return Vec::new();
        };
        let (start, end) = (zoom as usize, z.end as usize);
        let total = weight(z).max(1) as f64;
        let mut x = vec![0.0; end - start];
        // The left edge of the next child of each node.
        let mut cursor = vec![0.0; end - start];
        for i in start + 1..end {
            let p = self.nodes[i].parent as usize - start;
            x[i - start] = cursor[p] + x[p];
            cursor[p] += weight(&self.nodes[i]) as f64 / total;
        }
        x
    }
}

/// The outermost group of every allocation of a device: what the tree's first level holds
/// each allocation under, so that a timeline coloured by these groups matches the tree.
#[derive(Debug, Clone, Default)]
pub struct AllocationGroups {
    /// Group names; [`ALL`] alone when grouping by the stack.
    pub labels: Vec<String>,
    /// Index into `labels` of each allocation (indexed as `Replay::allocations`).
    pub of: Vec<u32>,
}

/// The group of every allocation of `d` under `group` (the outermost annotation range when
/// ranges nest): one pass over the allocations, categories matched once per stack.
pub fn allocation_groups(snap: &Snapshot, d: &DeviceAnalysis, group: &Group) -> AllocationGroups {
    groups_of_allocations(snap, d, group)
}

/// The bytes live at a point under one path of annotation ranges.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnnotationShare {
    /// The `record_function` ranges active when the blocks were allocated, outermost first;
    /// `[NO_ANNOTATION]` outside every range, `[BEFORE_TRACE]` before the trace.
    pub ranges: Vec<String>,
    pub bytes: u64,
    pub blocks: u64,
}

/// Live bytes after event `t` per path of annotation ranges, largest first; empty when the
/// file has no annotations for this device.
pub fn by_annotation(
    snap: &Snapshot,
    d: &DeviceAnalysis,
    t: Option<usize>,
) -> Vec<AnnotationShare> {
    if !snap.annotations.iter().any(|a| a.device == d.device) {
        return Vec::new();
    }
    let opts = TreeOptions {
        group: Group::Annotation,
        frames: Frames::Omit,
        inverted: false,
    };
    let tree = CallTree::at_event(snap, d, t, &opts);
    let mut out: Vec<AnnotationShare> = tree
        .stack_ends()
        .map(|n| {
            let node = &tree.nodes[n as usize];
            let ranges = tree
                .path(n)
                .iter()
                .filter_map(|&p| match tree.nodes[p as usize].key {
                    Key::Label(l) => tree.labels.get(l as usize).cloned(),
                    _ => None,
                })
                .collect();
            AnnotationShare {
                ranges,
                bytes: node.own.bytes,
                blocks: node.own.blocks,
            }
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.ranges.cmp(&b.ranges)));
    out
}
