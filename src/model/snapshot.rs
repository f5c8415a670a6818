//! The whole snapshot: segments at dump time, per-device traces, settings and annotations.

use std::collections::BTreeMap;

use super::event::DeviceTrace;
use super::frames::{FrameTable, StackId, StackTable};
use super::pyvalue::PyValue;

/// Which generation of the snapshot format a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatVariant {
    /// `{'segments', 'device_traces', ...}`: PyTorch 2.1 and later.
    DeviceTraces,
    /// Segments whose blocks carry a `history` list (PyTorch 2.0). Such files may also have a
    /// `device_traces` key holding a stray entry or two, but the allocation history is in the
    /// blocks, so this variant wins over [`FormatVariant::DeviceTraces`].
    BlockHistory,
    /// Segments only: no trace and no history (a `memory_snapshot()` list, or history off).
    SegmentsOnly,
}

impl FormatVariant {
    pub fn name(self) -> &'static str {
        match self {
            FormatVariant::DeviceTraces => "device_traces",
            FormatVariant::BlockHistory => "block_history",
            FormatVariant::SegmentsOnly => "segments_only",
        }
    }
}

/// How the file was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    pub variant: FormatVariant,
    /// Pickle protocol (0 to 5).
    pub protocol: u8,
    /// `gzip`, `zstd` or `xz` when the input was compressed.
    pub compression: Option<&'static str>,
    /// Bytes of pickle data read (after decompression).
    pub pickle_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentType {
    Large,
    Small,
    Unknown,
}

/// The state of a block at dump time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    ActiveAllocated,
    ActivePendingFree,
    Inactive,
    Unknown,
}

impl BlockState {
    pub fn from_name(s: &str) -> BlockState {
        match s {
            "active_allocated" => BlockState::ActiveAllocated,
            "active_pending_free" => BlockState::ActivePendingFree,
            "inactive" => BlockState::Inactive,
            _ => BlockState::Unknown,
        }
    }
}

/// One entry of a block's `history` (PyTorch 2.0 files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    pub addr: u64,
    pub real_size: u64,
    pub stack: StackId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// As written; for PyTorch 2.0 blocks, which have none, the segment address plus the sizes
    /// of the blocks before it (blocks tile their segment in order).
    pub address: u64,
    pub size: u64,
    pub requested_size: u64,
    pub state: BlockState,
    pub stack: StackId,
    pub history: Vec<HistoryEntry>,
}

/// A `cudaMalloc`ed segment (or one contiguous mapped range of an expandable segment) at dump
/// time, with its blocks in address order.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub device: usize,
    pub address: u64,
    pub total_size: u64,
    pub allocated_size: u64,
    pub active_size: u64,
    pub requested_size: u64,
    pub stream: u64,
    pub segment_type: SegmentType,
    pub pool_id: (i64, i64),
    pub is_expandable: bool,
    pub stack: StackId,
    pub blocks: Vec<Block>,
}

/// `external_annotations` entries (e.g. `Optimizer.step#AdamW.step` START/END).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub stage: String,
    pub name: String,
    pub device: usize,
    pub time_us: i64,
}

/// The allocator configuration the snapshot was recorded under, where the file says it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AllocatorSettings {
    /// The `PYTORCH_CUDA_ALLOC_CONF` string.
    pub alloc_conf: Option<String>,
    /// Bytes; `None` when unlimited (PyTorch writes -1 or SIZE_MAX).
    pub max_split_size: Option<u64>,
    pub garbage_collection_threshold: Option<f64>,
    pub expandable_segments: Option<bool>,
    /// (interval start in MiB, divisions) pairs.
    pub roundup_power2_divisions: Vec<(u64, u64)>,
    /// The dict as written, for what is not modelled above.
    pub raw: PyValue,
}

/// Keys and actions that memsight met but does not model. They are kept (see
/// [`DeviceTrace::extra_fields`] and [`Snapshot::extra_top_level`]) and counted here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownCounts {
    /// `"where.key"` → count, e.g. `"event.foo"`.
    pub keys: BTreeMap<String, u64>,
    /// Unknown action name → count.
    pub actions: BTreeMap<String, u64>,
}

impl UnknownCounts {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.actions.is_empty()
    }
}

/// A whole memory snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub format: FormatInfo,
    pub segments: Vec<Segment>,
    /// One per device index, device 0 first (a device without events has an empty trace).
    pub devices: Vec<DeviceTrace>,
    pub allocator_settings: Option<AllocatorSettings>,
    pub annotations: Vec<Annotation>,
    pub frames: FrameTable,
    pub stacks: StackTable,
    /// Top-level keys memsight does not model, kept as written.
    pub extra_top_level: Vec<(String, PyValue)>,
    pub unknown: UnknownCounts,
}

impl Snapshot {
    /// A snapshot with nothing in it, in the `device_traces` format: the start of one built in
    /// code (tests, synthetic traces) rather than read.
    pub fn empty() -> Snapshot {
        Snapshot {
            format: FormatInfo {
                variant: FormatVariant::DeviceTraces,
                protocol: 4,
                compression: None,
                pickle_bytes: 0,
            },
            segments: Vec::new(),
            devices: Vec::new(),
            allocator_settings: None,
            annotations: Vec::new(),
            frames: FrameTable::default(),
            stacks: StackTable::default(),
            extra_top_level: Vec::new(),
            unknown: UnknownCounts::default(),
        }
    }

    /// Segments of one device, in file order.
    pub fn segments_of(&self, device: usize) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(move |s| s.device == device)
    }

    /// Device indices that have a trace or a segment.
    pub fn device_ids(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = self
            .devices
            .iter()
            .filter(|d| !d.events.is_empty())
            .map(|d| d.device)
            .collect();
        ids.extend(self.segments.iter().map(|s| s.device));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The trace of `device`, if the file has one.
    pub fn trace(&self, device: usize) -> Option<&DeviceTrace> {
        self.devices.iter().find(|d| d.device == device)
    }
}
