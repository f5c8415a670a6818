//! The timeline's wall-clock axis: x linear in time, and a click lands on the event the hover
//! names there: its pixel column's sample, the event of the column where the allocated total
//! peaks (in a pause, the event in force). Checked against the trace's own `time_us`.

use egui_kittest::kittest::{By, NodeT, Queryable};
use egui_kittest::Harness;

use memsight::model::Event;
use memsight::ui::views::timeline::{Clock, Frame, TimeWindow};
use memsight::ui::MemsightApp;

use super::{click_at, focus, timeline_with};

/// The allocated total the timeline draws at each event (no filter is set).
fn totals(h: &Harness<'static, MemsightApp>) -> Vec<u64> {
    let doc = h.state().active_tab().expect("a tab");
    let loaded = doc.loaded().expect("a loaded file");
    let (_, dd) = loaded.device(doc.focus.device).expect("a device");
    dd.lod.get().expect("the timeline is built").total.clone()
}

/// The events the plot's pixel column at `x` shows (as the view splits the window into one
/// column per pixel), and the one it samples: where the allocated total peaks among them.
fn column(f: &Frame, x: f32, totals: &[u64]) -> (std::ops::Range<usize>, u64) {
    let cols = f.rect.width() as usize;
    let c = ((x - f.rect.left()) / f.rect.width() * cols as f32) as usize;
    let step = (f.w.t1 - f.w.t0) / cols as f64;
    let u0 = f.w.t0 + c as f64 * step;
    let (a, b) = f.events_in(u0, u0 + step, totals.len());
    let peak = totals[a..b]
        .iter()
        .copied()
        .max()
        .expect("a column has events");
    (a..b, peak)
}

/// The event the timeline's hover names (its first line, "event N  time").
fn hovered_event(h: &Harness<'static, MemsightApp>) -> Option<usize> {
    h.query_all(By::new().include_labels()).find_map(|n| {
        let a = n.accesskit_node();
        let text = a.value().or(a.label())?;
        text.strip_prefix("event ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

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
    focus(h).cursor
}

#[test]
fn the_wall_clock_axis_is_linear_in_time_and_a_click_lands_on_its_columns_peak() {
    let mut h = timeline_with("frag_oom", "wall clock");
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
    // Anywhere: the event the column under the pointer samples, where its total peaks.
    let totals = totals(&h);
    let after = (x1 + rect.right()) / 2.0;
    for x in [rect.left() + 3.0, x1 + 5.0, after, rect.right() - 3.0] {
        click_at(&mut h, egui::pos2(x, y));
        let (events_there, peak) = column(&f, x, &totals);
        let e = cursor(&h);
        assert!(
            events_there.contains(&e),
            "a click at x {x}: {e} in {events_there:?}"
        );
        assert_eq!(
            totals[e], peak,
            "a click at x {x} lands on the column's peak"
        );
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

/// Hovering a point of the wall-clock plot names an event; a click at the same point moves the
/// cursor to that event, also in a column of many events where the event in force at the exact
/// time is another one (frag_oom: a burst of allocations, then a 4 s pause).
#[test]
fn on_the_wall_clock_a_click_selects_the_event_the_hover_named() {
    let mut h = timeline_with("frag_oom", "wall clock");
    let (events, w, rect) = state(&h);
    let totals = totals(&h);
    let clock = Clock::new(&events);
    let f = Frame {
        rect,
        w,
        ymax: 1.0,
        clock,
    };
    // A column whose peak is not the event in force at its middle: there the two rules differ.
    let x = (0..rect.width() as usize)
        .map(|c| rect.left() + c as f32 + 0.5)
        .find(|&x| {
            let (_, peak) = column(&f, x, &totals);
            let in_force = clock.map(|c| c.event_at(f.at_x(x))).expect("timed");
            totals[in_force] < peak
        })
        .expect("a column where a burst peaks before its end");
    let p = egui::pos2(x, rect.bottom() - 4.0);
    h.hover_at(p);
    let mut named = None;
    for _ in 0..100 {
        h.step();
        named = hovered_event(&h);
        if named.is_some() {
            break;
        }
    }
    let named = named.expect("the hover names an event");
    let (events_there, peak) = column(&f, x, &totals);
    assert!(events_there.contains(&named), "{named} in {events_there:?}");
    assert_eq!(totals[named], peak, "the hover names the column's peak");
    click_at(&mut h, p);
    assert_eq!(cursor(&h), named, "the click lands where the hover said");
}
