//! The timeline's axes and marks: byte gridlines, event or time ticks, iteration boundaries,
//! snapshot markers and OOMs.

use egui::{pos2, Color32, Painter, Stroke};

use crate::ui::theme;
use crate::ui::view::{short_bytes, ViewCtx};

use super::clock::Clock;
use super::frame::Frame;

/// How the horizontal axis is ticked (event numbers when none).
#[derive(Clone, Copy)]
pub(super) enum Ticks<'a> {
    /// Round times, on the event layout.
    TimeOnEvents(Clock<'a>),
    /// Round times, on the wall clock (the window is in microseconds).
    WallClock,
}

/// A "nice" step (1, 2 or 5 times a power of ten) for about `target` units.
fn nice_step(target: f64) -> f64 {
    let p = 10f64.powf(target.max(1e-9).log10().floor());
    let m = target / p;
    p * if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    }
}

pub(super) fn grid(painter: &Painter, f: &Frame, dark: bool, left: f32, ticks: Option<Ticks>) {
    let line = if dark {
        Color32::from_gray(0x33)
    } else {
        Color32::from_gray(0xdd)
    };
    let text = if dark {
        Color32::from_gray(0xaa)
    } else {
        Color32::from_gray(0x55)
    };
    let font = egui::FontId::proportional(11.0);
    // Bytes: a power-of-two step for about five lines.
    let step = 2f64.powf((f.ymax / 5.0).max(1.0).log2().ceil());
    let mut v = step;
    while v < f.ymax {
        let y = f.y(v);
        painter.hline(f.rect.x_range(), y, Stroke::new(1.0, line));
        painter.text(
            pos2(left + 4.0, y),
            egui::Align2::LEFT_CENTER,
            short_bytes(v as u64),
            font.clone(),
            text,
        );
        v += step;
    }
    // The horizontal axis: time since the first event where the file has it, else events.
    let timed = match ticks {
        Some(Ticks::TimeOnEvents(clock)) => time_ticks(f, clock),
        Some(Ticks::WallClock) => Some(wall_ticks(f)),
        None => None,
    };
    let (ticks, name) = match timed {
        Some(ticks) => (ticks, "time"),
        None => (event_ticks(f), "event"),
    };
    for (x, label) in ticks {
        painter.vline(
            x,
            f.rect.y_range(),
            Stroke::new(1.0, line.gamma_multiply(0.6)),
        );
        painter.text(
            pos2(x, f.rect.bottom() + 3.0),
            egui::Align2::CENTER_TOP,
            label,
            font.clone(),
            text,
        );
    }
    painter.text(
        pos2(f.rect.right(), f.rect.bottom() + 3.0),
        egui::Align2::RIGHT_TOP,
        name,
        font,
        text,
    );
}

/// Ticks (x, label) at round event numbers.
fn event_ticks(f: &Frame) -> Vec<(f32, String)> {
    let span = f.w.t1 - f.w.t0;
    let estep = nice_step(span / 8.0).max(1.0);
    let mut e = (f.w.t0 / estep).ceil() * estep;
    let mut out = Vec::new();
    while e <= f.w.t1 {
        let x = f.x(e);
        if x > f.rect.right() - 40.0 {
            break; // room for the axis name
        }
        out.push((x, event_label(e as u64)));
        e += estep;
    }
    out
}

/// Ticks (x, label) in time since the first event, spread evenly over the plot.
///
/// The plot is laid out by event, and a job's time is far from uniform over its events (a
/// real sample spends 6 s on its first 300 events and 0.14 s on the next 2,800), so ticks at
/// evenly spaced times would pile up in a few pixels. Instead, each of about eight evenly
/// spaced positions gets the time there rounded to a step that suits the local pace, and the
/// tick sits at the first event at or after that exact time. `None` when the window spans no
/// time.
fn time_ticks(f: &Frame, clock: Clock) -> Option<Vec<(f32, String)>> {
    let at = |e: f64| clock.time(e.max(0.0) as usize);
    let (t0, t1) = (f.w.t0, f.w.t1);
    if at(t1.ceil() - 1.0) <= at(t0.floor()) {
        return None;
    }
    const TICKS: usize = 8;
    let span = (t1 - t0) / TICKS as f64;
    // (x, time, step) of each tick kept.
    let mut out: Vec<(f32, f64, f64)> = Vec::new();
    for i in 0..=TICKS {
        let e = t0 + span * i as f64;
        // How fast time moves here: over one tick interval around this position.
        let pace = (at(e + span / 2.0) - at(e - span / 2.0)).max(1.0);
        let step = nice_step(pace / 4.0).max(1.0);
        let t = (at(e) / step).round() * step;
        let tick = clock.first_at_or_after(t);
        let x = f.x(tick as f64);
        if x < f.rect.left() || x > f.rect.right() - 60.0 {
            continue; // outside, or where the axis name goes
        }
        if out
            .last()
            .is_some_and(|&(lx, lt, _)| x - lx < 64.0 || lt == t)
        {
            continue; // times bunch up where the job was fast; keep labels apart
        }
        out.push((x, t, step));
    }
    Some(same_precision(out))
}

/// Labels for ticks (x, time, step) of different steps, all in one unit (that of the
/// largest) with the decimals of the finest step, so they read alike ("0.000 s, 4.055 s",
/// not "0 s, 4.0554 s, 4.08093 s").
fn same_precision(ticks: Vec<(f32, f64, f64)>) -> Vec<(f32, String)> {
    let finest = ticks.iter().map(|t| t.2).fold(f64::INFINITY, f64::min);
    let big = ticks.iter().map(|t| t.1.abs()).fold(0.0, f64::max);
    ticks
        .into_iter()
        .map(|(x, t, _)| (x, label_in(t, finest, big)))
        .collect()
}

/// Ticks (x, label) at round times on the wall clock (the window is in microseconds): evenly
/// spaced, so all share one step, and one unit (that of the window's end), so all read with
/// the same precision ("6.110 s, 6.115 s, 6.120 s").
fn wall_ticks(f: &Frame) -> Vec<(f32, String)> {
    let (t0, t1) = (f.w.t0, f.w.t1);
    let step = nice_step((t1 - t0) / 8.0).max(1.0);
    let big = t1.abs().max(step);
    let mut out = Vec::new();
    let mut i = (t0 / step).ceil();
    while i * step <= t1 {
        let t = i * step;
        let x = f.x(t);
        if x > f.rect.right() - 60.0 {
            break; // room for the axis name
        }
        out.push((x, label_in(t, step, big)));
        i += 1.0;
    }
    out
}

/// `t` microseconds as a tick label: in the unit of `size` microseconds, or of the step if
/// larger (6.065 s, not 6065 ms), with as many decimals as the step needs. Ticks that share
/// `size` and `step` share a unit and a precision.
fn label_in(t_us: f64, step_us: f64, size: f64) -> String {
    let big = size.max(step_us);
    let (unit, scale) = if big >= 1e6 {
        ("s", 1e6)
    } else if big >= 1e3 {
        ("ms", 1e3)
    } else {
        ("µs", 1.0)
    };
    let decimals = (-(step_us / scale).log10().floor()).max(0.0) as usize;
    format!("{:.*} {unit}", decimals, t_us / scale)
}

fn event_label(e: u64) -> String {
    if e >= 1_000_000 && e.is_multiple_of(100_000) {
        format!("{:.1}M", e as f64 / 1e6)
    } else if e >= 10_000 && e.is_multiple_of(1000) {
        format!("{}k", e / 1000)
    } else {
        e.to_string()
    }
}

pub(super) fn markers(painter: &Painter, cx: &ViewCtx, f: &Frame, dark: bool) {
    let rect = f.rect;
    let (first, end) = f.visible(cx.analysis.events);
    let in_view = |e: usize| e >= first && e <= end;
    // Iteration boundaries: ticks under the plot, thinned to at least 4 px apart.
    let mut last_x = f32::NEG_INFINITY;
    let tick = theme::reserved(dark).gamma_multiply(0.5);
    let b = &cx.analysis.iterations.boundaries;
    let from = b.partition_point(|&e| e < first);
    for &e in &b[from..] {
        if !in_view(e) {
            break;
        }
        let x = f.x_event(e as f64 + 1.0);
        if x - last_x >= 4.0 && rect.x_range().contains(x) {
            painter.vline(
                x,
                (rect.bottom() - 6.0)..=rect.bottom(),
                Stroke::new(1.0, tick),
            );
            last_x = x;
        }
    }
    // Snapshot markers.
    let m = &cx.analysis.markers;
    let from = m.partition_point(|mk| mk.event < first);
    let mut last_x = f32::NEG_INFINITY;
    for mk in &m[from..] {
        if !in_view(mk.event) {
            break;
        }
        let x = f.x_event(mk.event as f64 + 0.5);
        if x - last_x >= 3.0 && rect.x_range().contains(x) {
            painter.vline(
                x,
                rect.y_range(),
                Stroke::new(1.0, theme::marker(dark).gamma_multiply(0.3)),
            );
            last_x = x;
        }
    }
    // OOMs.
    for o in &cx.analysis.ooms {
        let x = f.x_event(o.event as f64 + 0.5);
        if in_view(o.event) && rect.x_range().contains(x) {
            painter.vline(x, rect.y_range(), Stroke::new(2.0, theme::oom(dark)));
            painter.text(
                pos2(x + 3.0, rect.top() + 2.0),
                egui::Align2::LEFT_TOP,
                format!("OOM {}", short_bytes(o.requested)),
                egui::FontId::proportional(11.0),
                theme::oom(dark),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{label_in, same_precision};

    fn time_label(t: f64, step: f64) -> String {
        label_in(t, step, t.abs())
    }

    #[test]
    fn time_labels_use_the_unit_of_their_size_and_the_decimals_of_their_step() {
        assert_eq!(time_label(0.0, 1e6), "0 s");
        assert_eq!(time_label(6_065_000.0, 5_000.0), "6.065 s");
        assert_eq!(time_label(2_500_000.0, 500_000.0), "2.5 s");
        assert_eq!(time_label(120e6, 20e6), "120 s");
        assert_eq!(time_label(250_000.0, 50_000.0), "250 ms");
        assert_eq!(time_label(1_500.0, 100.0), "1.5 ms");
        assert_eq!(time_label(20.0, 10.0), "20 µs");
    }

    #[test]
    fn ticks_of_different_steps_read_with_one_precision() {
        let ticks = vec![
            (0.0, 0.0, 1e6),
            (1.0, 4_054_860.0, 10.0),
            (2.0, 4_055_400.0, 100.0),
        ];
        let labels: Vec<String> = same_precision(ticks).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0.00000 s", "4.05486 s", "4.05540 s"]);
    }

    #[test]
    fn wall_clock_labels_share_the_unit_and_decimals_of_the_window() {
        // A window ending at 6.12 s ticked every 5 ms: every label in seconds, 3 decimals.
        let labels: Vec<String> = [6_110_000.0, 6_115_000.0, 6_120_000.0]
            .iter()
            .map(|&t| label_in(t, 5_000.0, 6_120_000.0))
            .collect();
        assert_eq!(labels, ["6.110 s", "6.115 s", "6.120 s"]);
        // From the start: 0 reads in the unit of the others.
        assert_eq!(label_in(0.0, 500_000.0, 3e6), "0.0 s");
        assert_eq!(label_in(500_000.0, 500_000.0, 3e6), "0.5 s");
    }
}
