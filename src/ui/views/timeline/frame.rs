//! The visible window of the timeline and the plot's scales, shared by its drawing modules.

use egui::Rect;

/// The visible part of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeWindow {
    /// First and last visible event (fractional while zooming).
    pub t0: f64,
    pub t1: f64,
}

/// The plot area and its scales.
pub(super) struct Frame {
    pub(super) rect: Rect,
    pub(super) w: TimeWindow,
    pub(super) ymax: f64,
}

impl Frame {
    pub(super) fn x(&self, e: f64) -> f32 {
        self.rect.left() + ((e - self.w.t0) / (self.w.t1 - self.w.t0)) as f32 * self.rect.width()
    }
    pub(super) fn y(&self, bytes: f64) -> f32 {
        self.rect.bottom() - (bytes / self.ymax) as f32 * self.rect.height()
    }
}
