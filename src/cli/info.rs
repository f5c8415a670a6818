//! `memsight info FILE [--json]`.

use std::path::PathBuf;

use anyhow::Result;

use crate::output::info;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// Print the stable JSON form.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InfoArgs) -> Result<i32> {
    let (snap, ms) = super::load(&args.file)?;
    let info = info::summarize(&snap, &args.file.display().to_string(), ms);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", info.to_text());
    }
    Ok(0)
}
