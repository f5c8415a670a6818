//! Inline SVG charts for the HTML report: memory over time as stacked call-site bands, the
//! fragmentation series and sparklines. Plain SVG 1.1 elements, no scripts, no fonts fetched;
//! every shape is one path per series (one point per pixel column), never one per allocation.

use std::fmt::Write;

use super::model::{FragSample, Timeline};
use crate::units::bytes;

/// The reserved line.
pub const RESERVED_COLOUR: &str = "#1f2937";
/// OOM markers.
pub const OOM_COLOUR: &str = "#d62728";

const LEFT: f64 = 76.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 34.0;
/// Width of the plot area in pixels: the chart has about one column per pixel.
pub const PLOT_WIDTH: f64 = 880.0;

/// Escapes text for XML/HTML content and attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// A step of about a fifth of `max` that reads well in binary units (1, 2, 2.5 or 5 times a
/// power of ten of KiB, MiB or GiB).
pub fn nice_step(max: u64) -> u64 {
    if max == 0 {
        return 1;
    }
    let unit: u64 = if max >= 1 << 30 {
        1 << 30
    } else if max >= 1 << 20 {
        1 << 20
    } else if max >= 1 << 10 {
        1 << 10
    } else {
        1
    };
    let step = round_up_nice(max as f64 / unit as f64 / 5.0, &[1.0, 2.0, 2.5, 5.0]);
    ((step * unit as f64).round() as u64).max(1)
}

/// `raw` rounded up to the next of `steps` (ascending, within 1..10) times a power of ten;
/// 10 times that power when `raw` is above them all.
fn round_up_nice(raw: f64, steps: &[f64]) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    mag * steps.iter().copied().find(|&s| norm <= s).unwrap_or(10.0)
}

/// A tick label: `1.5 GiB`, `512 MiB`, `0`.
pub fn tick_label(v: u64) -> String {
    if v == 0 {
        return "0".into();
    }
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if v >= unit {
            let x = format!("{:.2}", v as f64 / unit as f64);
            let x = x.trim_end_matches('0').trim_end_matches('.');
            return format!("{x} {name}");
        }
    }
    format!("{v} B")
}

/// Plot geometry shared by the charts.
struct Frame {
    height: f64,
    cols: usize,
    events: usize,
    ymax: f64,
}

impl Frame {
    fn width(&self) -> f64 {
        LEFT + PLOT_WIDTH + RIGHT
    }
    fn plot_h(&self) -> f64 {
        self.height - TOP - BOTTOM
    }
    /// Left edge of column `c` (`c == cols`: the right end of the plot).
    fn x_edge(&self, c: usize) -> f64 {
        LEFT + PLOT_WIDTH * c as f64 / self.cols.max(1) as f64
    }
    /// Where event `e` is drawn: the middle of its share of the axis.
    fn x_event(&self, e: usize) -> f64 {
        LEFT + PLOT_WIDTH * (e as f64 + 0.5) / self.events.max(1) as f64
    }
    /// Left edge of event `e` (axis ticks).
    fn x_tick(&self, e: usize) -> f64 {
        LEFT + PLOT_WIDTH * e as f64 / self.events.max(1) as f64
    }
    /// A step line through `values` (one per column): each value holds across its column.
    /// Runs of equal values become one segment.
    fn steps(&self, values: &[u64]) -> Vec<(f64, f64)> {
        let mut pts = Vec::with_capacity(values.len() * 2 + 2);
        let Some(&first) = values.first() else {
            return pts;
        };
        pts.push((self.x_edge(0), self.y(first as f64)));
        for c in 1..values.len() {
            if values[c] != values[c - 1] {
                let x = self.x_edge(c);
                pts.push((x, self.y(values[c - 1] as f64)));
                pts.push((x, self.y(values[c] as f64)));
            }
        }
        pts.push((
            self.x_edge(values.len()),
            self.y(values[values.len() - 1] as f64),
        ));
        pts
    }
    fn y(&self, v: f64) -> f64 {
        TOP + self.plot_h() * (1.0 - (v / self.ymax).clamp(0.0, 1.0))
    }

    /// Axes, grid lines and tick labels.
    fn axes(&self, s: &mut String, step: u64) {
        let _ = write!(
            s,
            r##"<g class="axis" font-size="11" fill="#6b7280" stroke-width="1">"##
        );
        let mut v = 0u64;
        while (v as f64) <= self.ymax + 0.5 {
            let y = self.y(v as f64);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + PLOT_WIDTH,
                LEFT - 8.0,
                y + 4.0,
                tick_label(v)
            );
            v += step;
        }
        // Event ticks along the bottom.
        let n = self.events.max(1);
        let estep = nice_count_step(n as u64) as usize;
        let mut e = 0usize;
        let base = TOP + self.plot_h();
        while e < n {
            let x = self.x_tick(e);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{base:.1}" y2="{:.1}" stroke="#9ca3af"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                base + 4.0,
                base + 17.0,
                group_digits(e as u64)
            );
            e += estep.max(1);
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">event</text><line x1="{LEFT}" x2="{:.1}" y1="{base:.1}" y2="{base:.1}" stroke="#9ca3af"/></g>"##,
            LEFT + PLOT_WIDTH,
            base + 31.0,
            LEFT + PLOT_WIDTH
        );
    }
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A 1/2/5 step giving about 8 ticks over `n`.
fn nice_count_step(n: u64) -> u64 {
    let raw = (n as f64 / 8.0).max(1.0);
    round_up_nice(raw, &[1.0, 2.0, 5.0]).round().max(1.0) as u64
}

fn header(s: &mut String, w: f64, h: f64, label: &str, class: &str) {
    let _ = write!(
        s,
        r#"<svg class="{class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0} {h:.0}" width="100%" role="img" aria-label="{}" font-family="inherit"><title>{}</title>"#,
        esc(label),
        esc(label)
    );
}

/// The memory-over-time chart: stacked call-site bands (their tops trace allocated memory),
/// reserved memory as a line, OOMs as red rules, `snapshot` markers as ticks, the peak marked.
pub fn memory_chart(t: &Timeline) -> String {
    memory_chart_marked(t, &[])
}

/// [`memory_chart`] with labelled vertical rules at some events (the points of a diff).
pub fn memory_chart_marked(t: &Timeline, marks: &[(usize, &str)]) -> String {
    memory_chart_scaled(t, marks, 0)
}

/// [`memory_chart_marked`] with a y axis reaching at least `ymax` bytes (so that charts of
/// two traces side by side share a scale).
pub fn memory_chart_scaled(t: &Timeline, marks: &[(usize, &str)], ymax: u64) -> String {
    let mut s = String::new();
    let cols = t.sample.len();
    if cols == 0 {
        return s;
    }
    let max = t.max_value().max(ymax).max(1);
    let step = nice_step(max);
    let ymax = (max.div_ceil(step) * step) as f64;
    let f = Frame {
        height: 340.0,
        cols,
        events: t.events,
        ymax,
    };
    header(
        &mut s,
        f.width(),
        f.height,
        "Memory over time by call site",
        "chart memory-chart",
    );
    f.axes(&mut s, step);
    // Stacked bands: each the area between its top step line and the one below.
    let mut lower = vec![0u64; cols];
    let _ = write!(s, r#"<g class="bands">"#);
    for (k, b) in t.bands.iter().enumerate() {
        let upper: Vec<u64> = (0..cols).map(|c| lower[c] + b.values[c]).collect();
        let mut d = String::with_capacity(cols * 24);
        for (i, (x, y)) in f.steps(&upper).into_iter().enumerate() {
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        for (x, y) in f.steps(&lower).into_iter().rev() {
            let _ = write!(d, "L{x:.1},{y:.1}");
        }
        d.push('Z');
        let _ = write!(
            s,
            r#"<path class="band" data-band="{k}" d="{d}" fill="{}" stroke="{}" stroke-width="0.4"><title>{}</title></path>"#,
            b.colour,
            b.colour,
            esc(&b.label)
        );
        lower = upper;
    }
    s.push_str("</g>");
    // Reserved memory.
    let mut d = String::with_capacity(cols * 14);
    for (i, (x, y)) in f.steps(&t.reserved).into_iter().enumerate() {
        let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
    }
    let _ = write!(
        s,
        r#"<path class="reserved" d="{d}" fill="none" stroke="{RESERVED_COLOUR}" stroke-width="1.6" stroke-dasharray="5 3"><title>reserved</title></path>"#
    );
    // Markers along the bottom.
    let base = TOP + f.plot_h();
    if t.markers.len() <= 400 {
        for &m in &t.markers {
            let x = f.x_event(m);
            let _ = write!(
                s,
                r##"<line class="marker" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{base:.1}" stroke="#111827" stroke-width="1.5"/>"##,
                base - 9.0
            );
        }
    }
    // The peak.
    let peak_col = t
        .sample
        .iter()
        .position(|&e| e == t.peak_event)
        .unwrap_or(0);
    let peak_v: u64 = t.bands.iter().map(|b| b.values[peak_col]).sum();
    let (px, py) = (
        (f.x_edge(peak_col) + f.x_edge(peak_col + 1)) / 2.0,
        f.y(peak_v as f64),
    );
    // The label goes beside the dot, away from OOM and point labels at the top of the plot.
    let crowded = py < TOP + 40.0
        && t.ooms
            .iter()
            .chain(marks.iter().map(|m| &m.0))
            .any(|&e| (f.x_event(e) - px).abs() < 90.0);
    let (anchor, lx, ly) = if crowded {
        if px > LEFT + 120.0 {
            ("end", px - 8.0, py + 4.0)
        } else {
            ("start", px + 8.0, py + 14.0)
        }
    } else if px > LEFT + PLOT_WIDTH * 0.8 {
        ("end", px, (py - 8.0).max(12.0))
    } else if px < LEFT + PLOT_WIDTH * 0.2 {
        ("start", px, (py - 8.0).max(12.0))
    } else {
        ("middle", px, (py - 8.0).max(12.0))
    };
    let _ = write!(
        s,
        r##"<g class="peak"><circle cx="{px:.1}" cy="{py:.1}" r="3.5" fill="#111827" stroke="#fff" stroke-width="1.5"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" font-size="11.5" font-weight="600" fill="#111827" paint-order="stroke" stroke="#fff" stroke-width="3">peak {}</text></g>"##,
        esc(&bytes(peak_v))
    );
    // OOMs.
    for &o in &t.ooms {
        let x = f.x_event(o);
        let _ = write!(
            s,
            r#"<g class="oom"><line x1="{x:.1}" x2="{x:.1}" y1="{TOP:.1}" y2="{base:.1}" stroke="{OOM_COLOUR}" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" font-weight="700" fill="{OOM_COLOUR}">OOM</text></g>"#,
            x - 3.0,
            TOP + 10.0
        );
    }
    for &(e, label) in marks {
        let x = f.x_event(e);
        let _ = write!(
            s,
            r##"<g class="point"><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{base:.1}" stroke="#111827" stroke-width="1.5" stroke-dasharray="2 2"/><rect x="{:.1}" y="{:.1}" width="16" height="16" rx="3" fill="#111827"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" font-weight="700" fill="#fff">{}</text></g>"##,
            TOP,
            x + 3.0,
            TOP,
            x + 11.0,
            TOP + 12.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// The fragmentation chart: reserved-but-unallocated memory as an area and the largest free
/// block as a line. The gap between them is free memory no large request can use.
pub fn frag_chart(series: &[FragSample], events: usize) -> String {
    let mut s = String::new();
    let cols = series.len();
    if cols == 0 {
        return s;
    }
    let max = series
        .iter()
        .map(|p| p.reserved_unallocated)
        .max()
        .unwrap_or(0)
        .max(1);
    let step = nice_step(max);
    let f = Frame {
        height: 220.0,
        cols,
        events,
        ymax: (max.div_ceil(step) * step) as f64,
    };
    header(
        &mut s,
        f.width(),
        f.height,
        "Fragmentation over time",
        "chart frag-chart",
    );
    f.axes(&mut s, step);
    let base = f.y(0.0);
    let ru: Vec<u64> = series.iter().map(|p| p.reserved_unallocated).collect();
    let lf: Vec<u64> = series.iter().map(|p| p.largest_free_block).collect();
    let mut area = format!("M{:.1},{base:.1}", f.x_edge(0));
    for (x, y) in f.steps(&ru) {
        let _ = write!(area, "L{x:.1},{y:.1}");
    }
    let _ = write!(area, "L{:.1},{base:.1}Z", f.x_edge(cols));
    let mut line = String::new();
    for (i, (x, y)) in f.steps(&lf).into_iter().enumerate() {
        let _ = write!(line, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
    }
    let _ = write!(
        s,
        r##"<path class="unallocated" d="{area}" fill="#fbd38d" fill-opacity="0.75" stroke="#dd8a1e" stroke-width="1"><title>reserved but unallocated</title></path><path class="largest-free" d="{line}" fill="none" stroke="#2b6cb0" stroke-width="1.6"><title>largest free block</title></path></svg>"##
    );
    s
}

/// A small line of values (a leak's live bytes at each iteration boundary).
pub fn sparkline(values: &[u64], colour: &str) -> String {
    let (w, h) = (140.0, 30.0);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len();
    let mut d = String::new();
    for (i, &v) in values.iter().enumerate() {
        let x = if n <= 1 {
            0.0
        } else {
            2.0 + (w - 4.0) * i as f64 / (n - 1) as f64
        };
        let y = h - 3.0 - (h - 6.0) * v as f64 / max;
        let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
    }
    format!(
        r#"<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="live bytes per iteration"><path d="{d}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/></svg>"#
    )
}

/// Bar colours of a flame chart: the user's lines warm, library runs cool, C++ grey.
pub const FLAME_USER: &str = "#f6b26b";
pub const FLAME_LIBRARY: &str = "#9fd3cf";
pub const FLAME_NATIVE: &str = "#d5d8dc";
pub const FLAME_ROOT: &str = "#e5e7eb";
/// Height of a row of the flame chart.
const FLAME_ROW: f64 = 18.0;
/// Width of a character of the bars' 11 px text, for cutting names to fit.
const FLAME_CHAR: f64 = 6.2;

/// A static icicle of a call tree: the root on top, each bar as wide as the bytes under it,
/// its name cut to fit and whole in its tooltip (no script: the report stays inert).
pub fn flame(f: &super::model::Flame) -> String {
    use super::model::FlameKind;
    let depth = f.bars.iter().map(|b| b.depth).max().unwrap_or(0) + 1;
    let width = LEFT + PLOT_WIDTH + RIGHT;
    let height = depth as f64 * FLAME_ROW + 4.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart flame-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        esc(&format!("{}: call tree of {}", f.title, bytes(f.bytes)))
    );
    let total = f.bytes.max(1) as f64;
    for b in &f.bars {
        let (x, w) = (b.x * width, b.width * width);
        let y = b.depth as f64 * FLAME_ROW;
        let fill = match b.kind {
            FlameKind::Root => FLAME_ROOT,
            FlameKind::User => FLAME_USER,
            FlameKind::Library => FLAME_LIBRARY,
            FlameKind::Native => FLAME_NATIVE,
        };
        let _ = write!(
            s,
            "<g><title>{} \u{2014} {} in {} block{} ({:.1}%)</title><rect x=\"{x:.2}\" \
             y=\"{y:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"{fill}\" stroke=\"#fff\" \
             stroke-width=\"0.5\"/>",
            esc(&b.name),
            esc(&bytes(b.bytes)),
            group_digits(b.blocks),
            crate::units::plural(b.blocks as usize),
            b.bytes as f64 / total * 100.0,
            w.max(0.5),
            FLAME_ROW - 1.0
        );
        let fits = ((w - 6.0) / FLAME_CHAR).floor().max(0.0) as usize;
        if fits >= 3 {
            let name: String = if b.name.chars().count() > fits {
                let mut t: String = b.name.chars().take(fits - 1).collect();
                t.push('\u{2026}');
                t
            } else {
                b.name.clone()
            };
            let _ = write!(
                s,
                "<text x=\"{:.2}\" y=\"{:.1}\" font-size=\"11\" fill=\"#111827\">{}</text>",
                x + 3.0,
                y + FLAME_ROW - 5.5,
                esc(&name)
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels_read_well() {
        assert_eq!(nice_step(3 << 30), 1 << 30);
        assert_eq!(nice_step(1200 << 20), 256 << 20);
        assert_eq!(tick_label(1280 << 20), "1.25 GiB");
        assert_eq!(tick_label(3 << 29), "1.5 GiB");
        assert_eq!(tick_label(512 << 20), "512 MiB");
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
