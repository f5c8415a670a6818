//! Extension points for panels and menu items built elsewhere.
//!
//! - **File > Export**: each [`ExportFormat`] of [`export_formats`] is a menu item; the app asks
//!   for a file name on a thread and writes what `render` returns (the report renderer of
//!   [`crate::output::report`]: HTML, Markdown, JSON).
//! - **New views** (the What-if allocator simulator): see [`super::views`]: one enum variant,
//!   one module, one match arm.

use crate::analysis::Analysis;
use crate::model::Snapshot;
use crate::output::report::{render_with, ReportFormat, ReportOptions};

/// One entry of File > Export.
#[derive(Clone, Copy)]
pub struct ExportFormat {
    /// Menu label, e.g. "HTML report".
    pub label: &'static str,
    /// File extension without the dot, e.g. "html".
    pub extension: &'static str,
    /// Renders the report of one device and selection, titled with the file name.
    pub render: RenderFn,
}

/// What is exported: every device, or with a selected call site the device it belongs to
/// (a report of the current device alone could call a run healthy whose other GPU leaks).
#[derive(Debug, Clone, Copy)]
pub struct ExportScope {
    /// CUDA device index.
    pub device: usize,
    /// Selected call site (index into the device's `sites`).
    pub site: Option<u32>,
}

/// `(snapshot, analysis, scope, title)` to the bytes of the file.
pub type RenderFn = fn(&Snapshot, &Analysis, ExportScope, &str) -> Result<Vec<u8>, String>;

fn report(
    snap: &Snapshot,
    a: &Analysis,
    scope: ExportScope,
    title: &str,
    f: ReportFormat,
) -> Vec<u8> {
    let opts = ReportOptions {
        title: title.to_string(),
        device: scope.site.map(|_| scope.device),
        focus_site: scope.site,
    };
    render_with(snap, a, &opts, f).into_bytes()
}

/// The export formats the app offers.
pub fn export_formats() -> Vec<ExportFormat> {
    vec![
        ExportFormat {
            label: "HTML report...",
            extension: "html",
            render: |s, a, d, t| Ok(report(s, a, d, t, ReportFormat::Html)),
        },
        ExportFormat {
            label: "Markdown report...",
            extension: "md",
            render: |s, a, d, t| Ok(report(s, a, d, t, ReportFormat::Md)),
        },
        ExportFormat {
            label: "JSON (analyze contract)...",
            extension: "json",
            render: |s, a, d, t| Ok(report(s, a, d, t, ReportFormat::Json)),
        },
    ]
}
