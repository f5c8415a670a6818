//! Extension points for panels and menu items built elsewhere.
//!
//! - **File > Export**: a report renderer registers an [`ExportFormat`] in [`export_formats`];
//!   the menu lists it, asks for a file name on a thread and writes what `render` returns.
//! - **New views** (the What-if allocator simulator): see [`super::views`]: one enum variant,
//!   one module, one match arm.

use crate::analysis::Analysis;
use crate::model::Snapshot;

/// One entry of File > Export.
#[derive(Clone, Copy)]
pub struct ExportFormat {
    /// Menu label, e.g. "HTML report".
    pub label: &'static str,
    /// File extension without the dot, e.g. "html".
    pub extension: &'static str,
    /// Renders the report of one device (its id in `Analysis::devices`).
    pub render: fn(&Snapshot, &Analysis, usize) -> Result<Vec<u8>, String>,
}

/// The export formats the app offers (none until a report renderer registers here).
pub fn export_formats() -> Vec<ExportFormat> {
    Vec::new()
}
