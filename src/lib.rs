//! memsight: opens PyTorch CUDA memory snapshots and explains GPU memory.
//!
//! Layers, each usable without the next:
//! - [`read`]: pickle bytes (plain or compressed) to the typed [`model::Snapshot`];
//! - [`analysis`]: allocator replay, timelines, fragmentation, leaks, OOM forensics;
//! - [`output`] and [`cli`]: reports, JSON contracts and the command line;
//! - `ui` (feature `gui`): the egui desktop app, the only layer that knows egui;
//! - `python` (feature `python`): the `memsight._memsight` extension of the Python package.

pub mod allocator;
pub mod analysis;
pub mod cli;
pub mod heap;
pub mod model;
pub mod output;
#[cfg(feature = "python")]
pub mod python;
pub mod ranks;
pub mod read;
#[cfg(feature = "gui")]
pub mod ui;
pub mod units;
pub mod whatif;
