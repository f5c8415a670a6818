//! The whole command line as a library function, so that the `memsight` binary and the Python
//! package's `memsight` command (`python -m memsight`, the wheel's console script) run the
//! same parser, the same subcommands and the same exit codes.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::output::write::{self, WriteError};

#[derive(Parser)]
#[command(
    name = "memsight",
    version,
    about = "Explains PyTorch CUDA memory snapshots: leaks, fragmentation, OOMs",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Snapshots to open in the app (a bundled sample when none is given).
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// What a snapshot file holds: format, devices, events, segments, frames.
    Info(super::info::InfoArgs),
    /// Replay the allocator and diagnose: peak, leaks, fragmentation, OOM verdicts.
    Analyze(super::analyze::AnalyzeArgs),
    /// Verdict and fix from the text of a torch.cuda.OutOfMemoryError message.
    ExplainOom(super::explain_oom::ExplainOomArgs),
    /// Replay the recorded requests under other allocator settings or another cap.
    Whatif(super::whatif::WhatifArgs),
    /// Write the diagnosis as a report: -o out.html (self-contained), out.md or out.json.
    Report(super::report::ReportArgs),
    /// Compare two snapshots, or two points of one trace, call site by call site.
    Diff(super::diff::DiffArgs),
    /// Write the call tree of live memory at a point (or its growth between two): -o
    /// out.folded (inferno, flamegraph.pl, speedscope), out.svg (interactive) or out.json.
    Flamegraph(super::flamegraph::FlamegraphArgs),
    /// Check memory rules for CI: exit 0 when all hold, 1 when one fails, 2 on unreadable input,
    /// 3 when the output cannot be written.
    Check(super::check::CheckArgs),
    /// The ranks of one distributed job side by side: per-rank peaks, OOMs and leaks, the
    /// median rank, and the outliers with the call sites that make their difference.
    Ranks(super::ranks::RanksArgs),
    /// Write the per-rank summary `memsight ranks` reduces: -o FILE.summary.json.
    Summarize(super::summarize::SummarizeArgs),
}

/// Runs the command line on `args` (the program name first, as in `std::env::args_os`) and
/// returns the exit code ([`super::exit`]) instead of exiting, so that a caller inside
/// another process (the Python extension) keeps control. Help, version and usage errors are
/// printed as clap prints them, with clap's codes (0, and 2 for a usage error).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let result = match &cli.command {
        Some(Command::Info(a)) => super::info::run(a),
        Some(Command::Analyze(a)) => super::analyze::run(a),
        Some(Command::ExplainOom(a)) => super::explain_oom::run(a),
        Some(Command::Whatif(a)) => super::whatif::run(a),
        Some(Command::Report(a)) => super::report::run(a),
        Some(Command::Diff(a)) => super::diff::run(a),
        Some(Command::Check(a)) => super::check::run(a),
        Some(Command::Flamegraph(a)) => super::flamegraph::run(a),
        Some(Command::Ranks(a)) => super::ranks::run(a),
        Some(Command::Summarize(a)) => super::summarize::run(a),
        None => run_app(cli.files),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let write = e.chain().find_map(|c| c.downcast_ref::<WriteError>());
            if write.is_some_and(WriteError::is_closed_pipe) {
                super::exit::OK
            } else {
                write::note(&error_message(&e));
                if write.is_some() {
                    super::exit::WRITE_FAILED
                } else {
                    super::exit::BAD_INPUT
                }
            }
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose text the message
/// already holds (an error that prints its source and also returns it) is not repeated.
/// The command line prints it after `memsight: `; the Python package raises it.
pub fn error_message(e: &anyhow::Error) -> String {
    let mut s = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || s.contains(&text) {
            continue;
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&text);
    }
    s
}

#[cfg(feature = "gui")]
fn run_app(files: Vec<PathBuf>) -> Result<i32> {
    crate::ui::run(files)?;
    Ok(0)
}

#[cfg(not(feature = "gui"))]
fn run_app(_files: Vec<PathBuf>) -> Result<i32> {
    anyhow::bail!(
        "this memsight was built without the `gui` feature; use a subcommand (see --help)"
    )
}
