//! The Leaks view: a selected leak's stack and source line, and the iterations picker that
//! analyses the file again.

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::tab::TabState;
use memsight::ui::MemsightApp;

use super::{app, click_view, focus, wait_loaded};

#[test]
fn selecting_a_leak_shows_its_stack_and_source_line() {
    let mut h = app("train_val_leak");
    click_view(&mut h, ViewId::Leaks);
    assert!(
        h.query_by_label_contains("Your code").is_none(),
        "nothing selected yet"
    );
    h.get_by_label("workloads.py:158").click();
    h.run_steps(3);
    let doc = h.state().active_tab().unwrap();
    let site = doc.focus.selection.site.expect("a site is selected");
    let TabState::Ready(l) = &doc.state else {
        panic!()
    };
    assert_eq!(l.analysis.devices[0].sites.sites[site as usize].line, 158);
    // The Stack panel: the site heading, the user frame link and the source line (found under
    // the default source root, the bundled samples folder that holds workloads.py).
    assert!(
        h.get_all_by_label("workloads.py:158").count() >= 3,
        "table row, heading, frame link"
    );
    assert!(h.query_by_label_contains("Your code").is_some());
    assert!(h
        .query_by_label_contains("val_total = val_total + lossf(model(vx), vy)")
        .is_some());
    // The selection is shared: the timeline highlights the same site.
    click_view(&mut h, ViewId::Timeline);
    assert_eq!(focus(&h).selection.site, Some(site));
}

/// Picks `choice` in the Leaks view's "iterations from" menu and waits for the analysis again.
fn pick_iterations(h: &mut Harness<'static, MemsightApp>, choice: &str) {
    h.get_by_label("iterations from").click();
    h.run_steps(2);
    h.get_by_label(choice).click();
    h.run_steps(2);
    wait_loaded(h, Duration::from_secs(120));
}

/// The Leaks view's picker analyses the file again with the iterations the user names: markers
/// (this file has none, so no verdict), then the optimizer's step annotations (the leak).
#[test]
fn the_iterations_picker_reanalyses() {
    let mut h = app("leak_nomarks");
    click_view(&mut h, ViewId::Leaks);
    pick_iterations(&mut h, "snapshot markers");
    {
        let doc = h.state().active_tab().expect("a tab");
        let l = doc.loaded().expect("analysed again");
        assert_eq!(
            l.options.iterations,
            memsight::analysis::IterationSpec::Markers
        );
        assert!(l.analysis.devices.iter().all(|d| d.leaks.is_empty()));
    }
    assert!(h
        .query_by_label_contains("No leak verdict: 0 iterations")
        .is_some());
    pick_iterations(&mut h, "Optimizer.step annotations");
    let doc = h.state().active_tab().expect("a tab");
    let d = &doc.loaded().expect("analysed").analysis.devices[0];
    assert_eq!(d.iterations.count(), 10);
    assert_eq!(d.leaks.first().map(|l| l.line), Some(81));
}
