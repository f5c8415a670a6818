//! Real snapshots that other people committed to public GitHub repositories (see
//! tests/data/PUBLIC_SOURCES.md), read by memsight and checked against facts that CPython's own
//! `pickle` computed from the same bytes (tests/data/public/expected.json, written by
//! tests/data/public/make_expected.py; no Python runs here).

#[path = "data/public/facts.rs"]
mod facts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memsight::read::{load_path, LoadOptions};
use serde_json::Value;

fn public_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/public")
}

fn expected() -> BTreeMap<String, Value> {
    facts::expected(&public_dir())
}

/// Every committed public snapshot opens and every fact matches CPython's reading.
#[test]
fn every_public_snapshot_matches_cpython() {
    facts::check_folder(&public_dir(), 20);
}

/// Every file in the folder is listed in expected.json (a new file without facts is a mistake).
#[test]
fn every_public_file_has_expected_facts() {
    let exp = expected();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(public_dir()).expect("public dir") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy().into_owned();
        if name.contains(".pickle") && !exp.contains_key(&name) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "no expected facts for {missing:?}");
}

/// The collection covers the format generations and shapes the reader must handle.
#[test]
fn public_collection_covers_the_variants() {
    let exp = expected();
    let count = |f: &dyn Fn(&Value) -> bool| exp.values().filter(|v| f(v)).count();
    assert!(count(&|v| v["variant"] == "block_history") >= 3);
    assert!(count(&|v| v["variant"] == "device_traces") >= 10);
    assert!(count(&|v| v["variant"] == "segments_only") >= 1);
    assert!(count(&|v| v["devices"].as_array().is_some_and(|d| d.len() > 1)) >= 2);
    assert!(count(&|v| v["expandable_segments"].as_u64() > Some(0)) >= 2);
    assert!(
        count(&|v| v["events_per_trace"]
            .as_array()
            .is_some_and(|e| e.iter().all(|n| n == 0)))
            >= 3
    );
    assert!(count(&|v| v["compression"] == "xz") >= 1);
}

/// PyTorch 2.0 blocks carry no address: memsight places them end to end from the segment
/// start, so every segment's blocks tile it exactly.
#[test]
fn block_history_files_get_contiguous_block_addresses() {
    let exp = expected();
    let mut checked = 0;
    for (file, want) in &exp {
        if want["variant"] != "block_history" {
            continue;
        }
        let snap = load_path(&public_dir().join(file), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        for s in &snap.segments {
            let mut at = s.address;
            for b in &s.blocks {
                assert_eq!(b.address, at, "{file}: block not where the previous ends");
                at += b.size;
            }
            assert_eq!(at, s.address + s.total_size, "{file}: blocks do not fill");
            checked += 1;
        }
        // Each block's stack is the one of its latest history entry.
        for b in snap.segments.iter().flat_map(|s| &s.blocks) {
            if let Some(h) = b.history.last() {
                assert_eq!(b.stack, h.stack);
            }
        }
    }
    assert!(checked > 100, "only {checked} segments checked");
}
