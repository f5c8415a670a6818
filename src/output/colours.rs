//! One colour per call site in every picture memsight draws of a device: the app's views and
//! the HTML report's chart give a line of code the same colour, so a reader who found it in
//! one finds it in the other.
//!
//! The leak suspects take the warm colours (they are what the reader is looking for), the
//! sites holding the most memory at the allocated peak the cool ones; every other site has
//! no fixed colour (the app gives it a hue from its name, the report counts it in "other").

use crate::analysis::sites::CallSite;
use crate::analysis::DeviceAnalysis;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// Colours of the largest steady call sites, in order (colour-blind-friendly, cool hues,
/// readable on white and on the app's dark background).
pub const PALETTE: [Rgb; 8] = [
    [0x4e, 0x79, 0xa7],
    [0x59, 0xa1, 0x4f],
    [0x76, 0xb7, 0xb2],
    [0xed, 0xc9, 0x48],
    [0xb0, 0x7a, 0xa1],
    [0x9c, 0x75, 0x5f],
    [0x8c, 0xd1, 0x7d],
    [0xa0, 0xcb, 0xe8],
];
/// Colours of the leak suspects, the largest grower first (warm hues, drawn on top).
pub const LEAK_PALETTE: [Rgb; 3] = [[0xe1, 0x57, 0x59], [0xf2, 0x8e, 0x2b], [0xff, 0x9d, 0xa7]];
/// Memory of the call sites without a band of their own.
pub const OTHER: Rgb = [0xc7, 0xcb, 0xd1];

/// `#rrggbb`.
pub fn hex([r, g, b]: Rgb) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The fixed colour of each call site of `d` (indexed like `d.sites.sites`), `None` for
/// the sites without one.
pub fn site_colours(d: &DeviceAnalysis) -> Vec<Option<Rgb>> {
    let mut out = vec![None; d.sites.sites.len()];
    let leaks: Vec<usize> = d
        .leaks
        .iter()
        .take(LEAK_PALETTE.len())
        .map(|l| l.site as usize)
        .collect();
    for (k, &site) in leaks.iter().enumerate() {
        if let Some(c) = out.get_mut(site) {
            *c = Some(LEAK_PALETTE[k]);
        }
    }
    let peak = (d.events > 0).then_some(d.peak.allocated_event);
    let mut held: Vec<(u64, usize)> = d
        .sites_at(peak)
        .iter()
        .enumerate()
        .filter(|(site, at)| at.live_bytes > 0 && !leaks.contains(site))
        .map(|(site, at)| (at.live_bytes, site))
        .collect();
    // Largest first; ties by site index, so the order never depends on the sort.
    held.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (k, &(_, site)) in held.iter().take(PALETTE.len()).enumerate() {
        out[site] = Some(PALETTE[k]);
    }
    out
}

/// A call site's colour when it has no fixed one: a hue from its file, line and function
/// (stable across files and runs), at the lightness of the light theme and the report.
pub fn by_name(site: &CallSite) -> Rgb {
    hsl(site_hue(&site_key(site)), 0.58, 0.52)
}

/// What a site's hue is derived from: `file:line:function`.
pub fn site_key(site: &CallSite) -> String {
    format!("{}:{}:{}", site.file, site.line, site.function)
}

/// A stable 64-bit hash (FNV-1a), so colours do not depend on hash seeds.
pub fn fnv(key: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The hue (0..1) of a call site, from its `file:line:function` key.
pub fn site_hue(key: &str) -> f32 {
    // Golden-ratio stepping over the hash spreads neighbouring keys apart.
    ((fnv(key) % 1000) as f32 * 0.618_034).fract()
}

/// The sRGB colour of hue `h`, saturation `s` and lightness `l` (all 0..1).
pub fn hsl(h: f32, s: f32, l: f32) -> Rgb {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h * 6.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f32| ((v + m).clamp(0.0, 1.0) * 255.0).round() as u8;
    [to(r), to(g), to(b)]
}
