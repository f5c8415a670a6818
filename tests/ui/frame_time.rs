//! Frame CPU time on the 1M-event trace while zooming, panning, scrubbing and filtering
//! (ignored: run by hand for BENCHMARKS.md).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::tab::TabState;

use super::{app_with, click_view, common, events_where, measure};

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
