//! The `memsight` binary: the desktop app when run with files or nothing, and subcommands for
//! the command line.
//!
//! Exit codes ([`cli::exit`]): 0 done, also when standard output was a pipe closed early
//! (`| head`); 1 a `check` rule failed; 2 the input could not be read or the command line was
//! wrong; 3 the output could not be written (a full disk, a failed `-o`, `-o` naming an input).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use memsight::cli;
use memsight::output::write::{self, WriteError};

#[global_allocator]
static ALLOC: memsight::heap::HugePageAlloc = memsight::heap::HugePageAlloc;

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
    Info(cli::info::InfoArgs),
    /// Replay the allocator and diagnose: peak, leaks, fragmentation, OOM verdicts.
    Analyze(cli::analyze::AnalyzeArgs),
    /// Verdict and fix from the text of a torch.cuda.OutOfMemoryError message.
    ExplainOom(cli::explain_oom::ExplainOomArgs),
    /// Replay the recorded requests under other allocator settings or another cap.
    Whatif(cli::whatif::WhatifArgs),
    /// Write the diagnosis as a report: -o out.html (self-contained), out.md or out.json.
    Report(cli::report::ReportArgs),
    /// Compare two snapshots, or two points of one trace, call site by call site.
    Diff(cli::diff::DiffArgs),
    /// Where the memory at one moment is, by full stack: -o out.folded, out.svg or out.json
    /// (--from POINT: what grew between two moments).
    Flamegraph(cli::flamegraph::FlamegraphArgs),
    /// Check memory rules for CI: exit 0 when all hold, 1 when one fails, 2 on unreadable input,
    /// 3 when the output cannot be written.
    Check(cli::check::CheckArgs),
    /// The ranks of one distributed job side by side: per-rank peaks, OOMs and leaks, the
    /// median rank, and the outliers with the call sites that make their difference.
    Ranks(cli::ranks::RanksArgs),
    /// Write the per-rank summary `memsight ranks` reduces: -o FILE.summary.json.
    Summarize(cli::summarize::SummarizeArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Info(a)) => cli::info::run(a),
        Some(Command::Analyze(a)) => cli::analyze::run(a),
        Some(Command::ExplainOom(a)) => cli::explain_oom::run(a),
        Some(Command::Whatif(a)) => cli::whatif::run(a),
        Some(Command::Report(a)) => cli::report::run(a),
        Some(Command::Diff(a)) => cli::diff::run(a),
        Some(Command::Flamegraph(a)) => cli::flamegraph::run(a),
        Some(Command::Check(a)) => cli::check::run(a),
        Some(Command::Ranks(a)) => cli::ranks::run(a),
        Some(Command::Summarize(a)) => cli::summarize::run(a),
        None => run_app(cli.files),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let write = e.chain().find_map(|c| c.downcast_ref::<WriteError>());
            if write.is_some_and(WriteError::is_closed_pipe) {
                cli::exit::OK
            } else {
                write::note(&message(&e));
                if write.is_some() {
                    cli::exit::WRITE_FAILED
                } else {
                    cli::exit::BAD_INPUT
                }
            }
        }
    };
    std::process::exit(code);
}

/// The error and its causes on one line, each said once: a cause whose text the message
/// already holds (an error that prints its source and also returns it) is not repeated.
fn message(e: &anyhow::Error) -> String {
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
    memsight::ui::run(files)?;
    Ok(0)
}

#[cfg(not(feature = "gui"))]
fn run_app(_files: Vec<PathBuf>) -> Result<i32> {
    anyhow::bail!(
        "this memsight was built without the `gui` feature; use a subcommand (see --help)"
    )
}
