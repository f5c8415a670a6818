//! The replay's incremental figures against the same figures recomputed from scratch.

use super::*;

const MIB: u64 = 1 << 20;

fn ev(action: Action, addr: u64, size: u64) -> Event {
    Event {
        addr,
        size,
        ..Event::new(action)
    }
}

/// The largest free gap after event `i`, recomputed from scratch: the segments reserved
/// then, less the blocks active then.
fn largest_free_at(r: &Replay, i: u32) -> u64 {
    let live = |from: u32, to: u32| (from == NONE || from <= i) && (to == NONE || to > i);
    let mut largest = 0;
    for s in r
        .segments
        .iter()
        .filter(|s| live(s.alloc_event, s.free_event))
    {
        let mut blocks: Vec<(u64, u64)> = r
            .allocations
            .iter()
            .filter(|a| live(a.alloc_event, a.free_completed))
            .filter(|a| a.addr >= s.addr && a.addr < s.addr + s.size)
            .map(|a| (a.addr, a.addr + a.size))
            .collect();
        blocks.sort_unstable();
        let mut cursor = s.addr;
        for (a, b) in blocks {
            largest = largest.max(a.saturating_sub(cursor));
            cursor = cursor.max(b);
        }
        largest = largest.max((s.addr + s.size).saturating_sub(cursor));
    }
    largest
}

fn replayed(events: Vec<Event>) -> (DeviceTrace, Replay) {
    let trace = DeviceTrace {
        events,
        ..DeviceTrace::default()
    };
    let r = replay(&trace, &[], &Settings::default());
    (trace, r)
}

/// Replays `events` and checks the largest free block after every one against the layout.
fn check_against_scratch(events: Vec<Event>) -> Replay {
    let (trace, r) = replayed(events);
    for i in 0..trace.events.len() {
        assert_eq!(
            r.series.largest_free[i],
            largest_free_at(&r, i as u32),
            "largest free block after event {i}: {:?}",
            trace.events[i]
        );
    }
    r
}

#[test]
fn gaps_kept_per_event_match_the_layout_recomputed() {
    // One 20 MiB segment filled, freed in another order, refilled: every split and merge.
    let base = 0x7f00_0000_0000;
    let mut events = vec![ev(Action::SegmentAlloc, base, 20 * MIB)];
    let sizes = [2, 3, 1, 4, 2, 5];
    let mut addr = base;
    let mut blocks = Vec::new();
    for s in sizes {
        events.push(ev(Action::Alloc, addr, s * MIB));
        blocks.push(addr);
        addr += s * MIB;
    }
    for &k in &[1usize, 3, 2, 0, 5] {
        events.push(ev(Action::FreeRequested, blocks[k], 0));
        events.push(ev(Action::FreeCompleted, blocks[k], 0));
    }
    events.push(ev(Action::Alloc, base, 6 * MIB));
    events.push(ev(Action::Alloc, blocks[5], MIB));
    let r = check_against_scratch(events);
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    assert_eq!(*r.series.largest_free.last().unwrap_or(&0), 7 * MIB);
}

/// An alloc over an active block cannot be placed exactly (which of the two holds the
/// overlap is unknowable): the replay says so, and its figures are exact again once the
/// blocks involved are gone.
#[test]
fn overlapping_blocks_are_reported_and_the_figures_recover() {
    let base = 0x7f00_0000_0000;
    let events = vec![
        ev(Action::SegmentAlloc, base, 8 * MIB),
        ev(Action::Alloc, base + MIB, 2 * MIB),
        // Overlaps the block above: an inconsistent trace.
        ev(Action::Alloc, base + 2 * MIB, 2 * MIB),
        ev(Action::FreeRequested, base + MIB, 0),
        ev(Action::FreeCompleted, base + MIB, 0),
        ev(Action::FreeRequested, base + 2 * MIB, 0),
        ev(Action::FreeCompleted, base + 2 * MIB, 0),
    ];
    let (trace, r) = replayed(events);
    assert!(
        r.anomalies.iter().any(|a| a.event == 2),
        "the overlapping alloc is reported: {:?}",
        r.anomalies
    );
    let last = trace.events.len() as u32 - 1;
    assert_eq!(
        r.series.largest_free[last as usize],
        largest_free_at(&r, last)
    );
    assert_eq!(r.series.largest_free[last as usize], 8 * MIB);
}
