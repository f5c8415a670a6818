//! `memsight info FILE [--json]`.

use std::path::PathBuf;

use anyhow::Result;

use crate::output::{info, write};

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// Print the stable JSON form.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InfoArgs) -> Result<i32> {
    let (snap, ms) = super::input::load(&args.file)?;
    let info = info::summarize(&snap, &args.file.display().to_string(), ms);
    let text = if args.json {
        serde_json::to_string_pretty(&info)? + "\n"
    } else {
        info.to_text()
    };
    write::stdout(&text)?;
    Ok(super::exit::OK)
}
