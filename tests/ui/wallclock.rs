//! The timeline's wall-clock axis: x linear in time, and a click lands on the event in force
//! at the clicked time. Checked against the trace's own `time_us`.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::model::Event;
use memsight::ui::focus::ViewId;
use memsight::ui::views::timeline::{Clock, Frame, TimeWindow};
use memsight::ui::MemsightApp;

use super::{app, click_at, click_view};

/// The trace of the device in view, the timeline's window and where its plot is drawn.
fn state(h: &Harness<'static, MemsightApp>) -> (Vec<Event>, TimeWindow, egui::Rect) {
    let doc = h.state().active_tab().expect("a tab");
    let loaded = doc.loaded().expect("a loaded file");
    let (d, dd) = loaded.device(doc.focus.device).expect("a device");
    assert!(dd.timed, "the sample has usable times");
    let events = loaded.snap.trace(d.device).expect("a trace").events.clone();
    let t = &doc.views.timeline;
    (
        events,
        t.window.expect("a window"),
        t.plot_rect.expect("a plot"),
    )
}

fn cursor(h: &Harness<'static, MemsightApp>) -> usize {
    h.state().active_tab().expect("a tab").focus.cursor
}

#[test]
fn the_wall_clock_axis_is_linear_in_time_and_a_click_lands_on_the_event_in_force() {
    let mut h = app("frag_oom");
    click_view(&mut h, ViewId::Timeline);
    h.get_by_label("wall clock").click();
    h.run_steps(3);
    let (events, w, rect) = state(&h);
    let first = events[0].time_us;
    let span = (events[events.len() - 1].time_us - first) as f64;
    // The whole trace, in microseconds since the first event.
    assert!(w.wall, "{w:?}");
    assert!(
        w.t0.abs() < 1.0 && (w.t1 - span).abs() < 1.0,
        "{w:?} over {span} µs"
    );

    // The longest pause between two events.
    let (i, gap) = events
        .windows(2)
        .map(|p| p[1].time_us - p[0].time_us)
        .enumerate()
        .max_by_key(|&(_, g)| g)
        .expect("two events");
    let share = gap as f64 / span;
    assert!(share > 0.2, "frag_oom pauses: {gap} µs of {span}");
    let f = Frame {
        rect,
        w,
        ymax: 1.0,
        clock: Clock::new(&events),
    };
    let (x0, x1) = (f.x_event(i as f64), f.x_event(i as f64 + 1.0));
    let want = share as f32 * rect.width();
    assert!(
        (x1 - x0 - want).abs() < 1.0,
        "the pause spans {} px, {want} px expected",
        x1 - x0
    );

    // A click inside the pause: the cursor goes to the event before it.
    let y = rect.center().y;
    click_at(&mut h, egui::pos2((x0 + x1) / 2.0, y));
    assert_eq!(cursor(&h), i);
    // Anywhere: the last event at or before the clicked time.
    let after = (x1 + rect.right()) / 2.0;
    for x in [rect.left() + 3.0, x1 + 5.0, after, rect.right() - 3.0] {
        click_at(&mut h, egui::pos2(x, y));
        let t = f.at_x(x);
        let want = events.partition_point(|e| ((e.time_us - first) as f64) <= t) - 1;
        assert_eq!(cursor(&h), want, "a click at {t} µs");
        assert!(events[want].time_us - first <= t.ceil() as i64);
    }

    // Back on the event layout the same stretch of the trace stays in view.
    h.get_by_label("events").click();
    h.run_steps(3);
    let (_, back, _) = state(&h);
    assert!(
        !back.wall && back.t0 == 0.0 && back.t1 == events.len() as f64,
        "{back:?}"
    );
}
