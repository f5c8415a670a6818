//! The timeline: a frame filter, a click on an allocation band, and the pool filter.

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::tab::TabState;
use memsight::ui::MemsightApp;

use super::{app, click_at, click_view, step_until, timeline_with};

/// Steps the app until `what` has given the timeline its filtered pyramid.
fn wait_filtered(h: &mut Harness<'static, MemsightApp>, what: &str) {
    step_until(
        h,
        Duration::from_secs(60),
        &format!("{what} never applied"),
        |a| a.active_tab().unwrap().focus.filtered.lod.is_some(),
    );
}

#[test]
fn a_frame_filter_rebuilds_the_timeline() {
    let mut h = app("train_val_leak");
    click_view(&mut h, ViewId::Timeline);
    let full = {
        let doc = h.state().active_tab().unwrap();
        let TabState::Ready(l) = &doc.state else {
            panic!()
        };
        let lod = l.devices[0]
            .lod
            .get()
            .expect("the timeline is built once loaded");
        lod.total.iter().copied().max().unwrap()
    };
    let input = h.get_by_role(egui::accesskit::Role::TextInput);
    input.focus();
    input.type_text("cross_entropy");
    wait_filtered(&mut h, "the frame filter");
    let doc = h.state().active_tab().unwrap();
    let filtered = doc
        .focus
        .filtered
        .lod
        .as_ref()
        .unwrap()
        .total
        .iter()
        .copied()
        .max()
        .unwrap();
    assert!(filtered > 0 && filtered < full, "{filtered} < {full}");
}

#[test]
fn clicking_an_allocation_band_selects_it_and_shows_its_stack() {
    let mut h = timeline_with("train_val_leak", "by allocation");
    // Zoom in around the middle of the trace (keyboard), then click inside the bands.
    for _ in 0..3 {
        h.key_press(egui::Key::W);
        h.run_steps(1);
    }
    let window = h
        .state()
        .active_tab()
        .unwrap()
        .views
        .timeline
        .window
        .expect("a window");
    assert!(
        window.t1 - window.t0 < 3141.0 * 0.5,
        "zoomed in: {window:?}"
    );
    click_at(&mut h, egui::pos2(500.0, 830.0));
    let doc = h.state().active_tab().unwrap();
    let k = doc
        .focus
        .selection
        .allocation
        .expect("an allocation is selected");
    assert!(doc.focus.selection.site.is_some());
    assert!(h.query_by_label(&format!("Allocation #{k}")).is_some());
    // The cursor moved to the clicked time.
    assert!((window.t0..=window.t1).contains(&(doc.focus.cursor as f64)));
}

#[test]
fn the_pool_filter_offers_cuda_graph_and_user_pools() {
    let mut h = timeline_with("recorded/cuda_graph_pools", "pool");
    let graph = "CUDA graph pool (1, 0)";
    h.get_by_label("user pool (0, 1)");
    h.get_by_label(graph).click();
    h.run_steps(3);
    wait_filtered(&mut h, "the pool filter");
    let tab = h.state().active_tab().unwrap();
    let TabState::Ready(l) = &tab.state else {
        panic!("loaded")
    };
    let d = &l.analysis.devices[0];
    // The filtered timeline's last column holds what the graph's pool still holds at the end.
    let k = d.pools.pools.iter().position(|p| p.id == (1, 0)).unwrap() as u16;
    let held: u64 = d
        .replay
        .allocations
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            a.free_requested == memsight::analysis::replay::NONE && d.pools.of_allocation(*i) == k
        })
        .map(|(_, a)| a.size)
        .sum();
    let lod = tab.focus.filtered.lod.as_ref().unwrap();
    assert!(held > 0);
    assert_eq!(lod.total.last().copied(), Some(held));
}
