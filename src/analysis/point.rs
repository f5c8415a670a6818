//! Moments of a trace that a user can name: `peak`, `end`, `marker:K`, `event:N`, `oom:K`,
//! `iteration:K`. `diff` compares two of them and `flamegraph` draws the memory at one (or the
//! growth between two), so the syntax and what each resolves to are defined once, here.

use std::str::FromStr;

use super::DeviceAnalysis;

/// A moment of a device's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The event after which allocated memory peaked (the default).
    Peak,
    /// After the last event.
    End,
    /// Just before the k-th `snapshot` marker (0-based; negative counts from the end, -1 last).
    Marker(i64),
    /// After event n.
    Event(usize),
    /// At the k-th OOM (0-based): what was live when the request failed.
    Oom(usize),
    /// At the end of the k-th iteration (0-based; negative from the end).
    Iteration(i64),
}

impl FromStr for Point {
    type Err = String;

    /// `peak`, `end`, `marker:K`, `event:N`, `oom:K`, `iteration:K`.
    fn from_str(s: &str) -> Result<Point, String> {
        let t = s.trim().to_ascii_lowercase();
        let (kind, arg) = match t.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (t.as_str(), None),
        };
        let bad = || {
            format!("{s:?} is not a point: use peak, end, marker:K, event:N, oom:K or iteration:K")
        };
        let int = |a: Option<&str>| a.and_then(|a| a.replace('_', "").parse::<i64>().ok());
        Ok(match kind {
            "peak" if arg.is_none() => Point::Peak,
            "end" if arg.is_none() => Point::End,
            "marker" | "m" => Point::Marker(int(arg).ok_or_else(bad)?),
            "iteration" | "iter" | "i" => Point::Iteration(int(arg).ok_or_else(bad)?),
            "event" | "e" => {
                Point::Event(usize::try_from(int(arg).ok_or_else(bad)?).map_err(|_| bad())?)
            }
            "oom" => Point::Oom(usize::try_from(int(arg).ok_or_else(bad)?).map_err(|_| bad())?),
            _ => return Err(bad()),
        })
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Peak => write!(f, "peak"),
            Point::End => write!(f, "end"),
            Point::Marker(k) => write!(f, "marker:{k}"),
            Point::Event(n) => write!(f, "event:{n}"),
            Point::Oom(k) => write!(f, "oom:{k}"),
            Point::Iteration(k) => write!(f, "iteration:{k}"),
        }
    }
}

/// Why a point does not exist in a trace.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PointError {
    #[error("device {device} has no trace events, so it has no {point} (only the dump-time state; use `end`)")]
    NoTrace { device: usize, point: Point },
    #[error("device {device} has {count} snapshot markers; {point} does not exist")]
    NoMarker {
        device: usize,
        point: Point,
        count: usize,
    },
    #[error("device {device} has {count} events; {point} does not exist")]
    NoEvent {
        device: usize,
        point: Point,
        count: usize,
    },
    #[error("device {device} has {count} OOMs; {point} does not exist")]
    NoOom {
        device: usize,
        point: Point,
        count: usize,
    },
    #[error("device {device} has {count} iterations; {point} does not exist")]
    NoIteration {
        device: usize,
        point: Point,
        count: usize,
    },
}

fn index(k: i64, len: usize) -> Option<usize> {
    let i = if k < 0 { len as i64 + k } else { k };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// The event a point names in `d` (`Ok(None)`: the trace is empty and the point is the dump).
pub fn resolve(d: &DeviceAnalysis, p: Point) -> Result<Option<usize>, PointError> {
    let device = d.device;
    if d.events == 0 {
        return match p {
            Point::End | Point::Peak => Ok(None),
            _ => Err(PointError::NoTrace { device, point: p }),
        };
    }
    match p {
        Point::Peak => Ok(Some(d.peak.allocated_event)),
        Point::End => Ok(Some(d.events - 1)),
        Point::Event(n) if n < d.events => Ok(Some(n)),
        Point::Event(_) => Err(PointError::NoEvent {
            device,
            point: p,
            count: d.events,
        }),
        Point::Marker(k) => index(k, d.markers.len())
            // The state just before the marker; the marker entry itself changes nothing.
            .map(|i| Some(d.markers[i].event))
            .ok_or(PointError::NoMarker {
                device,
                point: p,
                count: d.markers.len(),
            }),
        Point::Oom(k) => d
            .ooms
            .get(k)
            .map(|o| Some(o.event))
            .ok_or(PointError::NoOom {
                device,
                point: p,
                count: d.ooms.len(),
            }),
        Point::Iteration(k) => index(k, d.iterations.boundaries.len())
            .map(|i| Some(d.iterations.boundaries[i]))
            .ok_or(PointError::NoIteration {
                device,
                point: p,
                count: d.iterations.boundaries.len(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse() {
        assert_eq!("peak".parse::<Point>(), Ok(Point::Peak));
        assert_eq!("END".parse::<Point>(), Ok(Point::End));
        assert_eq!("marker:3".parse::<Point>(), Ok(Point::Marker(3)));
        assert_eq!("marker:-1".parse::<Point>(), Ok(Point::Marker(-1)));
        assert_eq!("event:1_000".parse::<Point>(), Ok(Point::Event(1000)));
        assert_eq!("oom:0".parse::<Point>(), Ok(Point::Oom(0)));
        assert_eq!("iteration:2".parse::<Point>(), Ok(Point::Iteration(2)));
        assert!("event:-1".parse::<Point>().is_err());
        assert!("marker".parse::<Point>().is_err());
        assert!("yesterday".parse::<Point>().is_err());
        assert_eq!(index(-1, 4), Some(3));
        assert_eq!(index(4, 4), None);
    }
}
