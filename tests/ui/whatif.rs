//! The What if view: frag_oom's requests replayed with expandable segments, and under a cap.

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::MemsightApp;

use super::{app, click_view, step_until};

/// Steps the app until the What-if view's simulations are done.
fn wait_whatif(h: &mut Harness<'static, MemsightApp>) {
    step_until(
        h,
        Duration::from_secs(120),
        "simulation did not finish",
        |a| !a.active_tab().expect("a tab").views.whatif.busy(),
    );
    h.run_steps(3);
}

/// Waits for the simulations, checks the view says `said`, and gives the outcome.
fn outcome_saying<'h>(
    h: &'h mut Harness<'static, MemsightApp>,
    said: &str,
) -> (usize, &'h memsight::ui::views::whatif::Outcome) {
    wait_whatif(h);
    assert!(h.query_by_label_contains(said).is_some(), "no {said:?}");
    h.state()
        .active_tab()
        .expect("a tab")
        .views
        .whatif
        .outcome()
        .expect("simulated")
}

/// The What-if view replays frag_oom's requests: with expandable segments the request that
/// failed is served; under a 1 GiB cap the same settings fail, as they must with 2 GiB live.
#[test]
fn whatif_view_serves_the_fragmentation_oom_with_expandable_segments() {
    let mut h = app("frag_oom");
    click_view(&mut h, ViewId::WhatIf);
    {
        let (device, o) = outcome_saying(&mut h, "expandable_segments:True: served");
        assert_eq!(device, 0);
        assert_eq!(o.recorded.ooms.len(), 1);
        assert!(o.variants[0].1.ooms.is_empty());
    }
    h.state_mut()
        .active_tab_mut()
        .expect("a tab")
        .views
        .whatif
        .cap = "1GiB".into();
    h.get_by_label("Simulate").click();
    h.run_steps(2);
    let (_, o) = outcome_saying(&mut h, "expandable_segments:True: still fails");
    assert_eq!(o.variants[0].1.scenario.cap, Some(1 << 30));
    assert!(!o.variants[0].1.ooms.is_empty());
}
