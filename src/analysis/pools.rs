//! Which memory pool each block came from. Besides the default pool, a CUDA graph captures
//! into a private pool of its own, and `torch.cuda.MemPool` makes user pools: their segments
//! serve only their own requests, so free memory in one is no use to another.
//!
//! The trace does not say which pool a segment belongs to; only the dump does
//! (`segment_pool_id`). A segment still reserved at the dump is matched to its replayed span
//! by address, and a block inside that span, allocated while the span was reserved, belongs
//! to its pool. Blocks of segments released before the dump cannot be placed: they count as
//! the default pool's, which is what the pool id of every segment of a graph-free program is.

use crate::model::Segment;

use super::replay::{Replay, NONE};

/// PyTorch's `MempoolId_t` of the default pool.
pub const DEFAULT_POOL: (i64, i64) = (0, 0);

/// What made a pool, from its id: PyTorch numbers a graph capture's own pool `(capture, 0)`
/// and pools made by `graph_pool_handle()` or `torch.cuda.MemPool` `(0, uid)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Default,
    /// The private pool of one CUDA graph capture.
    Graph,
    /// A pool the program made (`torch.cuda.MemPool`, or a graph pool handle shared by
    /// several captures).
    User,
}

/// One pool seen in the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInfo {
    pub id: (i64, i64),
    pub kind: PoolKind,
    /// Its segments in the dump, and their reserved bytes.
    pub segments: usize,
    pub reserved: u64,
}

impl PoolKind {
    pub fn of(id: (i64, i64)) -> PoolKind {
        match id {
            DEFAULT_POOL => PoolKind::Default,
            (0, _) => PoolKind::User,
            _ => PoolKind::Graph,
        }
    }
}

/// The memory of the private pools after one event, and what the others offer (see
/// [`Pools::split_at`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSplit {
    /// Bytes the private pools' segments reserve.
    pub private_reserved: u64,
    /// Bytes free in them, which serve only their own pool's requests.
    pub private_free: u64,
    /// The largest free block outside them.
    pub largest_outside: u64,
}

/// The pools of one device and the pool of each block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pools {
    /// The default pool first, then the others in id order. Empty when the dump has no
    /// segments (nothing to tell pools apart by).
    pub pools: Vec<PoolInfo>,
    /// For each allocation of the replay, its index in `pools` (0, the default pool, when it
    /// cannot be placed). Empty when every segment is the default pool's.
    pub allocation_pool: Vec<u16>,
    /// The replayed spans still reserved at the end, by address: (start, end, the event
    /// that reserved it or `NONE`, pool index).
    spans: Vec<(u64, u64, u32, u16)>,
}

impl Pools {
    /// After event `i`: what the private pools reserve and hold free, and the largest free block
    /// in the other segments (those a default-pool request can use). Adjacent mapped ranges of one
    /// pool count as one range, as an expandable segment's pages are.
    pub fn split_at(&self, replay: &Replay, i: usize) -> PoolSplit {
        let t = i as u32;
        let live = |from: u32, to: u32| (from == NONE || from <= t) && (to == NONE || to > t);
        // (start, end, pool) of the memory reserved after event i, by address.
        let mut ranges: Vec<(u64, u64, u16)> = replay
            .segments
            .iter()
            .filter(|s| live(s.alloc_event, s.free_event))
            .map(|s| {
                (
                    s.addr,
                    s.addr + s.size,
                    self.of_address(s.addr, s.alloc_event),
                )
            })
            .collect();
        ranges.sort_unstable();
        ranges.dedup_by(|next, prev| {
            let joined = prev.1 == next.0 && prev.2 == next.2;
            if joined {
                prev.1 = next.1;
            }
            joined
        });
        // The active blocks in each range, by address.
        let mut blocks: Vec<Vec<(u64, u64)>> = vec![Vec::new(); ranges.len()];
        for a in &replay.allocations {
            if !live(a.alloc_event, a.free_completed) {
                continue;
            }
            let k = ranges.partition_point(|r| r.0 <= a.addr);
            if let Some(v) = k.checked_sub(1).and_then(|k| blocks.get_mut(k)) {
                v.push((a.addr, a.addr + a.size));
            }
        }
        let mut split = PoolSplit::default();
        for (&(start, end, pool), bs) in ranges.iter().zip(&mut blocks) {
            bs.sort_unstable();
            let mut cursor = start;
            let (mut free, mut widest) = (0u64, 0u64);
            for &(a, b) in bs.iter() {
                let gap = a.saturating_sub(cursor);
                free += gap;
                widest = widest.max(gap);
                cursor = cursor.max(b);
            }
            let tail = end.saturating_sub(cursor);
            free += tail;
            widest = widest.max(tail);
            if pool == 0 {
                split.largest_outside = split.largest_outside.max(widest);
            } else {
                split.private_reserved += end - start;
                split.private_free += free;
            }
        }
        split
    }

    /// Whether any block may come from a pool other than the default one.
    pub fn has_private(&self) -> bool {
        self.pools.iter().any(|p| p.kind != PoolKind::Default)
    }

    /// The pool index of allocation `k` (0, the default pool, when unknown).
    pub fn of_allocation(&self, k: usize) -> u16 {
        self.allocation_pool.get(k).copied().unwrap_or(0)
    }

    /// The pool of memory at `addr` reserved since `since` (an event, or `NONE` for before
    /// the trace): 0, the default pool, unless a segment still reserved at the dump held it
    /// then (an earlier segment at the same address may have been another pool's).
    pub fn of_address(&self, addr: u64, since: u32) -> u16 {
        let i = self.spans.partition_point(|x| x.0 <= addr);
        match i.checked_sub(1).and_then(|i| self.spans.get(i)) {
            Some(&(_, end, reserved, pool))
                if addr < end && (reserved == NONE || (since != NONE && since >= reserved)) =>
            {
                pool
            }
            _ => 0,
        }
    }

    /// Matches `dump` (one device's segments) to `replay`'s spans.
    pub fn build(replay: &Replay, dump: &[&Segment]) -> Pools {
        let mut pools = vec![PoolInfo {
            id: DEFAULT_POOL,
            kind: PoolKind::Default,
            segments: 0,
            reserved: 0,
        }];
        for s in dump {
            let k = match pools.iter().position(|p| p.id == s.pool_id) {
                Some(k) => k,
                None => {
                    pools.push(PoolInfo {
                        id: s.pool_id,
                        kind: PoolKind::of(s.pool_id),
                        segments: 0,
                        reserved: 0,
                    });
                    pools.len() - 1
                }
            };
            pools[k].segments += 1;
            pools[k].reserved += s.total_size;
        }
        if dump.is_empty() {
            return Pools::default();
        }
        pools[1..].sort_by_key(|p| p.id);
        if pools.len() == 1 || pools.len() > u16::MAX as usize {
            return Pools {
                pools,
                ..Pools::default()
            };
        }
        // The spans reserved at the end, by address, with the pool of the dump segment at
        // that address: (start, end, reserved since event, pool).
        let mut spans: Vec<(u64, u64, u32, u16)> = Vec::new();
        for s in dump {
            let Some(k) = pools.iter().position(|p| p.id == s.pool_id) else {
                continue;
            };
            let end = s.address.saturating_add(s.total_size);
            // An expandable segment is replayed as several mapped spans inside its range.
            for span in replay
                .segments
                .iter()
                .filter(|x| x.free_event == NONE && x.addr >= s.address && x.addr < end)
            {
                spans.push((span.addr, span.addr + span.size, span.alloc_event, k as u16));
            }
        }
        spans.sort_unstable();
        let mut out = Pools {
            pools,
            allocation_pool: Vec::new(),
            spans,
        };
        out.allocation_pool = replay
            .allocations
            .iter()
            .map(|a| out.of_address(a.addr, a.alloc_event))
            .collect();
        out
    }
}
