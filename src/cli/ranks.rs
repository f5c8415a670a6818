//! `memsight ranks FILE...|DIR`: the ranks of one distributed job side by side (snapshots and
//! `memsight summarize` files, mixed as they come).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::output::ranks::FileFailure;
use crate::output::{self, write};
use crate::ranks;

#[derive(Debug, clap::Args)]
pub struct RanksArgs {
    /// Snapshots, `.summary.json` files, or directories of them (one file per rank; the rank
    /// is taken from the name, `rank3` or the last number, else from the order given).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Print the JSON contract (see README.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write to this file instead of standard output (JSON when it ends in .json).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Files analysed at once (default: the cores, at most 8); each holds one snapshot in
    /// memory while it is analysed.
    #[arg(short, long)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub options: super::analyze::AnalysisArgs,
}

/// Progress on standard error, when it is a terminal: `memsight: 12/64 files summarised`.
pub fn progress_reporter() -> impl Fn(usize, usize) -> bool + Sync {
    let show = std::io::stderr().is_terminal();
    move |done, total| {
        if show {
            let end = if done == total { "\n" } else { "" };
            eprint!("\rmemsight: {done}/{total} files summarised{end}");
        }
        true
    }
}

pub fn run(args: &RanksArgs) -> Result<i32> {
    let paths = ranks::expand(&args.inputs)?;
    let inputs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    if let Some(out) = super::report::output_file(args.output.as_deref()) {
        write::refuse_input(out, &inputs)?;
    }
    let jobs = args.jobs.unwrap_or_else(ranks::default_jobs);
    let results = ranks::summarize_all(&paths, &args.options.options(), jobs, &progress_reporter());
    let mut summaries = Vec::new();
    let mut failures = Vec::new();
    for (path, r) in paths.iter().zip(results) {
        match r {
            Ok(s) => summaries.push(s),
            Err(e) => failures.push(FileFailure {
                file: path.display().to_string(),
                error: e.to_string(),
            }),
        }
    }
    let reduced = ranks::reduce(summaries);
    let json = args.json
        || args
            .output
            .as_deref()
            .and_then(Path::extension)
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if json {
        serde_json::to_string_pretty(&output::ranks::to_json(reduced.as_ref(), &failures))? + "\n"
    } else {
        output::ranks::text(reduced.as_ref(), &failures)
    };
    if let Err(e) = super::report::write_output(args.output.as_deref(), &text, &inputs) {
        // A closed pipe does not change the exit code: a file that failed still fails it.
        let closed = e
            .downcast_ref::<write::WriteError>()
            .is_some_and(write::WriteError::is_closed_pipe);
        if !closed {
            return Err(e);
        }
    }
    Ok(if failures.is_empty() {
        super::exit::OK
    } else {
        super::exit::BAD_INPUT
    })
}
