//! The exit codes of the command line (README.md, "Command line", lists them too).

/// Done (a closed standard output counts: whoever read it has what they wanted).
pub const OK: i32 = 0;
/// A `check` rule failed.
pub const RULE_FAILED: i32 = 1;
/// The input could not be read, or the command line was wrong (clap uses 2 as well).
pub const BAD_INPUT: i32 = 2;
/// The output could not be written: standard output failed (a full disk, not a closed
/// pipe), a file could not be written, or `-o` named an input.
pub const WRITE_FAILED: i32 = 3;
