//! Output: summaries, reports and the JSON contracts other tools read.

pub mod analyze_json;
pub mod format;
pub mod info;
