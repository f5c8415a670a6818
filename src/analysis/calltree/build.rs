//! Building a [`CallTree`]: live allocations aggregated by (group, stack), a trie of their
//! paths, then the trie laid out depth-first with children largest first.

use foldhash::HashMap;

use crate::model::{FrameId, Snapshot, StackId};

use super::super::replay::NONE;
use super::super::sites::{is_library_file, is_python_frame};
use super::super::DeviceAnalysis;
use super::{
    CallTree, Frames, Group, Key, Node, Tally, TreeOptions, ALL, BEFORE_TRACE, NO_ANNOTATION,
    NO_COMPILE_CONTEXT, NO_NODE, UNCATEGORISED,
};

/// One allocation live at one side.
struct Live {
    allocation: u32,
    /// Index into the aggregated (group, stack) entries.
    entry: u32,
}

/// The state of a build: group paths, frame paths and the trie.
struct Builder<'a> {
    snap: &'a Snapshot,
    opts: &'a TreeOptions,
    labels: Vec<String>,
    label_ids: HashMap<String, u32>,
    /// Group paths (label ids), interned.
    groups: Vec<Vec<u32>>,
    group_ids: HashMap<Vec<u32>, u32>,
    /// Keys of each stack's frames, cached.
    frame_keys: HashMap<StackId, Vec<Key>>,
}

impl<'a> Builder<'a> {
    fn new(snap: &'a Snapshot, opts: &'a TreeOptions) -> Builder<'a> {
        Builder {
            snap,
            opts,
            labels: Vec::new(),
            label_ids: HashMap::default(),
            groups: Vec::new(),
            group_ids: HashMap::default(),
            frame_keys: HashMap::default(),
        }
    }

    fn label(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.label_ids.get(s) {
            return id;
        }
        let id = self.labels.len() as u32;
        self.labels.push(s.to_string());
        self.label_ids.insert(s.to_string(), id);
        id
    }

    fn group(&mut self, path: Vec<u32>) -> u32 {
        if let Some(&id) = self.group_ids.get(&path) {
            return id;
        }
        let id = self.groups.len() as u32;
        self.groups.push(path.clone());
        self.group_ids.insert(path, id);
        id
    }

    fn keys_of(&mut self, stack: StackId) -> &[Key] {
        let (snap, frames, inverted) = (self.snap, self.opts.frames, self.opts.inverted);
        self.frame_keys
            .entry(stack)
            .or_insert_with(|| frame_keys(snap, stack, frames, inverted))
    }
}

/// The keys of a stack's frames, outermost first (innermost first when `inverted`).
fn frame_keys(snap: &Snapshot, stack: StackId, frames: Frames, inverted: bool) -> Vec<Key> {
    if frames == Frames::Omit {
        return Vec::new();
    }
    let is_python = |f: FrameId| is_python_frame(snap.frames.filename(f), snap.frames.get(f).line);
    // PyTorch stores innermost first; Python frames first, then C++, each outermost first.
    let all = snap.stacks.get(stack);
    let ordered = all
        .iter()
        .rev()
        .filter(|&&f| is_python(f))
        .chain(all.iter().rev().filter(|&&f| !is_python(f)))
        .copied();
    let mut keys = Vec::with_capacity(all.len());
    match frames {
        Frames::All | Frames::Omit => keys.extend(ordered.map(Key::Frame)),
        Frames::FoldNative => {
            keys.extend(ordered.filter(|&f| is_python(f)).map(Key::Frame));
            if keys.len() < all.len() {
                keys.push(Key::Native);
            }
        }
        Frames::FoldLibrary => {
            for f in ordered {
                let library = is_library_file(snap.frames.filename(f), snap.frames.get(f).line);
                match (library, keys.last()) {
                    (true, Some(Key::Library(_) | Key::Native)) => {}
                    // C++ frames below the user's own line: named as C++, not after the
                    // outermost of them (`_start`).
                    (true, _) if !is_python(f) => keys.push(Key::Native),
                    (true, _) => keys.push(Key::Library(f)),
                    (false, _) => keys.push(Key::Frame(f)),
                }
            }
        }
    }
    if inverted {
        keys.reverse();
    }
    keys
}

/// Annotation ranges on one device as a step function of time: after the change at
/// `times[i]`, the active ranges (outermost first) are `paths[i]` (label ids).
struct AnnotationSteps {
    times: Vec<i64>,
    paths: Vec<Vec<u32>>,
}

impl AnnotationSteps {
    fn new(b: &mut Builder, device: usize) -> AnnotationSteps {
        let mut ann: Vec<_> = b
            .snap
            .annotations
            .iter()
            .filter(|a| a.device == device)
            .collect();
        ann.sort_by_key(|a| a.time_us);
        let mut active: Vec<u32> = Vec::new();
        let mut steps = AnnotationSteps {
            times: Vec::with_capacity(ann.len()),
            paths: Vec::with_capacity(ann.len()),
        };
        for a in ann {
            let id = b.label(&a.name);
            match a.stage.as_str() {
                "START" => active.push(id),
                "END" => {
                    if let Some(i) = active.iter().rposition(|&x| x == id) {
                        active.remove(i);
                    }
                }
                _ => continue,
            }
            steps.times.push(a.time_us);
            steps.paths.push(active.clone());
        }
        steps
    }

    /// The ranges active at `t` (changes at `t` included).
    fn at(&self, t: i64) -> &[u32] {
        match self.times.partition_point(|&x| x <= t).checked_sub(1) {
            Some(i) => &self.paths[i],
            None => &[],
        }
    }
}

/// The group path of allocation `k` of `d`.
fn group_of(b: &mut Builder, d: &DeviceAnalysis, k: usize, steps: Option<&AnnotationSteps>) -> u32 {
    let (snap, opts) = (b.snap, b.opts);
    let a = &d.replay.allocations[k];
    let event = (a.alloc_event != NONE)
        .then(|| snap.trace(d.device))
        .flatten()
        .and_then(|tr| tr.events.get(a.alloc_event as usize));
    let path = match (&opts.group, event) {
        (Group::Stack, _) => Vec::new(),
        (Group::Annotation | Group::CompileContext, None) => vec![b.label(BEFORE_TRACE)],
        (Group::Annotation, Some(e)) => {
            let active = steps.map(|s| s.at(e.time_us)).unwrap_or(&[]);
            if active.is_empty() {
                vec![b.label(NO_ANNOTATION)]
            } else {
                active.to_vec()
            }
        }
        (Group::CompileContext, Some(e)) => {
            let s = snap.frames.strings.get(e.compile_context);
            vec![b.label(if s.is_empty() { NO_COMPILE_CONTEXT } else { s })]
        }
        (Group::Categories(cats), _) => {
            let hit = cats.iter().find(|c| {
                snap.stacks.get(a.stack).iter().any(|&f| {
                    let fr = snap.frames.get(f);
                    let text = format!(
                        "{}:{} {}",
                        snap.frames.filename(f),
                        fr.line,
                        snap.frames.strings.get(fr.name)
                    );
                    c.pattern.is_match(&text)
                })
            });
            vec![b.label(hit.map_or(UNCATEGORISED, |c| c.name.as_str()))]
        }
    };
    b.group(path)
}

/// The group path of each allocation, found once per stack where the group depends on the
/// stack alone (user categories match frames: a regex per frame of every allocation would be
/// slow), per allocation where it depends on time (annotation ranges, compile context).
struct Grouper {
    steps: Option<AnnotationSteps>,
    per_stack: bool,
    stack_group: HashMap<StackId, u32>,
}

impl Grouper {
    fn new(b: &mut Builder, d: &DeviceAnalysis) -> Grouper {
        let group = &b.opts.group;
        let per_stack = matches!(group, Group::Stack | Group::Categories(_));
        let annotation = matches!(group, Group::Annotation);
        Grouper {
            steps: annotation.then(|| AnnotationSteps::new(b, d.device)),
            per_stack,
            stack_group: HashMap::default(),
        }
    }

    /// The group path (an index into `b.groups`) of allocation `k`.
    fn group(&mut self, b: &mut Builder, d: &DeviceAnalysis, k: usize) -> u32 {
        if !self.per_stack {
            return group_of(b, d, k, self.steps.as_ref());
        }
        let stack = d.replay.allocations[k].stack;
        if let Some(&g) = self.stack_group.get(&stack) {
            return g;
        }
        let g = group_of(b, d, k, None);
        self.stack_group.insert(stack, g);
        g
    }
}

/// The outermost group of every allocation of `d` (see [`super::AllocationGroups`]).
pub(super) fn allocation_groups(
    snap: &Snapshot,
    d: &DeviceAnalysis,
    group: &Group,
) -> super::AllocationGroups {
    let opts = TreeOptions {
        group: group.clone(),
        frames: Frames::Omit,
        inverted: false,
    };
    let mut b = Builder::new(snap, &opts);
    let mut grouper = Grouper::new(&mut b, d);
    let mut of = Vec::with_capacity(d.replay.allocations.len());
    for k in 0..d.replay.allocations.len() {
        let g = grouper.group(&mut b, d, k);
        let outermost = match b.groups[g as usize].first() {
            Some(&l) => l,
            // The stack alone: one group holds everything.
            None => b.label(ALL),
        };
        of.push(outermost);
    }
    super::AllocationGroups {
        labels: b.labels,
        of,
    }
}

/// A trie node while building.
struct Tmp {
    key: Key,
    parent: u32,
    total: Tally,
    own: Tally,
    children: Vec<u32>,
}

/// Builds the tree at `t`, growth from `base` when given.
pub(super) fn build(
    snap: &Snapshot,
    d: &DeviceAnalysis,
    t: Option<usize>,
    base: Option<Option<usize>>,
    opts: &TreeOptions,
) -> CallTree {
    let mut b = Builder::new(snap, opts);
    let mut grouper = Grouper::new(&mut b, d);

    // Aggregate live allocations by (group, stack).
    let mut entries: Vec<(u32, StackId, Tally)> = Vec::new();
    let mut entry_of: HashMap<(u32, StackId), u32> = HashMap::default();
    let mut live: Vec<Live> = Vec::new();
    for (k, a) in d.replay.allocations.iter().enumerate() {
        let at_b = a.allocated_at_point(t);
        let at_a = base.is_some_and(|x| a.allocated_at_point(x));
        if !at_b && !at_a {
            continue;
        }
        let g = grouper.group(&mut b, d, k);
        let n = entries.len() as u32;
        let e = *entry_of.entry((g, a.stack)).or_insert(n);
        if e == n {
            entries.push((g, a.stack, Tally::default()));
        }
        let acc = &mut entries[e as usize].2;
        if at_b {
            acc.bytes += a.size;
            acc.blocks += 1;
        }
        if at_a {
            acc.base_bytes += a.size;
            acc.base_blocks += 1;
        }
        live.push(Live {
            allocation: k as u32,
            entry: e,
        });
    }

    // The trie.
    let mut tmp = vec![Tmp {
        key: Key::Root,
        parent: NO_NODE,
        total: Tally::default(),
        own: Tally::default(),
        children: Vec::new(),
    }];
    let mut child_of: HashMap<(u32, Key), u32> = HashMap::default();
    let mut entry_node: Vec<u32> = Vec::with_capacity(entries.len());
    let mut path: Vec<Key> = Vec::new();
    for &(g, stack, acc) in &entries {
        path.clear();
        path.extend(b.groups[g as usize].iter().map(|&l| Key::Label(l)));
        path.extend_from_slice(b.keys_of(stack));
        let mut node = 0u32;
        tmp[0].total += acc;
        for &key in &path {
            let next = tmp.len() as u32;
            let c = *child_of.entry((node, key)).or_insert(next);
            if c == next {
                tmp.push(Tmp {
                    key,
                    parent: node,
                    total: Tally::default(),
                    own: Tally::default(),
                    children: Vec::new(),
                });
                tmp[node as usize].children.push(c);
            }
            tmp[c as usize].total += acc;
            node = c;
        }
        tmp[node as usize].own += acc;
        entry_node.push(node);
    }

    // Depth-first order, children largest first (then by key, so that equal trees are equal).
    for i in 0..tmp.len() {
        let mut ch = std::mem::take(&mut tmp[i].children);
        ch.sort_by(|&x, &y| {
            let (x, y) = (&tmp[x as usize], &tmp[y as usize]);
            (y.total.bytes, y.total.base_bytes)
                .cmp(&(x.total.bytes, x.total.base_bytes))
                .then(x.key.cmp(&y.key))
        });
        tmp[i].children = ch;
    }
    let mut order: Vec<u32> = Vec::with_capacity(tmp.len());
    let mut new_index = vec![0u32; tmp.len()];
    let mut todo = vec![0u32];
    while let Some(i) = todo.pop() {
        new_index[i as usize] = order.len() as u32;
        order.push(i);
        todo.extend(tmp[i as usize].children.iter().rev());
    }
    let mut nodes: Vec<Node> = order
        .iter()
        .map(|&i| {
            let x = &tmp[i as usize];
            Node {
                key: x.key,
                parent: if x.parent == NO_NODE {
                    NO_NODE
                } else {
                    new_index[x.parent as usize]
                },
                end: 0,
                depth: 0,
                total: x.total,
                own: x.own,
            }
        })
        .collect();
    // Ends and depths: a node's subtree ends where the next node that is not its descendant
    // starts; walking backwards, each node's end is the largest end of its children.
    for i in (0..nodes.len()).rev() {
        let end = nodes[i].end.max(i as u32 + 1);
        nodes[i].end = end;
        let p = nodes[i].parent;
        if p != NO_NODE {
            let pe = &mut nodes[p as usize].end;
            *pe = (*pe).max(end);
        }
    }
    for i in 1..nodes.len() {
        nodes[i].depth = nodes[nodes[i].parent as usize].depth + 1;
    }
    let mut leaves: Vec<(u32, u32)> = live
        .iter()
        .map(|l| {
            (
                new_index[entry_node[l.entry as usize] as usize],
                l.allocation,
            )
        })
        .collect();
    leaves.sort_unstable();
    CallTree {
        device: d.device,
        event: t,
        base_event: base,
        inverted: opts.inverted,
        nodes,
        labels: b.labels,
        leaves,
    }
}
