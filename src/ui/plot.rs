//! What the app's charts share: the byte axis. Every chart of memory (timeline, fragmentation,
//! What if) labels its vertical axis the same way, with gridlines at round sizes and their
//! units, so a reader can compare heights across views.

use egui::{Color32, Painter, Rect, Stroke};

use super::view::short_bytes;

/// Gridlines and their labels, for the current theme.
pub fn grid_colours(dark: bool) -> (Color32, Color32) {
    if dark {
        (Color32::from_gray(0x33), Color32::from_gray(0xaa))
    } else {
        (Color32::from_gray(0xdd), Color32::from_gray(0x55))
    }
}

/// A power-of-two step in bytes that gives about `lines` gridlines below `top` (sizes read
/// best as 256 MiB, 512 MiB, 1 GiB).
pub fn byte_step(top: f64, lines: f64) -> f64 {
    2f64.powf((top / lines).max(1.0).log2().ceil())
}

/// Horizontal gridlines across `plot` at round byte values below `top`, each labelled with its
/// size just left of the plot (charts leave that margin). `y_of` maps bytes to a screen y.
pub fn byte_grid(painter: &Painter, plot: Rect, top: f64, y_of: impl Fn(f64) -> f32, dark: bool) {
    let (line, text) = grid_colours(dark);
    let font = egui::FontId::proportional(11.0);
    // Fewer lines on a short chart, so labels never touch.
    let lines = (plot.height() / 30.0).clamp(2.0, 5.0) as f64;
    let step = byte_step(top, lines);
    let mut v = step;
    while v < top {
        let y = y_of(v);
        painter.hline(plot.x_range(), y, Stroke::new(1.0, line));
        painter.text(
            egui::pos2(plot.left() - 4.0, y),
            egui::Align2::RIGHT_CENTER,
            short_bytes(v as u64),
            font.clone(),
            text,
        );
        v += step;
    }
}

#[cfg(test)]
mod tests {
    use super::byte_step;

    #[test]
    fn byte_steps_are_powers_of_two_near_the_asked_count() {
        const GIB: f64 = (1u64 << 30) as f64;
        assert_eq!(byte_step(10.0 * GIB, 5.0), 2.0 * GIB);
        assert_eq!(byte_step(5.0 * GIB, 5.0), GIB);
        assert_eq!(byte_step(3.0 * GIB, 2.0), 2.0 * GIB);
        // A nearly empty chart still steps by at least a byte.
        assert_eq!(byte_step(0.0, 5.0), 1.0);
    }
}
