//! `memsight analyze FILE [--json]`: the diagnosis on the command line.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Result;

use crate::analysis::{self, Analysis, DeviceAnalysis};
use crate::model::Snapshot;
use crate::output::analyze_json;
use crate::output::format::{bytes, signed_bytes};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// Print the stable JSON contract (see README.md).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &AnalyzeArgs) -> Result<i32> {
    let (snap, _) = super::load(&args.file)?;
    let a = analysis::analyze(&snap);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&analyze_json::to_json(&a))?
        );
    } else {
        print!("{}", summary_text(&snap, &a));
    }
    Ok(0)
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
    let _ = writeln!(s, "Device {}: {} events", d.device, d.events);
    if let Some(note) = d.trace_note(snap.format.variant) {
        let _ = writeln!(s, "  {}", note.text);
    }
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
    if d.ooms.is_empty() {
        let _ = writeln!(s, "  No out-of-memory error in the trace.");
    }
    for o in &d.ooms {
        let _ = writeln!(
            s,
            "  OOM at event {}: {} requested with {} allocated, {} reserved, {} reserved but \
             unallocated, largest free block {} -> {}",
            o.event,
            bytes(o.requested),
            bytes(o.allocated),
            bytes(o.reserved),
            bytes(o.free_in_reserved),
            bytes(o.largest_free_block),
            o.verdict.name().to_uppercase()
        );
        let _ = writeln!(s, "    {}", o.advice);
    }
    if d.leaks.is_empty() {
        let _ = writeln!(
            s,
            "  No leak: no call site's live memory grows across iterations."
        );
    } else {
        let _ = writeln!(
            s,
            "  Leak suspects (live memory that grows every iteration):"
        );
        for l in &d.leaks {
            let _ = writeln!(
                s,
                "    {}:{} in {}: {} live in {} blocks, {} per iteration, grew in {} iterations (confidence {:.2})",
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
    if let Some(w) = &d.fragmentation.worst {
        let _ = writeln!(
            s,
            "  Fragmentation at its worst (event {}): {} reserved but unallocated, largest free \
             block {}, external fragmentation {:.0}%",
            w.event,
            bytes(w.reserved_unallocated),
            bytes(w.largest_free_block),
            w.external * 100.0
        );
    }
    let _ = snap;
}
