//! The app driven through egui_kittest: real files, real clicks, real analysis.
#![cfg(feature = "gui")]

#[path = "ui/calltree.rs"]
mod calltree;
mod common;
#[path = "ui/diagnosis.rs"]
mod diagnosis;
#[path = "ui/diff.rs"]
mod diff;
#[path = "ui/events.rs"]
mod events;
#[path = "ui/export.rs"]
mod export;
#[path = "ui/files.rs"]
mod files;
#[path = "ui/frame_time.rs"]
mod frame_time;
#[path = "ui/groups.rs"]
mod groups;
#[path = "ui/layout.rs"]
mod layout;
#[path = "ui/leaks.rs"]
mod leaks;
#[path = "ui/segments.rs"]
mod segments;
#[path = "ui/timeline.rs"]
mod timeline;
#[path = "ui/views.rs"]
mod views;
#[path = "ui/wallclock.rs"]
mod wallclock;
#[path = "ui/whatif.rs"]
mod whatif;

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::preferences::Preferences;
use memsight::ui::tab::TabState;
use memsight::ui::MemsightApp;

/// The app's window in most tests.
const WINDOW: (f32, f32) = (1500.0, 950.0);

/// The app opening `sources` in a window of `size`, drawn by wgpu where `wgpu` is set; it is
/// not stepped yet.
fn start(size: (f32, f32), sources: Vec<Source>, wgpu: bool) -> Harness<'static, MemsightApp> {
    let builder = Harness::builder().with_size(egui::vec2(size.0, size.1));
    let builder = if wgpu { builder.wgpu() } else { builder };
    builder.build_eframe(move |cc| {
        MemsightApp::with_sources(&cc.egui_ctx, Preferences::default(), sources)
    })
}

/// The app with `sources` loaded, in a window of `size`.
fn app_sized(sources: Vec<Source>, size: (f32, f32)) -> Harness<'static, MemsightApp> {
    let mut h = start(size, sources, false);
    wait_loaded(&mut h, Duration::from_secs(600));
    h
}

fn app_with(sources: Vec<Source>) -> Harness<'static, MemsightApp> {
    app_sized(sources, WINDOW)
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
    focus(h).view
}

/// The focus (view, cursor, selection) of the tab in view.
fn focus<'a>(h: &'a Harness<'static, MemsightApp>) -> &'a memsight::ui::focus::Focus {
    &h.state().active_tab().expect("a tab").focus
}

fn click_view(h: &mut Harness<'static, MemsightApp>, v: ViewId) {
    h.get_by_label(v.label()).click();
    h.run_steps(3);
    assert_eq!(view(h), v);
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

/// Steps the app, at least once, until `done` holds of it; fails saying `what` after `limit`.
fn step_until(
    h: &mut Harness<'static, MemsightApp>,
    limit: Duration,
    what: &str,
    done: impl Fn(&MemsightApp) -> bool,
) {
    let t = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            return;
        }
        assert!(t.elapsed() < limit, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Steps the app until its background work (the timeline's bands, What if's simulations, the
/// call tree's build, the Diff's comparison) is done: the view is checked as it ends up.
fn settle(h: &mut Harness<'static, MemsightApp>) {
    step_until(
        h,
        Duration::from_secs(120),
        "the view's work did not finish",
        |a| !a.active_tab().expect("a tab").busy(),
    );
    h.run_steps(4);
}

/// Steps the app until the Call tree view has a tree that is (or is not) a growth tree.
fn wait_tree(h: &mut Harness<'static, MemsightApp>, growth: bool) {
    step_until(h, Duration::from_secs(60), "no call tree came", |a| {
        let v = &a.active_tab().expect("a tab").views.calltree;
        !v.busy() && v.tree().is_some_and(|b| b.tree.is_growth() == growth)
    });
    h.run_steps(2);
}

/// A click on the Call tree's outermost frame, the largest on the left: under the headline
/// that starts with `headline`, row 0 is the root and row 1 (20 px rows) that frame.
fn click_outermost_frame(h: &mut Harness<'static, MemsightApp>, headline: &str) {
    let head = h.get_by_label_contains(headline).rect();
    click_at(h, egui::pos2(head.left() + 20.0, head.bottom() + 34.0));
}

/// The app on sample `name` in the Timeline view, its toolbar's `option` clicked.
fn timeline_with(name: &str, option: &str) -> Harness<'static, MemsightApp> {
    let mut h = app(name);
    click_view(&mut h, ViewId::Timeline);
    h.get_by_label(option).click();
    h.run_steps(3);
    h
}

/// The device's analysis and trace of the first tab, for tests that compute their truth.
fn loaded<'a>(h: &'a Harness<'static, MemsightApp>) -> &'a memsight::ui::data::Loaded {
    match &h.state().active_tab().expect("a tab").state {
        TabState::Ready(l) => l,
        _ => panic!("not loaded"),
    }
}

fn events_where(
    h: &Harness<'static, MemsightApp>,
    keep: impl Fn(&memsight::model::Event) -> bool,
) -> Vec<usize> {
    let events = &loaded(h).snap.trace(0).unwrap().events;
    (0..events.len()).filter(|&i| keep(&events[i])).collect()
}
