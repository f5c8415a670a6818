//! The Call tree view: the tree at the peak, grouped by annotation, the growth since the first
//! event and since a marker, and a click on a frame.

use std::time::Duration;

use egui_kittest::kittest::Queryable;

use memsight::ui::focus::ViewId;

use super::{app, click_outermost_frame, click_view, focus, step_until, wait_tree};

/// The call tree at the cursor (the allocated peak on opening) adds up to the peak; since the
/// first event, the leaking line is what grew; a click on a frame selects its call site.
#[test]
fn the_call_tree_adds_up_to_the_peak_and_shows_what_grew() {
    let mut h = app("train_val_leak");
    click_view(&mut h, ViewId::CallTree);
    wait_tree(&mut h, false);
    {
        let tab = h.state().active_tab().expect("a tab");
        let d = &tab.loaded().expect("loaded").analysis.devices[0];
        let b = tab.views.calltree.tree().expect("a tree");
        assert_eq!(b.tree.event, Some(d.peak.allocated_event));
        assert_eq!(b.tree.root().total.bytes, d.peak.allocated);
        assert!(b
            .bottom_up
            .iter()
            .any(|(l, ..)| l.contains("workloads.py:158")));
    }
    assert!(h
        .query_by_label_contains(&format!("after event {}", focus(&h).cursor))
        .is_some());

    // Grouped by annotation range, the same bytes sit under the groups.
    h.state_mut().active_tab_mut().unwrap().focus.group =
        memsight::ui::views::calltree::GroupBy::Annotation;
    wait_tree(&mut h, false);
    {
        let tab = h.state().active_tab().expect("a tab");
        let d = &tab.loaded().expect("loaded").analysis.devices[0];
        let b = tab.views.calltree.tree().expect("a tree");
        assert_eq!(b.tree.root().total.bytes, d.peak.allocated);
        assert!(
            !b.tree.labels.is_empty(),
            "at least the no-annotation group"
        );
    }
    h.state_mut().active_tab_mut().unwrap().focus.group =
        memsight::ui::views::calltree::GroupBy::Stack;
    h.state_mut().active_tab_mut().unwrap().views.calltree.since =
        memsight::ui::views::calltree::Since::FirstEvent;
    wait_tree(&mut h, true);
    let tab = h.state().active_tab().expect("a tab");
    let b = tab.views.calltree.tree().expect("a growth tree");
    let grew = |needle: &str| {
        b.names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.contains(needle))
            .map(|(i, _)| b.tree.nodes[i].total.delta())
            .max()
            .unwrap_or(0)
    };
    assert!(grew("workloads.py:158") > 0, "the leaking line grew");
    assert!(h.query_by_label_contains("Growth from event 0").is_some());

    // A click on the icicle's second row (the outermost frame) zooms there and selects the
    // call site holding the most under it.
    // The icicle starts under the headline: row 0 the root, row 1 (20 px rows) the outermost
    // frame.
    click_outermost_frame(&mut h, "Growth from event 0");
    h.run_steps(1);
    let tab = h.state().active_tab().expect("a tab");
    assert_ne!(tab.views.calltree.zoom, 0, "zoomed into a frame");
    assert!(
        tab.focus.selection.site.is_some(),
        "its call site is selected"
    );

    // Growth since marker 1: measured from just before that marker, as `--from marker:1`.
    h.state_mut().active_tab_mut().unwrap().views.calltree.since =
        memsight::ui::views::calltree::Since::Marker(1);
    step_until(
        &mut h,
        Duration::from_secs(60),
        "no tree since marker 1",
        |a| {
            let tab = a.active_tab().expect("a tab");
            let d = &tab.loaded().expect("loaded").analysis.devices[0];
            let want =
                memsight::analysis::point::resolve(d, memsight::analysis::point::Point::Marker(1))
                    .expect("marker 1");
            let v = &tab.views.calltree;
            !v.busy() && v.tree().is_some_and(|b| b.tree.base_event == Some(want))
        },
    );
}
