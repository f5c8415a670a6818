//! The reader's cache of recently interned short strings.

use crate::model::StrId;

/// A direct-mapped cache of short strings (up to 16 bytes) to their interned ids.
///
/// Why: every trace entry's keys (`action`, `addr`, `size`, ...) and its action name arrive as
/// fresh string objects, not memo references, so a 1M-event trace interns millions of the same
/// few strings. A hit here is two word compares; a miss falls back to the interner (UTF-8
/// check, hash, compare). Only valid UTF-8 that was interned as itself is cached, so a hit
/// returns exactly what the interner would.
pub(super) struct ShortStrings {
    slots: Box<[(u128, u32, StrId)]>,
}

impl ShortStrings {
    const EMPTY: u32 = u32::MAX;

    pub(super) fn new() -> ShortStrings {
        ShortStrings {
            slots: vec![(0, Self::EMPTY, 0); 256].into_boxed_slice(),
        }
    }

    #[inline(always)]
    fn key(raw: &[u8]) -> Option<(u128, usize)> {
        if raw.len() > 16 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf[..raw.len()].copy_from_slice(raw);
        let k = u128::from_le_bytes(buf);
        Some((k, Self::slot(k, raw.len())))
    }

    #[inline(always)]
    fn slot(k: u128, len: usize) -> usize {
        let mix = (k as u64) ^ ((k >> 64) as u64).rotate_left(29) ^ len as u64;
        (mix.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
    }

    #[inline(always)]
    pub(super) fn get(&self, raw: &[u8]) -> Option<StrId> {
        let (k, slot) = Self::key(raw)?;
        self.lookup(k, slot, raw.len())
    }

    /// As [`Self::get`], for a string given as its bytes, little-endian, zero-padded.
    #[inline(always)]
    pub(super) fn get_key(&self, k: u128, len: usize) -> Option<StrId> {
        self.lookup(k, Self::slot(k, len), len)
    }

    #[inline(always)]
    fn lookup(&self, k: u128, slot: usize, len: usize) -> Option<StrId> {
        let &(key, l, id) = self.slots.get(slot)?;
        (l == len as u32 && key == k).then_some(id)
    }

    #[inline(always)]
    pub(super) fn put(&mut self, raw: &[u8], id: StrId) {
        if let Some((k, slot)) = Self::key(raw) {
            if let Some(s) = self.slots.get_mut(slot) {
                *s = (k, raw.len() as u32, id);
            }
        }
    }
}
