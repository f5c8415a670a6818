//! The CUDA caching allocator's rules, in one place: its constants, how it rounds a request
//! and when it splits a block, the counters it reports, and the settings that change them
//! (`PYTORCH_CUDA_ALLOC_CONF`).
//!
//! Two layers read the same description: the replay ([`crate::analysis::replay`]), which
//! sizes the blocks of a recorded trace as PyTorch did, and the what-if model
//! ([`crate::whatif`]), which runs the recorded requests under other settings. Keeping one
//! copy means a rule fixed for one is fixed for both. The names follow
//! `c10/cuda/CUDACachingAllocator.cpp` so the two can be read side by side.

mod rules;
mod settings;

pub use rules::*;
pub use settings::{Settings, SettingsError};
