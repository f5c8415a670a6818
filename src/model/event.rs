//! Trace events: one entry of a device's allocator history ring buffer.

use super::frames::{StackId, StrId};
use super::pyvalue::PyValue;

/// What the allocator did. `Other` keeps an action name this version of memsight does not know,
/// so that newer PyTorch files still open and the action is counted, not dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A block handed to the caller (`size` is the requested size).
    Alloc,
    /// The caller freed the block (`allocated` drops here).
    FreeRequested,
    /// The block really became free, after pending stream uses (`active` drops here).
    FreeCompleted,
    /// `cudaMalloc` of a new segment.
    SegmentAlloc,
    /// `cudaFree` of a segment (e.g. `empty_cache`, or freeing cached blocks before an OOM).
    SegmentFree,
    /// Pages mapped into an expandable segment.
    SegmentMap,
    /// Pages unmapped from an expandable segment.
    SegmentUnmap,
    /// A `torch.cuda.memory._snapshot()` call.
    Snapshot,
    /// An allocation that failed (`size` requested, `device_free` from cudaMemGetInfo).
    Oom,
    /// An action name memsight does not know (the string id of its name).
    Other(StrId),
}

impl Action {
    /// The action name exactly as PyTorch writes it.
    pub fn from_name(name: &str) -> Option<Action> {
        Some(match name {
            "alloc" => Action::Alloc,
            "free_requested" => Action::FreeRequested,
            "free_completed" => Action::FreeCompleted,
            "segment_alloc" => Action::SegmentAlloc,
            "segment_free" => Action::SegmentFree,
            "segment_map" => Action::SegmentMap,
            "segment_unmap" => Action::SegmentUnmap,
            "snapshot" => Action::Snapshot,
            "oom" => Action::Oom,
            _ => return None,
        })
    }

    /// The PyTorch name of a known action (`None` for [`Action::Other`]).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Action::Alloc => "alloc",
            Action::FreeRequested => "free_requested",
            Action::FreeCompleted => "free_completed",
            Action::SegmentAlloc => "segment_alloc",
            Action::SegmentFree => "segment_free",
            Action::SegmentMap => "segment_map",
            Action::SegmentUnmap => "segment_unmap",
            Action::Snapshot => "snapshot",
            Action::Oom => "oom",
            Action::Other(_) => return None,
        })
    }
}

/// One trace entry. Absent fields read as 0 (older files lack `time_us`, `oom` has no `addr`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub action: Action,
    pub addr: u64,
    /// Requested size for block events; segment size for segment events; for `snapshot`
    /// entries PyTorch writes the allocated bytes at that moment.
    pub size: u64,
    pub stream: u64,
    /// Microseconds since the epoch; 0 when the file has none.
    pub time_us: i64,
    /// Free device memory reported with an `oom` entry (0 otherwise).
    pub device_free: u64,
    pub stack: StackId,
    pub compile_context: StrId,
    pub user_metadata: StrId,
}

impl Event {
    /// An entry of `action` with every other field absent (read as 0), as a reader starts
    /// one and tests build them.
    pub const fn new(action: Action) -> Event {
        Event {
            action,
            addr: 0,
            size: 0,
            stream: 0,
            time_us: 0,
            device_free: 0,
            stack: 0,
            compile_context: 0,
            user_metadata: 0,
        }
    }
}

/// The trace of one device, oldest event first.
#[derive(Debug, Clone, Default)]
pub struct DeviceTrace {
    pub device: usize,
    pub events: Vec<Event>,
    /// Event fields memsight does not model: (event index, key, value).
    pub extra_fields: Vec<(u32, String, PyValue)>,
}
