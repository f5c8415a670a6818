//! `memsight diff A B`: two snapshots of the same program, or two points of one trace, side by
//! side (`memsight diff run.pickle run.pickle --at-a marker:1 --at-b marker:3`).

use std::path::PathBuf;

use anyhow::Result;

use crate::analysis::{self, Analysis};
use crate::model::Snapshot;
use crate::output::diff::{self, Point, Side};
use crate::output::report;

use super::report::ReportOutput;
use crate::output::write;

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first snapshot (the "before").
    pub a: PathBuf,
    /// The second snapshot (the "after"); may be the same file as A with other points.
    pub b: PathBuf,
    /// The moment of A: peak (default), end, marker:K, event:N, oom:K or iteration:K
    /// (K counts from 0; negative K counts from the end, -1 being the last).
    #[arg(long, default_value = "peak", value_parser = parse_point)]
    pub at_a: Point,
    /// The moment of B (same forms as --at-a).
    #[arg(long, default_value = "peak", value_parser = parse_point)]
    pub at_b: Point,
    /// The device to compare (default: the first device of each file).
    #[arg(long)]
    pub device: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    // Without --output: the diff as text, as JSON (--json) or as --format on standard output.
    #[command(flatten)]
    pub out: ReportOutput,
}

fn parse_point(s: &str) -> Result<Point, String> {
    s.parse()
}

pub fn run(args: &DiffArgs) -> Result<i32> {
    let inputs = [args.a.as_path(), args.b.as_path()];
    if let Some(out) = args.out.file() {
        write::refuse_input(out, &inputs)?;
    }
    let (snap_a, _) = super::input::load(&args.a)?;
    let an_a = analysis::analyze(&snap_a);
    // The same file twice (two points of one trace): load and analyse it once.
    let same = std::fs::canonicalize(&args.a).ok() == std::fs::canonicalize(&args.b).ok();
    let loaded_b: Option<(Snapshot, Analysis)> = if same {
        None
    } else {
        let (s, _) = super::input::load(&args.b)?;
        let a = analysis::analyze(&s);
        Some((s, a))
    };
    let (snap_b, an_b) = match &loaded_b {
        Some((s, a)) => (s, a),
        None => (&snap_a, &an_a),
    };
    let name_a = super::report::display_name(&args.a);
    let name_b = super::report::display_name(&args.b);
    let side_a = Side {
        name: name_a.clone(),
        snap: &snap_a,
        device: super::input::pick_device(&an_a, args.device, &args.a)?,
        point: args.at_a,
    };
    let side_b = Side {
        name: name_b.clone(),
        snap: snap_b,
        device: super::input::pick_device(an_b, args.device, &args.b)?,
        point: args.at_b,
    };
    let d = diff::diff(&side_a, &side_b)?;
    if args.out.output.is_some() {
        let charts = report::DiffCharts::new(&side_a, &side_b, same);
        let text = report::render_diff_with(&d, Some(&charts), args.out.format()?);
        args.out.write(&text, &inputs)?;
    } else if args.json {
        write::stdout(&(serde_json::to_string_pretty(&d)? + "\n"))?;
    } else if let Some(f) = args.out.format {
        write::stdout(&report::render_diff(&d, f))?;
    } else {
        write::stdout(&diff::text(&d))?;
    }
    Ok(super::exit::OK)
}
