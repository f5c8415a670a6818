//! The command line: one module per subcommand, each with its clap arguments and a `run`
//! returning the process exit code.

pub mod analyze;
pub mod check;
pub mod diff;
pub mod exit;
pub mod explain_oom;
pub mod flamegraph;
pub mod info;
mod input;
pub mod ranks;
pub mod report;
mod run;
pub mod summarize;
pub mod whatif;

pub use input::{load, pick_device};
pub use run::{error_message, main_with_args};
