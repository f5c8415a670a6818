//! Reports: the whole diagnosis of a snapshot as one document.
//!
//! - HTML: one self-contained file (inline SVG and CSS, no script, nothing fetched) that reads
//!   well on screen and on paper;
//! - Markdown: for a pull-request comment (tables, a text sparkline, stacks in `<details>`);
//! - JSON: the `analyze --json` contract ([`crate::output::analyze_json`]) with extra fields per
//!   device (`headline`, `diagnosis`, `peak_sites`).
//!
//! Every format shows the same [`model::DeviceReport`]: the diagnosis, the peak and the call
//! sites live at it, each OOM with its verdict and fix, the leak suspects with their stacks, the
//! fragmentation series and memory over time with the top call sites as stacked bands.
//!
//! The app's File > Export calls [`render`] (or [`render_with`] to set the title).

mod diff_charts;
pub mod html;
pub mod markdown;
pub mod model;
pub mod svg;

use std::path::Path;

use serde_json::Value;

pub use diff_charts::DiffCharts;

use crate::analysis::Analysis;
use crate::model::Snapshot;
use crate::output::analyze_json;

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML page.
    Html,
    /// Markdown for a pull-request comment.
    #[value(alias = "markdown")]
    Md,
    /// The `analyze --json` contract with the report's extra fields.
    Json,
}

impl ReportFormat {
    /// The format a file name asks for: `.html`/`.htm`, `.md`/`.markdown`, `.json`.
    pub fn from_path(path: &Path) -> Option<ReportFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "html" | "htm" => Some(ReportFormat::Html),
            "md" | "markdown" => Some(ReportFormat::Md),
            "json" => Some(ReportFormat::Json),
            _ => None,
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Md => "md",
            ReportFormat::Json => "json",
        }
    }
}

/// What to put in a report besides the analysis.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Shown as the report's title, usually the snapshot's file name.
    pub title: String,
    /// Only this device (`None`: every device with a trace or a segment).
    pub device: Option<usize>,
    /// A call site to single out (index into the device's `sites`; the app's selection).
    /// Only used with `device`, since site indices belong to one device.
    pub focus_site: Option<u32>,
}

/// Renders the report of `snap` (analysed as `analysis`) in `format`, for `device` or for
/// every device. The title is generic; see [`render_with`].
pub fn render(
    snap: &Snapshot,
    analysis: &Analysis,
    device: Option<usize>,
    format: ReportFormat,
) -> String {
    let opts = ReportOptions {
        title: "memory snapshot".into(),
        device,
        focus_site: None,
    };
    render_with(snap, analysis, &opts, format)
}

/// Renders a report with options (title, device).
pub fn render_with(
    snap: &Snapshot,
    analysis: &Analysis,
    opts: &ReportOptions,
    format: ReportFormat,
) -> String {
    let reports: Vec<model::DeviceReport> = analysis
        .devices
        .iter()
        .filter(|d| opts.device.is_none_or(|want| d.device == want))
        .map(|d| {
            let mut r = model::device_report(snap, d);
            if opts.device.is_some() {
                r.focus = opts.focus_site.and_then(|site| model::focus(snap, d, site));
            }
            r
        })
        .collect();
    match format {
        ReportFormat::Html => html::report(&opts.title, &reports),
        ReportFormat::Md => markdown::report(&opts.title, &reports),
        ReportFormat::Json => {
            let v = json(&reports);
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
            s.push('\n');
            s
        }
    }
}

/// Renders a [`Diff`](crate::output::diff::Diff) as a report: HTML or Markdown side by side,
/// or its JSON (the same document as `memsight diff --json`).
pub fn render_diff(d: &crate::output::diff::Diff, format: ReportFormat) -> String {
    render_diff_with(d, None, format)
}

/// [`render_diff`] with memory-over-time charts in the HTML (other formats ignore them).
pub fn render_diff_with(
    d: &crate::output::diff::Diff,
    charts: Option<&DiffCharts>,
    format: ReportFormat,
) -> String {
    match format {
        ReportFormat::Html => html::diff_report(d, charts),
        ReportFormat::Md => markdown::diff_report(d),
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(d).unwrap_or_else(|_| "{}".into());
            s.push('\n');
            s
        }
    }
}

/// The JSON report: the `analyze --json` document of the chosen devices, each device object
/// extended with `headline`, `diagnosis` and `peak_sites` (added fields, as the contract allows).
pub fn json(reports: &[model::DeviceReport]) -> Value {
    let devices: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(analyze_json::device_json(r.d, r.variant))
                .unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert(
                    "headline".into(),
                    Value::String(model::headline(&r.findings)),
                );
                m.insert(
                    "diagnosis".into(),
                    serde_json::to_value(&r.findings).unwrap_or(Value::Null),
                );
                m.insert(
                    "peak_sites".into(),
                    serde_json::to_value(&r.peak_sites).unwrap_or(Value::Null),
                );
                if let Some(f) = &r.focus {
                    m.insert(
                        "selection".into(),
                        serde_json::to_value(f).unwrap_or(Value::Null),
                    );
                }
            }
            v
        })
        .collect();
    serde_json::json!({ "devices": devices })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        for (path, want) in [
            ("out.HTML", Some(ReportFormat::Html)),
            ("a/b.md", Some(ReportFormat::Md)),
            ("r.json", Some(ReportFormat::Json)),
            ("r.txt", None),
            ("noext", None),
        ] {
            assert_eq!(ReportFormat::from_path(Path::new(path)), want, "{path}");
        }
    }
}
