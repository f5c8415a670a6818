//! The memory-over-time charts of a diff's HTML page.

use super::model;
use crate::output::diff::Side;

/// Memory-over-time charts for a diff's HTML page: A's trace, and B's when it is another trace
/// (`None`: two points of one trace, both marked on A's chart).
pub struct DiffCharts {
    pub a: model::Timeline,
    pub b: Option<model::Timeline>,
}

impl DiffCharts {
    /// The charts of two sides; `same_trace` when both are points of one trace.
    pub fn new(a: &Side, b: &Side, same_trace: bool) -> DiffCharts {
        let chart = |s: &Side| {
            let d = s.device;
            let t = (d.events > 0).then_some(d.peak.allocated_event);
            model::timeline(d, &model::sites_at(s.snap, d, t, model::PEAK_SITES))
        };
        DiffCharts {
            a: chart(a),
            b: (!same_trace).then(|| chart(b)),
        }
    }
}
