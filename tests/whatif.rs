//! The what-if allocator model against real recordings.
//!
//! Bar 1 (fidelity): driven by a recording's own requests under its own settings and cap, the
//! model makes exactly the recorded segment calls and has the recorded counters at every
//! marker. Bar 2 (prediction): the two fragmentation samples predict each other.

mod common;

use memsight::model::{Action, Snapshot};
use memsight::read::{self, LoadOptions};
use memsight::whatif::{self, Req, Scenario, SegKind, Settings};

/// The shared samples when the checkout has no `../shared` beside it (a worktree):
/// `$MEMSIGHT_SNAPSHOTS`, else `/work/shared/snapshots`.
fn shared_fallback() -> std::path::PathBuf {
    std::env::var_os("MEMSIGHT_SNAPSHOTS")
        .map(Into::into)
        .unwrap_or_else(|| "/work/shared/snapshots".into())
}

fn snapshot_path(name: &str) -> Option<std::path::PathBuf> {
    common::snapshot_path(name).or_else(|| {
        let d = shared_fallback();
        [format!("{name}.pickle"), format!("{name}.pickle.xz")]
            .into_iter()
            .map(|f| d.join(f))
            .find(|p| p.exists())
    })
}

fn truth(name: &str) -> Option<serde_json::Value> {
    common::truth(name).or_else(|| {
        let p = shared_fallback().join(format!("{name}.truth.json"));
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    })
}

fn load(name: &str) -> Option<(Snapshot, serde_json::Value)> {
    let Some(path) = snapshot_path(name) else {
        eprintln!("note: {name} not found, skipped");
        return None;
    };
    let Some(truth) = truth(name) else {
        eprintln!("note: truth for {name} not found, skipped");
        return None;
    };
    let snap = read::load_path(&path, &LoadOptions::default()).expect("sample loads");
    Some((snap, truth))
}

/// The cap the workload set, from the truth file's notes ("3 GiB cap; ...").
fn truth_cap(truth: &serde_json::Value) -> Option<u64> {
    let notes = truth["notes"].as_str()?;
    let i = notes.find(" GiB cap")?;
    let num: String = notes[..i]
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Some(num.parse::<u64>().ok()? << 30)
}

fn fidelity(name: &str) {
    let Some((snap, truth)) = load(name) else {
        return;
    };
    let device = 0;
    let cap = truth_cap(&truth);
    let settings = Settings::from_snapshot(&snap);
    let stream = whatif::extract(&snap, device, &settings, cap);
    let mut sc = Scenario::new(settings.clone(), cap);
    sc.device_total = truth["env"]["total_memory"]
        .as_u64()
        .unwrap_or(whatif::DEFAULT_DEVICE_TOTAL);
    let sim = whatif::simulate_stream(&stream, &sc);

    // The same segment calls, in the same order, at the same addresses.
    let made: Vec<_> = sim.segment_events.iter().map(|(_, s)| *s).collect();
    let first_diff = made.iter().zip(&stream.segments).position(|(a, b)| a != b);
    assert!(
        first_diff.is_none() && made.len() == stream.segments.len(),
        "{name}: segment calls differ (model {} vs recorded {}) first at #{:?}: model {:?} recorded {:?}",
        made.len(),
        stream.segments.len(),
        first_diff,
        first_diff.and_then(|i| made.get(i)),
        first_diff.and_then(|i| stream.segments.get(i)),
    );
    // The same requests fail.
    let trace = snap.trace(device).expect("trace");
    let recorded_ooms: Vec<u32> = trace
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.action == Action::Oom)
        .map(|(i, _)| i as u32)
        .collect();
    let model_ooms: Vec<u32> = sim.ooms.iter().map(|o| o.event).collect();
    assert_eq!(model_ooms, recorded_ooms, "{name}: OOMs differ");
    assert_eq!(sim.served_recorded_ooms, 0);

    // Counters at every marker. A recorder that dumps with `_snapshot()` leaves one marker
    // more, the dump's own, as the trace's last entry: its counters are the final ones,
    // checked below.
    let markers = truth["markers"].as_array().cloned().unwrap_or_default();
    let mut sim_markers = &sim.markers[..];
    if sim_markers.len() == markers.len() + 1
        && sim_markers
            .last()
            .is_some_and(|m| m.event as usize + 1 == trace.events.len())
    {
        sim_markers = &sim_markers[..markers.len()];
    }
    let skip = markers.len().saturating_sub(sim_markers.len());
    assert_eq!(
        markers.len() - skip,
        sim_markers.len(),
        "{name}: marker count"
    );
    for (k, (t, m)) in markers.iter().skip(skip).zip(sim_markers).enumerate() {
        let c = m.counters;
        for (field, got) in [
            ("reserved", c.reserved),
            ("allocated", c.allocated),
            ("active", c.active),
            ("requested", c.requested),
            ("inactive_split", c.inactive_split),
        ] {
            assert_eq!(
                Some(got),
                t[field].as_u64(),
                "{name}: {field} at marker {k} (event {})",
                m.event
            );
        }
    }
    // And at the end.
    let f = &truth["final"];
    assert_eq!(
        Some(sim.final_counters.reserved),
        f["reserved"].as_u64(),
        "{name}: final reserved"
    );
    assert_eq!(
        Some(sim.final_counters.allocated),
        f["allocated"].as_u64(),
        "{name}: final allocated"
    );
    eprintln!(
        "{name}: {} requests, {} segment calls, {} markers, {} OOMs: all as recorded",
        stream.requests.len(),
        made.len(),
        sim.markers.len(),
        sim.ooms.len()
    );
}

/// A CUDA graph's private pool and a `torch.cuda.MemPool` next to the default pool: each
/// pool's blocks serve only its own requests, and the model keeps them apart (a real H200
/// recording, in the repository).
#[test]
fn fidelity_cuda_graph_pools() {
    let name = "recorded/cuda_graph_pools";
    assert!(
        snapshot_path(name).is_some() && truth(name).is_some(),
        "{name} and its truth are in tests/data"
    );
    fidelity(name);
}

#[test]
fn fidelity_train_val_leak() {
    fidelity("train_val_leak");
}

/// A recording whose 800-entry ring wrapped: the state before its first entry is rebuilt
/// from the dump.
#[test]
fn fidelity_train_val_leak_wrapped() {
    fidelity("train_val_leak_wrapped");
}

#[test]
fn fidelity_frag_oom() {
    fidelity("frag_oom");
}

#[test]
fn fidelity_frag_oom_expandable() {
    fidelity("frag_oom_expandable");
}

#[test]
fn fidelity_capacity_oom() {
    fidelity("capacity_oom");
}

#[test]
fn fidelity_gpt_train_amp() {
    fidelity("gpt_train_amp");
}

#[test]
fn fidelity_big_trace() {
    fidelity("big_trace");
}

#[test]
fn fidelity_huge_trace() {
    fidelity("huge_trace");
}

/// Trace indices of the `alloc`s of `size` bytes.
fn allocs_of(snap: &Snapshot, size: u64) -> Vec<u32> {
    snap.trace(0)
        .expect("trace")
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.action == Action::Alloc && e.size == size)
        .map(|(i, _)| i as u32)
        .collect()
}

const MIB600: u64 = 600 << 20;

#[test]
fn expandable_recording_under_defaults_fails_where_frag_oom_did() {
    let Some((snap, truth)) = load("frag_oom_expandable") else {
        return;
    };
    let cap = truth_cap(&truth);
    assert_eq!(cap, Some(3 << 30));
    let recorded = Settings::from_snapshot(&snap);
    assert!(recorded.expandable_segments);
    let stream = whatif::extract(&snap, 0, &recorded, cap);
    let sim = whatif::simulate_stream(&stream, &Scenario::new(Settings::default(), cap));
    let asks = allocs_of(&snap, MIB600);
    assert_eq!(asks.len(), 3, "three 600 MiB requests were served");
    let first = sim.ooms.first().expect("an OOM under default settings");
    assert_eq!(first.event, asks[1], "fails at the second 600 MiB request");
    assert_eq!(first.requested, MIB600);
    // As frag_oom recorded it: reserved 2.59 GiB, allocated 1.56 GiB at the failure.
    let fo = load("frag_oom").map(|(_, t)| t);
    if let Some(t) = fo {
        assert_eq!(Some(first.reserved), t["ooms"][0]["reserved"].as_u64());
        assert_eq!(Some(first.allocated), t["ooms"][0]["allocated"].as_u64());
    }
}

#[test]
fn frag_oom_with_expandable_segments_serves_the_failed_request() {
    let Some((snap, truth)) = load("frag_oom") else {
        return;
    };
    let cap = truth_cap(&truth);
    let recorded = Settings::from_snapshot(&snap);
    assert!(!recorded.expandable_segments);
    let stream = whatif::extract(&snap, 0, &recorded, cap);
    let failed: Vec<u32> = stream
        .requests
        .iter()
        .filter(|r| {
            matches!(
                r.req,
                Req::Alloc {
                    recorded_oom: true,
                    ..
                }
            )
        })
        .map(|r| r.event)
        .collect();
    assert_eq!(failed.len(), 1);
    let settings = Settings::parse_conf("expandable_segments:True").expect("parses");
    let sim = whatif::simulate_stream(&stream, &Scenario::new(settings, cap));
    assert!(sim.ooms.is_empty(), "no OOM: {:?}", sim.ooms);
    assert_eq!(sim.served_recorded_ooms, 1);
    assert!(sim
        .segment_events
        .iter()
        .any(|(_, s)| s.kind == SegKind::SegmentUnmap));
    // The plain recording under its own settings still fails there.
    let same = whatif::simulate_stream(&stream, &Scenario::new(recorded, cap));
    assert_eq!(same.ooms.len(), 1);
    assert_eq!(same.ooms[0].event, failed[0]);
}

#[test]
fn simulate_estimates_the_recorded_cap() {
    let Some((snap, truth)) = load("frag_oom") else {
        return;
    };
    assert_eq!(whatif::infer_cap(&snap, 0), truth_cap(&truth));
    if let Some((snap, truth)) = load("capacity_oom") {
        assert_eq!(whatif::infer_cap(&snap, 0), truth_cap(&truth));
    }
    let sim = whatif::simulate(&snap, 0, &Settings::from_snapshot(&snap), truth_cap(&truth));
    assert_eq!(sim.ooms.len(), 1);
    assert_eq!(
        Some(sim.peak_reserved),
        truth["final"]["peak_reserved"].as_u64()
    );
}

#[test]
fn settings_parse_like_pytorch() {
    let s = Settings::parse_conf(
        "expandable_segments:True,max_split_size_mb:256,garbage_collection_threshold:0.6",
    )
    .expect("parses");
    assert!(s.expandable_segments);
    assert_eq!(s.max_split_size, Some(256 << 20));
    assert_eq!(s.garbage_collection_threshold, 0.6);
    // max_split_size is at least 20 MiB, as in CUDAAllocatorConfig.
    assert_eq!(
        Settings::parse_conf("max_split_size_mb:4")
            .unwrap()
            .max_split_size,
        Some(20 << 20)
    );
    let d = Settings::parse_conf("roundup_power2_divisions:[256:1,512:2,>:8]").expect("list");
    assert_eq!(d.roundup_power2_divisions[0], 1); // filled up to the first entry
    assert_eq!(d.roundup_power2_divisions[8], 1); // 256 MiB
    assert_eq!(d.roundup_power2_divisions[9], 2); // 512 MiB
    assert_eq!(d.roundup_power2_divisions[10], 8);
    assert_eq!(d.roundup_power2_divisions[15], 8);
    assert_eq!(
        Settings::parse_conf("roundup_power2_divisions:4")
            .unwrap()
            .roundup_power2_divisions,
        [4; 16]
    );
    // Unmodelled keys are accepted; bad ones are errors, not panics.
    assert!(Settings::parse_conf("pinned_num_register_threads:8,backend:native").is_ok());
    assert!(Settings::parse_conf("expandable_segments:maybe").is_err());
    assert!(Settings::parse_conf("no_such_key:1").is_err());
    assert!(Settings::parse_conf("max_split_size_mb").is_err());
    assert!(Settings::parse_conf("roundup_power2_divisions:3").is_err());
    assert!(Settings::parse_conf("garbage_collection_threshold:1.5").is_err());
    // Round trip through the conf string.
    let s2 = Settings::parse_conf(&s.to_conf()).unwrap();
    assert_eq!(s, s2);
    assert_eq!(Settings::default().to_conf(), "");
}

#[test]
fn recorded_settings_come_from_the_snapshot() {
    let Some((snap, _)) = load("frag_oom_expandable") else {
        return;
    };
    let s = Settings::from_snapshot(&snap);
    assert_eq!(s, Settings::parse_conf("expandable_segments:True").unwrap());
}

#[test]
fn cli_json_has_the_contract_shape() {
    let Some(path) = snapshot_path("frag_oom") else {
        eprintln!("note: frag_oom not found, skipped");
        return;
    };
    let mut cmd = common::memsight();
    cmd.arg("whatif")
        .arg(&path)
        .args(["--variant", "expandable_segments:True"])
        .args([
            "--variant",
            "max_split_size_mb:256,roundup_power2_divisions:4",
        ])
        .args(["--cap", "3GiB", "--json"]);
    let out = common::run_ok(&mut cmd, "memsight whatif");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let keys = |o: &serde_json::Value| {
        let mut k: Vec<String> = o.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&v), ["recorded", "variants"]);
    let want = [
        "cap",
        "ooms",
        "peak_allocated",
        "peak_reserved",
        "segments_allocated",
        "settings",
    ];
    assert_eq!(keys(&v["recorded"]), want);
    let variants = v["variants"].as_array().expect("variants");
    assert_eq!(variants.len(), 2);
    for var in variants {
        assert_eq!(keys(var), want);
        assert_eq!(var["cap"].as_u64(), Some(3 << 30));
    }
    assert_eq!(
        v["recorded"]["ooms"][0]["requested"].as_u64(),
        Some(600 << 20)
    );
    assert_eq!(variants[0]["settings"], "expandable_segments:True");
    assert_eq!(variants[0]["ooms"].as_array().map(|a| a.len()), Some(0));
    assert_eq!(
        variants[1]["settings"],
        "max_split_size_mb:256,roundup_power2_divisions:4"
    );

    // Bad settings: a clear error and exit code 2, no panic.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_memsight"))
        .arg("whatif")
        .arg(&path)
        .args(["--set", "expandable_segments:perhaps"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expandable_segments"));
}

/// Under any settings the program asks for the same bytes: at every marker the model's
/// `requested` equals the recording's, blocks cover requests, segments cover blocks, and
/// the segment calls add up to the reserved memory.
#[test]
fn variants_keep_the_allocators_invariants() {
    for name in ["gpt_train_amp", "train_val_leak"] {
        let Some((snap, truth)) = load(name) else {
            continue;
        };
        let recorded = Settings::from_snapshot(&snap);
        let stream = whatif::extract(&snap, 0, &recorded, None);
        let markers = truth["markers"].as_array().cloned().unwrap_or_default();
        for (conf, cap) in [
            ("expandable_segments:True", None),
            ("max_split_size_mb:64", None),
            ("roundup_power2_divisions:4", None),
            (
                "roundup_power2_divisions:[64:8,>:2],max_split_size_mb:100",
                None,
            ),
            ("garbage_collection_threshold:0.5", Some(4u64 << 30)),
            (
                "expandable_segments:True,garbage_collection_threshold:0.5",
                Some(4 << 30),
            ),
        ] {
            let settings = Settings::parse_conf(conf).expect("parses");
            let sim = whatif::simulate_stream(&stream, &Scenario::new(settings, cap));
            assert!(sim.ooms.is_empty(), "{name} {conf}: {:?}", sim.ooms);
            assert_eq!(sim.markers.len(), markers.len());
            for (m, t) in sim.markers.iter().zip(&markers) {
                let c = m.counters;
                assert_eq!(Some(c.requested), t["requested"].as_u64(), "{name} {conf}");
                assert!(c.allocated >= c.requested && c.active >= c.allocated);
                assert!(c.reserved >= c.active, "{name} {conf}");
            }
            let net: i128 = sim
                .segment_events
                .iter()
                .map(|(_, s)| {
                    if s.kind.grows() {
                        s.size as i128
                    } else {
                        -(s.size as i128)
                    }
                })
                .sum();
            assert_eq!(net, sim.final_counters.reserved as i128, "{name} {conf}");
            if let Some(cap) = cap {
                // The cap is checked before each new segment, on its allocation size; pages
                // mapped for expandable segments may round above it by less than a page.
                assert!(sim.peak_reserved <= cap + (20 << 20), "{name} {conf}");
            }
        }
    }
}

fn ev(action: Action, addr: u64, size: u64) -> memsight::model::Event {
    memsight::model::Event {
        addr,
        size,
        ..memsight::model::Event::new(action)
    }
}

fn synthetic(events: Vec<memsight::model::Event>) -> Snapshot {
    let mut snap = Snapshot::empty();
    snap.devices.push(memsight::model::DeviceTrace {
        device: 0,
        events,
        extra_fields: Vec::new(),
    });
    snap
}

/// A block freed on another stream (`record_stream`) completes only when a request's retry
/// synchronises: had it completed first, it would have merged with its free neighbour and
/// served the request from the cache. The model must take the recorded path.
#[test]
fn cross_stream_completion_inside_a_retry() {
    const MIB: u64 = 1 << 20;
    let s = 0x1000_0000;
    let t = 0x2000_0000;
    let snap = synthetic(vec![
        ev(Action::SegmentAlloc, s, 60 * MIB),
        ev(Action::Alloc, s, 60 * MIB),
        ev(Action::FreeRequested, s, 60 * MIB),
        ev(Action::FreeCompleted, s, 60 * MIB),
        // Two 30 MiB blocks X and Y carved from the cached 60 MiB segment S.
        ev(Action::Alloc, s, 30 * MIB),
        ev(Action::Alloc, s + 30 * MIB, 30 * MIB),
        ev(Action::FreeRequested, s, 30 * MIB), // still in use on another stream
        ev(Action::FreeRequested, s + 30 * MIB, 30 * MIB),
        ev(Action::FreeCompleted, s + 30 * MIB, 30 * MIB),
        // A 50 MiB request under a 100 MiB cap: no cached block fits, no room for a new
        // segment; release_cached_blocks synchronises (X completes), frees S, and retries.
        ev(Action::FreeCompleted, s, 30 * MIB),
        ev(Action::SegmentFree, s, 60 * MIB),
        ev(Action::SegmentAlloc, t, 50 * MIB),
        ev(Action::Alloc, t, 50 * MIB),
        ev(Action::Snapshot, 0, 0),
    ]);
    let cap = Some(100 * MIB);
    let stream = whatif::extract(&snap, 0, &Settings::default(), cap);
    assert!(!stream.requests.iter().any(|r| r.req == Req::EmptyCache));
    let sim = whatif::simulate_stream(&stream, &Scenario::new(Settings::default(), cap));
    let made: Vec<_> = sim.segment_events.iter().map(|(_, s)| *s).collect();
    assert_eq!(made, stream.segments);
    assert_eq!(sim.num_alloc_retries, 1);
    let m = sim.markers[0].counters;
    assert_eq!((m.reserved, m.allocated), (50 * MIB, 50 * MIB));
    // Without a cap the request is served at once from a new segment, nothing released.
    let free = whatif::simulate_stream(&stream, &Scenario::new(Settings::default(), None));
    assert_eq!(free.markers[0].counters.reserved, 110 * MIB);
    assert!(free.ooms.is_empty());
}

/// Odd traces (frees of blocks never seen, releases of unknown segments, absurd sizes, several
/// streams) are simulated under every kind of setting without a panic.
#[test]
fn odd_traces_do_not_panic() {
    const MIB: u64 = 1 << 20;
    let mut events = vec![
        ev(Action::FreeRequested, 0x5000, 512),
        ev(Action::FreeCompleted, 0x9000, 512),
        ev(Action::SegmentFree, 0x7777_0000, 20 * MIB),
        ev(Action::SegmentUnmap, 0x9_0000_0000, 40 * MIB),
        ev(Action::Alloc, 0x1000_0000, 0),
        ev(Action::Alloc, 0x1000_0200, 1),
        ev(Action::Oom, 0, 1 << 40),
        ev(Action::Alloc, 0x3000_0000, 3 * MIB),
        ev(Action::FreeCompleted, 0x3000_0000, 3 * MIB),
        ev(Action::Snapshot, 0, 0),
        ev(Action::Alloc, 0x4000_0000, u64::MAX / 4),
        ev(Action::SegmentFree, 0x1000_0000, 2 * MIB),
    ];
    for (k, e) in events.iter_mut().enumerate() {
        e.stream = (k % 3) as u64;
    }
    let snap = synthetic(events);
    for conf in [
        "",
        "expandable_segments:True",
        "max_split_size_mb:20,roundup_power2_divisions:[1:16,>:2]",
        "garbage_collection_threshold:0.1,expandable_segments:True",
    ] {
        for cap in [None, Some(0), Some(64 * MIB)] {
            let settings = Settings::parse_conf(conf).expect("parses");
            let sim = whatif::simulate(&snap, 0, &settings, cap);
            assert!(sim.final_counters.allocated <= sim.final_counters.active);
            assert!(!sim.ooms.is_empty(), "the 1 TiB request cannot be served");
        }
    }
    let _ = whatif::recorded(&snap, 0);
}
