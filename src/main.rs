//! The `memsight` binary: the desktop app when run with files or nothing, and subcommands for
//! the command line.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use memsight::output::info;
use memsight::read::{self, LoadOptions};

#[derive(Parser)]
#[command(
    name = "memsight",
    version,
    about = "Explains PyTorch CUDA memory snapshots",
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
    Info {
        file: PathBuf,
        /// Print the stable JSON form.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Info { file, json }) => cmd_info(&file, json),
        None => run_app(cli.files),
    }
}

fn cmd_info(file: &std::path::Path, json: bool) -> Result<()> {
    let t = Instant::now();
    let snap = read::load_path(file, &LoadOptions::default())
        .with_context(|| format!("cannot open {}", file.display()))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let info = info::summarize(&snap, &file.display().to_string(), ms);
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", info.to_text());
    }
    Ok(())
}

fn run_app(_files: Vec<PathBuf>) -> Result<()> {
    anyhow::bail!("the app is not built yet")
}
