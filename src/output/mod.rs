//! Output: summaries, reports and the JSON contracts other tools read.

pub mod analyze_json;
pub mod check;
pub mod colours;
pub mod diff;
pub mod flamegraph;
pub mod info;
pub mod ranks;
pub mod report;
pub mod words;
pub mod write;
