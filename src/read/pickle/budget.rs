//! The memory budget: what the data has made the machine build, charged against what the
//! file's size allows ([`Input::memory_budget`](super::super::input::Input::memory_budget)).
//!
//! Why: a pickle can claim far more memory than it has bytes. Memo references let a few
//! hundred bytes describe 2**60 values (shared, as the machine keeps them, they cost nothing;
//! copied out as [`PyValue`]s they cost everything), and compression lets a few dozen KB hold a
//! hundred MiB of opcodes that each add a value. Every structure that grows with the data is
//! counted here, as an estimate in bytes: checked every few hundred thousand opcodes and for
//! every value copied, so that loading stops with a `Limit` error, at the offset where the
//! claim passed the budget, long before the process grows large.

use crate::model::{Event, PyValue};

use super::super::error::{ReadError, Result};
use super::super::input::mib;
use super::value::{Node, Value};
use super::Machine;

/// A generous size for one interned string, frame or stack beyond its bytes: the table's slot
/// and the hash index's entry.
const ENTRY: u64 = 48;

impl Machine<'_, '_> {
    /// The memory the data has claimed so far, in bytes (an estimate: capacities of the
    /// machine's vectors, items of containers, interned strings, frames and stacks, and copies
    /// made as [`PyValue`]s).
    pub(super) fn claimed(&self) -> u64 {
        let words = self.stack.capacity()
            + self.memo.capacity()
            + self.marks.capacity()
            + self.spare.capacity();
        let vectors = words * 8
            + self.nodes.capacity() * size_of::<Node>()
            + self.wide.capacity() * size_of::<Value>()
            + self.events.capacity() * size_of::<Event>()
            + self.event_extras.capacity() * size_of::<(u32, String, PyValue)>()
            + (self.bigints.capacity() + self.bytes.capacity()) * size_of::<Vec<u8>>();
        let entries = self.frames.len() + self.frames.strings.len() + self.stacks.len();
        (vectors as u64)
            .saturating_add(entries as u64 * ENTRY)
            .saturating_add(self.charged)
            .saturating_add(self.copied.get())
    }

    /// Counts `bytes` of memory built from the data outside the machine's vectors (container
    /// items, string bytes, bytes objects): checked at the next [`Self::check_budget`].
    #[inline(always)]
    pub(super) fn charge(&mut self, bytes: usize) {
        self.charged = self.charged.wrapping_add(bytes as u64);
    }

    /// Fails once the data has claimed more than the budget.
    #[inline]
    pub(super) fn check_budget(&self, what: &str) -> Result<()> {
        if self.claimed() > self.input.memory_budget() {
            return Err(self.over_budget(what));
        }
        Ok(())
    }

    /// Counts a copy of `bytes` made as a [`PyValue`], and checks the budget.
    #[inline]
    pub(super) fn charge_copy(&self, bytes: usize) -> Result<()> {
        self.copied
            .set(self.copied.get().saturating_add(bytes as u64));
        self.check_budget("copies of unmodelled data")
    }

    #[cold]
    #[inline(never)]
    fn over_budget(&self, what: &str) -> ReadError {
        ReadError::Limit {
            offset: self.input.offset(),
            what: format!(
                "{what} need more than {} of memory, for {} bytes of file: far more than a \
                 snapshot of that size holds (a decompression bomb, or shared references \
                 expanded into copies)",
                mib(self.input.memory_budget()),
                self.input.raw_read()
            ),
        }
    }
}
