//! A model of one device's `DeviceCachingAllocator` (c10/cuda/CUDACachingAllocator.cpp):
//! blocks in segments, a small and a large pool of cached free blocks ordered by
//! (stream, size, address), best-fit search, splitting, merging, `max_split_size`,
//! `roundup_power2_divisions`, garbage collection, freeing cached blocks and retrying before
//! an OOM, and a memory cap (`set_per_process_memory_fraction`).
//!
//! The functions keep the names and the order of decisions of the C++ code, so that the two
//! can be read side by side; expandable segments live in `expandable.rs`.

use std::collections::{BTreeMap, BTreeSet};

use super::requests::{allocation_size, SegEvent, SegKind, NIL};
pub use crate::allocator::Counters;
use crate::allocator::{Settings, LARGE_BUFFER, SMALL_SIZE};

/// One block: a piece of a segment, free (cached), allocated, or waiting for other streams.
#[derive(Debug, Clone)]
pub(super) struct Block {
    pub addr: u64,
    pub size: u64,
    pub requested: u64,
    pub stream: u64,
    pub small: bool,
    pub prev: u32,
    pub next: u32,
    /// Handed to the program and not yet freed by it.
    pub allocated: bool,
    /// Freed by the program but still in use on another stream (not reusable yet).
    pub pending: bool,
    /// Backed by memory (always true outside expandable segments).
    pub mapped: bool,
    /// The expandable segment this block belongs to, or [`NIL`].
    pub expandable: u32,
    /// The program's id for an allocated or pending block ([`NIL`] for a free one).
    pub owner: u32,
    /// `gc_count_base`: the pool's free-block search count when the block was cached.
    pub gc_base: i64,
}

impl Block {
    /// A free, mapped block of its own (no neighbours, outside expandable segments); the
    /// struct update syntax gives the fields that differ.
    pub fn free(addr: u64, size: u64, stream: u64, small: bool) -> Block {
        Block {
            addr,
            size,
            requested: 0,
            stream,
            small,
            prev: NIL,
            next: NIL,
            allocated: false,
            pending: false,
            mapped: true,
            expandable: NIL,
            owner: NIL,
            gc_base: 0,
        }
    }

    pub fn is_split(&self) -> bool {
        self.prev != NIL || self.next != NIL
    }
}

/// Key of a cached block in a pool: `BlockComparatorSize` (stream, size, address).
pub(super) type SizeKey = (u64, u64, u64, u32);
/// Key of an unmapped block: `BlockComparatorAddress` (stream, address).
pub(super) type AddrKey = (u64, u64, u32);

#[derive(Debug, Default)]
pub(super) struct Pool {
    pub blocks: BTreeSet<SizeKey>,
    pub unmapped: BTreeSet<AddrKey>,
    pub get_free_blocks_call_count: i64,
}

/// One reservation of address space for expandable segments (its pages are mapped and unmapped
/// by the methods in `expandable.rs`).
#[derive(Debug, Clone)]
pub(super) struct ExpandableSegment {
    pub base: u64,
    pub page: u64,
}

/// One device's allocator state.
pub struct Allocator {
    pub(super) settings: Settings,
    /// `allowed_memory_maximum` when a cap is set (`set_fraction`).
    pub(super) cap: Option<u64>,
    /// Physical memory of the device (cudaMalloc / page mapping fails beyond it).
    pub(super) device_total: u64,
    pub(super) blocks: Vec<Block>,
    free_slots: Vec<u32>,
    pub(super) small_pool: Pool,
    pub(super) large_pool: Pool,
    pub(super) c: Counters,
    /// Live address ranges (cudaMalloc segments, expandable reservations): start → end.
    pub(super) ranges: BTreeMap<u64, u64>,
    /// Next address for a segment the recording never made.
    pub(super) synthetic_next: u64,
    pub(super) expandable: Vec<ExpandableSegment>,
    /// Segment entries the model made, in order, with the request index that caused them.
    pub seg_events: Vec<(u32, SegEvent)>,
    /// Index of the request being served (stamps `seg_events`).
    pub(super) now: u32,
    /// Recorded segment entries of the current request: address hints.
    pub(super) hints: Vec<SegEvent>,
    pub(super) hints_used: Vec<bool>,
    /// Program ids of blocks completed early by `release_cached_blocks` (their recorded
    /// free_completed comes later and is moot).
    pub completed_early: Vec<u32>,
    /// Blocks freed by the program and waiting for other streams.
    pending: BTreeSet<u32>,
    pub num_alloc_retries: u64,
    pub segments_allocated: u64,
}

/// What `malloc` needs besides the size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Params {
    pub size: u64,
    pub stream: u64,
    pub small: bool,
    pub alloc_size: u64,
}

impl Allocator {
    pub fn new(settings: Settings, cap: Option<u64>, device_total: u64, synth_base: u64) -> Self {
        Allocator {
            settings,
            cap,
            device_total,
            blocks: Vec::new(),
            free_slots: Vec::new(),
            small_pool: Pool::default(),
            large_pool: Pool::default(),
            c: Counters::default(),
            ranges: BTreeMap::new(),
            synthetic_next: synth_base,
            expandable: Vec::new(),
            seg_events: Vec::new(),
            now: 0,
            hints: Vec::new(),
            hints_used: Vec::new(),
            completed_early: Vec::new(),
            pending: BTreeSet::new(),
            num_alloc_retries: 0,
            segments_allocated: 0,
        }
    }

    pub fn counters(&self) -> Counters {
        self.c
    }

    pub(super) fn pool(&mut self, small: bool) -> &mut Pool {
        if small {
            &mut self.small_pool
        } else {
            &mut self.large_pool
        }
    }

    /// A new free block of `size` bytes at `b`'s address, linked in before `b` (the caller
    /// then moves `b`'s start past it): how a split or a partial unmap carves a block.
    pub(super) fn link_before(&mut self, b: u32, size: u64, stream: u64) -> u32 {
        let r = &self.blocks[b as usize];
        let (prev, addr, small, expandable) = (r.prev, r.addr, r.small, r.expandable);
        let nb = self.new_block(Block {
            prev,
            next: b,
            expandable,
            ..Block::free(addr, size, stream, small)
        });
        if prev != NIL {
            self.blocks[prev as usize].next = nb;
        }
        self.blocks[b as usize].prev = nb;
        nb
    }

    pub(super) fn new_block(&mut self, b: Block) -> u32 {
        match self.free_slots.pop() {
            Some(i) => {
                self.blocks[i as usize] = b;
                i
            }
            None => {
                self.blocks.push(b);
                (self.blocks.len() - 1) as u32
            }
        }
    }

    pub(super) fn delete_block(&mut self, i: u32) {
        self.free_slots.push(i);
    }

    pub(super) fn size_key(&self, i: u32) -> SizeKey {
        let b = &self.blocks[i as usize];
        (b.stream, b.size, b.addr, i)
    }

    pub(super) fn insert_into_blocks(&mut self, i: u32) {
        let key = self.size_key(i);
        let small = self.blocks[i as usize].small;
        let pool = self.pool(small);
        let count = pool.get_free_blocks_call_count;
        pool.blocks.insert(key);
        self.blocks[i as usize].gc_base = count;
    }

    pub(super) fn erase_from_blocks(&mut self, i: u32) {
        let key = self.size_key(i);
        let small = self.blocks[i as usize].small;
        self.pool(small).blocks.remove(&key);
    }

    pub(super) fn record(&mut self, kind: SegKind, addr: u64, size: u64) {
        if kind.grows() {
            self.segments_allocated += 1;
        }
        self.seg_events
            .push((self.now, SegEvent { kind, addr, size }));
    }

    /// Sets the recorded segment entries of the request about to be served.
    pub(super) fn set_hints(&mut self, hints: &[SegEvent]) {
        self.hints.clear();
        self.hints.extend_from_slice(hints);
        self.hints_used.clear();
        self.hints_used.resize(hints.len(), false);
    }

    /// Whether `[addr, addr+size)` overlaps a live address range.
    pub(super) fn overlaps(&self, addr: u64, size: u64) -> bool {
        let end = addr.saturating_add(size);
        self.ranges
            .range(..end)
            .next_back()
            .is_some_and(|(_, &e)| e > addr)
    }

    /// An address for a new range of `size` bytes: the recording's, when it made the same
    /// kind of call and the range is free in the model, else a fresh synthetic one above
    /// every recorded address. A `cudaMalloc` (`exact_size`) must match the recorded size
    /// and fit; an expandable reservation (`!exact_size`) only has to start outside every
    /// live range, since only its mapped part is known (it grows in `map_block`).
    pub(super) fn place_range(&mut self, kind: SegKind, size: u64, exact_size: bool) -> u64 {
        let span = if exact_size { size } else { 1 };
        for k in 0..self.hints.len() {
            let h = self.hints[k];
            if self.hints_used[k] || h.kind != kind || (exact_size && h.size != size) {
                continue;
            }
            if !self.overlaps(h.addr, span) {
                self.hints_used[k] = true;
                self.ranges.insert(h.addr, h.addr + span);
                return h.addr;
            }
        }
        let addr = self.synthetic_next;
        self.synthetic_next = (addr + size).div_ceil(1 << 30) * (1 << 30) + (1 << 30);
        self.ranges.insert(addr, addr + span);
        addr
    }

    // ------------------------------------------------------------------ malloc

    /// Serves a request of `orig_size` bytes on `stream`. Returns the block, or `None` for an
    /// OOM (after the same releases and retries PyTorch makes).
    pub fn malloc(&mut self, orig_size: u64, stream: u64, owner: u32) -> Option<u32> {
        let size = self.settings.round_size(orig_size);
        let small = size <= SMALL_SIZE;
        let p = Params {
            size,
            stream,
            small,
            alloc_size: allocation_size(size),
        };
        let mut block = self.get_free_block(&p);
        if block.is_none() {
            if self.cap.is_some() && self.settings.garbage_collection_threshold > 0.0 {
                self.garbage_collect_cached_blocks();
            }
            block = self.alloc_block(&p, false);
            if block.is_none() && self.release_available_cached_blocks(&p) {
                block = self.alloc_block(&p, false);
            }
            if block.is_none() {
                self.release_cached_blocks();
                block = self.alloc_block(&p, true);
            }
        }
        let b = block?;
        let split = self.should_split(b, size);
        let block = self.alloc_found_block(&p, b, orig_size, split);
        self.blocks[block as usize].owner = owner;
        Some(block)
    }

    fn should_split(&self, b: u32, size: u64) -> bool {
        let blk = &self.blocks[b as usize];
        self.settings.should_split(
            blk.size,
            size,
            blk.small || self.settings.expandable_segments,
        )
    }

    fn get_free_block(&mut self, p: &Params) -> Option<u32> {
        let gc_on = self.cap.is_some() && self.settings.garbage_collection_threshold > 0.0;
        let max_split = self.settings.max_split();
        let rounding = self.settings.max_non_split_rounding;
        let expandable_on = self.settings.expandable_segments;
        let pool = if p.small {
            &mut self.small_pool
        } else {
            &mut self.large_pool
        };
        if gc_on {
            pool.get_free_blocks_call_count += 1;
        }
        let pool = if p.small {
            &self.small_pool
        } else {
            &self.large_pool
        };
        let blocks = &self.blocks;
        let mut it = pool.blocks.range((p.stream, p.size, 0, 0)..);
        let mut cur = *it.next()?;
        if cur.0 != p.stream {
            return None;
        }
        if blocks[cur.3 as usize].expandable != NIL {
            if expandable_on {
                // Best fit counts an expandable block with the unmapped space after it.
                let exp_size = |i: u32| {
                    let b = &blocks[i as usize];
                    b.size
                        + if b.next != NIL && !blocks[b.next as usize].mapped {
                            blocks[b.next as usize].size
                        } else {
                            0
                        }
                };
                for next in it {
                    if blocks[cur.3 as usize].expandable != NIL
                        && next.0 == p.stream
                        && exp_size(next.3) < exp_size(cur.3)
                    {
                        cur = *next;
                    } else {
                        break;
                    }
                }
            } else {
                // Expandable segments turned off: only plain blocks may serve.
                let found = it.find(|k| blocks[k.3 as usize].expandable == NIL || k.0 != p.stream);
                match found {
                    Some(k) if k.0 == p.stream => cur = *k,
                    _ => return None,
                }
            }
        }
        let bsize = cur.1;
        // Do not return an oversized block for a large request.
        if p.size < max_split && bsize >= max_split {
            return None;
        }
        // Allow an oversized block to be rounded up, but within a limit.
        if p.size >= max_split && bsize >= p.size + rounding {
            return None;
        }
        let small = p.small;
        self.pool(small).blocks.remove(&cur);
        Some(cur.3)
    }

    fn alloc_block(&mut self, p: &Params, is_retry: bool) -> Option<u32> {
        if is_retry {
            self.num_alloc_retries += 1;
        }
        let size = p.alloc_size;
        if let Some(cap) = self.cap {
            if self.c.reserved.saturating_add(size) > cap {
                return None;
            }
        }
        if self.settings.expandable_segments {
            return self.try_allocate_expandable_block(p);
        }
        if self.c.reserved.saturating_add(size) > self.device_total {
            return None;
        }
        let addr = self.place_range(SegKind::SegmentAlloc, size, true);
        self.c.reserved += size;
        let b = self.new_block(Block::free(addr, size, p.stream, p.small));
        self.record(SegKind::SegmentAlloc, addr, size);
        Some(b)
    }

    fn alloc_found_block(&mut self, p: &Params, b: u32, orig_size: u64, split: bool) -> u32 {
        let size = p.size;
        let already_split = self.blocks[b as usize].is_split();
        let expandable = self.blocks[b as usize].expandable != NIL;
        let mut block = b;
        if split {
            let remaining = b;
            block = self.link_before(remaining, size, p.stream);
            {
                let rb = &mut self.blocks[remaining as usize];
                rb.addr += size;
                rb.size -= size;
            }
            self.insert_into_blocks(remaining);
            if !expandable {
                if already_split {
                    // An already-split inactive block is being shrunk by size bytes.
                    self.c.inactive_split -= size;
                } else {
                    // A new split inactive block is created from an unsplit one.
                    self.c.inactive_split += self.blocks[remaining as usize].size;
                }
            }
        } else if already_split && !expandable {
            self.c.inactive_split -= self.blocks[b as usize].size;
        }
        let blk = &mut self.blocks[block as usize];
        blk.allocated = true;
        blk.pending = false;
        blk.requested = orig_size;
        let bsize = blk.size;
        self.c.allocated += bsize;
        self.c.active += bsize;
        self.c.requested += orig_size;
        block
    }

    // ------------------------------------------------------------------ free

    /// The program freed block `b` (`free_requested`): it stays unusable until completed.
    pub fn free_requested(&mut self, b: u32) {
        let blk = &mut self.blocks[b as usize];
        if blk.allocated {
            blk.allocated = false;
            blk.pending = true;
            self.c.allocated -= blk.size;
            self.pending.insert(b);
        }
    }

    /// `free_block`: block `b` returns to its pool, merged with free neighbours.
    pub fn free_block(&mut self, b: u32) {
        if self.blocks[b as usize].allocated {
            self.free_requested(b);
        }
        let (orig_size, requested, prev, next, expandable) = {
            let blk = &mut self.blocks[b as usize];
            blk.pending = false;
            blk.owner = NIL;
            (blk.size, blk.requested, blk.prev, blk.next, blk.expandable)
        };
        self.pending.remove(&b);
        let mut net_size: i64 = 0;
        for cand in [prev, next] {
            let subsumed = self.try_merge_blocks(b, cand);
            if subsumed > 0 {
                net_size -= subsumed as i64;
            }
        }
        self.insert_into_blocks(b);
        if self.blocks[b as usize].is_split() {
            net_size += self.blocks[b as usize].size as i64;
        }
        if expandable == NIL {
            self.c.inactive_split = (self.c.inactive_split as i64 + net_size) as u64;
        }
        self.c.active -= orig_size;
        self.c.requested -= requested;
        self.blocks[b as usize].requested = 0;
    }

    /// `try_merge_blocks`: merges free block `src` into `dst`; returns the bytes subsumed.
    pub(super) fn try_merge_blocks(&mut self, dst: u32, src: u32) -> u64 {
        if src == NIL {
            return 0;
        }
        let s = self.blocks[src as usize].clone();
        if s.allocated || s.pending || s.mapped != self.blocks[dst as usize].mapped {
            return 0;
        }
        // A free block sits in `blocks` (mapped) or `unmapped`; an active one in neither.
        let in_pool = if s.mapped {
            let key = self.size_key(src);
            self.pool(s.small).blocks.contains(&key)
        } else {
            true
        };
        if !in_pool {
            return 0;
        }
        if self.blocks[dst as usize].prev == src {
            let d = &mut self.blocks[dst as usize];
            d.addr = s.addr;
            d.prev = s.prev;
            if s.prev != NIL {
                self.blocks[s.prev as usize].next = dst;
            }
        } else {
            self.blocks[dst as usize].next = s.next;
            if s.next != NIL {
                self.blocks[s.next as usize].prev = dst;
            }
        }
        self.blocks[dst as usize].size += s.size;
        if s.mapped {
            self.pool(s.small)
                .blocks
                .remove(&(s.stream, s.size, s.addr, src));
        } else {
            self.pool(s.small).unmapped.remove(&(s.stream, s.addr, src));
        }
        self.delete_block(src);
        s.size
    }

    /// `synchronize_and_free_events`: every block waiting on other streams completes now.
    fn synchronize_and_free_events(&mut self) {
        let pending: Vec<u32> = self.pending.iter().copied().collect();
        for b in pending {
            let owner = self.blocks[b as usize].owner;
            self.free_block(b);
            self.completed_early.push(owner);
        }
    }

    // ------------------------------------------------------------------ releasing

    /// `release_block`: `cudaFree` of a whole unsplit cached segment.
    pub(super) fn release_block(&mut self, b: u32) {
        let blk = self.blocks[b as usize].clone();
        self.record(SegKind::SegmentFree, blk.addr, blk.size);
        self.c.reserved -= blk.size;
        self.ranges.remove(&blk.addr);
        self.pool(blk.small)
            .blocks
            .remove(&(blk.stream, blk.size, blk.addr, b));
        self.delete_block(b);
    }

    /// `release_available_cached_blocks`: with `max_split_size` set, frees oversize cached
    /// blocks, only as many as the request needs.
    fn release_available_cached_blocks(&mut self, p: &Params) -> bool {
        let max_split = self.settings.max_split();
        if max_split == u64::MAX {
            return false;
        }
        let key_size = p.size.max(max_split);
        let pool = if p.small {
            &self.small_pool
        } else {
            &self.large_pool
        };
        let found = pool
            .blocks
            .range((p.stream, key_size, 0, 0)..)
            .next()
            .copied();
        match found {
            Some(k) if k.0 == p.stream => {
                if !self.releasable(k.3) {
                    return false;
                }
                self.release_block(k.3);
                true
            }
            _ => {
                // No single block is large enough: free oversize blocks, largest first.
                let candidates: Vec<SizeKey> = pool
                    .blocks
                    .range(..(p.stream, key_size, 0, 0))
                    .rev()
                    .take_while(|k| k.1 >= max_split && k.0 == p.stream)
                    .copied()
                    .collect();
                let mut released = 0;
                for k in candidates {
                    if released >= key_size {
                        break;
                    }
                    if !self.releasable(k.3) {
                        break;
                    }
                    released += k.1;
                    self.release_block(k.3);
                }
                released >= key_size
            }
        }
    }

    /// A cached block `cudaFree` can take: a whole, plain segment.
    fn releasable(&self, b: u32) -> bool {
        let blk = &self.blocks[b as usize];
        blk.expandable == NIL && !blk.is_split()
    }

    /// `release_cached_blocks` (`empty_cache`, and the last resort before an OOM): frees
    /// every unsplit cached segment and unmaps the free pages of expandable segments.
    pub fn release_cached_blocks(&mut self) {
        self.synchronize_and_free_events();
        self.release_blocks(false);
        self.release_blocks(true);
    }

    fn release_blocks(&mut self, small: bool) {
        let keys: Vec<SizeKey> = self.pool(small).blocks.iter().copied().collect();
        let mut to_unmap = Vec::new();
        for k in keys {
            let b = &self.blocks[k.3 as usize];
            if b.expandable != NIL {
                to_unmap.push(k.3);
            } else if !b.is_split() {
                self.release_block(k.3);
            }
        }
        for b in to_unmap {
            self.unmap_block(b);
        }
    }

    /// `garbage_collect_cached_blocks`: above `garbage_collection_threshold` of the cap,
    /// frees unsplit cached large blocks older than average until enough is reclaimed.
    fn garbage_collect_cached_blocks(&mut self) {
        let Some(cap) = self.cap else { return };
        let threshold = (self.settings.garbage_collection_threshold * cap as f64) as u64;
        if self.c.reserved <= threshold {
            return;
        }
        let target = self.c.reserved - threshold;
        let count = self.large_pool.get_free_blocks_call_count;
        let age = |s: &Self, i: u32| (count - s.blocks[i as usize].gc_base) as f64;
        let mut total_age = 0.0;
        let mut freeable = 0usize;
        for k in &self.large_pool.blocks {
            let b = &self.blocks[k.3 as usize];
            if !b.is_split() && b.expandable == NIL {
                total_age += age(self, k.3);
                freeable += 1;
            }
        }
        if freeable == 0 {
            return;
        }
        let mut reclaimed = 0u64;
        let mut freed = true;
        while reclaimed < target && freed && freeable > 0 {
            let threshold_age = total_age / freeable as f64;
            freed = false;
            let keys: Vec<SizeKey> = self.large_pool.blocks.iter().copied().collect();
            for k in keys {
                let b = &self.blocks[k.3 as usize];
                if !b.is_split() && b.expandable == NIL && age(self, k.3) >= threshold_age {
                    freed = true;
                    reclaimed += b.size;
                    total_age -= age(self, k.3);
                    freeable -= 1;
                    self.release_block(k.3);
                }
            }
        }
    }
}

/// A piece of a segment from before the trace: (address, size, `Some((id, requested,
/// allocated))` for an active block, `None` for a free one).
pub(super) type Piece = (u64, u64, Option<(u32, u64, bool)>);

impl Allocator {
    /// Lays out a segment that existed before the trace: `pieces` are (address, size,
    /// `Some((id, requested, allocated))` for an active block, `None` for a free one) in
    /// address order, covering the segment. Returns (id, block) of the active blocks.
    pub(super) fn seed_segment(
        &mut self,
        addr: u64,
        size: u64,
        stream: u64,
        expandable: bool,
        pieces: &[Piece],
    ) -> Vec<(u32, u32)> {
        let small = size <= 2 << 20 && !expandable;
        let seg = if expandable {
            let page = if small { 2 << 20 } else { LARGE_BUFFER };
            self.expandable.push(ExpandableSegment { base: addr, page });
            (self.expandable.len() - 1) as u32
        } else {
            NIL
        };
        let total = self.device_total;
        let va_end = if expandable {
            let page = self.expandable[seg as usize].page;
            addr + ((total + total / 8).div_ceil(page) * page).max(size)
        } else {
            addr + size
        };
        self.ranges.insert(addr, addr + size);
        self.c.reserved += size;
        let mut out = Vec::new();
        let mut prev = NIL;
        let mut ids = Vec::new();
        let split = pieces.len() > 1;
        for &(a, s, active) in pieces {
            let b = self.new_block(Block {
                prev,
                expandable: seg,
                ..Block::free(a, s, stream, small)
            });
            if prev != NIL {
                self.blocks[prev as usize].next = b;
            }
            prev = b;
            ids.push((b, active));
        }
        if expandable && va_end > addr + size {
            let tail = self.new_block(Block {
                prev,
                mapped: false,
                expandable: seg,
                ..Block::free(addr + size, va_end - addr - size, stream, small)
            });
            if prev != NIL {
                self.blocks[prev as usize].next = tail;
            }
            self.pool(small)
                .unmapped
                .insert((stream, addr + size, tail));
        }
        for (b, active) in ids {
            match active {
                Some((id, requested, allocated)) => {
                    let blk = &mut self.blocks[b as usize];
                    blk.requested = requested;
                    blk.owner = id;
                    self.c.active += blk.size;
                    self.c.requested += requested;
                    if allocated {
                        blk.allocated = true;
                        self.c.allocated += blk.size;
                    } else {
                        blk.pending = true;
                        self.pending.insert(b);
                    }
                    out.push((id, b));
                }
                None => {
                    self.insert_into_blocks(b);
                    if split && !expandable {
                        self.c.inactive_split += self.blocks[b as usize].size;
                    }
                }
            }
        }
        out
    }
}
