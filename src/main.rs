//! The `memsight` binary: the desktop app when run with files or nothing, and subcommands for
//! the command line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use memsight::cli;

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
    /// Check memory rules for CI: exit 0 when all hold, 1 when one fails, 2 on unreadable input.
    Check(cli::check::CheckArgs),
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
        Some(Command::Check(a)) => cli::check::run(a),
        None => run_app(cli.files),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("memsight: {e:#}");
            // Exit code 2: the input could not be read (1 is kept for failed `check` rules).
            std::process::exit(2);
        }
    }
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
