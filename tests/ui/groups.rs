//! The call tree's groups in the timeline's colours, the user's categories typed in the app,
//! and a node's allocations picked in every view: checked against `analysis::calltree` on
//! the same file.

use std::time::Instant;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::analysis::calltree::{parse_categories, CallTree, Frames, Group, Key, TreeOptions};
use memsight::ui::focus::{ColorBy, GroupBy};
use memsight::ui::views::calltree::Built;
use memsight::ui::MemsightApp;

use super::{app, click_outermost_frame, click_view, focus, measure, settle, wait_tree};

/// The bytes of the tree's group named `name` (a child of the root).
fn group_bytes(tree: &CallTree, name: &str) -> Option<u64> {
    tree.children(0)
        .find_map(|c| match tree.nodes[c as usize].key {
            Key::Label(l) if tree.labels[l as usize] == name => {
                Some(tree.nodes[c as usize].total.bytes)
            }
            _ => None,
        })
}

/// Coloured by annotation, the timeline's legend names the `record_function` ranges the file
/// holds, and the Call tree is grouped by the same ranges.
#[test]
fn the_timeline_coloured_by_annotation_names_the_files_ranges() {
    let mut h = app("train_val_leak");
    let names: Vec<String> = {
        let l = h.state().active_tab().unwrap().loaded().expect("loaded");
        l.snap.annotations.iter().map(|a| a.name.clone()).collect()
    };
    let step = "Optimizer.step#AdamW.step";
    assert!(
        names.iter().any(|n| n == step),
        "train_val_leak records {step}: {names:?}"
    );
    click_view(&mut h, memsight::ui::focus::ViewId::Timeline);
    h.get_by_label("annotation").click();
    settle(&mut h);
    let focus = focus(&h);
    assert_eq!(
        (focus.color_by, focus.group),
        (ColorBy::Group, GroupBy::Annotation)
    );
    assert!(
        h.query_by_label("annotation:").is_some(),
        "the legend's title"
    );
    assert!(h.query_by_label(step).is_some(), "the legend names {step}");
    assert!(h.query_by_label("(no annotation)").is_some());

    // One choice: the call tree is grouped by the same ranges, holding the peak between them.
    click_view(&mut h, memsight::ui::focus::ViewId::CallTree);
    wait_tree(&mut h, false);
    let tab = h.state().active_tab().unwrap();
    let b = tab.views.calltree.tree().expect("a tree");
    let l = tab.loaded().unwrap();
    let d = &l.analysis.devices[0];
    let want = CallTree::at_event(
        &l.snap,
        d,
        b.tree.event,
        &TreeOptions {
            group: Group::Annotation,
            frames: Frames::FoldLibrary,
            inverted: false,
        },
    );
    let by = |t: &CallTree| {
        let mut v: Vec<(String, u64)> = t
            .children(0)
            .filter_map(|c| match t.nodes[c as usize].key {
                Key::Label(l) => Some((
                    t.labels[l as usize].clone(),
                    t.nodes[c as usize].total.bytes,
                )),
                _ => None,
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(by(&b.tree), by(&want));
    assert!(!by(&want).is_empty());
}

/// A bad regular expression is named under the editor with its line; a good one regroups the
/// tree, its total what `analysis::calltree` gives for the same category.
#[test]
fn the_category_editor_rejects_a_bad_regex_and_groups_by_a_good_one() {
    let mut h = app("train_val_leak");
    click_view(&mut h, memsight::ui::focus::ViewId::CallTree);
    wait_tree(&mut h, false);
    h.get_by_label("my categories").click();
    h.run_steps(2);
    let edit = || egui::accesskit::Role::MultilineTextInput;
    h.get_by_role(edit()).click();
    h.run_steps(1);
    h.get_by_role(edit()).type_text("bad = (");
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("line 1: \"(\"").is_some(),
        "the bad line is named with its error"
    );
    settle(&mut h);
    // The tree still builds (everything under (other)).
    for _ in 0.."bad = (".len() {
        h.key_press(egui::Key::Backspace);
    }
    let rule = "validation = workloads\\.py:158";
    h.get_by_role(edit()).type_text(rule);
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("line 1:").is_none(),
        "no error left"
    );
    assert_eq!(
        h.state().preferences.categories,
        rule,
        "kept in the preferences"
    );
    settle(&mut h);

    let tab = h.state().active_tab().unwrap();
    let b: &Built = tab.views.calltree.tree().expect("a tree");
    let l = tab.loaded().unwrap();
    let d = &l.analysis.devices[0];
    let (cats, bad) = parse_categories(rule);
    assert!(bad.is_empty());
    let want = CallTree::at_event(
        &l.snap,
        d,
        b.tree.event,
        &TreeOptions {
            group: Group::Categories(cats),
            frames: Frames::FoldLibrary,
            inverted: false,
        },
    );
    let got = group_bytes(&b.tree, "validation").expect("the category in the app's tree");
    assert_eq!(Some(got), group_bytes(&want, "validation"));
    assert!(
        got > 0 && got < b.tree.root().total.bytes,
        "a real split: {got}"
    );
}

/// A click on a node picks exactly the allocations under it: the Stack panel says so, the
/// timeline's legend names it, and the picked blocks live at the tree's moment add up to the
/// node.
#[test]
fn a_node_click_picks_exactly_its_allocations() {
    let mut h = app("train_val_leak");
    click_view(&mut h, memsight::ui::focus::ViewId::CallTree);
    wait_tree(&mut h, false);
    click_outermost_frame(&mut h, "Live after event");
    let tab = h.state().active_tab().unwrap();
    let v = &tab.views.calltree;
    let n = v.zoom;
    assert_ne!(n, 0, "a frame was clicked");
    let b = v.tree().expect("a tree");
    let mut want: Vec<u32> = b.tree.allocations(n).collect();
    want.sort_unstable();
    let p = tab.focus.selection.picked.clone().expect("a pick");
    assert_eq!(p.allocations, want);
    assert!(!want.is_empty());
    let d = &tab.loaded().unwrap().analysis.devices[0];
    let t = b.tree.event.expect("a traced file");
    let live: u64 = want
        .iter()
        .map(|&k| &d.replay.allocations[k as usize])
        .filter(|a| a.allocated_at(t as u32))
        .map(|a| a.size)
        .sum();
    assert_eq!(live, b.tree.nodes[n as usize].total.bytes);
    assert_eq!(p.bytes, live);
    assert!(tab.focus.selection.site.is_some(), "its largest call site");
    assert!(h.query_by_label("Picked in the call tree").is_some());

    click_view(&mut h, memsight::ui::focus::ViewId::Timeline);
    settle(&mut h);
    assert!(
        h.query_by_label_contains("picked: ").is_some(),
        "the legend"
    );
    h.get_by_label("clear").click();
    h.run_steps(2);
    assert!(focus(&h).selection.picked.is_none());
}

/// Frame CPU time of the Call tree view on the 1M-event trace once its tree is built, and of
/// the timeline coloured by annotation and with a pick (BENCHMARKS.md):
/// `cargo test --release --test ui -- --ignored --nocapture frame_time_of_the_call_tree`
#[test]
#[ignore]
fn frame_time_of_the_call_tree_on_huge_trace() {
    let path = std::env::var_os("MEMSIGHT_HUGE_TRACE")
        .map(std::path::PathBuf::from)
        .or_else(|| super::common::snapshot_path("huge_trace"));
    let Some(path) = path else {
        eprintln!("huge_trace not found; skipped");
        return;
    };
    let mut h = super::app_with(vec![memsight::ui::loader::Source::Path(path)]);
    click_view(&mut h, memsight::ui::focus::ViewId::CallTree);
    let t = Instant::now();
    wait_tree(&mut h, false);
    eprintln!(
        "tree at the peak: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    // The pointer sweeps the icicle's upper rows: a tooltip every frame.
    let sweep = |h: &mut Harness<'static, MemsightApp>, i: usize| {
        h.hover_at(egui::pos2(
            20.0 + (i * 4 % 1000) as f32,
            190.0 + (i % 5) as f32 * 20.0,
        ));
    };
    for (name, frames) in [
        ("call tree, library folded", Frames::FoldLibrary),
        ("call tree, every frame", Frames::All),
    ] {
        h.state_mut()
            .active_tab_mut()
            .unwrap()
            .views
            .calltree
            .frames = frames;
        wait_tree(&mut h, false);
        let nodes = h
            .state()
            .active_tab()
            .unwrap()
            .views
            .calltree
            .tree()
            .unwrap()
            .tree
            .nodes
            .len();
        eprintln!("{name}: {nodes} nodes");
        measure(&mut h, name, &sweep);
    }
    // A pick of the largest frame under the root, then the timeline by annotation with it.
    click_outermost_frame(&mut h, "Live after event");
    assert!(focus(&h).selection.picked.is_some());
    click_view(&mut h, memsight::ui::focus::ViewId::Timeline);
    h.get_by_label("annotation").click();
    let t = Instant::now();
    settle(&mut h);
    eprintln!(
        "bands by annotation with a pick: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    measure(&mut h, "timeline by annotation, picked", &|h, i| {
        h.hover_at(egui::pos2(100.0 + (i * 4) as f32, 400.0));
    });
    // Without the pick: the bands again, the allocation groups kept.
    h.get_by_label("clear").click();
    let t = Instant::now();
    settle(&mut h);
    eprintln!(
        "bands by annotation again, the pick cleared: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}
