//! The call tree on a small trace built in the test: sums, frame order and folding,
//! annotation groups, growth, layout.

use super::*;
use crate::model::{Action, Annotation, DeviceTrace, Event, Frame, Snapshot};

const MIB: u64 = 1 << 20;

/// A one-device snapshot: a segment, then blocks allocated under three stacks at times
/// 10, 20, 30, one freed, inside a `step` annotation from time 15 to 25.
fn snapshot() -> Snapshot {
    let mut snap = Snapshot::empty();
    let mut frame = |name: &str, file: &str, line: i64| {
        let name = snap.frames.strings.intern(name);
        let filename = snap.frames.strings.intern(file);
        snap.frames.intern(Frame {
            name,
            filename,
            line,
        })
    };
    let main = frame("<module>", "train.py", 9);
    let fwd = frame("forward", "model.py", 3);
    let lib = frame(
        "_call_impl",
        "/x/site-packages/torch/nn/modules/module.py",
        1790,
    );
    let cpp = frame("c10::alloc", "CUDACachingAllocator.cpp", 0);
    let opt = frame("step", "train.py", 12);
    // Innermost first, as PyTorch stores them; the C++ frame first, as in a real stack.
    let s_fwd = snap.stacks.intern(&[cpp, fwd, lib, main]);
    let s_opt = snap.stacks.intern(&[opt, main]);
    let ev = |action, addr, size, stack, time_us| Event {
        addr,
        size,
        time_us,
        stack,
        ..Event::new(action)
    };
    let base = 0x7000_0000;
    let events = vec![
        ev(Action::SegmentAlloc, base, 64 * MIB, 0, 5),
        ev(Action::Alloc, base, 2 * MIB, s_fwd, 10),
        ev(Action::Alloc, base + 2 * MIB, 4 * MIB, s_opt, 20),
        ev(Action::Alloc, base + 6 * MIB, 8 * MIB, s_fwd, 30),
        ev(Action::FreeRequested, base, 2 * MIB, s_fwd, 40),
        ev(Action::FreeCompleted, base, 2 * MIB, s_fwd, 41),
    ];
    snap.devices.push(DeviceTrace {
        device: 0,
        events,
        extra_fields: Vec::new(),
    });
    for (stage, t) in [("START", 15), ("END", 25)] {
        snap.annotations.push(Annotation {
            stage: stage.into(),
            name: "step".into(),
            device: 0,
            time_us: t,
        });
    }
    snap
}

fn opts(group: Group, frames: Frames, inverted: bool) -> TreeOptions {
    TreeOptions {
        group,
        frames,
        inverted,
    }
}

/// Every node holds its own bytes plus its children's, and the root the allocated bytes.
fn check_sums(tree: &CallTree, allocated: u64) {
    assert_eq!(tree.root().total.bytes, allocated);
    for (i, n) in tree.nodes.iter().enumerate() {
        let kids: u64 = tree
            .children(i as u32)
            .map(|c| tree.nodes[c as usize].total.bytes)
            .sum();
        assert_eq!(n.total.bytes, n.own.bytes + kids, "node {i}");
        let blocks: u64 = tree.allocations(i as u32).count() as u64;
        assert_eq!(blocks, n.total.blocks, "node {i}");
    }
}

#[test]
fn root_is_allocated_at_every_event_in_every_mode() {
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    for frames in [
        Frames::All,
        Frames::FoldNative,
        Frames::FoldLibrary,
        Frames::Omit,
    ] {
        for group in [Group::Stack, Group::Annotation, Group::CompileContext] {
            for inverted in [false, true] {
                let o = opts(group.clone(), frames, inverted);
                for t in 0..d.events {
                    let tree = CallTree::at_event(&snap, d, Some(t), &o);
                    check_sums(&tree, d.replay.series.allocated[t]);
                }
            }
        }
    }
}

fn frame_names(snap: &Snapshot, tree: &CallTree, n: u32) -> Vec<String> {
    tree.path(n)
        .iter()
        .map(|&p| match tree.nodes[p as usize].key {
            Key::Frame(f) | Key::Library(f) => snap.frames.name(f).to_string(),
            Key::Native => "C++".into(),
            Key::Label(l) => tree.labels[l as usize].clone(),
            Key::Root => "root".into(),
        })
        .collect()
}

#[test]
fn frames_run_outermost_first_python_before_cpp_and_fold() {
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    let paths = |frames, inverted| {
        let tree = CallTree::at_event(&snap, d, Some(3), &opts(Group::Stack, frames, inverted));
        let mut v: Vec<Vec<String>> = tree
            .stack_ends()
            .map(|n| frame_names(&snap, &tree, n))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        paths(Frames::All, false)[0],
        ["root", "<module>", "_call_impl", "forward", "c10::alloc"]
    );
    assert_eq!(
        paths(Frames::FoldNative, false)[0],
        ["root", "<module>", "_call_impl", "forward", "C++"]
    );
    assert_eq!(
        paths(Frames::FoldLibrary, false)[0],
        ["root", "<module>", "_call_impl", "forward", "C++"]
    );
    assert_eq!(paths(Frames::All, false)[1], ["root", "<module>", "step"]);
    // Bottom-up: the innermost frame at the top.
    assert_eq!(
        paths(Frames::All, true)[0],
        ["root", "c10::alloc", "forward", "_call_impl", "<module>"]
    );
    assert_eq!(paths(Frames::Omit, false), [["root"]]);
}

#[test]
fn annotations_group_blocks_by_the_range_they_were_made_in() {
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    let shares = by_annotation(&snap, d, Some(3));
    let got: Vec<(Vec<String>, u64)> = shares.into_iter().map(|s| (s.ranges, s.bytes)).collect();
    assert_eq!(
        got,
        [
            (vec![NO_ANNOTATION.to_string()], 10 * MIB),
            (vec!["step".to_string()], 4 * MIB),
        ]
    );
    assert_eq!(
        d.by_annotation.iter().map(|s| s.bytes).sum::<u64>(),
        d.peak.allocated
    );
}

#[test]
fn growth_is_b_minus_a_per_stack() {
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    let o = opts(Group::Stack, Frames::FoldNative, false);
    let tree = CallTree::growth(&snap, d, Point::Event(1), Point::End, &o).expect("points");
    assert!(tree.is_growth());
    assert_eq!(tree.root().total.base_bytes, 2 * MIB);
    assert_eq!(tree.root().total.bytes, 12 * MIB);
    assert_eq!(tree.root().total.delta(), 10 * MIB as i64);
    let fwd = tree
        .stack_ends()
        .find(|&n| frame_names(&snap, &tree, n).contains(&"forward".to_string()))
        .expect("forward stack");
    assert_eq!(tree.nodes[fwd as usize].own.delta(), 6 * MIB as i64);
    // The block freed by the end is still selectable: it was live at A.
    assert_eq!(tree.allocations(0).count(), 3);
    assert!(CallTree::growth(&snap, d, Point::Marker(0), Point::End, &o).is_err());
}

#[test]
fn layout_nests_children_inside_their_parent() {
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    let tree = CallTree::at_event(&snap, d, Some(3), &TreeOptions::default());
    let x = tree.layout(0, |n| n.total.bytes);
    let total = tree.root().total.bytes as f64;
    for (i, n) in tree.nodes.iter().enumerate().skip(1) {
        let p = n.parent as usize;
        let (w, pw) = (
            n.total.bytes as f64 / total,
            tree.nodes[p].total.bytes as f64 / total,
        );
        assert!(
            x[i] >= x[p] - 1e-12 && x[i] + w <= x[p] + pw + 1e-12,
            "node {i}"
        );
    }
    // Zoomed into a subtree, that subtree spans the whole width.
    let z = tree.children(0).next().expect("a child");
    let zx = tree.layout(z, |n| n.total.bytes);
    assert_eq!(zx.len(), (tree.nodes[z as usize].end - z) as usize);
    assert_eq!(zx[0], 0.0);
}

#[test]
fn categories_and_frame_options_parse() {
    let c: Category = "optimizer=train\\.py:12".parse().expect("category");
    assert_eq!(c.name, "optimizer");
    assert!("no-equals".parse::<Category>().is_err());
    assert!("bad=(".parse::<Category>().is_err());
    assert_eq!("native".parse::<Frames>(), Ok(Frames::FoldNative));
    assert!("some".parse::<Frames>().is_err());
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    let tree = CallTree::at_event(
        &snap,
        d,
        Some(3),
        &opts(Group::Categories(vec![c]), Frames::Omit, false),
    );
    let mut got: Vec<(String, u64)> = tree
        .children(0)
        .map(|n| {
            (
                frame_names(&snap, &tree, n)[1].clone(),
                tree.nodes[n as usize].total.bytes,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (UNCATEGORISED.to_string(), 10 * MIB),
            ("optimizer".to_string(), 4 * MIB)
        ]
    );
}

/// Each allocation's group is the tree's first level: the bytes of the live allocations of a
/// group are the bytes of that group's node, whatever the grouping.
#[test]
fn allocation_groups_match_the_first_level_of_the_tree() {
    let snap = snapshot();
    let a = crate::analysis::analyze(&snap);
    let d = &a.devices[0];
    let cats = parse_categories("# mine\noptimizer = train\\.py:12\n\nbad = (\n = x").0;
    for group in [
        Group::Stack,
        Group::Annotation,
        Group::CompileContext,
        Group::Categories(cats),
    ] {
        let g = allocation_groups(&snap, d, &group);
        assert_eq!(g.of.len(), d.replay.allocations.len());
        for t in 0..d.events {
            let tree =
                CallTree::at_event(&snap, d, Some(t), &opts(group.clone(), Frames::Omit, false));
            let mut by = vec![0u64; g.labels.len()];
            for (k, al) in d.replay.allocations.iter().enumerate() {
                if al.allocated_at_point(Some(t)) {
                    by[g.of[k] as usize] += al.size;
                }
            }
            if matches!(group, Group::Stack) {
                assert_eq!(by.iter().sum::<u64>(), tree.root().total.bytes);
                continue;
            }
            for c in tree.children(0) {
                let Key::Label(l) = tree.nodes[c as usize].key else {
                    panic!("a group under the root")
                };
                let name = &tree.labels[l as usize];
                let i = g
                    .labels
                    .iter()
                    .position(|x| x == name)
                    .expect("the same label");
                assert_eq!(
                    by[i], tree.nodes[c as usize].total.bytes,
                    "{group:?} {name} at {t}"
                );
            }
        }
    }
}

#[test]
fn category_lists_keep_the_good_lines_and_say_which_are_bad() {
    let (ok, bad) = parse_categories("# mine\nattention = attn|softmax\n\nbad = (\n = x\nnoequals");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].name, "attention");
    assert!(ok[0].pattern.is_match("model.py:3 softmax"));
    let lines: Vec<usize> = bad.iter().map(|e| e.line).collect();
    assert_eq!(lines, [4, 5, 6]);
}
