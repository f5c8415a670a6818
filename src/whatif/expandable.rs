//! Expandable segments (`expandable_segments:True`): one large reservation of address space
//! per stream and pool, into which physical pages (2 MiB for the small pool, 20 MiB for the
//! large pool) are mapped as the program needs them, and from which free pages are unmapped
//! when cached memory is released. Follows `find_expandable_block`, `map_block`,
//! `try_allocate_expandable_block` and `unmap_block` of CUDACachingAllocator.cpp.

use super::allocator::{Allocator, Block, ExpandableSegment, Params};
use super::requests::{SegKind, NIL};
use crate::allocator::LARGE_BUFFER;

/// Page size of the small pool's expandable segments (`kSmallBuffer`).
const SMALL_PAGE: u64 = 2 << 20;

impl ExpandableSegment {
    fn left(&self, p: u64) -> u64 {
        (p - self.base) / self.page
    }
    fn right(&self, p: u64) -> u64 {
        (p - self.base).div_ceil(self.page)
    }
    fn addr(&self, page: u64) -> u64 {
        self.base + page * self.page
    }
}

impl Allocator {
    /// Whether block `b` can take part in a new mapping (free, not waiting on a stream).
    fn allocatable(&self, b: u32) -> bool {
        b != NIL && {
            let blk = &self.blocks[b as usize];
            !blk.allocated && !blk.pending
        }
    }

    /// `find_expandable_block`: the lowest address in an existing segment of this stream and
    /// pool where free and unmapped blocks together hold `size` bytes; else a new segment.
    fn find_expandable_block(&mut self, p: &Params) -> u32 {
        let candidates: Vec<u32> = {
            let pool = if p.small {
                &self.small_pool
            } else {
                &self.large_pool
            };
            pool.unmapped
                .range((p.stream, 0, 0)..)
                .take_while(|k| k.0 == p.stream)
                .map(|k| k.2)
                .collect()
        };
        for mut c in candidates {
            let prev = self.blocks[c as usize].prev;
            if self.allocatable(prev) {
                c = prev;
            }
            let mut bytes = 0;
            let mut b = c;
            while bytes < p.size && self.allocatable(b) {
                bytes += self.blocks[b as usize].size;
                b = self.blocks[b as usize].next;
            }
            if bytes >= p.size {
                return c;
            }
        }
        // A new reservation: 1 1/8 of the device's memory, in pages.
        let page = if p.small { SMALL_PAGE } else { LARGE_BUFFER };
        let total = self.device_total;
        let va_size = (total + total / 8).div_ceil(page) * page;
        let base = self.place_range(SegKind::SegmentMap, va_size, false);
        let seg = self.expandable.len() as u32;
        self.expandable.push(ExpandableSegment { base, page });
        let b = self.new_block(Block {
            mapped: false,
            expandable: seg,
            ..Block::free(base, va_size, p.stream, p.small)
        });
        self.pool(p.small).unmapped.insert((p.stream, base, b));
        b
    }

    /// `map_block`: maps the pages under the first `size` bytes of unmapped block `b`.
    fn map_block(&mut self, b: u32, size: u64) -> bool {
        let blk = self.blocks[b as usize].clone();
        let seg = self.expandable[blk.expandable as usize].clone();
        let begin = seg.left(blk.addr);
        let end = seg.right(blk.addr + size);
        let mapped = (end - begin) * seg.page;
        // cuMemCreate fails past the device's physical memory.
        if self.c.reserved.saturating_add(mapped) > self.device_total {
            return false;
        }
        let start = seg.addr(begin);
        self.pool(blk.small)
            .unmapped
            .remove(&(blk.stream, blk.addr, b));
        self.blocks[b as usize].mapped = true;
        if mapped < blk.size {
            let rem = self.new_block(Block {
                prev: b,
                next: blk.next,
                mapped: false,
                expandable: blk.expandable,
                ..Block::free(start + mapped, blk.size - mapped, blk.stream, blk.small)
            });
            if blk.next != NIL {
                self.blocks[blk.next as usize].prev = rem;
            }
            self.blocks[b as usize].next = rem;
            self.blocks[b as usize].size = mapped;
            self.pool(blk.small)
                .unmapped
                .insert((blk.stream, start + mapped, rem));
        }
        let prev = self.blocks[b as usize].prev;
        self.try_merge_blocks(b, prev);
        let next = self.blocks[b as usize].next;
        self.try_merge_blocks(b, next);
        self.insert_into_blocks(b);
        self.c.reserved += mapped;
        if let Some(end) = self.ranges.get_mut(&seg.base) {
            *end = (*end).max(start + mapped);
        }
        self.record(SegKind::SegmentMap, start, mapped);
        true
    }

    /// `try_allocate_expandable_block`: maps enough pages for the request and returns the
    /// (mapped, free) block that serves it.
    pub(super) fn try_allocate_expandable_block(&mut self, p: &Params) -> Option<u32> {
        let mut candidate = self.find_expandable_block(p);
        if !self.blocks[candidate as usize].mapped {
            let sz = self.blocks[candidate as usize].size.min(p.size);
            if !self.map_block(candidate, sz) {
                return None;
            }
        }
        while self.blocks[candidate as usize].size < p.size {
            let remaining = p.size - self.blocks[candidate as usize].size;
            let next = self.blocks[candidate as usize].next;
            if next == NIL || self.blocks[next as usize].mapped {
                return None;
            }
            let sz = remaining.min(self.blocks[next as usize].size);
            if !self.map_block(next, sz) {
                return None;
            }
            candidate = next;
        }
        self.erase_from_blocks(candidate);
        Some(candidate)
    }

    /// `unmap_block`: unmaps the whole pages inside free block `b`, keeping the partial
    /// pages at either end as free blocks.
    pub(super) fn unmap_block(&mut self, b: u32) {
        let blk = self.blocks[b as usize].clone();
        let seg = self.expandable[blk.expandable as usize].clone();
        let begin = seg.right(blk.addr);
        let end = seg.left(blk.addr + blk.size);
        if begin >= end {
            return;
        }
        let (ustart, usize_) = (seg.addr(begin), (end - begin) * seg.page);
        self.erase_from_blocks(b);
        let before = ustart - blk.addr;
        if before > 0 {
            let bf = self.link_before(b, before, blk.stream);
            self.insert_into_blocks(bf);
        }
        let after = blk.size - (before + usize_);
        if after > 0 {
            let next = self.blocks[b as usize].next;
            let af = self.new_block(Block {
                prev: b,
                next,
                expandable: blk.expandable,
                ..Block::free(ustart + usize_, after, blk.stream, blk.small)
            });
            if next != NIL {
                self.blocks[next as usize].prev = af;
            }
            self.blocks[b as usize].next = af;
            self.insert_into_blocks(af);
        }
        {
            let x = &mut self.blocks[b as usize];
            x.addr = ustart;
            x.size = usize_;
            x.mapped = false;
        }
        let prev = self.blocks[b as usize].prev;
        self.try_merge_blocks(b, prev);
        let next = self.blocks[b as usize].next;
        self.try_merge_blocks(b, next);
        let x = self.blocks[b as usize].clone();
        self.c.reserved -= usize_;
        self.record(SegKind::SegmentUnmap, ustart, usize_);
        if x.prev == NIL && x.next == NIL {
            // The whole reservation is unmapped: release it.
            self.ranges.remove(&x.addr);
            self.delete_block(b);
        } else {
            self.pool(x.small).unmapped.insert((x.stream, x.addr, b));
        }
    }
}
