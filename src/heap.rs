//! The global allocator memsight's binaries use: the system allocator, asking the kernel for
//! transparent huge pages on large blocks.
//!
//! Why: loading a snapshot fills tens of megabytes of fresh memory (the event table, the
//! pickle memo, the node arena), and with 4 KiB pages every page costs a fault. On a
//! virtualised machine a fault costs microseconds, and faults were a fifth of the load time
//! of a 33 MB snapshot. Blocks of 4 MiB and more are marked `MADV_HUGEPAGE`, so the kernel
//! backs them with 2 MiB pages where it can: a five-hundredth of the faults. Small blocks,
//! and everything about how memory is reused, stay with the system allocator (a faster
//! allocator, mimalloc, was measured and rejected for holding on to memory: BENCHMARKS.md).
//!
//! The first large block also fixes glibc's mmap threshold at 1 MiB. By default glibc raises
//! that threshold each time a large block is freed, so a second snapshot loaded in the same
//! process (the app opens several) gets its large vectors from the heap, where growing one
//! copies it; from mmap, `mremap` grows it in place. Measured: loading big_trace five times in
//! one process, the best run went from 101-121 ms to 89-93 ms.
//!
//! The cost to watch: with the kernel's default THP defrag setting (`madvise`), a fault in an
//! advised block may compact memory to find a free huge page. On this project's machines that
//! never happened during the benchmarks (`compact_stall` stayed 0 in `/proc/vmstat`); on a
//! long-running, fragmented host it could make a load slower rather than faster, and
//! `echo never > /sys/kernel/mm/transparent_hugepage/enabled` turns the advice off.
//!
//! Nothing here changes what a program computes; on systems without transparent huge pages
//! (or outside Linux) it is the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator with huge pages for large blocks (see the module documentation).
pub struct HugePageAlloc;

/// Blocks at least this large are advised.
const THRESHOLD: usize = 4 << 20;

/// Blocks at least this large always come from their own mapping (see the module documentation).
const MMAP_THRESHOLD: usize = 1 << 20;

/// Allocates `layout` with `allocate`, tuning the heap before the first large block and
/// advising huge pages for the block it returns when it is large enough.
#[inline]
fn advised(layout: Layout, allocate: impl FnOnce() -> *mut u8) -> *mut u8 {
    if layout.size() >= MMAP_THRESHOLD {
        tune_once();
    }
    let p = allocate();
    if layout.size() >= THRESHOLD {
        advise(p, layout.size());
    }
    p
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; `advise` only
// gives the kernel a hint about pages inside the block `System` returned.
unsafe impl GlobalAlloc for HugePageAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        advised(layout, || unsafe { System.alloc(layout) })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        advised(layout, || unsafe { System.alloc_zeroed(layout) })
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= MMAP_THRESHOLD {
            tune_once();
        }
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract for `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size >= THRESHOLD {
            advise(p, new_size);
        }
        p
    }
}

/// Fixes glibc's mmap threshold, once (see the module documentation).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static TUNED: AtomicBool = AtomicBool::new(false);
    if !TUNED.swap(true, Ordering::Relaxed) {
        // SAFETY: mallopt only changes a malloc parameter; it neither allocates through this
        // allocator nor touches any block.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_once() {}

/// Marks the pages of `[p, p + len)` as wanting huge pages.
///
/// The whole block is advised, not just its 2 MiB-aligned middle: advising part of a mapping
/// splits it in several, and the kernel cannot then grow it in place (`mremap`), so every
/// `realloc` would copy.
#[cfg(target_os = "linux")]
fn advise(p: *mut u8, len: usize) {
    const PAGE: usize = 4096;
    if p.is_null() {
        return;
    }
    let start = p as usize & !(PAGE - 1);
    let end = (p as usize + len).next_multiple_of(PAGE);
    // SAFETY: the range covers only pages of a block we own; MADV_HUGEPAGE changes no
    // contents and no permissions, and an error (no THP support) leaves everything as it was.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_p: *mut u8, _len: usize) {}
