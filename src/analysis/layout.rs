//! Segment layouts at any event, for scrubbing through time.
//!
//! Replaying from the start for every query would cost O(events). Instead the index keeps,
//! every [`CHECKPOINT_EVERY`] events, the list of active allocations; a query starts from the
//! nearest checkpoint and applies at most that many events. On a 1M-event trace a query costs
//! well under a millisecond plus the size of the answer.

use super::replay::{Replay, NONE};

pub const CHECKPOINT_EVERY: usize = 4096;

/// A block at a moment: allocated, or freed by the caller but still in use by a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockView {
    pub addr: u64,
    pub size: u64,
    pub requested: u64,
    /// false: `free_requested` happened, `free_completed` not yet (pending on a stream).
    pub allocated: bool,
    /// Index into `Replay::allocations`.
    pub allocation: u32,
}

/// A segment at a moment with its active blocks in address order; the rest is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentView {
    pub addr: u64,
    pub size: u64,
    pub stream: u64,
    pub expandable: bool,
    pub blocks: Vec<BlockView>,
}

impl SegmentView {
    /// Free ranges (address, size) between the blocks.
    pub fn free_ranges(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cursor = self.addr;
        for b in &self.blocks {
            if b.addr > cursor {
                out.push((cursor, b.addr - cursor));
            }
            cursor = cursor.max(b.addr + b.size);
        }
        let end = self.addr + self.size;
        if end > cursor {
            out.push((cursor, end - cursor));
        }
        out
    }

    pub fn largest_free(&self) -> u64 {
        self.free_ranges().iter().map(|r| r.1).max().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default)]
pub struct LayoutIndex {
    /// Active allocation indices after events CHECKPOINT_EVERY*k - 1 (k ≥ 1); entry 0 holds
    /// the state before the first event.
    checkpoints: Vec<Vec<u32>>,
}

impl LayoutIndex {
    pub fn build(replay: &Replay, events: usize) -> LayoutIndex {
        let mut live: Vec<bool> = vec![false; replay.allocations.len()];
        let mut initial = Vec::new();
        for (i, a) in replay.allocations.iter().enumerate() {
            if a.alloc_event == NONE {
                live[i] = true;
                initial.push(i as u32);
            }
        }
        let mut checkpoints = vec![initial];
        for t in 0..events {
            apply(replay, t, &mut live);
            if (t + 1) % CHECKPOINT_EVERY == 0 {
                let set = live
                    .iter()
                    .enumerate()
                    .filter(|(_, &l)| l)
                    .map(|(i, _)| i as u32)
                    .collect();
                checkpoints.push(set);
            }
        }
        LayoutIndex { checkpoints }
    }

    /// Active allocation indices after event `t` (`None`: before the first event).
    pub fn active_after(&self, replay: &Replay, t: Option<usize>) -> Vec<u32> {
        let Some(t) = t else {
            return self.checkpoints.first().cloned().unwrap_or_default();
        };
        let k = ((t + 1) / CHECKPOINT_EVERY).min(self.checkpoints.len().saturating_sub(1));
        let mut set: std::collections::BTreeSet<u32> = self
            .checkpoints
            .get(k)
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default();
        let from = k * CHECKPOINT_EVERY;
        for e in from..=t.min(replay.event_allocation.len().saturating_sub(1)) {
            let idx = replay.event_allocation[e];
            if idx == NONE {
                continue;
            }
            let a = &replay.allocations[idx as usize];
            if a.alloc_event as usize == e {
                set.insert(idx);
            }
            if a.free_completed as usize == e {
                set.remove(&idx);
            }
        }
        set.into_iter().collect()
    }

    /// Every segment and its active blocks after event `t` (`None`: before the first event).
    pub fn layout_after(&self, replay: &Replay, t: Option<usize>) -> Vec<SegmentView> {
        let alive = |alloc: u32, free: u32| -> bool {
            let born = match t {
                None => alloc == NONE,
                Some(t) => alloc == NONE || alloc as usize <= t,
            };
            let dead = match t {
                None => false,
                Some(t) => free != NONE && free as usize <= t,
            };
            born && !dead
        };
        let mut segs: Vec<SegmentView> = replay
            .segments
            .iter()
            .filter(|s| alive(s.alloc_event, s.free_event))
            .map(|s| SegmentView {
                addr: s.addr,
                size: s.size,
                stream: s.stream,
                expandable: s.expandable,
                blocks: Vec::new(),
            })
            .collect();
        segs.sort_by_key(|s| s.addr);
        // Adjacent mapped ranges of an expandable segment are one segment.
        let mut merged: Vec<SegmentView> = Vec::with_capacity(segs.len());
        for s in segs {
            match merged.last_mut() {
                Some(m) if m.expandable && s.expandable && m.addr + m.size == s.addr => {
                    m.size += s.size
                }
                _ => merged.push(s),
            }
        }
        let mut blocks: Vec<BlockView> = self
            .active_after(replay, t)
            .into_iter()
            .map(|i| {
                let a = &replay.allocations[i as usize];
                BlockView {
                    addr: a.addr,
                    size: a.size,
                    requested: a.requested,
                    allocated: match t {
                        None => a.free_requested == NONE || a.alloc_event != NONE,
                        Some(t) => a.allocated_at(t as u32),
                    },
                    allocation: i,
                }
            })
            .collect();
        blocks.sort_by_key(|b| b.addr);
        for b in blocks {
            let pos = merged.partition_point(|s| s.addr <= b.addr);
            if pos > 0 {
                let s = &mut merged[pos - 1];
                if b.addr < s.addr + s.size {
                    s.blocks.push(b);
                }
            }
        }
        merged
    }
}

fn apply(replay: &Replay, t: usize, live: &mut [bool]) {
    let idx = replay.event_allocation[t];
    if idx == NONE {
        return;
    }
    let a = &replay.allocations[idx as usize];
    if a.alloc_event as usize == t {
        live[idx as usize] = true;
    }
    if a.free_completed as usize == t {
        live[idx as usize] = false;
    }
}
