//! Exact replay of the CUDA caching allocator from a device trace.
//!
//! The allocator always merges a freed block with its free neighbours, so at any moment a
//! segment is fully described by its extent and its *active* blocks: the free blocks are the
//! maximal gaps between them. The replay therefore tracks segments and active blocks only, and
//! derives a block's size at `alloc` time from the gap it is carved from (rounded request, or
//! the whole gap when the remainder is too small to split — the rules in
//! `c10/cuda/CUDACachingAllocator.cpp`, `round_size` and `should_split`).
//!
//! When the trace does not start from an empty allocator (the ring buffer wrapped, or history
//! was enabled after tensors existed), the state at the first event is reconstructed from the
//! dump's `segments` (exact at the end) and from frees and segment releases of blocks the trace
//! never saw allocated.

use std::collections::BTreeMap;

use foldhash::HashSet;

pub use crate::allocator::Counters;
use crate::allocator::Settings;
use crate::model::{Action, BlockState, DeviceTrace, Event, Segment, StackId};

/// "No event": an allocation made before the trace starts, or still live at its end.
pub const NONE: u32 = u32::MAX;

/// Counters and fragmentation figures after every event, as parallel columns.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub allocated: Vec<u64>,
    pub active: Vec<u64>,
    pub requested: Vec<u64>,
    pub reserved: Vec<u64>,
    pub inactive_split: Vec<u64>,
    /// The largest free block in any segment.
    pub largest_free: Vec<u64>,
    /// Number of segments (contiguous mapped ranges for expandable segments).
    pub segments: Vec<u32>,
}

impl Series {
    /// The counters after event `i`.
    pub fn at(&self, i: usize) -> Counters {
        Counters {
            allocated: self.allocated[i],
            active: self.active[i],
            requested: self.requested[i],
            reserved: self.reserved[i],
            inactive_split: self.inactive_split[i],
        }
    }

    pub fn len(&self) -> usize {
        self.allocated.len()
    }

    pub fn is_empty(&self) -> bool {
        self.allocated.is_empty()
    }
}

/// One block's life: the band a timeline draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allocation {
    pub addr: u64,
    /// Block size (what `allocated` counts).
    pub size: u64,
    /// Requested size (what `requested` counts).
    pub requested: u64,
    pub stream: u64,
    pub stack: StackId,
    /// Event index of the `alloc`, or [`NONE`] when it happened before the trace.
    pub alloc_event: u32,
    /// Event index of `free_requested`, or [`NONE`] when still allocated at the end.
    pub free_requested: u32,
    /// Event index of `free_completed`, or [`NONE`] when still active at the end.
    pub free_completed: u32,
    /// Whether the block size is an estimate (a block allocated before the trace and freed in
    /// it: only its requested size is recorded).
    pub size_estimated: bool,
}

impl Allocation {
    /// A block allocated before the trace began, still allocated until an event frees it.
    fn before_trace(addr: u64, size: u64, requested: u64, stream: u64, stack: StackId) -> Self {
        Allocation {
            addr,
            size,
            requested,
            stream,
            stack,
            alloc_event: NONE,
            free_requested: NONE,
            free_completed: NONE,
            size_estimated: false,
        }
    }

    /// Whether the block is allocated (not yet freed by the caller) after event `t`.
    pub fn allocated_at(&self, t: u32) -> bool {
        (self.alloc_event == NONE || self.alloc_event <= t)
            && (self.free_requested == NONE || self.free_requested > t)
    }

    /// Whether the block is allocated at a point: after event `t`, or (`None`) in the dump of a
    /// file without a trace, its only state.
    pub fn allocated_at_point(&self, t: Option<usize>) -> bool {
        match t {
            Some(t) => self.allocated_at(t as u32),
            None => self.free_requested == NONE,
        }
    }

    /// Whether the block is active (allocated or pending free) after event `t`.
    pub fn active_at(&self, t: u32) -> bool {
        (self.alloc_event == NONE || self.alloc_event <= t)
            && (self.free_completed == NONE || self.free_completed > t)
    }
}

/// One segment's life (for expandable segments: one mapped range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentSpan {
    pub addr: u64,
    pub size: u64,
    pub stream: u64,
    pub expandable: bool,
    pub stack: StackId,
    /// `segment_alloc`/`segment_map` event, or [`NONE`] before the trace.
    pub alloc_event: u32,
    /// `segment_free`/`segment_unmap` event, or [`NONE`] when still reserved at the end.
    pub free_event: u32,
}

impl SegmentSpan {
    /// A segment reserved before the trace began (still reserved until an event frees it).
    fn before_trace(addr: u64, size: u64, stream: u64, expandable: bool, stack: StackId) -> Self {
        SegmentSpan {
            addr,
            size,
            stream,
            expandable,
            stack,
            alloc_event: NONE,
            free_event: NONE,
        }
    }
}

/// Something in the trace that contradicts the replayed state (kept, counted, reported).
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub event: u32,
    pub what: String,
}

/// The result of replaying one device.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub series: Series,
    pub allocations: Vec<Allocation>,
    pub segments: Vec<SegmentSpan>,
    /// For each event, the allocation it concerns (alloc/free events), or [`NONE`].
    pub event_allocation: Vec<u32>,
    /// The state before the first event was empty (nothing allocated before the trace).
    pub starts_empty: bool,
    /// Blocks and segments that existed before the first event.
    pub initial: Counters,
    /// Index of the first event from which every counter is exact (0 when all are). Before
    /// it, blocks allocated before the trace with estimated sizes were still live.
    pub exact_from: u32,
    pub anomalies: Vec<Anomaly>,
}

#[derive(Debug, Clone)]
struct SegState {
    size: u64,
    expandable: bool,
    span: u32,
    active_bytes: u64,
    active_count: u32,
}

impl SegState {
    /// This segment's share of `inactive_split`: free bytes of a non-expandable segment
    /// holding more than one block.
    fn inactive_split(&self) -> u64 {
        let free = self.size.saturating_sub(self.active_bytes);
        if self.expandable || self.active_count == 0 || free == 0 {
            0
        } else {
            free
        }
    }
}

/// The live state while replaying.
struct State<'a> {
    rules: &'a Settings,
    segs: BTreeMap<u64, SegState>,
    /// Active blocks: addr → allocation index.
    blocks: BTreeMap<u64, u32>,
    /// Multiset of free block (gap) sizes.
    gaps: BTreeMap<u64, u32>,
    /// The largest key of `gaps` (0 when empty), kept as gaps come and go: it is recorded
    /// after every event.
    largest: u64,
    c: Counters,
    out: Replay,
}

impl<'a> State<'a> {
    fn new(rules: &'a Settings) -> State<'a> {
        State {
            rules,
            segs: BTreeMap::new(),
            blocks: BTreeMap::new(),
            gaps: BTreeMap::new(),
            largest: 0,
            c: Counters::default(),
            out: Replay::default(),
        }
    }

    fn gap_add(&mut self, size: u64) {
        if size > 0 {
            *self.gaps.entry(size).or_insert(0) += 1;
            self.largest = self.largest.max(size);
        }
    }

    fn gap_remove(&mut self, size: u64) {
        if size == 0 {
            return;
        }
        if let Some(n) = self.gaps.get_mut(&size) {
            *n -= 1;
            if *n == 0 {
                self.gaps.remove(&size);
                if size == self.largest {
                    self.largest = self.gaps.keys().next_back().copied().unwrap_or(0);
                }
            }
        }
    }

    /// The segment containing `addr`.
    fn seg_of(&self, addr: u64) -> Option<(u64, &SegState)> {
        self.segs
            .range(..=addr)
            .next_back()
            .filter(|(&a, s)| addr < a + s.size)
            .map(|(&a, s)| (a, s))
    }

    fn block_end(&self, idx: u32) -> u64 {
        let a = &self.out.allocations[idx as usize];
        a.addr + a.size
    }

    /// Gap sizes of segment `seg` (at `seg_addr`) within the window around `[lo, hi)`,
    /// extended to the nearest active blocks outside it.
    fn gaps_in_window(&self, seg_addr: u64, seg_size: u64, lo: u64, hi: u64) -> Vec<u64> {
        let seg_end = seg_addr + seg_size;
        // Window start: end of the last active block starting before lo (in this segment).
        let start = self
            .blocks
            .range(seg_addr..lo)
            .next_back()
            .map(|(_, &i)| self.block_end(i).max(seg_addr))
            .unwrap_or(seg_addr)
            .min(lo);
        let mut gaps = Vec::new();
        let mut cursor = start;
        for (&a, &i) in self.blocks.range(lo.min(seg_end)..seg_end) {
            if a > cursor {
                gaps.push(a - cursor);
            }
            cursor = cursor.max(self.block_end(i));
            if a >= hi {
                return gaps;
            }
        }
        if seg_end > cursor {
            gaps.push(seg_end - cursor);
        }
        gaps
    }

    fn apply_window<F: FnOnce(&mut Self)>(&mut self, seg_addr: u64, lo: u64, hi: u64, f: F) {
        let size = self.segs.get(&seg_addr).map(|s| s.size).unwrap_or(0);
        for g in self.gaps_in_window(seg_addr, size, lo, hi) {
            self.gap_remove(g);
        }
        f(self);
        let size = self.segs.get(&seg_addr).map(|s| s.size).unwrap_or(0);
        for g in self.gaps_in_window(seg_addr, size, lo, hi) {
            self.gap_add(g);
        }
    }

    fn update_seg<F: FnOnce(&mut SegState)>(&mut self, seg_addr: u64, f: F) {
        if let Some(s) = self.segs.get_mut(&seg_addr) {
            self.c.inactive_split -= s.inactive_split();
            f(s);
            self.c.inactive_split += s.inactive_split();
        }
    }

    fn add_segment(&mut self, addr: u64, size: u64, expandable: bool, span: u32) {
        let seg = SegState {
            size,
            expandable,
            span,
            active_bytes: 0,
            active_count: 0,
        };
        self.c.inactive_split += seg.inactive_split();
        self.segs.insert(addr, seg);
        self.gap_add(size);
    }

    /// Removes a whole segment, with whatever gaps it has.
    fn remove_segment(&mut self, addr: u64) -> Option<SegState> {
        let size = self.segs.get(&addr)?.size;
        for g in self.gaps_in_window(addr, size, addr, addr + size) {
            self.gap_remove(g);
        }
        let seg = self.segs.remove(&addr)?;
        self.c.inactive_split -= seg.inactive_split();
        Some(seg)
    }

    /// The free space around `addr` in the segment `[seg_addr, seg_end)`: where the last
    /// active block starting before `addr` ends (the segment's start when none), and where the
    /// first one starting at or after `from` begins (the segment's end when none).
    fn free_around(&self, seg_addr: u64, seg_end: u64, addr: u64, from: u64) -> (u64, u64) {
        let before = match self.blocks.range(seg_addr..addr).next_back() {
            Some((_, &i)) => self.block_end(i),
            None => seg_addr,
        };
        let after = self
            .blocks
            .range(from.min(seg_end)..seg_end)
            .next()
            .map_or(seg_end, |(&a, _)| a);
        (before, after)
    }

    /// Activates allocation `idx` (already pushed) in the layout.
    ///
    /// In a consistent trace a block lands in one free gap, which it splits in two: two
    /// lookups, where the general window (for blocks that overlap others) takes four.
    fn place_block(&mut self, idx: u32) {
        let a = self.out.allocations[idx as usize];
        let Some((seg_addr, seg)) = self.seg_of(a.addr) else {
            self.blocks.insert(a.addr, idx);
            return;
        };
        let (lo, hi) = (a.addr, a.addr + a.size);
        let (before, after) = self.free_around(seg_addr, seg_addr + seg.size, lo, lo);
        if before <= lo && hi <= after && lo < hi {
            self.gap_remove(after - before);
            self.gap_add(lo - before);
            self.gap_add(after - hi);
            self.blocks.insert(lo, idx);
        } else {
            self.apply_window(seg_addr, lo, hi, |st| {
                st.blocks.insert(lo, idx);
            });
        }
        self.update_seg(seg_addr, |s| {
            s.active_bytes += a.size;
            s.active_count += 1;
        });
    }

    /// Deactivates the block at `addr` (free_completed), merging its space into the gaps
    /// (in a consistent trace, the gaps on either side: see [`State::place_block`]).
    fn release_block(&mut self, addr: u64) -> Option<u32> {
        let idx = *self.blocks.get(&addr)?;
        let a = self.out.allocations[idx as usize];
        match self.seg_of(addr).map(|(s, seg)| (s, seg.size)) {
            Some((seg_addr, seg_size)) => {
                let (lo, hi) = (addr, addr + a.size);
                let (before, after) =
                    self.free_around(seg_addr, seg_addr + seg_size, lo, lo.saturating_add(1));
                if before <= lo && hi <= after && lo < hi {
                    self.gap_remove(lo - before);
                    self.gap_remove(after - hi);
                    self.gap_add(after - before);
                    self.blocks.remove(&addr);
                } else {
                    self.apply_window(seg_addr, lo, hi, |st| {
                        st.blocks.remove(&addr);
                    });
                }
                self.update_seg(seg_addr, |s| {
                    s.active_bytes = s.active_bytes.saturating_sub(a.size);
                    s.active_count = s.active_count.saturating_sub(1);
                });
            }
            None => {
                self.blocks.remove(&addr);
            }
        }
        Some(idx)
    }

    /// Size of the free gap starting at `addr` (0 if `addr` is not at a gap's start).
    fn gap_at(&self, addr: u64) -> Option<u64> {
        let (seg_addr, seg) = self.seg_of(addr)?;
        let seg_end = seg_addr + seg.size;
        if let Some((_, &i)) = self.blocks.range(seg_addr..=addr).next_back() {
            if self.block_end(i) > addr {
                return None; // inside an active block
            }
        }
        let next = self
            .blocks
            .range(addr + 1..seg_end)
            .next()
            .map(|(&a, _)| a)
            .unwrap_or(seg_end);
        Some(next - addr)
    }

    fn anomaly(&mut self, event: u32, what: String) {
        if self.out.anomalies.len() < 1000 {
            self.out.anomalies.push(Anomaly { event, what });
        }
    }

    fn record(&mut self) {
        let largest = self.largest;
        let nsegs = self.segs.len() as u32;
        let s = &mut self.out.series;
        s.allocated.push(self.c.allocated);
        s.active.push(self.c.active);
        s.requested.push(self.c.requested);
        s.reserved.push(self.c.reserved);
        s.inactive_split.push(self.c.inactive_split);
        s.largest_free.push(largest);
        s.segments.push(nsegs);
    }

    /// Ends the mapped spans that `[a, b)` unmaps at event `i`. An unmap may cover several
    /// earlier maps or part of one; the parts of a span left mapped continue as new spans from
    /// `i`, so the layout at any event covers exactly the mapped pages.
    fn close_mapped_spans(&mut self, i: u32, a: u64, b: u64) {
        let mut rest = Vec::new();
        for s in self.out.segments.iter_mut() {
            let end = s.addr + s.size;
            if !s.expandable || s.free_event != NONE || end <= a || s.addr >= b {
                continue;
            }
            s.free_event = i;
            for (lo, hi) in [(s.addr, a), (b, end)] {
                if lo < hi {
                    rest.push(SegmentSpan {
                        addr: lo,
                        size: hi - lo,
                        alloc_event: i,
                        free_event: NONE,
                        ..*s
                    });
                }
            }
        }
        self.out.segments.extend(rest);
    }

    fn segment_alloc(&mut self, i: u32, e: &Event, expandable: bool) {
        self.open_segment(SegmentSpan {
            alloc_event: i,
            ..SegmentSpan::before_trace(e.addr, e.size, e.stream, expandable, e.stack)
        });
    }

    /// Records a new block and places it in its segment; returns its index.
    fn open_block(&mut self, a: Allocation) -> u32 {
        let idx = self.out.allocations.len() as u32;
        self.out.allocations.push(a);
        self.place_block(idx);
        idx
    }

    /// Reserves a new segment (or maps a range of an expandable one).
    fn open_segment(&mut self, span: SegmentSpan) {
        let index = self.out.segments.len() as u32;
        self.out.segments.push(span);
        self.c.reserved += span.size;
        if span.expandable {
            self.map_range(span.addr, span.size, index);
        } else {
            self.add_segment(span.addr, span.size, false, index);
        }
    }

    /// Maps `[addr, addr+size)` into an expandable segment, joining adjacent mapped ranges.
    fn map_range(&mut self, addr: u64, size: u64, span: u32) {
        let mut start = addr;
        let mut end = addr + size;
        // Join a range that ends at `addr` and one that starts at `end`.
        let before = self
            .segs
            .range(..addr)
            .next_back()
            .filter(|(&a, s)| s.expandable && a + s.size == addr)
            .map(|(&a, _)| a);
        let after = self.segs.get(&end).filter(|s| s.expandable).map(|_| end);
        let mut active_bytes = 0;
        let mut active_count = 0;
        if let Some(b) = before {
            if let Some(s) = self.remove_segment(b) {
                start = b;
                active_bytes += s.active_bytes;
                active_count += s.active_count;
            }
        }
        if let Some(a) = after {
            if let Some(s) = self.remove_segment(a) {
                end = a + s.size;
                active_bytes += s.active_bytes;
                active_count += s.active_count;
            }
        }
        self.segs.insert(
            start,
            SegState {
                size: end - start,
                expandable: true,
                span,
                active_bytes,
                active_count,
            },
        );
        for g in self.gaps_in_window(start, end - start, start, end) {
            self.gap_add(g);
        }
    }

    /// Unmaps `[addr, addr+size)` from the expandable segment containing it.
    fn unmap_range(&mut self, i: u32, addr: u64, size: u64) -> bool {
        let Some((seg_addr, _)) = self.seg_of(addr) else {
            return false;
        };
        let Some(seg) = self.remove_segment(seg_addr) else {
            return false;
        };
        let seg_end = seg_addr + seg.size;
        let end = (addr + size).min(seg_end);
        if self.blocks.range(addr..end).next().is_some() {
            self.anomaly(
                i,
                format!("segment_unmap of 0x{addr:x} while blocks are active there"),
            );
        }
        for (lo, hi) in [(seg_addr, addr), (end, seg_end)] {
            if hi > lo {
                let (mut bytes, mut count) = (0, 0);
                for (_, &b) in self.blocks.range(lo..hi) {
                    bytes += self.out.allocations[b as usize].size;
                    count += 1;
                }
                self.segs.insert(
                    lo,
                    SegState {
                        size: hi - lo,
                        expandable: true,
                        span: seg.span,
                        active_bytes: bytes,
                        active_count: count,
                    },
                );
                for g in self.gaps_in_window(lo, hi - lo, lo, hi) {
                    self.gap_add(g);
                }
            }
        }
        true
    }
}

/// Pre-scan: which addresses the trace frees (or releases) without having allocated them,
/// i.e. what must have existed before the first event.
struct Prescan {
    /// addr → (requested size, stack, stream) of blocks freed before any in-trace alloc.
    pre_blocks: Vec<(u64, u64, StackId, u64, bool)>,
    /// Segments released before any in-trace allocation of them: (addr, size, expandable, stream).
    pre_segments: Vec<(u64, u64, bool, u64)>,
    /// Addresses with an in-trace alloc (so a dump block there is not pre-existing).
    allocated_addrs: HashSet<u64>,
    segment_addrs: HashSet<u64>,
}

/// Finds what existed before the first event, in one pass over every event with a few set
/// operations each (the sets hash addresses with foldhash: std's DoS-resistant hasher would
/// make hashing most of the pass).
fn prescan(events: &[Event]) -> Prescan {
    let mut live: HashSet<u64> = HashSet::default();
    let mut pending: HashSet<u64> = HashSet::default();
    let mut seen_alloc: HashSet<u64> = HashSet::default();
    let mut pre_blocks = Vec::new();
    let mut segs_alloc: HashSet<u64> = HashSet::default();
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    let mut pre_segments = Vec::new();
    for e in events {
        match e.action {
            Action::Alloc => {
                live.insert(e.addr);
                seen_alloc.insert(e.addr);
            }
            Action::FreeRequested => {
                // Allocated before the trace, unless the trace allocated at this address
                // already (then it is a second free, which the replay reports).
                if !live.remove(&e.addr)
                    && !pending.contains(&e.addr)
                    && !seen_alloc.contains(&e.addr)
                {
                    pre_blocks.push((e.addr, e.size, e.stack, e.stream, false));
                }
                pending.insert(e.addr);
            }
            // Freed (requested) before the trace, completed inside it.
            Action::FreeCompleted if !pending.remove(&e.addr) => {
                if live.remove(&e.addr) || seen_alloc.contains(&e.addr) {
                    continue;
                }
                pre_blocks.push((e.addr, e.size, e.stack, e.stream, true));
            }
            Action::SegmentAlloc => {
                segs_alloc.insert(e.addr);
            }
            Action::SegmentFree if !segs_alloc.remove(&e.addr) => {
                pre_segments.push((e.addr, e.size, false, e.stream));
            }
            Action::SegmentMap => mapped.push((e.addr, e.addr.saturating_add(e.size))),
            Action::SegmentUnmap => {
                let (a, b) = (e.addr, e.addr.saturating_add(e.size));
                // Covered by ranges mapped in the trace?
                let covered: u64 = mapped
                    .iter()
                    .map(|&(x, y)| y.min(b).saturating_sub(x.max(a)))
                    .sum();
                if covered < b - a {
                    pre_segments.push((a, b - a, true, e.stream));
                }
                // Remove the unmapped part from the mapped list.
                mapped = subtract(&mapped, (a, b));
            }
            _ => {}
        }
    }
    Prescan {
        pre_blocks,
        pre_segments,
        allocated_addrs: seen_alloc,
        segment_addrs: segs_alloc,
    }
}

/// The half-open ranges `ranges` less `[x, y)` (also used by the what-if model).
pub(crate) fn subtract(ranges: &[(u64, u64)], (x, y): (u64, u64)) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    for &(a, b) in ranges {
        if b <= x || a >= y {
            out.push((a, b));
        } else {
            if a < x {
                out.push((a, x));
            }
            if b > y {
                out.push((y, b));
            }
        }
    }
    out
}

/// No device has this much memory (1 PiB): a size beyond it is damage, not data.
pub const MAX_PLAUSIBLE_SIZE: u64 = 1 << 50;

/// Why a block or segment event cannot be real, or `None`.
fn implausible(e: &Event) -> Option<String> {
    let sized = matches!(
        e.action,
        Action::Alloc
            | Action::SegmentAlloc
            | Action::SegmentMap
            | Action::SegmentUnmap
            | Action::SegmentFree
    );
    if !sized {
        return None;
    }
    let name = e.action.name().unwrap_or("event");
    if e.size > MAX_PLAUSIBLE_SIZE {
        Some(format!(
            "{name} of {} bytes, more than any device holds",
            e.size
        ))
    } else if e.addr.checked_add(e.size).is_none() {
        Some(format!(
            "{name} at 0x{:x} runs past the end of the address space",
            e.addr
        ))
    } else {
        None
    }
}

/// Replays one device's trace. `dump_segments` are this device's segments at dump time.
pub fn replay(trace: &DeviceTrace, dump_segments: &[&Segment], rules: &Settings) -> Replay {
    let events = &trace.events;
    let mut st = State::new(rules);
    st.out.event_allocation = vec![NONE; events.len()];
    st.out.series.allocated.reserve(events.len());

    reconstruct_initial(&mut st, events, dump_segments);
    st.out.initial = st.c;
    st.out.starts_empty = st.segs.is_empty() && st.blocks.is_empty();

    for (i, e) in events.iter().enumerate() {
        let i = i as u32;
        if let Some(what) = implausible(e) {
            // Applying it would make every later figure wrong (or overflow): keep the state,
            // say so.
            st.anomaly(i, what);
            st.record();
            continue;
        }
        match e.action {
            Action::SegmentAlloc | Action::SegmentMap if st.seg_of(e.addr).is_some() => {
                st.anomaly(
                    i,
                    format!(
                        "{} at 0x{:x}, inside memory already reserved",
                        e.action.name().unwrap_or("segment_alloc"),
                        e.addr
                    ),
                );
            }
            Action::SegmentAlloc => st.segment_alloc(i, e, false),
            Action::SegmentMap => st.segment_alloc(i, e, true),
            Action::SegmentFree => match st.remove_segment(e.addr) {
                Some(seg) => {
                    st.c.reserved = st.c.reserved.saturating_sub(seg.size);
                    if let Some(span) = st.out.segments.get_mut(seg.span as usize) {
                        span.free_event = i;
                    }
                }
                None => st.anomaly(i, format!("segment_free of unknown segment 0x{:x}", e.addr)),
            },
            Action::SegmentUnmap => {
                if st.unmap_range(i, e.addr, e.size) {
                    st.c.reserved = st.c.reserved.saturating_sub(e.size);
                    st.close_mapped_spans(i, e.addr, e.addr + e.size);
                } else {
                    st.anomaly(i, format!("segment_unmap of unmapped range 0x{:x}", e.addr));
                }
            }
            Action::Alloc => {
                let rounded = rules.round_size(e.size);
                let (size, expandable) = match st.seg_of(e.addr) {
                    Some((_, seg)) => {
                        let expandable = seg.expandable;
                        match st.gap_at(e.addr) {
                            Some(gap) if gap >= rounded => {
                                if rules.should_split(gap, rounded, expandable) {
                                    (rounded, expandable)
                                } else {
                                    (gap, expandable)
                                }
                            }
                            _ => {
                                st.anomaly(
                                    i,
                                    format!("alloc at 0x{:x} does not fit a free block", e.addr),
                                );
                                (rounded, expandable)
                            }
                        }
                    }
                    None => {
                        st.anomaly(i, format!("alloc at 0x{:x} outside every segment", e.addr));
                        (rounded, false)
                    }
                };
                let _ = expandable;
                let idx = st.open_block(Allocation {
                    alloc_event: i,
                    ..Allocation::before_trace(e.addr, size, e.size, e.stream, e.stack)
                });
                st.c.allocated += size;
                st.c.active += size;
                st.c.requested += e.size;
                st.out.event_allocation[i as usize] = idx;
            }
            Action::FreeRequested => match st.blocks.get(&e.addr).copied() {
                Some(idx) => {
                    let a = &mut st.out.allocations[idx as usize];
                    if a.free_requested == NONE {
                        a.free_requested = i;
                        let size = a.size;
                        st.c.allocated = st.c.allocated.saturating_sub(size);
                    } else {
                        let first = a.free_requested;
                        st.anomaly(
                            i,
                            format!(
                                "free_requested of block 0x{:x}, already freed at event {first}",
                                e.addr
                            ),
                        );
                    }
                    st.out.event_allocation[i as usize] = idx;
                }
                None => st.anomaly(i, format!("free_requested of unknown block 0x{:x}", e.addr)),
            },
            Action::FreeCompleted => match st.release_block(e.addr) {
                Some(idx) => {
                    let a = &mut st.out.allocations[idx as usize];
                    a.free_completed = i;
                    if a.free_requested == NONE {
                        // A free_completed without free_requested: count both.
                        a.free_requested = i;
                        st.c.allocated = st.c.allocated.saturating_sub(a.size);
                    }
                    let (size, req) = (a.size, a.requested);
                    st.c.active = st.c.active.saturating_sub(size);
                    st.c.requested = st.c.requested.saturating_sub(req);
                    st.out.event_allocation[i as usize] = idx;
                }
                None => st.anomaly(i, format!("free_completed of unknown block 0x{:x}", e.addr)),
            },
            Action::Snapshot | Action::Oom | Action::Other(_) => {}
        }
        st.record();
    }

    // Counters are exact from the event after the last estimated block is gone.
    let mut exact_from = 0u32;
    for a in &st.out.allocations {
        if a.size_estimated {
            let end = a.free_completed.max(a.free_requested);
            if end != NONE {
                exact_from = exact_from.max(end + 1);
            }
        }
    }
    st.out.exact_from = exact_from;
    st.out
}

/// Builds the state before the first event from the dump's segments and the prescan.
fn reconstruct_initial(st: &mut State, events: &[Event], dump: &[&Segment]) {
    let pre = prescan(events);
    if pre.pre_blocks.is_empty() && pre.pre_segments.is_empty() && dump.is_empty() {
        return;
    }
    // Segments: those at dump time not allocated/mapped in the trace, plus those the trace
    // releases without having allocated them.
    let mut mapped_in_trace: Vec<(u64, u64)> = Vec::new();
    for e in events {
        if e.action == Action::SegmentMap {
            mapped_in_trace.push((e.addr, e.addr.saturating_add(e.size)));
        }
    }
    for s in dump {
        if s.is_expandable {
            // Parts of the range not mapped inside the trace existed before it.
            let mut parts = vec![(s.address, s.address.saturating_add(s.total_size))];
            for &range in &mapped_in_trace {
                parts = subtract(&parts, range);
            }
            for (a, b) in parts {
                st.open_segment(SegmentSpan::before_trace(a, b - a, s.stream, true, s.stack));
            }
        } else if !pre.segment_addrs.contains(&s.address) {
            st.open_segment(SegmentSpan::before_trace(
                s.address,
                s.total_size,
                s.stream,
                false,
                s.stack,
            ));
        }
    }
    for &(addr, size, expandable, stream) in &pre.pre_segments {
        if st.seg_of(addr).is_none() {
            st.open_segment(SegmentSpan::before_trace(addr, size, stream, expandable, 0));
        }
    }
    // Blocks: those at dump time that the trace never allocated, plus those it frees without
    // having allocated them.
    for s in dump {
        for b in &s.blocks {
            let active = matches!(
                b.state,
                BlockState::ActiveAllocated | BlockState::ActivePendingFree
            );
            if !active || pre.allocated_addrs.contains(&b.address) {
                continue;
            }
            let pending = b.state == BlockState::ActivePendingFree;
            pre_block(
                st,
                b.address,
                b.size,
                b.requested_size,
                s.stream,
                b.stack,
                false,
                pending,
            );
        }
    }
    for &(addr, requested, stack, stream, already_requested) in &pre.pre_blocks {
        if st.blocks.contains_key(&addr) {
            continue;
        }
        let size = st.rules.round_size(requested);
        pre_block(
            st,
            addr,
            size,
            requested,
            stream,
            stack,
            true,
            already_requested,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn pre_block(
    st: &mut State,
    addr: u64,
    size: u64,
    requested: u64,
    stream: u64,
    stack: StackId,
    estimated: bool,
    pending_free: bool,
) {
    let idx = st.open_block(Allocation {
        size_estimated: estimated,
        ..Allocation::before_trace(addr, size, requested, stream, stack)
    });
    st.c.active += size;
    st.c.requested += requested;
    if !pending_free {
        st.c.allocated += size;
    } else {
        // Freed by the caller before the trace; mark so a later free_requested is not counted.
        st.out.allocations[idx as usize].free_requested = 0;
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
