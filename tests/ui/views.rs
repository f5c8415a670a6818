//! Switching views (the tab bar, the number keys and the Keys window), every view of every
//! small sample, and the PNG snapshots of the main views.

use std::time::Duration;

use egui_kittest::kittest::Queryable;

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::tab::TabState;

use super::{app, click_view, common, start, view, wait_loaded};

/// Every view has its number key, in tab order, and the Keys window lists each shortcut the
/// menus advertise (one table behind both).
#[test]
fn number_keys_switch_views_and_the_keys_window_lists_them() {
    let mut h = app("train_val_leak");
    for (i, v) in ViewId::ALL.iter().enumerate().rev() {
        let key = egui::Key::from_name(&(i + 1).to_string()).expect("a digit key");
        h.key_press(key);
        h.run_steps(2);
        assert_eq!(view(&h), *v, "key {} shows {:?}", i + 1, v);
    }
    h.key_press(egui::Key::F1);
    h.run_steps(2);
    assert!(h.query_all_by_label("Keys and mouse").count() >= 1);
    for v in ViewId::ALL {
        assert!(
            h.query_all_by_label(v.label()).count() >= 2,
            "{} is in the tab bar and in the Keys window",
            v.label()
        );
    }
}

#[test]
fn every_view_opens() {
    let mut h = app("gpt_train_amp");
    for v in [
        ViewId::Timeline,
        ViewId::Segments,
        ViewId::Leaks,
        ViewId::Summary,
        ViewId::Diagnosis,
    ] {
        click_view(&mut h, v);
    }
    // The file view reports the events the analysis replayed.
    click_view(&mut h, ViewId::Summary);
    let doc = h.state().active_tab().unwrap();
    let TabState::Ready(l) = &doc.state else {
        panic!("not loaded")
    };
    let events = l.analysis.devices[0].events.to_string();
    assert!(
        h.query_by_label(&events).is_some(),
        "File view shows {events} events"
    );
}

/// PNG snapshots of the main views, rendered by wgpu (a software adapter works: llvmpipe
/// through EGL). `UPDATE_SNAPSHOTS=1` rewrites them after a deliberate change of the look.
#[test]
fn snapshots_of_the_main_views() {
    let path = common::require("train_val_leak");
    let small = path.clone();
    // Without a GPU adapter (no GPU and no Mesa software renderer) wgpu cannot render: skip
    // and say so, except in CI, which installs Mesa and must run this.
    let built =
        std::panic::catch_unwind(move || start((1280.0, 800.0), vec![Source::Path(path)], true));
    let mut h = match built {
        Ok(h) => h,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping snapshots_of_the_main_views: no GPU adapter for wgpu ({:?}); install \
                 Mesa (libegl-mesa0 libgl1-mesa-dri) to run it, as .ci/run does",
                e.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("panicked")
            );
            return;
        }
        Err(e) => std::panic::resume_unwind(e),
    };
    wait_loaded(&mut h, Duration::from_secs(120));
    h.snapshot("ui_diagnosis");
    click_view(&mut h, ViewId::Leaks);
    h.get_by_label("workloads.py:158").click();
    h.run_steps(3);
    h.snapshot("ui_leaks");
    click_view(&mut h, ViewId::Timeline);
    h.snapshot("ui_timeline");
    click_view(&mut h, ViewId::Segments);
    h.snapshot("ui_segments");
    click_view(&mut h, ViewId::Events);
    h.snapshot("ui_events");
    // One harness's results take in the other's: together they fail, or update, once.
    let mut results = h.take_snapshot_results();
    // A small window (issue 15): the views keep left of the Stack panel, the text wraps.
    let mut h = start((900.0, 650.0), vec![Source::Path(small)], true);
    wait_loaded(&mut h, Duration::from_secs(120));
    h.snapshot("ui_diagnosis_900x650");
    click_view(&mut h, ViewId::Timeline);
    h.snapshot("ui_timeline_900x650");
    results.extend(h.take_snapshot_results());
}

#[test]
fn every_view_of_every_small_sample_draws_without_panicking() {
    for name in [
        "train_val_leak_wrapped",
        "frag_oom_expandable",
        "capacity_oom",
        "gpt_train_amp",
    ] {
        let mut h = app(name);
        for v in ViewId::ALL {
            click_view(&mut h, v);
            if v == ViewId::Timeline {
                for bands in ["by allocation", "by call site"] {
                    h.get_by_label(bands).click();
                    h.run_steps(1);
                    for key in [egui::Key::W, egui::Key::W, egui::Key::A, egui::Key::Home] {
                        h.key_press(key);
                        h.run_steps(1);
                    }
                }
                h.get_by_label("category").click();
                h.run_steps(1);
            }
            if v == ViewId::Segments {
                h.get_by_label("Peak").click();
                h.run_steps(1);
            }
        }
        let doc = h.state().active_tab().unwrap();
        assert!(matches!(doc.state, TabState::Ready(_)), "{name} loaded");
    }
}
