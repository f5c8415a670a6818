//! `memsight analyze FILE [--json]`: the diagnosis on the command line.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Result;

use crate::analysis::findings::{self, Finding, Severity};
use crate::analysis::{self, Analysis, DeviceAnalysis, IterationSpec, Options};
use crate::model::Snapshot;
use crate::output::{analyze_json, words, write};
use crate::units::{bytes, plural, signed_bytes};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// Print the stable JSON contract (see README.md).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub options: AnalysisArgs,
}

/// Analysis options shared by `analyze`, `report` and `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalysisArgs {
    /// Where iterations come from: `auto` (markers, then annotations, optimizer steps, the
    /// loop's period), `marker`, `annotation:NAME` (e.g. ProfilerStep) or `site:FILE:LINE`
    /// (a line that runs once per step).
    #[arg(long, value_name = "SOURCE", default_value = "auto")]
    pub iterations: IterationSpec,
}

impl AnalysisArgs {
    pub fn options(&self) -> Options {
        Options {
            iterations: self.iterations.clone(),
        }
    }
}

pub fn run(args: &AnalyzeArgs) -> Result<i32> {
    let (snap, _) = super::input::load(&args.file)?;
    let a = analysis::analyze_with(&snap, &args.options.options());
    let text = if args.json {
        serde_json::to_string_pretty(&analyze_json::to_json(&a, snap.format.variant))? + "\n"
    } else {
        summary_text(&snap, &a)
    };
    write::stdout(&text)?;
    Ok(super::exit::OK)
}

/// The readable diagnosis printed by `memsight analyze`.
pub fn summary_text(snap: &Snapshot, a: &Analysis) -> String {
    let mut s = String::new();
    if a.devices.is_empty() {
        let _ = writeln!(
            s,
            "No device has segments or trace events: nothing to analyse."
        );
    }
    for d in &a.devices {
        device_text(&mut s, snap, d);
    }
    s
}

fn device_text(s: &mut String, snap: &Snapshot, d: &DeviceAnalysis) {
    let _ = write!(s, "Device {}: {} events", d.device, d.events);
    if d.events > 0 {
        let n = d.iterations.count();
        let _ = write!(
            s,
            ", {n} iteration{} (from {})",
            plural(n),
            words::iteration_source(&d.iterations)
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "  Peak: {} allocated (event {}), {} reserved (event {})",
        bytes(d.peak.allocated),
        d.peak.allocated_event,
        bytes(d.peak.reserved),
        d.peak.reserved_event
    );
    let f = d.final_counters;
    let _ = writeln!(
        s,
        "  At the end: {} allocated, {} reserved",
        bytes(f.allocated),
        bytes(f.reserved)
    );
    for f in findings::findings(d, snap.format.variant) {
        let t = words::finding(&f, d);
        let _ = writeln!(s, "  [{}] {}: {}", severity(t.severity), t.title, t.detail);
        match f {
            Finding::Oom { index, .. } => {
                if let Some(o) = d.ooms.get(index) {
                    let _ = writeln!(s, "    {}", words::oom_advice(d, o));
                }
            }
            Finding::Leaks { .. } => {
                for l in &d.leaks {
                    let _ = writeln!(
                        s,
                        "    {}:{} in {}: {} live in {} blocks, {} per iteration, grew in {} \
                         iterations (confidence {:.2})",
                        l.file,
                        l.line,
                        l.function,
                        bytes(l.live_bytes),
                        l.live_blocks,
                        signed_bytes(l.growth_bytes_per_iteration as i64),
                        l.iterations,
                        l.confidence
                    );
                }
            }
            _ => {}
        }
    }
    if let Some(w) = &d.fragmentation.worst {
        // (The line has no full stop of its own: the caveat brings one when there is one.)
        let caveat = match words::all_pools_caveat(d) {
            "" => String::new(),
            c => format!(".{c}"),
        };
        let _ = writeln!(
            s,
            "  Fragmentation at its worst (event {}): {} reserved but unallocated, largest free \
             block {}, {} stranded in smaller holes, external fragmentation {:.0}%{caveat}",
            w.event,
            bytes(w.reserved_unallocated),
            bytes(w.largest_free_block),
            bytes(w.stranded),
            w.external * 100.0
        );
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Problem => "PROBLEM",
        Severity::Warning => "WARNING",
        Severity::Note => "NOTE",
        Severity::Ok => "OK",
    }
}
