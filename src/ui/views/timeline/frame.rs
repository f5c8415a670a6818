//! The visible window of the timeline and the plot's scales, shared by its drawing modules.

use egui::Rect;

use super::clock::Clock;

/// The visible part of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindow {
    /// First and last visible position (fractional while zooming): events, or microseconds
    /// since the first event when `wall`.
    pub t0: f64,
    pub t1: f64,
    /// Whether the window is on the wall-clock axis (positions in microseconds).
    pub wall: bool,
}

/// The plot area and its scales. With a `clock`, x is linear in time (the wall-clock axis);
/// without, one column per event.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub rect: Rect,
    pub w: TimeWindow,
    pub ymax: f64,
    pub clock: Option<Clock<'a>>,
}

impl Frame<'_> {
    /// The x of window position `u` (an event, or microseconds on the wall clock).
    pub fn x(&self, u: f64) -> f32 {
        self.rect.left() + ((u - self.w.t0) / (self.w.t1 - self.w.t0)) as f32 * self.rect.width()
    }

    /// The x of event position `e` (`e + 0.5`: the middle of its column on the event layout;
    /// on the wall clock an event is the instant of its time, so the fraction is dropped).
    pub fn x_event(&self, e: f64) -> f32 {
        match &self.clock {
            Some(c) => self.x(c.time(e.max(0.0) as usize)),
            None => self.x(e),
        }
    }

    /// The window position at x.
    pub fn at_x(&self, x: f32) -> f64 {
        self.w.t0 + ((x - self.rect.left()) / self.rect.width()) as f64 * (self.w.t1 - self.w.t0)
    }

    /// The events shown between window positions `u0` and `u1` of a trace of `n` events
    /// (`n > 0`): never empty, so every column has a state to show.
    pub fn events_in(&self, u0: f64, u1: f64, n: usize) -> (usize, usize) {
        match &self.clock {
            Some(c) => c.events_in(u0, u1),
            None => {
                let a = (u0.max(0.0).floor() as usize).min(n - 1);
                (a, (u1.ceil().max(0.0) as usize).clamp(a + 1, n))
            }
        }
    }

    /// The events of the visible window.
    pub fn visible(&self, n: usize) -> (usize, usize) {
        self.events_in(self.w.t0, self.w.t1, n)
    }

    pub fn y(&self, bytes: f64) -> f32 {
        self.rect.bottom() - (bytes / self.ymax) as f32 * self.rect.height()
    }
}

#[cfg(test)]
mod tests {
    use egui::{pos2, Rect};

    use super::{Clock, Frame, TimeWindow};
    use crate::model::{Action, Event};

    fn event(time_us: i64) -> Event {
        Event {
            time_us,
            ..Event::new(Action::Alloc)
        }
    }

    #[test]
    fn the_wall_clock_lays_events_out_linearly_in_time() {
        // A burst of three events, a 1 s pause, one more.
        let ev: Vec<Event> = [0, 10, 20, 1_000_020].into_iter().map(event).collect();
        let rect = Rect::from_min_max(pos2(100.0, 0.0), pos2(1100.0, 100.0));
        let w = TimeWindow {
            t0: 0.0,
            t1: 1_000_020.0,
            wall: true,
        };
        let wall = Frame {
            rect,
            w,
            ymax: 1.0,
            clock: Clock::new(&ev),
        };
        assert_eq!(wall.x_event(0.0), 100.0);
        assert_eq!(wall.x_event(3.5), 1100.0);
        // The pause takes almost the whole width, the burst a pixel.
        assert!((wall.x_event(3.0) - wall.x_event(2.0) - 999.98).abs() < 0.01);
        assert!(wall.x_event(2.0) - wall.x_event(0.0) < 0.1);
        // A click in the pause lands on the last event before it.
        assert_eq!(wall.visible(4), (0, 4));
        let t = wall.at_x(600.0);
        assert_eq!(wall.clock.map(|c| c.event_at(t)), Some(2));
        // The event layout gives each event a quarter.
        let events = Frame {
            w: TimeWindow {
                t0: 0.0,
                t1: 4.0,
                wall: false,
            },
            clock: None,
            ..wall
        };
        assert_eq!(events.x_event(2.0), 600.0);
        assert_eq!(events.events_in(1.2, 2.5, 4), (1, 3));
    }
}
