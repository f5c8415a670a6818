//! Recorded figures and simulations side by side: the `memsight whatif` table and its JSON
//! contract.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::analysis::sites::site_of_stack;
use crate::model::Snapshot;
use crate::units::bytes;

use super::{Recorded, SimResult};

fn cap_json(cap: Option<u64>) -> Value {
    cap.map(Value::from).unwrap_or(Value::Null)
}

/// `{"recorded":{...},"variants":[{"settings","cap","peak_reserved","peak_allocated",
/// "ooms":[{"event","requested"}],"segments_allocated"}]}`; `event` is the index of the
/// request in the recorded trace, `settings` a `PYTORCH_CUDA_ALLOC_CONF` string (`""` for the
/// defaults), `cap` bytes or null.
pub fn to_json(rec: &Recorded, variants: &[SimResult]) -> Value {
    let recorded = json!({
        "settings": rec.settings.to_conf(),
        "cap": cap_json(rec.cap),
        "peak_reserved": rec.peak_reserved,
        "peak_allocated": rec.peak_allocated,
        "ooms": rec.ooms.iter().map(|&(event, requested)| json!({"event": event, "requested": requested})).collect::<Vec<_>>(),
        "segments_allocated": rec.segments_allocated,
    });
    let variants: Vec<Value> = variants
        .iter()
        .map(|v| {
            json!({
                "settings": v.scenario.settings.to_conf(),
                "cap": cap_json(v.scenario.cap),
                "peak_reserved": v.peak_reserved,
                "peak_allocated": v.peak_allocated,
                "ooms": v.ooms.iter().map(|o| json!({"event": o.event, "requested": o.requested})).collect::<Vec<_>>(),
                "segments_allocated": v.segments_allocated,
            })
        })
        .collect();
    json!({ "recorded": recorded, "variants": variants })
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

fn oom_cell(ooms: &[(u32, u64)]) -> String {
    match ooms.first() {
        None => "none".to_string(),
        Some(&(event, size)) if ooms.len() == 1 => format!("1 (event {event}, {})", bytes(size)),
        Some(&(event, size)) => format!("{} (first: event {event}, {})", ooms.len(), bytes(size)),
    }
}

/// The line of code behind the request at a trace index (e.g. `train.py:42`), or "".
pub fn site_label(snap: &Snapshot, device: usize, event: u32) -> String {
    snap.trace(device)
        .and_then(|t| t.events.get(event as usize))
        .map(|e| site_of_stack(snap, e.stack))
        .filter(|s| s.line > 0)
        .map(|s| format!(" at {}", s.short_label()))
        .unwrap_or_default()
}

/// The side-by-side table printed by `memsight whatif`; `site` names the line of code behind
/// a request (see [`site_label`]).
pub fn table(rec: &Recorded, variants: &[SimResult], site: &dyn Fn(u32) -> String) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "scenario".into(),
        "cap".into(),
        "peak reserved".into(),
        "peak allocated".into(),
        "unallocated at peak".into(),
        "segment calls".into(),
        "OOMs".into(),
    ]];
    let cap_s = |c: Option<u64>| c.map(bytes).unwrap_or_else(|| "none".into());
    // One row: scenario, cap, then the figures recording and variants share.
    let row = |scenario: String,
               cap: String,
               (reserved, allocated, unallocated): (u64, u64, u64),
               segments: String,
               ooms: &[(u32, u64)]| {
        [
            scenario,
            cap,
            bytes(reserved),
            bytes(allocated),
            format!("{} ({})", bytes(unallocated), pct(unallocated, reserved)),
            segments,
            oom_cell(ooms),
        ]
    };
    rows.push(row(
        format!("recorded ({})", rec.settings),
        match rec.cap {
            Some(c) if rec.cap_inferred => format!("{} (inferred)", bytes(c)),
            c => cap_s(c),
        },
        (
            rec.peak_reserved,
            rec.peak_allocated,
            rec.unallocated_at_peak,
        ),
        rec.segments_allocated.to_string(),
        &rec.ooms,
    ));
    for v in variants {
        let ooms: Vec<(u32, u64)> = v.ooms.iter().map(|o| (o.event, o.requested)).collect();
        rows.push(row(
            v.scenario.settings.to_string(),
            cap_s(v.scenario.cap),
            (v.peak_reserved, v.peak_allocated, v.unallocated_at_peak),
            v.segments_allocated.to_string(),
            &ooms,
        ));
    }
    let mut widths = [0usize; 7];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            let _ = writeln!(s, "{}", "-".repeat(total));
        }
    }

    if rec.model_reproduces {
        let _ = writeln!(
            s,
            "\nUnder the recorded settings{} the model makes exactly the recording's segment \
             calls and OOMs.",
            if rec.cap.is_some() { " and cap" } else { "" }
        );
    } else {
        let _ = writeln!(
            s,
            "\nNote: under the recorded settings the model does not make exactly the recorded \
             segment calls (a feature it does not model, or a wrong --recorded-cap); recorded \
             figures come from the exact replay and the variants are approximate."
        );
    }

    // Each recorded OOM under each variant, then OOMs the recording did not have.
    for &(event, size) in &rec.ooms {
        let _ = writeln!(
            s,
            "\nRecorded OOM at event {event}{} ({}):",
            site(event),
            bytes(size)
        );
        for v in variants {
            let fate = if v.ooms.iter().any(|o| o.event == event) {
                "still fails"
            } else {
                "served"
            };
            let _ = writeln!(s, "  {:<40} {fate}", v.scenario.settings.to_string());
        }
    }
    for v in variants {
        let new: Vec<_> = v.ooms.iter().filter(|o| !o.recorded_oom).collect();
        if new.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "\n{}: {} request(s) the recording served would fail:",
            v.scenario.settings,
            new.len()
        );
        for o in new.iter().take(10) {
            let _ = writeln!(
                s,
                "  event {}{}: {} (reserved {}, allocated {})",
                o.event,
                site(o.event),
                bytes(o.requested),
                bytes(o.reserved),
                bytes(o.allocated)
            );
        }
        if new.len() > 10 {
            let _ = writeln!(s, "  ... and {} more", new.len() - 10);
        }
    }
    if variants.iter().any(|v| v.served_recorded_ooms > 0) {
        let _ = writeln!(
            s,
            "\nA request the recording failed is served here and kept for the rest of the run \
             (the program's own reaction to the OOM is in the trace and cannot be undone)."
        );
    }
    s
}
