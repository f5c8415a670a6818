//! `memsight flamegraph FILE [--at POINT] [--from POINT] [--device N] -o out.folded|out.svg|out.json`:
//! where the memory live at one moment is, by full stack (or how it grew between two moments).

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::analysis;
use crate::analysis::calltree::{CallTree, Category, Frames, Group, TreeOptions};
use crate::analysis::point::{self, Point};
use crate::output::flamegraph::{self, FlameFormat};

#[derive(Debug, clap::Args)]
pub struct FlamegraphArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// The moment: peak (default), end, event:N, marker:K, iteration:K or oom:K (K counts
    /// from 0; negative K counts from the end, -1 being the last).
    #[arg(long, default_value = "peak")]
    pub at: Point,
    /// Growth mode: what grew (and shrank) from this moment to --at.
    #[arg(long, value_name = "POINT")]
    pub from: Option<Point>,
    /// The device (default: the first device with a trace or a segment).
    #[arg(long)]
    pub device: Option<usize>,
    /// Where to write; the extension picks the format (.folded, .svg, .json). Without it the
    /// folded stacks go to standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The format, whatever the output's extension.
    #[arg(long, value_enum)]
    pub format: Option<FlameFormat>,
    /// Levels above the stack: the `record_function` ranges active at allocation time
    /// (`annotation`), or the `torch.compile` context (`compile-context`).
    #[arg(
        long,
        value_enum,
        default_value = "stack",
        conflicts_with = "categories"
    )]
    pub group: GroupBy,
    /// A category of your own above the stack, `NAME=REGEX` over each frame's
    /// `FILE:LINE FUNCTION` (repeat it; the first match wins, the rest is `(other)`).
    #[arg(long = "category", value_name = "NAME=REGEX")]
    pub categories: Vec<Category>,
    /// Frames to fold: `all` (none folded), `native` (C++ frames into one node), `library`
    /// (each run of PyTorch, package and C++ frames into one node), `none` (groups only).
    #[arg(long, default_value = "all", value_name = "FRAMES")]
    pub fold: Frames,
    /// Bottom-up: the innermost frame first.
    #[arg(long)]
    pub inverted: bool,
}

/// `--group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Stack,
    Annotation,
    CompileContext,
}

impl FlamegraphArgs {
    fn options(&self) -> TreeOptions {
        let group = if !self.categories.is_empty() {
            Group::Categories(self.categories.clone())
        } else {
            match self.group {
                GroupBy::Stack => Group::Stack,
                GroupBy::Annotation => Group::Annotation,
                GroupBy::CompileContext => Group::CompileContext,
            }
        };
        TreeOptions {
            group,
            frames: self.fold,
            inverted: self.inverted,
        }
    }

    fn format(&self) -> Result<FlameFormat> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        match super::report::output_file(self.output.as_deref()) {
            None => Ok(FlameFormat::Folded),
            Some(p) => match FlameFormat::from_path(p) {
                Some(f) => Ok(f),
                None => bail!(
                    "cannot tell the flame graph format from {:?}: name it .folded, .svg or \
                     .json, or pass --format folded|svg|json",
                    p.display().to_string()
                ),
            },
        }
    }
}

/// `peak (event 1,234)`-style words for a point, for the SVG title.
fn moment(p: Point, t: Option<usize>) -> String {
    match t {
        Some(t) => format!("{p} (event {t})"),
        None => format!("{p} (the dump: no trace)"),
    }
}

pub fn run(args: &FlamegraphArgs) -> Result<i32> {
    let format = args.format()?;
    if let Some(out) = super::report::output_file(args.output.as_deref()) {
        crate::output::write::refuse_input(out, &[&args.file])?;
    }
    let (snap, _) = super::load(&args.file)?;
    let a = analysis::analyze(&snap);
    let d = super::pick_device(&a, args.device, &args.file)?;
    let opts = args.options();
    let to = point::resolve(d, args.at)?;
    let name = super::report::display_name(&args.file);
    let (tree, title) = match args.from {
        Some(from) => {
            let tree = CallTree::growth(&snap, d, from, args.at, &opts)?;
            let base = point::resolve(d, from)?;
            let title = format!(
                "Memory growth from {} to {}: {name}, device {}",
                moment(from, base),
                moment(args.at, to),
                d.device
            );
            (tree, title)
        }
        None => {
            let tree = CallTree::at_event(&snap, d, to, &opts);
            let title = format!(
                "Memory allocated at {}: {name}, device {}",
                moment(args.at, to),
                d.device
            );
            (tree, title)
        }
    };
    let text = flamegraph::render(&snap, &tree, format, &title)?;
    super::report::write_output(args.output.as_deref(), &text, &[&args.file])?;
    Ok(super::exit::OK)
}
