//! Traces built in the test for cases no real file shows: traces that contradict themselves
//! (a double free, a segment reserved twice, an allocation over a live block, an impossible
//! size) are said to be inconsistent, from the first event that cannot be true, and never
//! called healthy; and an OOM's verdict follows the recording's allocator settings.

use memsight::analysis::findings::{self, Finding};
use memsight::analysis::{self, Verdict};
use memsight::output::words;
use memsight::read::{load_bytes, LoadOptions};
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const BASE: u64 = 0x7f00_0000_0000;

fn ev(action: &str, addr: u64, size: u64) -> Value {
    json!({"action": action, "addr": addr, "size": size, "stream": 0, "time_us": 0,
           "frames": []})
}

/// A snapshot of one device with this trace and no segments left at the dump.
fn analyse(trace: Vec<Value>) -> (memsight::model::Snapshot, analysis::Analysis) {
    let snap = json!({"segments": [], "device_traces": [trace]});
    let bytes = serde_pickle::to_vec(&snap, serde_pickle::SerOptions::new()).expect("pickle");
    let snap = load_bytes(&bytes, &LoadOptions::default()).expect("loads");
    let a = analysis::analyze(&snap);
    (snap, a)
}

/// The inconsistency finding of device 0: its first event and its text.
fn inconsistency(snap: &memsight::model::Snapshot, a: &analysis::Analysis) -> (usize, String) {
    let d = &a.devices[0];
    let list = findings::findings(d, snap.format.variant);
    assert!(!list.contains(&Finding::Healthy), "{list:?}");
    let f = list
        .iter()
        .find(|f| matches!(f, Finding::Inconsistent { .. }))
        .unwrap_or_else(|| panic!("no inconsistency found in {list:?}"));
    let Finding::Inconsistent { first_event, .. } = f else {
        unreachable!()
    };
    (*first_event, words::finding(f, d).detail)
}

/// A segment, a block allocated and freed: the healthy prefix every case starts from.
fn prefix() -> Vec<Value> {
    vec![
        ev("segment_alloc", BASE, 2 * GIB),
        ev("alloc", BASE, GIB),
        ev("free_requested", BASE, GIB),
        ev("free_completed", BASE, GIB),
    ]
}

#[test]
fn a_double_free_is_named_and_its_event_given() {
    let mut t = prefix();
    t.push(ev("free_requested", BASE, GIB)); // event 4: the block is already free
    t.push(ev("oom", 0, 600 * MIB));
    let (snap, a) = analyse(t);
    let (first, text) = inconsistency(&snap, &a);
    assert_eq!(first, 4, "{:?}", a.devices[0].replay.anomalies);
    assert!(text.contains("from event 4 on cannot be trusted"), "{text}");
    // The double free does not free anything twice: 2 GiB reserved and free, so the 600 MiB
    // request would have fit, and the counters say so.
    let d = &a.devices[0];
    assert_eq!(d.final_counters.allocated, 0);
    assert_eq!(d.ooms[0].verdict, Verdict::Capacity);
}

#[test]
fn a_free_of_a_block_that_is_already_freed_again() {
    let mut t = prefix();
    t.push(ev("alloc", BASE, GIB));
    t.push(ev("free_requested", BASE, GIB));
    t.push(ev("free_requested", BASE, GIB)); // event 6
    let (snap, a) = analyse(t);
    let (first, text) = inconsistency(&snap, &a);
    assert_eq!(first, 6);
    assert!(text.contains("already freed at event 5"), "{text}");
    assert_eq!(a.devices[0].final_counters.allocated, 0);
}

#[test]
fn a_segment_reserved_twice_is_not_counted_twice() {
    let mut t = prefix();
    t.push(ev("segment_alloc", BASE, 2 * GIB)); // event 4
    let (snap, a) = analyse(t);
    let (first, text) = inconsistency(&snap, &a);
    assert_eq!(first, 4);
    assert!(text.contains("inside memory already reserved"), "{text}");
    assert_eq!(a.devices[0].peak.reserved, 2 * GIB, "2 GiB, not 4");
}

#[test]
fn an_allocation_over_a_live_block_is_named() {
    let t = vec![
        ev("segment_alloc", BASE, 2 * GIB),
        ev("alloc", BASE, GIB),
        ev("alloc", BASE, GIB), // event 2: the block is live
    ];
    let (snap, a) = analyse(t);
    let (first, _) = inconsistency(&snap, &a);
    assert_eq!(first, 2);
}

#[test]
fn an_impossible_size_is_refused_not_added() {
    let mut t = prefix();
    t.push(ev("alloc", BASE, 1 << 63)); // event 4: 8192 PiB
    t.push(ev("segment_alloc", u64::MAX - 10, 4096)); // event 5: past the address space
    let (snap, a) = analyse(t);
    let (first, text) = inconsistency(&snap, &a);
    assert_eq!(first, 4);
    assert!(text.contains("more than any device holds"), "{text}");
    let d = &a.devices[0];
    assert_eq!(d.replay.anomalies.len(), 2);
    assert!(d.peak.allocated <= 2 * GIB, "{}", d.peak.allocated);
    assert_eq!(d.peak.reserved, 2 * GIB);
}

#[test]
fn a_consistent_trace_has_no_such_finding() {
    let (snap, a) = analyse(prefix());
    let d = &a.devices[0];
    assert!(d.replay.anomalies.is_empty());
    let list = findings::findings(d, snap.format.variant);
    assert!(!list
        .iter()
        .any(|f| matches!(f, Finding::Inconsistent { .. })));
}

/// The OOM verdict rounds the failed request as the recording's allocator did: with
/// `roundup_power2_divisions` 2 from 512 MiB, a 600 MiB request needs a 768 MiB block, which
/// the 640 MiB hole cannot give although 1 GiB is free: fragmentation. By the default rounding
/// the hole would have fitted, and the verdict would have been capacity.
#[test]
fn the_oom_verdict_rounds_with_the_recorded_settings() {
    let blocks = [
        (0, 512, true),
        (512, 128, true),
        (640, 256, false),
        (896, 256, true),
        (1152, 128, true),
        (1280, 768, false),
    ];
    let mut t = vec![ev("segment_alloc", BASE, 2 * GIB)];
    for &(at, mib, _) in &blocks {
        t.push(ev("alloc", BASE + at * MIB, mib * MIB));
    }
    for &(at, mib, freed) in &blocks {
        if freed {
            t.push(ev("free_requested", BASE + at * MIB, mib * MIB));
            t.push(ev("free_completed", BASE + at * MIB, mib * MIB));
        }
    }
    t.push(ev("oom", 0, 600 * MIB));
    let snapshot = |settings: Value| {
        let snap = json!({"segments": [], "device_traces": [t.clone()],
                          "allocator_settings": settings});
        let bytes = serde_pickle::to_vec(&snap, serde_pickle::SerOptions::new()).expect("pickle");
        analysis::analyze(&load_bytes(&bytes, &LoadOptions::default()).expect("loads"))
    };
    let a = snapshot(json!({"roundup_power2_divisions": {"512": 2}}));
    let o = &a.devices[0].ooms[0];
    assert_eq!(o.free_in_reserved, GIB);
    assert_eq!(o.largest_free_block, 640 * MIB);
    assert_eq!(o.block_size, 768 * MIB);
    assert_eq!(o.verdict, Verdict::Fragmentation);
    let a = snapshot(json!({}));
    let o = &a.devices[0].ooms[0];
    assert_eq!(o.block_size, 600 * MIB);
    assert_eq!(o.verdict, Verdict::Capacity);
}
