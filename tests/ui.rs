//! The app driven through egui_kittest: real files, real clicks, real analysis.
#![cfg(feature = "gui")]

mod common;
#[path = "ui/groups.rs"]
mod groups;
#[path = "ui/layout.rs"]
mod layout;
#[path = "ui/wallclock.rs"]
mod wallclock;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::extensions::ExportScope;
use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::preferences::Preferences;
use memsight::ui::tab::TabState;
use memsight::ui::MemsightApp;

fn app_with(sources: Vec<Source>) -> Harness<'static, MemsightApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| {
            MemsightApp::with_sources(&cc.egui_ctx, Preferences::default(), sources)
        });
    wait_loaded(&mut h, Duration::from_secs(600));
    h
}

fn app(name: &str) -> Harness<'static, MemsightApp> {
    let path = common::snapshot_path(name).unwrap_or_else(|| panic!("no snapshot {name}"));
    app_with(vec![Source::Path(path)])
}

/// Steps the app until no file is loading (the worker runs on its own thread).
fn wait_loaded(h: &mut Harness<'static, MemsightApp>, limit: Duration) {
    let t = Instant::now();
    while h.state().is_loading() {
        assert!(t.elapsed() < limit, "loading did not finish");
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(3);
}

fn view(h: &Harness<'static, MemsightApp>) -> ViewId {
    h.state().active_tab().expect("a tab").focus.view
}

fn click_view(h: &mut Harness<'static, MemsightApp>, v: ViewId) {
    h.get_by_label(v.label()).click();
    h.run_steps(3);
    assert_eq!(view(h), v);
}

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
    assert!(h
        .state()
        .active_tab()
        .unwrap()
        .focus
        .selection
        .site
        .is_some());
}

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
    assert_eq!(
        h.state().active_tab().unwrap().focus.selection.site,
        Some(site)
    );
}

#[test]
fn segments_scrub_to_the_fragmentation_oom() {
    let mut h = app("frag_oom");
    let oom_event = {
        let doc = h.state().active_tab().unwrap();
        let TabState::Ready(l) = &doc.state else {
            panic!()
        };
        let d = &l.analysis.devices[0];
        assert_eq!(d.ooms.len(), 1);
        d.ooms[0].event
    };
    click_view(&mut h, ViewId::Segments);
    h.get_by_label("Next OOM").click();
    h.run_steps(3);
    assert_eq!(h.state().active_tab().unwrap().focus.cursor, oom_event);
    assert!(h.query_by_label_contains("OUT OF MEMORY here").is_some());
    assert!(h.query_by_label_contains("verdict fragmentation").is_some());
    // Stepping away leaves the OOM.
    h.get_by_label(">").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("OUT OF MEMORY here").is_none());
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

#[test]
fn files_open_side_by_side_and_the_bad_one_says_why() {
    let bad = std::env::temp_dir().join(format!("memsight-ui-bad-{}.pickle", std::process::id()));
    std::fs::write(&bad, b"this is not a pickle at all").unwrap();
    let good = common::snapshot_path("frag_oom").unwrap();
    let mut h = app_with(vec![Source::Path(good), Source::Path(bad.clone())]);
    assert_eq!(h.state().tabs.len(), 2);
    assert_eq!(h.state().active, 1);
    assert!(h.query_by_label_contains("Could not open").is_some());
    assert!(h.query_by_label_contains("not a pickle").is_some());
    h.get_by_label("frag_oom.pickle").click();
    h.run_steps(2);
    assert_eq!(h.state().active, 0);
    assert!(h.query_by_label_contains("Fragmentation OOM").is_some());
    let _ = std::fs::remove_file(bad);
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
    let t = Instant::now();
    loop {
        h.step();
        if h.state().active_tab().unwrap().focus.filtered.lod.is_some() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
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
fn the_embedded_sample_loads_without_files() {
    let h = app_with(vec![Source::Embedded(
        memsight::ui::preferences::EMBEDDED_NAME,
        memsight::ui::preferences::EMBEDDED_SAMPLE,
    )]);
    assert!(h.get_all_by_label("workloads.py:158").count() >= 1);
}

/// Frame CPU time on the 1M-event trace while zooming, panning and scrubbing.
/// `cargo test --release --test ui -- --ignored --nocapture frame_time`
#[test]
#[ignore]
fn frame_time_on_huge_trace() {
    // MEMSIGHT_HUGE_TRACE names the file where the shared folder is not beside the checkout.
    let path = std::env::var_os("MEMSIGHT_HUGE_TRACE")
        .map(PathBuf::from)
        .or_else(|| common::snapshot_path("huge_trace"));
    let Some(path) = path else {
        eprintln!("huge_trace not found; skipped");
        return;
    };
    let t = Instant::now();
    let mut h = app_with(vec![Source::Path(path)]);
    eprintln!("loaded in {:.1} s", t.elapsed().as_secs_f32());
    let center = egui::pos2(600.0, 400.0);

    click_view(&mut h, ViewId::Timeline);
    measure(&mut h, "timeline zoom in/out", &|h, i| {
        h.hover_at(center);
        let dy = if (i / 60) % 2 == 0 { 40.0 } else { -40.0 };
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, dy),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        });
    });
    measure(&mut h, "timeline pan", &|h, i| {
        h.event(egui::Event::Key {
            key: if (i / 40) % 2 == 0 {
                egui::Key::ArrowRight
            } else {
                egui::Key::ArrowLeft
            },
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        });
    });
    h.state_mut()
        .active_tab_mut()
        .unwrap()
        .views
        .timeline
        .window = None;
    measure(&mut h, "timeline full view, hover", &|h, i| {
        h.hover_at(egui::pos2(100.0 + (i * 4) as f32, 400.0));
    });
    click_view(&mut h, ViewId::Segments);
    measure(&mut h, "segments step (Right key)", &|h, _i| {
        h.key_press(egui::Key::ArrowRight);
    });
    let n = {
        let doc = h.state().active_tab().unwrap();
        let TabState::Ready(l) = &doc.state else {
            panic!()
        };
        l.analysis.devices[0].events
    };
    measure(&mut h, "segments scrub (cursor jumps)", &|h, i| {
        h.state_mut().active_tab_mut().unwrap().focus.cursor = (i * 4099) % n;
    });
    // A million rows: the Events view draws the rows in view only.
    click_view(&mut h, ViewId::Events);
    measure(&mut h, "events step (Down key)", &|h, _i| {
        h.key_press(egui::Key::ArrowDown);
    });
    measure(&mut h, "events PageDown, Home/End", &|h, i| {
        h.key_press(match i % 8 {
            0 => egui::Key::End,
            4 => egui::Key::Home,
            _ => egui::Key::PageDown,
        });
    });
    // A filter over a million events runs on a worker; the frames go on meanwhile.
    let t = Instant::now();
    h.state_mut()
        .active_tab_mut()
        .unwrap()
        .views
        .events
        .min_size = "64 MiB".into();
    h.run_steps(2);
    while h.state().active_tab().unwrap().views.events.busy() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the filter did not finish"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(2));
    }
    h.run_steps(2);
    let listed = h
        .state()
        .active_tab()
        .unwrap()
        .views
        .events
        .rows()
        .map(|r| r.len());
    let big = events_where(&h, |e| e.size >= 64 << 20).len();
    eprintln!(
        "events filter (size >= 64 MiB): {} ms, {big} events",
        t.elapsed().as_millis()
    );
    assert_eq!(listed, Some(big));
}

/// 240 frames with `act` before each: the app's own update, and egui's step with the
/// tessellation of its shapes (the frame's CPU work short of the GPU upload).
fn measure(
    h: &mut Harness<'static, MemsightApp>,
    name: &str,
    act: &dyn Fn(&mut Harness<'static, MemsightApp>, usize),
) {
    h.state_mut().clear_frame_times();
    let mut wall = Vec::new();
    for i in 0..240 {
        act(h, i);
        let s = Instant::now();
        h.step();
        let shapes = h.output().shapes.clone();
        let ppp = h.output().pixels_per_point;
        let _ = h.ctx.tessellate(shapes, ppp);
        wall.push(s.elapsed().as_secs_f64() * 1e3);
    }
    let mut ft: Vec<f64> = h
        .state()
        .frame_times()
        .iter()
        .map(|&x| x as f64 * 1e3)
        .collect();
    stats(name, "app update", &mut ft);
    stats(name, "step+tessellate", &mut wall);
}

fn stats(name: &str, what: &str, v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let at = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    eprintln!(
        "{name:32} {what:15}: mean {mean:6.2}  median {:6.2}  p95 {:6.2}  p99 {:6.2}  max {:6.2} ms",
        at(50),
        at(95),
        at(99),
        v[v.len() - 1]
    );
}

/// A click at `p`: hover, press, release.
fn click_at(h: &mut Harness<'static, MemsightApp>, p: egui::Pos2) {
    h.hover_at(p);
    h.run_steps(1);
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos: p,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.step();
    }
    h.run_steps(2);
}

#[test]
fn clicking_an_allocation_band_selects_it_and_shows_its_stack() {
    let mut h = app("train_val_leak");
    click_view(&mut h, ViewId::Timeline);
    h.get_by_label("by allocation").click();
    h.run_steps(2);
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

/// A file dropped by the test, as the windowing integration would hand it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_file_opens_in_a_new_tab_and_is_remembered() {
    let mut h = app("frag_oom");
    let path = common::snapshot_path("capacity_oom").unwrap();
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.clone())));
    h.step();
    wait_loaded(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().tabs.len(), 2);
    assert_eq!(h.state().active, 1);
    assert!(h.query_by_label_contains("Capacity OOM").is_some());

    // The recent list goes to eframe's storage and comes back on the next start.
    let mut storage = MemStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let saved: Preferences = eframe::get_value(&storage, eframe::APP_KEY).expect("settings saved");
    let canon = std::fs::canonicalize(&path).unwrap();
    assert_eq!(saved.recent.first(), Some(&canon));
    assert_eq!(saved.recent.len(), 2);
}

#[derive(Default)]
struct MemStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn cancel_stops_a_long_load_and_says_so() {
    // A big file so that loading takes seconds (CI keeps it in ../shared/snapshots).
    let path = std::env::var_os("MEMSIGHT_HUGE_TRACE")
        .map(PathBuf::from)
        .or_else(|| common::snapshot_path("big_trace"))
        .or_else(|| common::snapshot_path("huge_trace"));
    let Some(path) = path else {
        eprintln!("no big trace found; skipped");
        return;
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| {
            MemsightApp::with_sources(
                &cc.egui_ctx,
                Preferences::default(),
                vec![Source::Path(path)],
            )
        });
    h.step();
    assert!(h.state().is_loading());
    assert!(h.query_by_label_contains("Opening").is_some());
    h.get_by_label("Cancel").click();
    wait_loaded(&mut h, Duration::from_secs(120));
    let doc = h.state().active_tab().unwrap();
    match &doc.state {
        TabState::Failed(msg) => assert!(msg.contains("cancelled"), "{msg}"),
        _ => panic!("the load was not cancelled"),
    }
    assert!(h.query_by_label_contains("Loading was cancelled").is_some());
}

#[test]
fn every_export_format_renders_the_open_file() {
    let h = app("frag_oom");
    let doc = h.state().active_tab().unwrap();
    let TabState::Ready(l) = &doc.state else {
        panic!()
    };
    let formats = memsight::ui::extensions::export_formats();
    assert_eq!(formats.len(), 3);
    for f in formats {
        let scope = ExportScope {
            device: 0,
            site: None,
        };
        let bytes = (f.render)(&l.snap, &l.analysis, scope, "frag_oom.pickle").expect("rendered");
        let text = String::from_utf8(bytes).expect("text");
        assert!(
            text.contains("fragmentation"),
            "{} report names the verdict",
            f.extension
        );
    }
}

/// PNG snapshots of the main views, rendered by wgpu (a software adapter works: llvmpipe
/// through EGL). `UPDATE_SNAPSHOTS=1` rewrites them after a deliberate change of the look.
#[test]
fn snapshots_of_the_main_views() {
    let path = common::require("train_val_leak");
    let small = path.clone();
    // Without a GPU adapter (no GPU and no Mesa software renderer) wgpu cannot render: skip
    // and say so, except in CI, which installs Mesa and must run this.
    let built = std::panic::catch_unwind(move || {
        Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .wgpu()
            .build_eframe(move |cc| {
                MemsightApp::with_sources(
                    &cc.egui_ctx,
                    Preferences::default(),
                    vec![Source::Path(path)],
                )
            })
    });
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
    let mut h = Harness::builder()
        .with_size(egui::vec2(900.0, 650.0))
        .wgpu()
        .build_eframe(move |cc| {
            MemsightApp::with_sources(
                &cc.egui_ctx,
                Preferences::default(),
                vec![Source::Path(small)],
            )
        });
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

/// Steps the app until the What-if view's simulations are done.
fn wait_whatif(h: &mut Harness<'static, MemsightApp>) {
    let t = Instant::now();
    while h.state().active_tab().expect("a tab").views.whatif.busy() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "simulation did not finish"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(3);
}

/// The What-if view replays frag_oom's requests: with expandable segments the request that
/// failed is served; under a 1 GiB cap the same settings fail, as they must with 2 GiB live.
#[test]
fn whatif_view_serves_the_fragmentation_oom_with_expandable_segments() {
    let mut h = app("frag_oom");
    click_view(&mut h, ViewId::WhatIf);
    wait_whatif(&mut h);
    assert!(h
        .query_by_label_contains("expandable_segments:True: served")
        .is_some());
    {
        let doc = h.state().active_tab().expect("a tab");
        let (device, o) = doc.views.whatif.outcome().expect("simulated on opening");
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
    wait_whatif(&mut h);
    assert!(h
        .query_by_label_contains("expandable_segments:True: still fails")
        .is_some());
    let doc = h.state().active_tab().expect("a tab");
    let (_, o) = doc.views.whatif.outcome().expect("simulated again");
    assert_eq!(o.variants[0].1.scenario.cap, Some(1 << 30));
    assert!(!o.variants[0].1.ooms.is_empty());
}

/// Export follows the selection: with the leaking line selected, every format singles it out.
#[test]
fn export_carries_the_selected_call_site() {
    let mut h = app("train_val_leak");
    click_view(&mut h, ViewId::Leaks);
    h.get_by_label("workloads.py:158").click();
    h.run_steps(3);
    let doc = h.state().active_tab().expect("a tab");
    let site = doc.focus.selection.site.expect("the leak is selected");
    let TabState::Ready(l) = &doc.state else {
        panic!("loaded")
    };
    let leak = &l.analysis.devices[0].leaks[0];
    assert_eq!(leak.site, site);
    let scope = ExportScope {
        device: 0,
        site: Some(site),
    };
    for f in memsight::ui::extensions::export_formats() {
        let bytes = (f.render)(&l.snap, &l.analysis, scope, "t.pickle").expect("rendered");
        let text = String::from_utf8(bytes).expect("text");
        match f.extension {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                let sel = &v["devices"][0]["selection"];
                assert_eq!(sel["site"], "workloads.py:158");
                assert_eq!(sel["live_at_end"].as_u64(), Some(leak.live_bytes));
            }
            ext => {
                assert!(text.contains("Selected call site"), "{ext}");
                assert!(
                    text.contains("workloads.py:158 in w_train_val_leak"),
                    "{ext} stack"
                );
            }
        }
    }
}

/// A PyTorch 2.0 file has no trace to scrub: the Segments view shows the layout at dump time,
/// with the blocks the file lists.
#[test]
fn a_file_without_a_trace_shows_its_segments_at_dump_time() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/history_only.pickle");
    let mut h = app_with(vec![Source::Path(path)]);
    click_view(&mut h, ViewId::Segments);
    assert!(h.query_by_label_contains("Segments at dump time").is_some());
    // One 2 MiB segment holding the two active blocks of 512 B and 1 MiB.
    let expected = {
        let doc = h.state().active_tab().expect("a tab");
        let TabState::Ready(l) = &doc.state else {
            panic!("not loaded")
        };
        let seg = &l.snap.segments[0];
        let active: u64 = seg
            .blocks
            .iter()
            .filter(|b| b.state == memsight::model::BlockState::ActiveAllocated)
            .map(|b| b.size)
            .sum();
        format!(
            "1 segments, {} reserved, {} allocated",
            memsight::ui::view::short_bytes(seg.total_size),
            memsight::ui::view::short_bytes(active)
        )
    };
    assert!(
        h.query_by_label_contains(&expected).is_some(),
        "no label with {expected:?}"
    );
}

/// A file with several devices opens on a diagnosis that gives every device's verdict, so a
/// leak on one GPU is never hidden behind a clean other one; each links to its device.
#[test]
fn the_diagnosis_gives_every_device_its_verdict() {
    let mut h = app("ddp_rank1");
    assert!(h.query_by_label_contains("Every device").is_some());
    assert!(h.query_by_label("cuda:0").is_some());
    assert!(h.query_by_label("cuda:1").is_some());
    let before = h.state().active_tab().unwrap().focus.device;
    let other = if before == 0 { "cuda:1" } else { "cuda:0" };
    h.get_all_by_label(other)
        .next()
        .expect("a device link")
        .click();
    h.run_steps(3);
    assert_ne!(h.state().active_tab().unwrap().focus.device, before);
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

/// File > Export with nothing selected covers every device: the DDP rank's report names the
/// leak of its rank's GPU whichever device the app shows.
#[test]
fn export_covers_every_device_unless_a_site_is_selected() {
    let path = common::require("ddp_rank0");
    let snap =
        memsight::read::load_path(&path, &memsight::read::LoadOptions::default()).expect("loads");
    let a = memsight::analysis::analyze(&snap);
    assert!(a.devices.len() > 1);
    let quiet = a
        .devices
        .iter()
        .find(|d| d.leaks.is_empty())
        .expect("a device without the leak");
    for f in memsight::ui::extensions::export_formats() {
        let scope = ExportScope {
            device: quiet.device,
            site: None,
        };
        let bytes = (f.render)(&snap, &a, scope, "ddp_rank0.pickle").expect("rendered");
        let text = String::from_utf8(bytes).expect("text");
        assert!(
            text.contains("ranks.py:47"),
            "{}: the leak is exported",
            f.extension
        );
    }
}

/// The Leaks view's picker analyses the file again with the iterations the user names: markers
/// (this file has none, so no verdict), then the optimizer's step annotations (the leak).
#[test]
fn the_iterations_picker_reanalyses() {
    let mut h = app("leak_nomarks");
    click_view(&mut h, ViewId::Leaks);
    h.get_by_label("iterations from").click();
    h.run_steps(2);
    h.get_by_label("snapshot markers").click();
    h.run_steps(2);
    wait_loaded(&mut h, Duration::from_secs(120));
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
    h.get_by_label("iterations from").click();
    h.run_steps(2);
    h.get_by_label("Optimizer.step annotations").click();
    h.run_steps(2);
    wait_loaded(&mut h, Duration::from_secs(120));
    let doc = h.state().active_tab().expect("a tab");
    let d = &doc.loaded().expect("analysed").analysis.devices[0];
    assert_eq!(d.iterations.count(), 10);
    assert_eq!(d.leaks.first().map(|l| l.line), Some(81));
}

/// Steps the app until the Call tree view has a tree that is (or is not) a growth tree.
fn wait_tree(h: &mut Harness<'static, MemsightApp>, growth: bool) {
    let t = Instant::now();
    loop {
        h.step();
        let v = &h.state().active_tab().expect("a tab").views.calltree;
        if !v.busy() && v.tree().is_some_and(|b| b.tree.is_growth() == growth) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no call tree came");
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(2);
}

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
        .query_by_label_contains(&format!(
            "after event {}",
            h.state().active_tab().unwrap().focus.cursor
        ))
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
    let head = h.get_by_label_contains("Growth from event 0").rect();
    click_at(&mut h, egui::pos2(head.left() + 20.0, head.bottom() + 34.0));
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
    let t = Instant::now();
    loop {
        h.step();
        let tab = h.state().active_tab().expect("a tab");
        let d = &tab.loaded().expect("loaded").analysis.devices[0];
        let want =
            memsight::analysis::point::resolve(d, memsight::analysis::point::Point::Marker(1))
                .expect("marker 1");
        let v = &tab.views.calltree;
        if !v.busy() && v.tree().is_some_and(|b| b.tree.base_event == Some(want)) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no tree since marker 1"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The two ranks of the DDP job side by side: rank 0 is the outlier, with its evaluation line;
/// a rank's Open button opens its file in a tab of its own.
#[test]
fn the_ranks_of_a_job_side_by_side_name_the_outlier() {
    let paths: Vec<PathBuf> = ["ddp_rank0", "ddp_rank1"]
        .iter()
        .map(|n| common::snapshot_path(n).unwrap_or_else(|| panic!("no snapshot {n}")))
        .collect();
    let mut h = app_with(vec![Source::Ranks(paths.clone())]);
    let tab = h.state().active_tab().expect("a tab");
    let TabState::Ranks(r) = &tab.state else {
        panic!("the ranks did not load");
    };
    let job = r.job.as_ref().expect("a comparison");
    assert!(job.outliers.iter().any(|o| o.rank == 0));
    assert!(h
        .query_by_label_contains("rank 0: peak allocated")
        .is_some());
    assert!(h.query_all_by_label_contains("ranks.py:47").count() >= 1);
    assert!(h.query_by_label_contains("Memory of each rank").is_some());
    // Rank 0 against the median rank (rank 1): the evaluation line is what rank 0 holds more.
    assert!(h.query_by_label_contains("Compare two ranks").is_some());
    assert!(
        h.query_by_label("+612.35 MiB").is_some(),
        "the pair table cell"
    );
    let buttons: Vec<_> = h.get_all_by_label("Open").collect();
    assert_eq!(buttons.len(), 2, "one Open button per rank");
    buttons[1].click();
    h.run_steps(3);
    wait_loaded(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().tabs.len(), 2);
    assert_eq!(
        h.state().active_tab().expect("a tab").source,
        Source::Path(paths[1].clone())
    );
}

/// File > Export asks where in a window with the path typed out (no native dialog needed):
/// Save writes the report beside the snapshot.
#[test]
fn export_writes_to_the_path_in_its_window() {
    let dir = std::env::temp_dir().join(format!("memsight-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let src = dir.join("frag_oom.pickle");
    std::fs::copy(
        common::snapshot_path("frag_oom").expect("the frag_oom sample"),
        &src,
    )
    .expect("a copy of the sample");
    let mut h = app_with(vec![Source::Path(src.clone())]);
    let md = memsight::ui::extensions::export_formats()
        .into_iter()
        .find(|f| f.extension == "md")
        .expect("a Markdown export");
    h.state_mut().export(md);
    h.run_steps(3);
    h.get_by_label("Save").click();
    let out = dir.join("frag_oom.pickle.md");
    let t = Instant::now();
    while !out.exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "nothing was written");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&out).expect("the report");
    assert!(text.contains("fragmentation"), "the frag_oom report");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_pool_filter_offers_cuda_graph_and_user_pools() {
    let mut h = app("recorded/cuda_graph_pools");
    click_view(&mut h, ViewId::Timeline);
    h.get_by_label("pool").click();
    h.run_steps(3);
    let graph = "CUDA graph pool (1, 0)";
    h.get_by_label("user pool (0, 1)");
    h.get_by_label(graph).click();
    h.run_steps(3);
    let t = Instant::now();
    while h.state().active_tab().unwrap().focus.filtered.lod.is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the pool filter never applied"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// The device's analysis and trace of the first tab, for tests that compute their truth.
fn loaded<'a>(h: &'a Harness<'static, MemsightApp>) -> &'a memsight::ui::data::Loaded {
    match &h.state().active_tab().expect("a tab").state {
        TabState::Ready(l) => l,
        _ => panic!("not loaded"),
    }
}

/// The events the Events view lists now.
fn listed_events(h: &Harness<'static, MemsightApp>) -> Vec<usize> {
    let rows = h.state().active_tab().unwrap().views.events.rows();
    let rows = rows.expect("the list is built");
    (0..rows.len()).filter_map(|r| rows.event(r)).collect()
}

#[test]
fn the_events_view_follows_the_cursor_and_finds_an_address() {
    use memsight::analysis::NONE;
    use memsight::model::Action;

    let mut h = app("frag_oom");
    let (n, oom) = {
        let d = &loaded(&h).analysis.devices[0];
        (d.events, d.ooms[0].event)
    };
    assert!(n > 100, "frag_oom has a trace");
    // The cursor moved elsewhere (Segments' Next OOM): the list shows its row.
    click_view(&mut h, ViewId::Segments);
    h.get_by_label("Next OOM").click();
    h.run_steps(3);
    let key = ViewId::ALL
        .iter()
        .position(|&v| v == ViewId::Events)
        .unwrap()
        + 1;
    h.key_press(egui::Key::from_name(&key.to_string()).unwrap());
    h.run_steps(3);
    assert_eq!(view(&h), ViewId::Events);
    assert!(h.query_by_label(&format!("{n} of {n} events")).is_some());
    let oom_size = loaded(&h).snap.trace(0).unwrap().events[oom].size;
    assert!(
        h.query_by_label(&oom.to_string()).is_some(),
        "the cursor's row"
    );
    assert!(h.query_by_label("oom").is_some());
    let size = memsight::ui::view::short_bytes(oom_size);
    assert!(h.query_all_by_label(&size).count() >= 1, "{size}");

    // A click on a row moves the cursor there and selects its allocation.
    let (target, alloc, site) = {
        let d = &loaded(&h).analysis.devices[0];
        let target = (oom - 8..oom)
            .rev()
            .find(|&e| d.replay.event_allocation[e] != NONE)
            .expect("an allocation's event just before the OOM");
        let k = d.replay.event_allocation[target];
        (target, k, d.allocation_site[k as usize])
    };
    h.get_by_label(&target.to_string()).click();
    h.run_steps(2);
    let focus = &h.state().active_tab().unwrap().focus;
    assert_eq!(focus.cursor, target);
    assert_eq!(focus.selection.allocation, Some(alloc));
    assert_eq!(focus.selection.site, Some(site));
    // Hovering a row shows its stack.
    h.get_by_label(&target.to_string()).hover();
    h.run_steps(40);
    assert!(h
        .query_by_label_contains("click to move the time cursor here")
        .is_some());

    // The keyboard steps through the rows.
    for (key, want) in [
        (egui::Key::ArrowDown, target + 1),
        (egui::Key::ArrowUp, target),
        (egui::Key::End, n - 1),
        (egui::Key::Home, 0),
    ] {
        h.key_press(key);
        h.run_steps(2);
        assert_eq!(
            h.state().active_tab().unwrap().focus.cursor,
            want,
            "{key:?}"
        );
    }

    // Find address (Ctrl+F from another view): an address inside one of the 40 MiB pieces.
    let (addr, expected_allocs) = {
        let d = &loaded(&h).analysis.devices[0];
        let a = d.replay.allocations[alloc as usize];
        let addr = a.addr + a.size / 2;
        // Truth from the allocations' lifetimes, not from scanning events.
        let mut want: Vec<usize> = d
            .replay
            .allocations
            .iter()
            .filter(|b| b.addr <= addr && addr < b.addr + b.size)
            .flat_map(|b| [b.alloc_event, b.free_requested, b.free_completed])
            .filter(|&e| e != NONE)
            .map(|e| e as usize)
            .collect();
        want.sort_unstable();
        (addr, want)
    };
    click_view(&mut h, ViewId::Timeline);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run_steps(2);
    assert_eq!(view(&h), ViewId::Events);
    h.event(egui::Event::Text(format!("{addr:#x}")));
    h.run_steps(3);
    let listed = listed_events(&h);
    let events = &loaded(&h).snap.trace(0).unwrap().events;
    let r = &loaded(&h).analysis.devices[0].replay;
    let (blocks, segments): (Vec<usize>, Vec<usize>) =
        listed.iter().partition(|&&e| r.event_allocation[e] != NONE);
    assert!(!expected_allocs.is_empty());
    assert_eq!(blocks, expected_allocs, "the block events at {addr:#x}");
    assert!(
        !segments.is_empty(),
        "the segment holding {addr:#x} is listed"
    );
    for e in segments {
        let ev = &events[e];
        assert!(matches!(
            ev.action,
            Action::SegmentAlloc | Action::SegmentFree
        ));
        assert!(ev.addr <= addr && addr < ev.addr + ev.size);
    }
    let shown = format!("{} of {n} events", listed.len());
    assert!(h.query_by_label(&shown).is_some(), "{shown}");

    // An action and a size range narrow the same way; nothing left says so.
    let ev = &mut h.state_mut().active_tab_mut().unwrap().views.events;
    ev.address.clear();
    ev.action = Some(Action::Alloc);
    ev.min_size = "600 MiB".into();
    h.run_steps(3);
    let big: Vec<usize> = events_where(&h, |e| e.action == Action::Alloc && e.size >= 600 << 20);
    assert!(!big.is_empty());
    assert_eq!(listed_events(&h), big);
    h.state_mut()
        .active_tab_mut()
        .unwrap()
        .views
        .events
        .max_size = "1 KiB".into();
    h.run_steps(3);
    assert!(h.query_by_label_contains("No event matches").is_some());

    // Text: the events with a frame at workloads.py line 172 (the 40 MiB pieces).
    let ev = &mut h.state_mut().active_tab_mut().unwrap().views.events;
    ev.action = None;
    ev.min_size.clear();
    ev.max_size.clear();
    ev.text = "WORKLOADS.py:172".into();
    h.run_steps(3);
    let snap = &loaded(&h).snap;
    let at_172 = events_where(&h, |e| {
        snap.stacks.get(e.stack).iter().any(|&f| {
            snap.frames.filename(f).ends_with("workloads.py") && snap.frames.get(f).line == 172
        })
    });
    assert!(at_172.len() > 10, "frag_oom carves its segment at line 172");
    assert_eq!(listed_events(&h), at_172);
}

fn events_where(
    h: &Harness<'static, MemsightApp>,
    keep: impl Fn(&memsight::model::Event) -> bool,
) -> Vec<usize> {
    let events = &loaded(h).snap.trace(0).unwrap().events;
    (0..events.len()).filter(|&i| keep(&events[i])).collect()
}

/// Steps the app until the Diff view has its table.
fn wait_diff(h: &mut Harness<'static, MemsightApp>) -> memsight::ui::views::diff::Table {
    let t = Instant::now();
    loop {
        h.step();
        let v = &h.state().active_tab().expect("a tab").views.diff;
        if let (false, Some(table)) = (v.busy(), v.table()) {
            let table = table.clone();
            h.run_steps(2);
            return table;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no diff came");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `memsight diff A B --json` with these points, as the terminal user runs it.
fn cli_diff(a: &std::path::Path, b: &std::path::Path, at: [&str; 2]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memsight"))
        .args(["diff", "--json", "--at-a", at[0], "--at-b", at[1]])
        .args([a, b])
        .output()
        .expect("memsight runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("diff --json is JSON")
}

/// The view's table holds exactly the numbers of `memsight diff --json`, site by site.
fn assert_same_as_cli(t: &memsight::ui::views::diff::Table, cli: &serde_json::Value) {
    for side in ["a", "b"] {
        let s = if side == "a" { &t.diff.a } else { &t.diff.b };
        assert_eq!(cli[side]["allocated"], s.allocated, "allocated at {side}");
        assert_eq!(
            cli[side]["event"],
            serde_json::json!(s.event),
            "event of {side}"
        );
    }
    let rows = cli["sites"].as_array().expect("sites");
    assert_eq!(rows.len(), t.diff.sites.len());
    for (x, y) in t.diff.sites.iter().zip(rows) {
        assert_eq!(y["label"], x.label.as_str());
        assert_eq!(y["function"], x.function.as_str());
        assert_eq!(y["a"]["live_bytes"], x.a.live_bytes, "{}", x.label);
        assert_eq!(y["b"]["live_bytes"], x.b.live_bytes, "{}", x.label);
        assert_eq!(y["a"]["live_blocks"], x.a.live_blocks, "{}", x.label);
        assert_eq!(y["b"]["live_blocks"], x.b.live_blocks, "{}", x.label);
        assert_eq!(y["delta_bytes"], x.delta_bytes, "{}", x.label);
        assert_eq!(y["change"], x.change.name(), "{}", x.label);
    }
}

/// The Diff view opens on the first iteration against the last: the leaking line grew most,
/// the totals are the allocated bytes the replay has at those events, and every row is what
/// `memsight diff` prints for the same points; two other points compare the same way, and a
/// click on a row selects its call site.
#[test]
fn the_diff_view_compares_two_moments_as_memsight_diff_does() {
    let path = common::require("train_val_leak");
    let mut h = app_with(vec![Source::Path(path.clone())]);
    click_view(&mut h, ViewId::Diff);
    assert!(h
        .query_by_label_contains("Open another file to compare with it")
        .is_some());
    let t = wait_diff(&mut h);
    let (ea, eb, top) = {
        let tab = h.state().active_tab().expect("a tab");
        let d = &tab.loaded().expect("loaded").analysis.devices[0];
        let b = &d.iterations.boundaries;
        let (ea, eb) = (b[0], b[b.len() - 1]);
        // The site that grew most, from the live blocks at both events.
        let live = |e| memsight::ui::data::live_by_site(d, e);
        let at = |v: &[memsight::ui::data::SiteBytes], s| {
            v.iter().find(|x| x.site == s).map_or(0, |x| x.bytes as i64)
        };
        let (la, lb) = (live(ea), live(eb));
        let top = lb
            .iter()
            .max_by_key(|x| x.bytes as i64 - at(&la, x.site))
            .map(|x| d.sites.sites[x.site as usize].short_label())
            .expect("something is live at the end");
        let alloc = |e: usize| d.replay.series.at(e).allocated;
        assert_eq!(t.diff.a.allocated, alloc(ea));
        assert_eq!(t.diff.b.allocated, alloc(eb));
        (alloc(ea), alloc(eb), top)
    };
    assert_eq!(top, "workloads.py:158", "the leak grew most");
    assert_eq!(t.diff.sites[0].label, top, "largest change first");
    for total in [ea, eb] {
        let text = memsight::units::bytes(total);
        assert!(
            h.query_all_by_label(&text).count() >= 1,
            "the totals show {text}"
        );
    }
    assert_same_as_cli(&t, &cli_diff(&path, &path, ["iteration:0", "iteration:-1"]));

    // Two other moments: the start against the peak.
    {
        let v = &mut h.state_mut().active_tab_mut().expect("a tab").views.diff;
        v.a = memsight::ui::views::diff::Pick::Start;
        v.b = memsight::ui::views::diff::Pick::Peak;
    }
    let t = wait_diff(&mut h);
    assert_same_as_cli(&t, &cli_diff(&path, &path, ["event:0", "peak"]));

    h.get_by_label(&top).click();
    h.run_steps(3);
    let tab = h.state().active_tab().expect("a tab");
    let d = &tab.loaded().expect("loaded").analysis.devices[0];
    let site = tab.focus.selection.site.expect("a click selects the site");
    assert_eq!(d.sites.sites[site as usize].short_label(), top);
    assert_eq!(view(&h), ViewId::Diff, "a click stays in the view");
}

/// Two open files: the fragmented run against the one with expandable segments, at their
/// peaks, as `memsight diff frag_oom.pickle frag_oom_expandable.pickle` compares them.
#[test]
fn the_diff_view_compares_two_open_files() {
    let (a, b) = (
        common::require("frag_oom"),
        common::require("frag_oom_expandable"),
    );
    let mut h = app_with(vec![Source::Path(b.clone()), Source::Path(a.clone())]);
    assert_eq!(h.state().active, 1, "frag_oom in view");
    click_view(&mut h, ViewId::Diff);
    assert!(h
        .query_by_label_contains("Open another file to compare with it")
        .is_none());
    // A trace whose iterations end with nothing live opens on a pair that shows a change.
    let t = wait_diff(&mut h);
    assert!(t.diff.sites.iter().any(|x| x.delta_bytes != 0));
    let other = h.state().tabs[0].source.title();
    {
        let v = &mut h.state_mut().active_tab_mut().expect("a tab").views.diff;
        v.other = Some(other.clone());
        v.a = memsight::ui::views::diff::Pick::Peak;
        v.b = memsight::ui::views::diff::Pick::Peak;
    }
    let t = wait_diff(&mut h);
    assert!(h.query_by_label_contains(&format!("B ({other})")).is_some());
    assert_same_as_cli(&t, &cli_diff(&a, &b, ["peak", "peak"]));
    let tab = &h.state().tabs[0];
    let peak_b = tab.loaded().expect("loaded").analysis.devices[0]
        .peak
        .allocated;
    assert_eq!(
        t.diff.b.allocated, peak_b,
        "B is the other file at its peak"
    );
}

#[test]
fn a_call_site_has_the_same_colour_in_the_app_and_the_html_report() {
    use memsight::ui::theme;
    let h = app("train_val_leak");
    let l = loaded(&h);
    let (d, dd) = (&l.analysis.devices[0], &l.devices[0]);
    // The app's colour of a site in the light theme, the report's background.
    let app_colour = |s: usize| {
        let c =
            dd.site_fixed[s].unwrap_or_else(|| theme::site_color(dd.site_tone[s].0, 0.0, false));
        format!("#{:02x}{:02x}{:02x}", c.r(), c.g(), c.b())
    };
    let report = memsight::output::report::model::device_report(&l.snap, d);
    let html = memsight::output::report::render_with(
        &l.snap,
        &l.analysis,
        &memsight::output::report::ReportOptions::default(),
        memsight::output::report::ReportFormat::Html,
    );
    let mut checked = 0;
    for band in &report.timeline.bands {
        if band.kind == memsight::output::report::model::BandKind::Other {
            continue;
        }
        let site = (0..d.sites.sites.len())
            .find(|&s| {
                let x = &d.sites.sites[s];
                if band.label == memsight::analysis::sites::NO_STACK {
                    x.file == "<unknown>"
                } else {
                    band.label.starts_with(&x.short_label())
                }
            })
            .unwrap_or_else(|| panic!("no call site for band {:?}", band.label));
        assert_eq!(band.colour, app_colour(site), "band {:?}", band.label);
        assert!(html.contains(&format!("fill=\"{}\"", band.colour)));
        checked += 1;
    }
    assert!(checked >= 3, "the chart has several call sites");
    // The leak suspect takes the first warm colour in both.
    let leak = d.leaks[0].site as usize;
    let warm = memsight::output::colours::hex(memsight::output::colours::LEAK_PALETTE[0]);
    assert_eq!(app_colour(leak), warm);
}
