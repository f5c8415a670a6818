//! The Diagnosis view: the verdict a file opens on, its links to the leak, the OOM and each
//! device, and what it says of a single optimizer step.

use egui_kittest::kittest::Queryable;

use memsight::ui::focus::ViewId;
use memsight::ui::tab::TabState;

use super::{app, focus, view};

#[test]
fn sample_opens_on_the_diagnosis_with_its_leak() {
    let mut h = app("train_val_leak");
    assert_eq!(view(&h), ViewId::Diagnosis);
    // The verdict names the leak suspect line.
    assert!(h
        .query_by_label_contains("Memory leak at workloads.py:158")
        .is_some());
    // The first line naming it is the leak line; its link goes to the Leaks view.
    h.get_all_by_label("workloads.py:158")
        .next()
        .expect("a link")
        .click();
    h.run_steps(3);
    assert_eq!(view(&h), ViewId::Leaks);
    assert!(focus(&h).selection.site.is_some());
}

#[test]
fn the_diagnosis_oom_link_moves_the_cursor() {
    let mut h = app("capacity_oom");
    assert!(h.query_by_label_contains("Capacity OOM").is_some());
    h.get_all_by_label("Show the segments at this OOM")
        .next()
        .expect("a link")
        .click();
    h.run_steps(3);
    let doc = h.state().active_tab().unwrap();
    assert_eq!(doc.focus.view, ViewId::Segments);
    let TabState::Ready(l) = &doc.state else {
        panic!()
    };
    assert_eq!(doc.focus.cursor, l.analysis.devices[0].ooms[0].event);
}

/// A file with several devices opens on a diagnosis that gives every device's verdict, so a
/// leak on one GPU is never hidden behind a clean other one; each links to its device.
#[test]
fn the_diagnosis_gives_every_device_its_verdict() {
    let mut h = app("ddp_rank1");
    assert!(h.query_by_label_contains("Every device").is_some());
    assert!(h.query_by_label("cuda:0").is_some());
    assert!(h.query_by_label("cuda:1").is_some());
    let before = focus(&h).device;
    let other = if before == 0 { "cuda:1" } else { "cuda:0" };
    h.get_all_by_label(other)
        .next()
        .expect("a device link")
        .click();
    h.run_steps(3);
    assert_ne!(focus(&h).device, before);
}

/// One optimizer step: the diagnosis says there can be no leak verdict, never "healthy", and
/// names the optimizer state as growth that is not a leak.
#[test]
fn one_step_says_no_leak_verdict_and_names_the_optimizer_state() {
    let h = app("one_step_adamw");
    assert!(h
        .query_by_label_contains("No leak verdict: 1 iteration found")
        .is_some());
    assert!(h.query_by_label_contains("Healthy").is_none());
    assert!(h
        .query_by_label_contains("Growth that is not a leak")
        .is_some());
    assert!(h.query_all_by_label_contains("one-time").next().is_some());
}
