//! Facts about a snapshot file that CPython computed (see tests/data/public/make_expected.py),
//! checked against what memsight reads. Shared by tests/public.rs and tests/reader.rs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use memsight::model::{Action, BlockState, Snapshot};
use memsight::read::{load_path, LoadOptions};
use serde_json::Value;

/// The expected.json of a folder, file name to facts.
pub fn expected(dir: &Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(dir.join("expected.json"))
        .unwrap_or_else(|e| panic!("{}/expected.json: {e}", dir.display()));
    serde_json::from_str(&text).expect("expected.json parses")
}

pub fn u64_of(v: &Value, key: &str, file: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{file}: expected.json has no integer {key}"))
}

pub fn actions_of(snap: &Snapshot) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for d in &snap.devices {
        for e in &d.events {
            let name = match e.action {
                Action::Other(s) => snap.frames.strings.get(s).to_string(),
                a => a.name().unwrap_or("?").to_string(),
            };
            *out.entry(name).or_insert(0) += 1;
        }
    }
    out
}

/// Checks every file of a folder's expected.json (at least `min` of them) and fails with all
/// the mismatches at once.
pub fn check_folder(dir: &Path, min: usize) {
    let exp = expected(dir);
    assert!(
        exp.len() >= min,
        "only {} files in {}",
        exp.len(),
        dir.display()
    );
    let bad: Vec<String> = exp
        .iter()
        .flat_map(|(file, want)| check(dir, file, want))
        .collect();
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Checks one file against its expected facts; returns the mismatches.
pub fn check(dir: &Path, file: &str, want: &Value) -> Vec<String> {
    let path = dir.join(file);
    let snap = match load_path(&path, &LoadOptions::default()) {
        Ok(s) => s,
        Err(e) => return vec![format!("{file}: does not open: {e}")],
    };
    let mut bad = Vec::new();
    let mut eq = |what: &str, got: String, exp: String| {
        if got != exp {
            bad.push(format!("{file}: {what}: memsight {got}, CPython {exp}"));
        }
    };
    let f = &snap.format;
    eq(
        "variant",
        f.variant.name().into(),
        want["variant"].as_str().unwrap_or("").into(),
    );
    eq(
        "protocol",
        f.protocol.to_string(),
        want["protocol"].to_string(),
    );
    eq(
        "compression",
        format!("{:?}", f.compression),
        format!("{:?}", want["compression"].as_str()),
    );
    eq(
        "pickle bytes",
        f.pickle_bytes.to_string(),
        u64_of(want, "pickle_bytes", file).to_string(),
    );
    let devices: Vec<u64> = snap.device_ids().iter().map(|&d| d as u64).collect();
    let want_devices: Vec<u64> = want["devices"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    eq(
        "devices",
        format!("{devices:?}"),
        format!("{want_devices:?}"),
    );
    let events: Vec<u64> = snap.devices.iter().map(|d| d.events.len() as u64).collect();
    let want_events: Vec<u64> = want["events_per_trace"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    eq(
        "events per trace",
        format!("{events:?}"),
        format!("{want_events:?}"),
    );
    let want_actions: BTreeMap<String, u64> = want["actions"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    eq(
        "actions",
        format!("{:?}", actions_of(&snap)),
        format!("{want_actions:?}"),
    );
    let segs = &snap.segments;
    let sum = |f: fn(&memsight::model::Segment) -> u64| segs.iter().map(f).sum::<u64>();
    let blocks = || segs.iter().flat_map(|s| s.blocks.iter());
    let state_bytes =
        |st: BlockState| -> u64 { blocks().filter(|b| b.state == st).map(|b| b.size).sum() };
    let facts: [(&str, u64); 12] = [
        ("segments", segs.len() as u64),
        (
            "expandable_segments",
            segs.iter().filter(|s| s.is_expandable).count() as u64,
        ),
        ("reserved", sum(|s| s.total_size)),
        ("allocated", sum(|s| s.allocated_size)),
        ("active", sum(|s| s.active_size)),
        ("requested", sum(|s| s.requested_size)),
        ("blocks", blocks().count() as u64),
        (
            "block_address_sum",
            blocks().fold(0u64, |a, b| a.wrapping_add(b.address)),
        ),
        (
            "active_allocated_bytes",
            state_bytes(BlockState::ActiveAllocated),
        ),
        ("inactive_bytes", state_bytes(BlockState::Inactive)),
        (
            "history_entries",
            blocks().map(|b| b.history.len() as u64).sum(),
        ),
        ("unique_frames", snap.frames.len() as u64),
    ];
    for (key, got) in facts {
        eq(key, got.to_string(), u64_of(want, key, file).to_string());
    }
    eq(
        "annotations",
        snap.annotations.len().to_string(),
        want["annotations"].to_string(),
    );
    eq(
        "allocator_settings",
        snap.allocator_settings.is_some().to_string(),
        want["allocator_settings"].to_string(),
    );
    bad
}
