//! Which events the Events view lists: by action, size range, address and text in the stack.
//!
//! Pure functions of the model and the analysis, so that they run on a worker for a
//! million-event trace and are tested without a display.

use std::ops::RangeInclusive;

use crate::analysis::{DeviceAnalysis, NONE};
use crate::model::{Action, Event, Snapshot, StackId};
use crate::units;

/// The actions the action list offers, in the order of an allocation's life.
pub const ACTIONS: [Action; 9] = [
    Action::Alloc,
    Action::FreeRequested,
    Action::FreeCompleted,
    Action::SegmentAlloc,
    Action::SegmentFree,
    Action::SegmentMap,
    Action::SegmentUnmap,
    Action::Snapshot,
    Action::Oom,
];

/// A parsed filter: every part that is set must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pub action: Option<Action>,
    /// Event sizes kept, both ends included (every size when no bound is typed).
    pub sizes: RangeInclusive<u64>,
    /// Only events whose memory range holds this address.
    pub address: Option<u64>,
    /// Only events with a frame whose file, `file:line` or function contains this,
    /// lower-case (case is ignored).
    pub text: String,
}

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter {
            action: None,
            sizes: 0..=u64::MAX,
            address: None,
            text: String::new(),
        }
    }
}

impl EventFilter {
    pub fn is_empty(&self) -> bool {
        *self == EventFilter::default()
    }

    /// Whether `ev` passes the action, size and address parts (the text needs the stacks:
    /// see [`StackText`]). `block` is the size of the block the allocator handed out for it
    /// when the event concerns an allocation (a block is rounded up from the request, and an
    /// address in that tail is still inside it).
    pub fn keeps(&self, ev: &Event, block: Option<u64>) -> bool {
        self.action.is_none_or(|a| a == ev.action)
            && self.sizes.contains(&ev.size)
            && self.address.is_none_or(|addr| {
                extent(ev, block).is_some_and(|(start, end)| start <= addr && addr < end)
            })
    }
}

/// The memory an event concerns, `[start, end)`: the block of an allocation event, the
/// segment (or mapped range) of a segment event; `None` for events that name no memory
/// (`snapshot` carries a byte count in `size`, `oom` has no address).
pub fn extent(ev: &Event, block: Option<u64>) -> Option<(u64, u64)> {
    match ev.action {
        Action::Snapshot | Action::Oom | Action::Other(_) => None,
        _ => {
            let len = block.map_or(ev.size, |b| b.max(ev.size));
            Some((ev.addr, ev.addr.saturating_add(len)))
        }
    }
}

/// Decides once per stack whether any of its frames contains a needle (a stack is shared by
/// many events).
pub struct StackText<'a> {
    snap: &'a Snapshot,
    needle: &'a str,
    seen: Vec<Option<bool>>,
}

impl<'a> StackText<'a> {
    /// `needle` lower-case; an empty needle matches every stack.
    pub fn new(snap: &'a Snapshot, needle: &'a str) -> StackText<'a> {
        StackText {
            snap,
            needle,
            seen: vec![None; snap.stacks.len()],
        }
    }

    pub fn matches(&mut self, stack: StackId) -> bool {
        if self.needle.is_empty() {
            return true;
        }
        let Some(slot) = self.seen.get_mut(stack as usize) else {
            return false;
        };
        if let Some(v) = *slot {
            return v;
        }
        let (snap, needle) = (self.snap, self.needle);
        let v = snap.stacks.get(stack).iter().any(|&f| {
            let file = snap.frames.filename(f).to_lowercase();
            let line = snap.frames.get(f).line;
            file.contains(needle)
                || format!("{file}:{line}").contains(needle)
                || snap.frames.name(f).to_lowercase().contains(needle)
        });
        *slot = Some(v);
        v
    }
}

/// The indices of the events of device `d` that pass `filter`, in order. `cancelled` is
/// asked now and then so that a worker can stop when the filter changed again.
pub fn matching(
    snap: &Snapshot,
    d: &DeviceAnalysis,
    filter: &EventFilter,
    cancelled: &dyn Fn() -> bool,
) -> Vec<u32> {
    let Some(trace) = snap.trace(d.device) else {
        return Vec::new();
    };
    let mut text = StackText::new(snap, &filter.text);
    let mut out = Vec::new();
    for (i, ev) in trace.events.iter().enumerate() {
        if i % 65_536 == 0 && cancelled() {
            return Vec::new();
        }
        if filter.keeps(ev, block_size(d, i)) && text.matches(ev.stack) {
            out.push(i as u32);
        }
    }
    out
}

/// The allocation (index into `Replay::allocations`) event `e` concerns, if any.
pub fn allocation_of(d: &DeviceAnalysis, e: usize) -> Option<u32> {
    d.replay
        .event_allocation
        .get(e)
        .copied()
        .filter(|&k| k != NONE)
}

/// The block size of the allocation event `e` concerns, if any.
pub fn block_size(d: &DeviceAnalysis, e: usize) -> Option<u64> {
    let k = allocation_of(d, e)?;
    d.replay.allocations.get(k as usize).map(|a| a.size)
}

/// An address as typed: hex, with or without `0x`; empty is no address.
pub fn parse_address(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t)
        .replace('_', "");
    u64::from_str_radix(&hex, 16)
        .map(Some)
        .map_err(|_| format!("{t:?} is not a hex address (e.g. 0x7f3a00000000)"))
}

/// A size bound as typed (`1.5 MiB`, `4096`, `2GB`); empty is no bound.
pub fn parse_size_bound(text: &str) -> Result<Option<u64>, String> {
    if text.trim().is_empty() {
        Ok(None)
    } else {
        units::parse_size(text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action, addr: u64, size: u64) -> Event {
        Event {
            addr,
            size,
            ..Event::new(action)
        }
    }

    #[test]
    fn an_address_matches_the_block_that_holds_it() {
        let f = EventFilter {
            address: Some(0x1000),
            ..EventFilter::default()
        };
        assert!(
            f.keeps(&event(Action::Alloc, 0x1000, 16), None),
            "first byte"
        );
        assert!(
            f.keeps(&event(Action::Alloc, 0xf00, 0x101), None),
            "last byte"
        );
        assert!(
            !f.keeps(&event(Action::Alloc, 0xf00, 0x100), None),
            "one past"
        );
        // The request is 0x100 bytes, the block 0x200: the tail belongs to the block.
        assert!(f.keeps(&event(Action::FreeRequested, 0xf00, 0x100), Some(0x200)));
        assert!(f.keeps(&event(Action::SegmentAlloc, 0, 2 << 20), None));
        // A snapshot's size is a byte count, not a range.
        assert!(!f.keeps(&event(Action::Snapshot, 0, 1 << 30), None));
        assert!(!f.keeps(&event(Action::Oom, 0, 1 << 30), None));
    }

    #[test]
    fn action_and_size_range_are_inclusive_and_combine() {
        let f = EventFilter {
            action: Some(Action::Alloc),
            sizes: 512..=1024,
            ..EventFilter::default()
        };
        assert!(f.keeps(&event(Action::Alloc, 0, 512), None));
        assert!(f.keeps(&event(Action::Alloc, 0, 1024), None));
        assert!(!f.keeps(&event(Action::Alloc, 0, 511), None));
        assert!(!f.keeps(&event(Action::Alloc, 0, 1025), None));
        assert!(!f.keeps(&event(Action::FreeRequested, 0, 600), None));
        assert!(EventFilter::default().keeps(&event(Action::Oom, 0, 0), None));
        assert!(EventFilter::default().is_empty() && !f.is_empty());
    }

    #[test]
    fn typed_sizes_and_addresses_parse() {
        assert_eq!(parse_size_bound("1.5 MiB"), Ok(Some(3 << 19)));
        assert_eq!(parse_size_bound("4096"), Ok(Some(4096)));
        assert_eq!(parse_size_bound("2GB"), Ok(Some(2_000_000_000)));
        assert_eq!(parse_size_bound("  "), Ok(None));
        assert!(parse_size_bound("big").is_err());
        assert_eq!(parse_address("0x7f3a_0000"), Ok(Some(0x7f3a_0000)));
        assert_eq!(parse_address("7F3A"), Ok(Some(0x7f3a)));
        assert_eq!(parse_address(""), Ok(None));
        assert!(parse_address("0xzz").is_err());
    }
}
