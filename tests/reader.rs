//! The reader on synthetic snapshots of every format variant (tests/data/fixtures, written by
//! tests/data/make_fixtures.py with facts CPython computed), on pickles serde-pickle writes, and
//! cross-checked value by value against serde-pickle's generic reading of small real files.

#[path = "data/public/facts.rs"]
mod facts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memsight::model::{Action, FormatVariant, Snapshot};
use memsight::read::{load_bytes, load_path, LoadOptions};
use serde_json::Value as J;
use serde_pickle::{HashableValue as HV, Value as PV};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures")
}

fn load(name: &str) -> Snapshot {
    load_path(&fixtures_dir().join(name), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fixture_facts() -> BTreeMap<String, J> {
    facts::expected(&fixtures_dir())
}

/// Every fixture matches the facts CPython computed from the same bytes.
#[test]
fn every_fixture_matches_cpython() {
    facts::check_folder(&fixtures_dir(), 19);
}

/// The same snapshot pickled with protocols 0 to 5 and compressed three ways reads to the same
/// model.
#[test]
fn all_protocols_and_compressions_read_the_same() {
    let base = load("modern_p4.pickle");
    let names = [
        "modern_p0.pickle",
        "modern_p1.pickle",
        "modern_p2.pickle",
        "modern_p3.pickle",
        "modern_p5.pickle",
        "modern.pickle.gz",
        "modern.pickle.zst",
        "modern.pickle.xz",
    ];
    for name in names {
        let s = load(name);
        assert_eq!(s.segments, base.segments, "{name}: segments");
        assert_eq!(s.devices.len(), base.devices.len(), "{name}");
        for (a, b) in s.devices.iter().zip(&base.devices) {
            assert_eq!(a.events.len(), b.events.len(), "{name}");
            for (x, y) in a.events.iter().zip(&b.events) {
                // String ids may differ with the order strings are met; compare by content.
                assert_eq!(
                    (x.action, x.addr, x.size, x.time_us, x.device_free),
                    (y.action, y.addr, y.size, y.time_us, y.device_free),
                    "{name}"
                );
                assert_eq!(
                    stack_text(&s, x.stack),
                    stack_text(&base, y.stack),
                    "{name}"
                );
            }
        }
        assert_eq!(s.annotations, base.annotations, "{name}");
        assert_eq!(
            s.allocator_settings.as_ref().map(|a| a.max_split_size),
            base.allocator_settings.as_ref().map(|a| a.max_split_size),
            "{name}"
        );
    }
    let compressions: Vec<_> = ["modern.pickle.gz", "modern.pickle.zst", "modern.pickle.xz"]
        .iter()
        .map(|n| load(n).format.compression)
        .collect();
    assert_eq!(compressions, [Some("gzip"), Some("zstd"), Some("xz")]);
    assert_eq!(load("modern_p0.pickle").format.protocol, 0);
    assert_eq!(load("modern_p5.pickle").format.protocol, 5);
}

fn stack_text(s: &Snapshot, id: u32) -> Vec<String> {
    s.stacks
        .get(id)
        .iter()
        .map(|&f| {
            format!(
                "{}|{}|{}",
                s.frames.name(f),
                s.frames.filename(f),
                s.frames.get(f).line
            )
        })
        .collect()
}

fn str_list(v: &J) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Optional fields of 2.1+ files: compile context, user metadata, pool ids, settings,
/// annotations, C++ frames.
#[test]
fn optional_fields_are_read() {
    let exp = fixture_facts();
    for name in ["modern_p0.pickle", "modern.pickle.zst"] {
        let want = &exp[name];
        let s = load(name);
        let ev = &s.devices[0].events;
        let cc: Vec<String> = ev
            .iter()
            .map(|e| s.frames.strings.get(e.compile_context).to_string())
            .collect();
        assert_eq!(cc, str_list(&want["compile_contexts"]), "{name}");
        let um: Vec<String> = ev
            .iter()
            .map(|e| s.frames.strings.get(e.user_metadata).to_string())
            .collect();
        assert_eq!(um, str_list(&want["user_metadata"]), "{name}");
        assert_eq!(s.segments[0].pool_id, (1, 7), "{name}");
        let st = s.allocator_settings.as_ref().expect("settings");
        assert_eq!(st.max_split_size, want["max_split_size"].as_u64(), "{name}");
        assert_eq!(
            st.alloc_conf.as_deref(),
            want["alloc_conf"].as_str(),
            "{name}"
        );
        assert_eq!(st.roundup_power2_divisions, vec![(256, 4)], "{name}");
        assert_eq!(st.garbage_collection_threshold, Some(0.0));
        assert_eq!(st.expandable_segments, Some(false));
        let names: Vec<String> = s.annotations.iter().map(|a| a.name.clone()).collect();
        assert_eq!(names, str_list(&want["annotation_names"]), "{name}");
        assert_eq!(s.annotations[0].stage, "START");
        assert_eq!(s.annotations[1].time_us, 1_065);
        // The second event's stack starts with two C++ frames, innermost first.
        let st = stack_text(&s, ev[1].stack);
        assert_eq!(st[0], "c10::cuda::CUDACachingAllocator::malloc|??|0");
        assert_eq!(st[1], "at::empty_strided|EmptyTensor.cpp|0");
        assert_eq!(st.len(), 5);
        let markers = ev.iter().filter(|e| e.action == Action::Snapshot).count();
        assert_eq!(markers, 2);
        assert!(s.unknown.is_empty(), "{name}: {:?}", s.unknown);
    }
    let x = load("expandable.pickle");
    let st = x.allocator_settings.as_ref().expect("settings");
    assert_eq!(st.max_split_size, None, "-1 means unlimited");
    assert_eq!(st.expandable_segments, Some(true));
    assert!(x.segments[0].is_expandable);
    let maps = x.devices[0]
        .events
        .iter()
        .filter(|e| matches!(e.action, Action::SegmentMap | Action::SegmentUnmap))
        .count();
    assert_eq!(maps, 3);
}

/// An `oom` entry keeps the requested size and cudaMemGetInfo's free bytes.
#[test]
fn oom_entry_keeps_device_free() {
    let want = &fixture_facts()["oom.pickle"];
    let s = load("oom.pickle");
    let ooms: Vec<_> = s.devices[0]
        .events
        .iter()
        .filter(|e| e.action == Action::Oom)
        .collect();
    assert_eq!(ooms.len(), 1);
    assert_eq!(
        ooms[0].device_free,
        want["oom_device_free"][0].as_u64().unwrap()
    );
    assert_eq!(ooms[0].size, want["oom_size"][0].as_u64().unwrap());
    assert_eq!(ooms[0].addr, 0, "an oom has no address");
    assert!(s.devices[0]
        .events
        .iter()
        .any(|e| e.action == Action::SegmentFree));
}

/// Keys and actions memsight does not model are kept and counted, never fatal.
#[test]
fn unknown_keys_and_actions_are_kept_and_counted() {
    let want = &fixture_facts()["unknown.pickle"];
    let s = load("unknown.pickle");
    let keys: BTreeMap<String, u64> = want["unknown_keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(s.unknown.keys, keys);
    assert_eq!(
        s.unknown.actions,
        BTreeMap::from([("prefetch".to_string(), 2)])
    );
    let other: Vec<_> = s.devices[0]
        .events
        .iter()
        .filter(|e| matches!(e.action, Action::Other(_)))
        .collect();
    assert_eq!(other.len(), 2);
    assert_eq!(other[0].size, 4096);
    // Kept values: the top-level key and the event fields, with the event index.
    let (name, v) = &s.extra_top_level[0];
    assert_eq!(name, "future_top_key");
    assert_eq!(v.get("version").and_then(|x| x.as_i64()), Some(3));
    let fields: Vec<(u32, &str)> = s.devices[0]
        .extra_fields
        .iter()
        .map(|(i, k, _)| (*i, k.as_str()))
        .collect();
    assert_eq!(fields, vec![(3, "hint"), (4, "future_event_key")]);
    assert_eq!(s.devices[0].extra_fields[1].2.to_string(), "[1, 2, 3]");
}

/// PyTorch writes SIZE_MAX as the line of frames it cannot place: that reads as -1.
#[test]
fn size_max_line_reads_as_minus_one() {
    for name in ["size_max_lines.pickle", "size_max_lines_p0.pickle"] {
        let s = load(name);
        let st = stack_text(&s, s.devices[0].events[1].stack);
        assert_eq!(st[0], "unwind::unwind|??|-1", "{name}");
        let seg = stack_text(&s, s.segments[0].stack);
        assert_eq!(
            seg,
            vec!["torch::CapturedTraceback::gather|??|-1"],
            "{name}"
        );
    }
}

/// PyTorch 2.0 files: blocks with history and no address, with or without a stray trace.
#[test]
fn history_only_blocks_are_labelled_and_placed() {
    for name in ["history_only.pickle", "history_with_trace.pickle"] {
        let s = load(name);
        assert_eq!(s.format.variant, FormatVariant::BlockHistory, "{name}");
        let seg = &s.segments[0];
        let addrs: Vec<u64> = seg.blocks.iter().map(|b| b.address - seg.address).collect();
        assert_eq!(addrs, vec![0, 512, 2048, 2048 + (1 << 20)], "{name}");
        let b = &seg.blocks[2];
        assert_eq!(b.history.len(), 2);
        assert_eq!(b.history[1].real_size, 1 << 20);
        assert_eq!(b.history[0].addr, b.address);
        assert_eq!(b.stack, b.history[1].stack, "block stack = latest history");
        assert_eq!(stack_text(&s, b.stack).len(), 5);
    }
    assert!(load("history_only.pickle").devices.is_empty());
    assert_eq!(load("history_with_trace.pickle").devices[0].events.len(), 1);
}

/// Several devices, one idle; a bare list of segments; an empty trace.
#[test]
fn devices_segment_lists_and_empty_traces() {
    let s = load("multi_device.pickle");
    assert_eq!(s.device_ids(), vec![0, 2]);
    assert_eq!(s.devices.len(), 3);
    assert!(s.trace(1).is_some_and(|t| t.events.is_empty()));
    assert_eq!(s.segments_of(2).count(), 1);
    assert_eq!(s.trace(2).unwrap().events[1].size, 3072);

    let l = load("segments_list.pickle");
    assert_eq!(l.format.variant, FormatVariant::SegmentsOnly);
    assert!(l.devices.is_empty());
    assert_eq!(l.device_ids(), vec![0, 2]);

    let e = load("empty_traces.pickle");
    assert_eq!(e.format.variant, FormatVariant::DeviceTraces);
    assert_eq!(e.device_ids(), vec![0]);
    assert!(e.devices[0].events.is_empty());
    assert_eq!(e.segments[0].blocks[0].requested_size, (2 << 20) - 8);
}

// ---- pickles written by serde-pickle ----

fn s(x: &str) -> PV {
    PV::String(x.into())
}

fn dict(items: Vec<(&str, PV)>) -> PV {
    PV::Dict(
        items
            .into_iter()
            .map(|(k, v)| (HV::String(k.into()), v))
            .collect(),
    )
}

fn frame(name: &str, file: &str, line: i64) -> PV {
    dict(vec![
        ("name", s(name)),
        ("filename", s(file)),
        ("line", PV::I64(line)),
    ])
}

/// A snapshot built as serde-pickle values: `n` alloc/free pairs on one device.
fn serde_snapshot(n: i64) -> PV {
    let stack = PV::List(vec![
        frame("forward", "/m.py", 3),
        frame("main", "/m.py", 9),
    ]);
    let mut trace = Vec::new();
    for i in 0..n {
        for action in ["alloc", "free_requested", "free_completed"] {
            trace.push(dict(vec![
                ("action", s(action)),
                ("addr", PV::I64(0x7000_0000 + i * 512)),
                ("size", PV::I64(512)),
                ("stream", PV::I64(0)),
                ("time_us", PV::I64(i)),
                ("frames", stack.clone()),
            ]));
        }
    }
    let seg = dict(vec![
        ("device", PV::I64(0)),
        ("address", PV::I64(0x7000_0000)),
        ("total_size", PV::I64(2 << 20)),
        ("allocated_size", PV::I64(0)),
        ("active_size", PV::I64(0)),
        ("requested_size", PV::I64(0)),
        ("stream", PV::I64(0)),
        ("segment_type", s("large")),
        ("segment_pool_id", PV::Tuple(vec![PV::I64(0), PV::I64(0)])),
        ("is_expandable", PV::Bool(false)),
        ("frames", stack.clone()),
        (
            "blocks",
            PV::List(vec![dict(vec![
                ("address", PV::I64(0x7000_0000)),
                ("size", PV::I64(2 << 20)),
                ("requested_size", PV::I64(0)),
                ("state", s("inactive")),
                ("frames", PV::List(vec![])),
            ])]),
        ),
    ]);
    dict(vec![
        ("segments", PV::List(vec![seg])),
        ("device_traces", PV::List(vec![PV::List(trace)])),
    ])
}

/// serde-pickle's own output (protocol 3 and 2) reads back with every event.
#[test]
fn serde_pickle_written_snapshots_read_back() {
    for (proto2, n) in [(false, 1), (false, 300), (true, 50)] {
        let opts = if proto2 {
            serde_pickle::SerOptions::new().proto_v2()
        } else {
            serde_pickle::SerOptions::new()
        };
        let bytes = serde_pickle::value_to_vec(&serde_snapshot(n), opts).expect("serialize");
        let snap = load_bytes(&bytes, &LoadOptions::default()).expect("reads");
        let ev = &snap.devices[0].events;
        assert_eq!(ev.len() as i64, 3 * n);
        assert_eq!(ev[ev.len() - 3].addr, 0x7000_0000 + (n as u64 - 1) * 512);
        assert_eq!(ev[1].action, Action::FreeRequested);
        assert!(ev.iter().all(|e| e.stack == ev[0].stack));
        assert_eq!(
            stack_text(&snap, ev[0].stack),
            ["forward|/m.py|3", "main|/m.py|9"]
        );
        assert_eq!(snap.segments[0].total_size, 2 << 20);
        assert_eq!(snap.frames.len(), 2);
        assert_eq!(snap.stacks.len(), 2, "the empty stack and one real one");
    }
}

// ---- cross-check against serde-pickle's generic reading ----

fn get<'a>(v: &'a PV, key: &str) -> Option<&'a PV> {
    match v {
        PV::Dict(d) => d.get(&HV::String(key.into())),
        _ => None,
    }
}

fn as_u64(v: Option<&PV>) -> u64 {
    match v {
        Some(PV::I64(i)) => *i as u64,
        Some(PV::Bool(b)) => *b as u64,
        Some(PV::Int(b)) => b.to_string().parse().unwrap_or(u64::MAX),
        _ => 0,
    }
}

fn as_str(v: Option<&PV>) -> &str {
    match v {
        Some(PV::String(x)) => x,
        _ => "",
    }
}

fn list(v: Option<&PV>) -> &[PV] {
    match v {
        Some(PV::List(l)) | Some(PV::Tuple(l)) => l,
        _ => &[],
    }
}

fn frames_text(v: Option<&PV>) -> Vec<String> {
    list(v)
        .iter()
        .map(|f| {
            let line = match get(f, "line") {
                Some(PV::I64(i)) => *i,
                Some(PV::Int(_)) => -1,
                _ => 0,
            };
            format!(
                "{}|{}|{}",
                as_str(get(f, "name")),
                as_str(get(f, "filename")),
                line
            )
        })
        .collect()
}

/// Compares memsight's typed model with serde-pickle's tree, field by field.
/// Returns how many blocks and events were compared, or `None` when serde-pickle cannot read
/// the file (it refuses some memo sharing as "recursive structure").
fn cross_check(name: &str, bytes: &[u8]) -> Option<usize> {
    let tree = serde_pickle::value_from_slice(bytes, serde_pickle::DeOptions::new()).ok()?;
    let snap = load_bytes(bytes, &LoadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let segs = match &tree {
        PV::List(l) => l.as_slice(),
        t => list(get(t, "segments")),
    };
    assert_eq!(segs.len(), snap.segments.len(), "{name}");
    let mut compared = 0;
    for (sv, seg) in segs.iter().zip(&snap.segments) {
        assert_eq!(as_u64(get(sv, "address")), seg.address, "{name}");
        assert_eq!(as_u64(get(sv, "total_size")), seg.total_size, "{name}");
        assert_eq!(as_u64(get(sv, "device")) as usize, seg.device, "{name}");
        assert_eq!(frames_text(get(sv, "frames")), stack_text(&snap, seg.stack));
        let blocks = list(get(sv, "blocks"));
        assert_eq!(blocks.len(), seg.blocks.len(), "{name}");
        for (bv, b) in blocks.iter().zip(&seg.blocks) {
            assert_eq!(as_u64(get(bv, "size")), b.size, "{name}");
            if get(bv, "address").is_some() {
                assert_eq!(as_u64(get(bv, "address")), b.address, "{name}");
            }
            assert_eq!(list(get(bv, "history")).len(), b.history.len(), "{name}");
            compared += 1;
        }
    }
    let traces = list(get(&tree, "device_traces"));
    assert_eq!(traces.len(), snap.devices.len(), "{name}");
    for (tv, d) in traces.iter().zip(&snap.devices) {
        let entries = list(Some(tv));
        assert_eq!(entries.len(), d.events.len(), "{name}");
        for (ev, e) in entries.iter().zip(&d.events) {
            let action = match e.action {
                Action::Other(id) => snap.frames.strings.get(id).to_string(),
                a => a.name().unwrap_or("?").to_string(),
            };
            assert_eq!(as_str(get(ev, "action")), action, "{name}");
            assert_eq!(as_u64(get(ev, "addr")), e.addr, "{name}");
            assert_eq!(as_u64(get(ev, "size")), e.size, "{name}");
            assert_eq!(as_u64(get(ev, "time_us")) as i64, e.time_us, "{name}");
            assert_eq!(frames_text(get(ev, "frames")), stack_text(&snap, e.stack));
            compared += 1;
        }
    }
    Some(compared)
}

/// Every uncompressed fixture and small public file that serde-pickle can read gives the same
/// segments, blocks, events and stacks in memsight's model.
#[test]
fn typed_model_equals_serde_pickle_tree() {
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/public");
    let mut files = 0;
    let mut compared = 0;
    let mut skipped = Vec::new();
    for dir in [fixtures_dir(), public] {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".pickle") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            if bytes.len() > 600_000 {
                continue; // serde-pickle's tree of a big file is slow; the small ones suffice
            }
            match cross_check(&name, &bytes) {
                Some(n) => {
                    compared += n;
                    files += 1;
                }
                None => skipped.push(name),
            }
        }
    }
    eprintln!("cross-checked {files} files ({compared} blocks and events); serde-pickle cannot read {skipped:?}");
    assert!(files >= 10, "only {files} files cross-checked");
    assert!(
        compared > 10_000,
        "only {compared} blocks and events compared"
    );
}
