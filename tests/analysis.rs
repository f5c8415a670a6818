//! The analysis engine against PyTorch's own counters, on real snapshots.

mod common;

use memsight::analysis::findings::TraceNote;
use memsight::analysis::{self, Verdict};
use memsight::read::{load_path, LoadOptions};

fn analyse(
    name: &str,
) -> Option<(
    memsight::model::Snapshot,
    analysis::Analysis,
    serde_json::Value,
)> {
    let path = common::require(name);
    let truth = common::truth(name).unwrap_or_else(|| panic!("{name}: no truth file"));
    let snap = load_path(&path, &LoadOptions::default()).expect("real snapshot loads");
    let a = analysis::analyze(&snap);
    Some((snap, a, truth))
}

const KEYS: [&str; 5] = [
    "allocated",
    "active",
    "requested",
    "reserved",
    "inactive_split",
];

fn counter(c: &analysis::Counters, key: &str) -> u64 {
    match key {
        "allocated" => c.allocated,
        "active" => c.active,
        "requested" => c.requested,
        "reserved" => c.reserved,
        "inactive_split" => c.inactive_split,
        _ => unreachable!(),
    }
}

/// Every marker of every sample equals torch.cuda.memory_stats() byte for byte. When the ring
/// wrapped, the oldest markers are gone, so markers line up from the end.
#[test]
fn markers_match_pytorch_counters_exactly() {
    let mut checked = 0;
    for name in common::ALL {
        let Some((_, a, truth)) = analyse(name) else {
            continue;
        };
        let d = &a.devices[0];
        let want = truth["markers"].as_array().expect("markers array");
        assert!(
            d.markers.len() <= want.len(),
            "{name}: more markers than snapshot calls"
        );
        let offset = want.len() - d.markers.len();
        if d.trace_complete {
            assert_eq!(offset, 0, "{name}: a complete trace keeps every marker");
        }
        for (k, m) in d.markers.iter().enumerate() {
            let t = &want[k + offset];
            for key in KEYS {
                assert_eq!(
                    counter(&m.counters, key),
                    t[key].as_u64().unwrap(),
                    "{name} marker {} ({}) {key}",
                    k + offset,
                    t["label"]
                );
            }
            checked += 1;
        }
    }
    // Every marker of the samples: 25 + 9 + 11 + 8 + 8 + 7 (of kv_generate's, the ring kept
    // its last 6 requests and the weights' marker) and the wrapped fixture's.
    assert!(checked >= 70, "only {checked} markers checked");
}

/// The counters after the last event equal the truth files' `final`.
#[test]
fn final_counters_match() {
    let mut checked = 0;
    for name in common::ALL {
        let Some((_, a, truth)) = analyse(name) else {
            continue;
        };
        let f = a.devices[0].final_counters;
        for key in KEYS {
            assert_eq!(
                counter(&f, key),
                truth["final"][key].as_u64().unwrap(),
                "{name} final {key}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, common::ALL.len());
}

/// A `snapshot` trace entry records the allocated bytes at that moment: an independent check of
/// the replay inside the file itself.
#[test]
fn snapshot_entries_agree_with_replay() {
    for name in ["train_val_leak", "gpt_train_amp", "frag_oom"] {
        let Some((snap, a, _)) = analyse(name) else {
            continue;
        };
        let events = &snap.devices[0].events;
        for m in &a.devices[0].markers {
            assert_eq!(
                events[m.event].size, m.counters.allocated,
                "{name} event {}",
                m.event
            );
        }
    }
}

#[test]
fn train_val_leak_names_line_158_first_and_not_152() {
    let Some((_, a, truth)) = analyse("train_val_leak") else {
        return;
    };
    let leaks = &a.devices[0].leaks;
    assert!(!leaks.is_empty(), "the leak must be found");
    assert!(leaks[0].file.ends_with("workloads.py"));
    assert_eq!(leaks[0].line, 158, "the main leak first: {leaks:?}");
    let lines: Vec<i64> = leaks.iter().map(|l| l.line).collect();
    for site in truth["leak_sites"].as_array().unwrap() {
        let line = site["line"].as_i64().unwrap();
        assert!(
            lines.contains(&line),
            "leak site {line} missing from {lines:?}"
        );
    }
    for site in truth["not_leaks"].as_array().unwrap() {
        let line = site["line"].as_i64().unwrap();
        assert!(
            !lines.contains(&line),
            "line {line} is not a leak: {lines:?}"
        );
    }
    // About 150 MB a validation round, spread over four training steps per round.
    let per_round = leaks[0].growth_bytes_per_iteration * 4.0;
    assert!((100e6..200e6).contains(&per_round), "growth {per_round}");
    assert!(leaks[0].confidence >= 0.8);
}

#[test]
fn healthy_runs_report_no_leak() {
    for name in ["gpt_train_amp", "big_trace", "capacity_oom", "frag_oom"] {
        let Some((_, a, _)) = analyse(name) else {
            continue;
        };
        assert!(
            a.devices[0].leaks.is_empty(),
            "{name}: {:?}",
            a.devices[0].leaks
        );
    }
}

#[test]
fn oom_verdicts() {
    let cases = [
        ("frag_oom", Verdict::Fragmentation),
        ("frag_oom_expandable", Verdict::Capacity),
        ("capacity_oom", Verdict::Capacity),
    ];
    for (name, want) in cases {
        let Some((_, a, truth)) = analyse(name) else {
            continue;
        };
        let ooms = &a.devices[0].ooms;
        assert_eq!(ooms.len(), 1, "{name}");
        let o = &ooms[0];
        assert_eq!(o.verdict, want, "{name}: {o:?}");
        let t = &truth["ooms"][0];
        assert_eq!(o.allocated, t["allocated"].as_u64().unwrap(), "{name}");
        assert_eq!(o.reserved, t["reserved"].as_u64().unwrap(), "{name}");
        let want_requested = if name == "capacity_oom" {
            256u64 << 20
        } else {
            600 << 20
        };
        assert_eq!(o.requested, want_requested, "{name}");
    }
}

#[test]
fn frag_oom_numbers() {
    let Some((_, a, _)) = analyse("frag_oom") else {
        return;
    };
    let o = &a.devices[0].ooms[0];
    assert_eq!(o.requested, 600 << 20);
    assert_eq!(o.free_in_reserved, 1_098_907_648);
    assert!(o.largest_free_block < o.requested);
    let advice = memsight::output::words::oom_advice(&a.devices[0], o);
    assert!(advice.contains("expandable_segments:True"), "{advice}");
    assert!(advice.contains("max_split_size_mb:"), "{advice}");
}

/// explain-oom reaches the same verdicts from the error messages alone.
#[test]
fn explain_oom_from_messages() {
    let cases = [
        ("frag_oom", Verdict::Fragmentation),
        ("frag_oom_expandable", Verdict::Capacity),
        ("capacity_oom", Verdict::Capacity),
    ];
    for (name, want) in cases {
        let Some(truth) = common::truth(name) else {
            continue;
        };
        let msg = truth["ooms"][0]["message"].as_str().unwrap();
        let m = analysis::oom::parse_message(msg);
        assert!(m.requested.is_some(), "{name}: {m:?}");
        let v = analysis::oom::explain_message(&m).unwrap();
        assert_eq!(v, want, "{name}: {m:?}");
    }
    // PyTorch 1.x wording.
    let old = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity; \
               9.50 GiB already allocated; 1.20 GiB free; 13.90 GiB reserved in total by PyTorch)";
    let m = analysis::oom::parse_message(old);
    assert_eq!(m.requested, Some(2 << 30));
    assert_eq!(
        analysis::oom::explain_message(&m).unwrap(),
        Verdict::Fragmentation
    );
}

/// The layout at any event adds up to the counters at that event.
#[test]
fn layouts_add_up_to_counters() {
    for name in [
        "train_val_leak",
        "frag_oom",
        "frag_oom_expandable",
        "gpt_train_amp",
    ] {
        let Some((_, a, _)) = analyse(name) else {
            continue;
        };
        let d = &a.devices[0];
        let n = d.events;
        for t in (0..n).step_by((n / 97).max(1)).chain([n - 1]) {
            let layout = d.layout.layout_after(&d.replay, Some(t));
            let reserved: u64 = layout.iter().map(|s| s.size).sum();
            let active: u64 = layout.iter().flat_map(|s| &s.blocks).map(|b| b.size).sum();
            let allocated: u64 = layout
                .iter()
                .flat_map(|s| &s.blocks)
                .filter(|b| b.allocated)
                .map(|b| b.size)
                .sum();
            let c = d.replay.series.at(t);
            assert_eq!(reserved, c.reserved, "{name} reserved at {t}");
            assert_eq!(active, c.active, "{name} active at {t}");
            assert_eq!(allocated, c.allocated, "{name} allocated at {t}");
            let largest = layout.iter().map(|s| s.largest_free()).max().unwrap_or(0);
            assert_eq!(
                largest, d.replay.series.largest_free[t],
                "{name} largest free at {t}"
            );
        }
    }
}

/// huge_trace's ring wrapped: the replay starts from a reconstructed state and still ends on the
/// allocator's own final counters (checked in final_counters_match).
#[test]
fn wrapped_ring_is_detected() {
    let Some((_, a, _)) = analyse("huge_trace") else {
        return;
    };
    let d = &a.devices[0];
    assert!(!d.trace_complete);
    assert!(d.replay.initial.reserved > 0);
    assert_eq!(
        d.replay.anomalies.len(),
        0,
        "{:?}",
        &d.replay.anomalies[..3.min(d.replay.anomalies.len())]
    );
}

/// A ring of 800 entries recorded on an H100: the oldest events and markers are gone. The state
/// before the first event is reconstructed from the dump, and the remaining markers still match.
#[test]
fn recorded_wrapped_ring_fixture() {
    let Some((snap, a, truth)) = analyse("train_val_leak_wrapped") else {
        return;
    };
    let d = &a.devices[0];
    assert_eq!(snap.devices[0].events.len(), 800);
    assert!(!d.trace_complete);
    let want = truth["markers"].as_array().unwrap().len();
    assert!(d.markers.len() < want, "oldest markers are gone");
    assert!(!d.markers.is_empty());
    // markers_match_pytorch_counters_exactly checks the survivors byte for byte.
}

/// A wrapped ring, a file with no trace, and a complete trace each say what they are.
#[test]
fn trace_notes_tell_a_wrapped_ring_from_no_trace() {
    let (snap, a, _) = analyse("train_val_leak_wrapped").expect("bundled fixture");
    let note = a.devices[0]
        .trace_note(snap.format.variant)
        .expect("the ring wrapped");
    assert!(
        matches!(note, TraceNote::Partial { exact_from } if exact_from > 0),
        "{note:?}"
    );
    let text = memsight::output::words::trace_note(note);
    assert!(text.contains("every figure is exact from event"), "{text}");

    let (snap, a, _) = analyse("frag_oom").expect("bundled sample");
    assert_eq!(a.devices[0].trace_note(snap.format.variant), None);

    // PyTorch 2.0: blocks carry their history, there is no trace to have wrapped.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/public/yiyi-philosophy__1_3b_snapshot_08fa910.pickle");
    let snap = load_path(&path, &LoadOptions::default()).expect("public 2.0 snapshot loads");
    let a = analysis::analyze(&snap);
    let note = a.devices[0]
        .trace_note(snap.format.variant)
        .expect("no trace");
    assert_eq!(note, TraceNote::BlockHistory);
    let text = memsight::output::words::trace_note(note);
    assert!(text.contains("PyTorch 2.0 format"), "{text}");
}
