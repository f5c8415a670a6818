//! Colours and visuals. One colour per call site, the same in every view: it is derived from
//! the site's file and line (not its index), so it also stays the same across files and runs.

use egui::{Color32, Visuals};

use crate::output::colours;

/// Light or dark, persisted in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
}

impl ThemeChoice {
    pub fn is_dark(self) -> bool {
        self == ThemeChoice::Dark
    }

    /// egui visuals with memsight's accents.
    pub fn visuals(self) -> Visuals {
        let mut v = if self.is_dark() {
            Visuals::dark()
        } else {
            Visuals::light()
        };
        v.selection.bg_fill = accent(self.is_dark()).gamma_multiply(0.6);
        v.hyperlink_color = accent(self.is_dark());
        v
    }
}

/// The theme's fixed colours: a function per colour taking whether the theme is dark.
macro_rules! tones {
    ($($(#[$doc:meta])* $name:ident: ($dr:expr, $dg:expr, $db:expr) on dark,
        ($lr:expr, $lg:expr, $lb:expr) on light;)*) => {$(
        $(#[$doc])*
        pub fn $name(dark: bool) -> Color32 {
            if dark {
                Color32::from_rgb($dr, $dg, $db)
            } else {
                Color32::from_rgb($lr, $lg, $lb)
            }
        }
    )*};
}

tones! {
    /// The app's accent (links, cursor).
    accent: (0x5c, 0xb8, 0xff) on dark, (0x10, 0x6e, 0xc8) on light;
    /// Out-of-memory markers.
    oom: (0xff, 0x55, 0x55) on dark, (0xd0, 0x20, 0x20) on light;
    /// The `reserved` line.
    reserved: (0xe8, 0xe8, 0xe8) on dark, (0x30, 0x30, 0x30) on light;
    /// Snapshot markers.
    marker: (0xff, 0xc8, 0x40) on dark, (0xb0, 0x78, 0x00) on light;
    /// Free memory inside segments.
    free: (0x2a, 0x2a, 0x2a) on dark, (0xe4, 0xe4, 0xe4) on light;
    /// Blocks freed by the caller but still pending on a stream.
    pending: (0x70, 0x70, 0x70) on dark, (0xa0, 0xa0, 0xa0) on light;
    /// Memory outside the top call sites ("other").
    other: (0x58, 0x58, 0x58) on dark, (0xb4, 0xb4, 0xb4) on light;
    /// Good news (no leak, no OOM).
    good: (0x6c, 0xd0, 0x7a) on dark, (0x1f, 0x8a, 0x3a) on light;
    /// Warnings (leaks, fragmentation).
    warn: (0xff, 0xa8, 0x40) on dark, (0xc0, 0x60, 0x00) on light;
    /// The background of a plot area (timeline, fragmentation chart, what-if chart).
    plot_background: (0x1b, 0x1b, 0x1b) on dark, (0xfa, 0xfa, 0xfa) on light;
}

/// The hue (0..1) of a call site, from its `file:line:function` key (the same as the
/// report's, [`colours::site_hue`]).
pub fn site_hue(key: &str) -> f32 {
    colours::site_hue(key)
}

/// A colour shared with the reports.
pub fn rgb([r, g, b]: colours::Rgb) -> Color32 {
    Color32::from_rgb(r, g, b)
}

/// The colour of a call site with hue `hue` and shade offset `shade` (-0.15..0.15 of
/// lightness) for the current theme.
pub fn site_color(hue: f32, shade: f32, dark: bool) -> Color32 {
    let (s, l) = if dark { (0.62, 0.56) } else { (0.58, 0.52) };
    hsl(hue, s, (l + shade).clamp(0.2, 0.85))
}

/// The colour of an allocation group (an annotation range, a compile context, a category of
/// the user's) from its name: the same in the call tree and the timeline, and across files.
/// The groups of what is outside every group (`(no annotation)`, `(other)`...) are grey, as
/// the timeline's "other"; the rest take one of the palette's well-separated colours (a hue
/// from the hash alone put two of a file's three groups in one green).
pub fn group_color(name: &str, dark: bool) -> Color32 {
    use crate::analysis::calltree::{
        ALL, BEFORE_TRACE, NO_ANNOTATION, NO_COMPILE_CONTEXT, UNCATEGORISED,
    };
    if [
        ALL,
        BEFORE_TRACE,
        NO_ANNOTATION,
        NO_COMPILE_CONTEXT,
        UNCATEGORISED,
    ]
    .contains(&name)
    {
        return other(dark);
    }
    let (hue, shade) = palette((colours::fnv(name) % 36) as usize);
    site_color(hue, shade, dark)
}

/// Well-separated (hue, shade) for the `rank`-th largest call site: twelve hues, then the
/// same hues lighter, then darker.
pub fn palette(rank: usize) -> (f32, f32) {
    const HUES: [f32; 12] = [
        0.58, 0.08, 0.33, 0.95, 0.14, 0.75, 0.50, 0.02, 0.25, 0.66, 0.42, 0.86,
    ];
    let shade = match (rank / HUES.len()) % 3 {
        0 => 0.0,
        1 => 0.14,
        _ => -0.14,
    };
    (HUES[rank % HUES.len()], shade)
}

fn hsl(h: f32, s: f32, l: f32) -> Color32 {
    rgb(colours::hsl(h, s, l))
}
