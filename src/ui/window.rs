//! The window's first size. eframe opens the window before anything can ask which monitor it
//! is on, so the window opens at [`FALLBACK`] and, once the first frames report the monitor's
//! size, is fitted to it once: most of a large screen, all of a small one. A size the user
//! chose (remembered by eframe from the last run) is never touched.

use egui::{vec2, Vec2};

/// eframe's storage key for the window's size and place (private in eframe), set once the
/// user has run the app: then eframe restores that size.
pub const WINDOW_KEY: &str = "window";

/// The size the window opens at, and keeps where the monitor's size never comes.
pub const FALLBACK: Vec2 = vec2(1500.0, 920.0);
/// The smallest window every view fits in (the layout tests run at it).
pub const MIN: Vec2 = vec2(720.0, 480.0);
/// Beyond this the views gain nothing but long lines.
const MAX: Vec2 = vec2(1800.0, 1100.0);
/// The share of the monitor the window takes: room left for a task bar and other windows.
const SHARE: f32 = 0.88;
/// Frames to wait for the monitor's size before leaving the window as it opened.
const PATIENCE: u32 = 10;
/// A difference (in points) not worth a resize.
const SLACK: f32 = 16.0;

/// The window size for a monitor of `monitor` points.
pub fn fitted(monitor: Vec2) -> Vec2 {
    (monitor * SHARE).clamp(MIN, MAX)
}

/// Fits the window to its monitor on the first frames, then never again.
#[derive(Debug)]
pub struct FirstSize {
    frames: u32,
    done: bool,
}

impl FirstSize {
    /// `remembered`: eframe restored the size the user left the window at; keep it.
    pub fn new(remembered: bool) -> FirstSize {
        FirstSize {
            frames: 0,
            done: remembered,
        }
    }

    /// Called every frame; resizes the window at most once.
    pub fn apply(&mut self, ctx: &egui::Context) {
        if self.done {
            return;
        }
        self.frames += 1;
        let (monitor, inner) = ctx.input(|i| {
            let v = i.viewport();
            (v.monitor_size, v.inner_rect.map(|r| r.size()))
        });
        match monitor {
            Some(m) if m.x > 0.0 && m.y > 0.0 => {
                let want = fitted(m);
                if inner.is_none_or(|s| (s - want).abs().max_elem() > SLACK) {
                    ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(want));
                }
                self.done = true;
            }
            _ => self.done = self.frames >= PATIENCE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_takes_most_of_its_monitor_within_bounds() {
        assert_eq!(fitted(vec2(1920.0, 1080.0)), vec2(1689.6, 950.4));
        assert_eq!(fitted(vec2(3840.0, 2160.0)), MAX);
        assert_eq!(fitted(vec2(800.0, 500.0)), MIN);
    }
}
