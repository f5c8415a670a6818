//! Output: summaries, reports and the JSON contracts other tools read.

pub mod format;
pub mod info;
