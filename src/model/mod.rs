//! The typed snapshot model: what a PyTorch CUDA memory snapshot says, without any pickle.
//!
//! Strings are interned once into a [`StringTable`], frames once into a [`FrameTable`], and each
//! distinct stack (sequence of frames) once into a [`StackTable`]; events refer to stacks by a
//! small [`StackId`]. A 1M-event trace therefore costs a few tens of bytes per event instead of
//! a heap string per frame per event.

mod event;
mod frames;
mod pyvalue;
mod snapshot;

pub use event::{Action, DeviceTrace, Event};
pub use frames::{Frame, FrameId, FrameTable, StackId, StackTable, StrId, StringTable};
pub use pyvalue::PyValue;
pub use snapshot::{
    AllocatorSettings, Annotation, Block, BlockState, FormatInfo, FormatVariant, HistoryEntry,
    Segment, SegmentType, Snapshot, UnknownCounts,
};
