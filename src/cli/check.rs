//! `memsight check FILE [rules]`: a memory gate for CI. Exit 0 when every rule holds, 1 when
//! one fails (saying what and by how much), 2 when a file cannot be read, 3 when the output
//! cannot be written.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::analysis;
use crate::output::check::{self, Growth, Rules};
use crate::output::write;
use crate::units::parse_size;

/// How `check` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// JUnit XML, for CI systems' test reports.
    Junit,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    #[command(flatten)]
    pub options: super::analyze::AnalysisArgs,
    /// Fail when peak allocated memory exceeds this size (512MiB, 1.5GB, 10GiB, bytes).
    #[arg(long, value_parser = parse_size)]
    pub max_peak: Option<u64>,
    /// Fail when peak reserved memory exceeds this size.
    #[arg(long, value_parser = parse_size)]
    pub max_reserved: Option<u64>,
    /// Fail when, at peak reserved memory, more than this fraction of the reserved memory was
    /// free but outside the largest free block (0.3 or 30%).
    #[arg(long, value_parser = check::parse_fraction)]
    pub max_fragmentation: Option<f64>,
    /// Fail when there is a leak suspect.
    #[arg(long)]
    pub no_leaks: bool,
    /// Fail when the trace has an out-of-memory error.
    #[arg(long)]
    pub no_oom: bool,
    /// A snapshot of the same program to compare peaks with (needs --max-growth).
    #[arg(long, requires = "max_growth")]
    pub baseline: Option<PathBuf>,
    /// Fail when peak allocated or peak reserved grew more than this over the baseline:
    /// a percentage (5%) or a size (100MiB).
    #[arg(long, requires = "baseline")]
    pub max_growth: Option<Growth>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// Also write the output to this file (e.g. junit.xml), besides standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: &CheckArgs) -> Result<i32> {
    let rules = Rules {
        max_peak: args.max_peak,
        max_reserved: args.max_reserved,
        max_fragmentation: args.max_fragmentation,
        no_leaks: args.no_leaks,
        no_oom: args.no_oom,
        max_growth: args.max_growth,
    };
    if !rules.any() {
        bail!(
            "no rule given: add one or more of --max-peak, --max-reserved, --max-fragmentation, \
             --no-leaks, --no-oom, --baseline with --max-growth"
        );
    }
    let inputs: Vec<&std::path::Path> = std::iter::once(args.file.as_path())
        .chain(args.baseline.as_deref())
        .collect();
    if let Some(p) = &args.output {
        write::refuse_input(p, &inputs)?;
    }
    let (snap, _) = super::input::load(&args.file)?;
    let options = args.options.options();
    let a = analysis::analyze_with(&snap, &options);
    let base = match &args.baseline {
        Some(p) => {
            let (s, _) = super::input::load(p)?;
            Some((
                super::report::display_name(p),
                analysis::analyze_with(&s, &options),
            ))
        }
        None => None,
    };
    let name = super::report::display_name(&args.file);
    let r = check::evaluate(
        &name,
        &a,
        base.as_ref().map(|(n, b)| (n.as_str(), b)),
        &rules,
    );
    let text = match args.format {
        CheckFormat::Text => check::text(&r),
        CheckFormat::Json => check::json(&r),
        CheckFormat::Junit => check::junit(&r),
    };
    // The file first: CI reads it whether or not anyone reads standard output.
    if let Some(p) = &args.output {
        write::file(p, text.as_bytes(), &inputs)?;
    }
    match write::stdout(&text) {
        // A closed pipe does not change the verdict.
        Err(e) if e.is_closed_pipe() => {}
        other => other?,
    }
    Ok(if r.passed {
        super::exit::OK
    } else {
        super::exit::RULE_FAILED
    })
}
