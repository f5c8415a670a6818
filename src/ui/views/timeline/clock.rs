//! The wall-clock axis: window positions in microseconds since the first event, and the
//! events that hold at those times.
//!
//! Every lookup is a binary search over the trace's `time_us` (which `DeviceData::timed`
//! guarantees to be set and non-decreasing), so a frame costs a few searches per pixel column
//! however long the trace.

use crate::model::Event;

/// The trace's times, for mapping between wall-clock positions and events.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'a> {
    events: &'a [Event],
    first: i64,
}

impl<'a> Clock<'a> {
    /// `None` for a trace without events (there is no time to lay out).
    pub fn new(events: &'a [Event]) -> Option<Clock<'a>> {
        let first = events.first()?.time_us;
        Some(Clock { events, first })
    }

    /// Microseconds from the first event to the last, at least 1 (a window needs a width).
    pub fn span(&self) -> f64 {
        self.time(self.events.len() - 1).max(1.0)
    }

    /// Microseconds since the first event at event `e` (clamped to the trace).
    pub fn time(&self, e: usize) -> f64 {
        let e = e.min(self.events.len() - 1);
        (self.events[e].time_us - self.first) as f64
    }

    /// The last event at or before `t_us` (the first event for a time before it): the state
    /// the plot shows at that time.
    pub fn event_at(&self, t_us: f64) -> usize {
        self.before(t_us, true).saturating_sub(1)
    }

    /// The first event at or after `t_us` (the event count if none).
    pub fn first_at_or_after(&self, t_us: f64) -> usize {
        self.before(t_us, false)
    }

    /// The events whose states show between `t0` and `t1`: the one holding at `t0`, then
    /// every event up to `t1` (an event on a column's edge counts in both columns, so the
    /// trace's last event is in the last one). Never empty, so a column between two distant
    /// events still shows the state that holds there.
    pub fn events_in(&self, t0: f64, t1: f64) -> (usize, usize) {
        let a = self.event_at(t0);
        let b = self.before(t1, true).clamp(a + 1, self.events.len());
        (a, b)
    }

    /// How many events come before `t_us` (`inclusive`: or at it).
    fn before(&self, t_us: f64, inclusive: bool) -> usize {
        self.events.partition_point(|ev| {
            let t = (ev.time_us - self.first) as f64;
            if inclusive {
                t <= t_us
            } else {
                t < t_us
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;
    use crate::model::{Action, Event};

    fn at(times: &[i64]) -> Vec<Event> {
        times
            .iter()
            .map(|&time_us| Event {
                time_us,
                ..Event::new(Action::Alloc)
            })
            .collect()
    }

    #[test]
    fn times_are_relative_to_the_first_event() {
        let ev = at(&[1_000, 1_010, 7_000_000]);
        let c = Clock::new(&ev).unwrap();
        assert_eq!(c.time(0), 0.0);
        assert_eq!(c.time(2), 6_999_000.0);
        assert_eq!(c.time(99), 6_999_000.0);
        assert_eq!(c.span(), 6_999_000.0);
        assert!(Clock::new(&[]).is_none());
    }

    #[test]
    fn a_time_falls_on_the_last_event_at_or_before_it() {
        let ev = at(&[0, 10, 10, 20, 5_000]);
        let c = Clock::new(&ev).unwrap();
        assert_eq!(c.event_at(-5.0), 0);
        assert_eq!(c.event_at(9.9), 0);
        assert_eq!(c.event_at(10.0), 2);
        assert_eq!(c.event_at(4_999.0), 3);
        assert_eq!(c.event_at(1e9), 4);
    }

    #[test]
    fn a_time_range_holds_the_event_in_force_and_those_inside() {
        let ev = at(&[0, 10, 10, 20, 5_000]);
        let c = Clock::new(&ev).unwrap();
        // Inside the pause: only the state in force.
        assert_eq!(c.events_in(100.0, 200.0), (3, 4));
        // A burst: the state in force at 5 µs, then both events at 10 µs.
        assert_eq!(c.events_in(5.0, 15.0), (0, 3));
        assert_eq!(c.events_in(4_000.0, 6_000.0), (3, 5));
    }
}
