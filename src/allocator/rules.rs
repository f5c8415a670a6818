//! The allocator's constants, its rounding of segment sizes and the counters it reports, named
//! as in `c10/cuda/CUDACachingAllocator.cpp`.

/// Smallest block and rounding unit (`kMinBlockSize`).
pub const MIN_BLOCK: u64 = 512;
/// Largest request served from the small pool (`kSmallSize`).
pub const SMALL_SIZE: u64 = 1 << 20;
/// Segment size for requests between 1 and 10 MiB (`kLargeBuffer`).
pub const LARGE_BUFFER: u64 = 20 << 20;
/// Segment size for the small pool (`kSmallBuffer`).
pub const SMALL_BUFFER: u64 = 2 << 20;
/// Requests from this size get a segment of their own, rounded to [`ROUND_LARGE`]
/// (`kMinLargeAlloc`).
pub const MIN_LARGE_ALLOC: u64 = 10 << 20;
/// Rounding of large segments (`kRoundLarge`).
pub const ROUND_LARGE: u64 = 2 << 20;
/// Number of power-of-two intervals `roundup_power2_divisions` covers (1 MiB .. 32 GiB).
pub const ROUNDUP_INTERVALS: usize = 16;

/// The counters PyTorch reports in `torch.cuda.memory_stats()` (the `.all.current` values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// `allocated_bytes`: block sizes of blocks handed to the program and not yet freed.
    pub allocated: u64,
    /// `active_bytes`: allocated, plus blocks freed but still in use on another stream.
    pub active: u64,
    /// `requested_bytes`: the sizes the program asked for.
    pub requested: u64,
    /// `reserved_bytes`: the segments held from the driver.
    pub reserved: u64,
    /// `inactive_split_bytes`: free blocks in segments that also hold other blocks.
    pub inactive_split: u64,
}

/// `get_allocation_size`: what `cudaMalloc` is asked for a block of `size` (rounded) bytes.
pub fn allocation_size(size: u64) -> u64 {
    if size <= SMALL_SIZE {
        SMALL_BUFFER
    } else if size < MIN_LARGE_ALLOC {
        LARGE_BUFFER
    } else {
        size.div_ceil(ROUND_LARGE) * ROUND_LARGE
    }
}

/// `roundup_power2_divisions`: rounds `size` up to the next of `divisions` equal steps between
/// two powers of two (the allocator's `roundup_power2_next_division`).
pub fn roundup_power2_next_division(size: u64, divisions: u64) -> u64 {
    if size.is_power_of_two() {
        return size;
    }
    let floor = 1u64 << (63 - size.leading_zeros());
    let step = floor >> (63 - divisions.leading_zeros());
    if step == 0 {
        return floor << 1;
    }
    let rounded = size & !(step - 1);
    if rounded == size {
        size
    } else {
        rounded + step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::Settings;

    #[test]
    fn requests_round_and_split_as_pytorch_does() {
        let s = Settings::default();
        assert_eq!(s.round_size(0), MIN_BLOCK);
        assert_eq!(s.round_size(512), 512);
        assert_eq!(s.round_size(513), 1024);
        // Small pool: any remainder of a block or more is kept.
        assert!(s.should_split(4096, 512, false));
        assert!(!s.should_split(1024, 768, false));
        // Large pool: only a remainder over 1 MiB is kept, so a 1 MiB-and-a-bit tail is given
        // away with the block.
        assert!(!s.should_split((4 << 20) + (1 << 20), 4 << 20, false));
        assert!(s.should_split((6 << 20) + 1, 4 << 20, false));
        // Expandable segments split like the small pool.
        assert!(s.should_split((4 << 20) + 512, 4 << 20, true));
        // max_split_size: requests at or over it never split a block (PyTorch raises the
        // setting to at least 20 MiB).
        let capped = Settings::parse_conf("max_split_size_mb:32").unwrap();
        assert!(!capped.should_split(256 << 20, 32 << 20, false));
        assert!(capped.should_split(256 << 20, 16 << 20, false));
    }

    #[test]
    fn segments_are_sized_by_pool() {
        assert_eq!(allocation_size(512), SMALL_BUFFER);
        assert_eq!(allocation_size(SMALL_SIZE + 1), LARGE_BUFFER);
        assert_eq!(allocation_size(MIN_LARGE_ALLOC), MIN_LARGE_ALLOC);
        assert_eq!(
            allocation_size(MIN_LARGE_ALLOC + 1),
            MIN_LARGE_ALLOC + ROUND_LARGE
        );
    }

    #[test]
    fn divisions_round_up_to_the_next_step() {
        assert_eq!(roundup_power2_next_division(4096, 4), 4096);
        assert_eq!(roundup_power2_next_division(5000, 4), 5120);
        assert_eq!(roundup_power2_next_division((300 << 20) + 1, 4), 320 << 20);
    }
}
