//! `memsight summarize FILE -o FILE.summary.json`: the per-rank summary `memsight ranks`
//! reduces, made where the snapshot is (one task per rank of a cluster job), so that only a
//! few kilobytes per rank travel to the machine that compares them.

use std::path::PathBuf;

use anyhow::Result;

use crate::ranks::{self, FileError};

#[derive(Debug, clap::Args)]
pub struct SummarizeArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// Where to write the summary (standard output without it); name it
    /// `NAME.summary.json` so that `memsight ranks DIR` picks it up.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub options: super::analyze::AnalysisArgs,
}

pub fn run(args: &SummarizeArgs) -> Result<i32> {
    if let Some(out) = super::report::output_file(args.output.as_deref()) {
        crate::output::write::refuse_input(out, &[&args.file])?;
    }
    if ranks::load::is_summary(&args.file) {
        anyhow::bail!("{} is a summary already", args.file.display());
    }
    let summary = ranks::summarize_path(&args.file, &args.options.options()).map_err(|e| {
        let e = match e {
            // The reader's message names the path already: say it once.
            FileError::Read(crate::read::ReadError::Io { error, .. }) => anyhow::anyhow!(error),
            other => anyhow::Error::new(other),
        };
        e.context(format!("cannot summarize {}", args.file.display()))
    })?;
    super::report::write_output(args.output.as_deref(), &summary.to_json(), &[&args.file])?;
    Ok(super::exit::OK)
}
