//! Filters shared by the views: stream, pool, size threshold, text in stack frames.

use std::sync::Arc;

use crate::allocator::SMALL_SIZE;
use crate::analysis::pools::Pools;
use crate::analysis::DeviceAnalysis;
use crate::model::Snapshot;
use crate::output::words;

use super::data::Loaded;
use super::job::{Job, Pending, Repaint};
use super::lod::Lod;

/// The allocator pool a block comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pool {
    #[default]
    All,
    /// Blocks of up to 1 MiB (2 MiB segments).
    Small,
    Large,
    /// One memory pool of the dump (`analysis::pools`): the default pool, a CUDA graph's
    /// private pool or a user pool, by its index in `Pools::pools`.
    Of(u16),
}

impl Pool {
    /// The name the pool dropdown shows.
    pub fn label(self, pools: &Pools) -> String {
        match self {
            Pool::All => "all".into(),
            Pool::Small => "small (<= 1 MiB)".into(),
            Pool::Large => "large".into(),
            Pool::Of(k) => pools
                .pools
                .get(k as usize)
                .map_or_else(|| format!("pool {k}"), words::pool_name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// Only this CUDA stream (`None`: all).
    pub stream: Option<u64>,
    pub pool: Pool,
    /// Only blocks of at least this many bytes.
    pub min_size: u64,
    /// Only allocations with a frame whose file or function contains this (case-insensitive).
    pub text: String,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.stream.is_none()
            && self.pool == Pool::All
            && self.min_size == 0
            && self.text.is_empty()
    }

    /// Which allocations pass (`None` when the filter keeps everything).
    pub fn mask(&self, snap: &Snapshot, d: &DeviceAnalysis) -> Option<Vec<bool>> {
        if self.is_empty() {
            return None;
        }
        let needle = self.text.trim().to_lowercase();
        // Stacks are shared by many allocations: decide each stack once.
        let mut stack_ok: Vec<Option<bool>> = vec![None; snap.stacks.len()];
        let mut stack_matches = |stack: u32| -> bool {
            if needle.is_empty() {
                return true;
            }
            let slot = stack_ok.get_mut(stack as usize);
            match slot {
                Some(Some(v)) => *v,
                Some(slot) => {
                    let v = snap.stacks.get(stack).iter().any(|&f| {
                        snap.frames.filename(f).to_lowercase().contains(&needle)
                            || snap.frames.name(f).to_lowercase().contains(&needle)
                    });
                    *slot = Some(v);
                    v
                }
                None => false,
            }
        };
        Some(
            d.replay
                .allocations
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    self.stream.is_none_or(|s| s == a.stream)
                        && match self.pool {
                            Pool::All => true,
                            Pool::Small => a.size <= SMALL_SIZE,
                            Pool::Large => a.size > SMALL_SIZE,
                            Pool::Of(k) => d.pools.of_allocation(i) == k,
                        }
                        && a.size >= self.min_size
                        && stack_matches(a.stack)
                })
                .collect(),
        )
    }
}

/// A tab's filter and the timeline it gives, rebuilt on a worker whenever the filter changes
/// (a filter over a million allocations takes longer than a frame).
#[derive(Default)]
pub struct Filtered {
    pub filter: Filter,
    /// The filtered timeline; `None` while unfiltered (the device's own is shown) or building.
    pub lod: Option<Arc<Lod>>,
    job: Pending<(), Option<Lod>>,
}

impl Filtered {
    /// Applies `filter` to device `device` of `loaded`.
    pub fn set(&mut self, filter: Filter, loaded: &Loaded, device: usize, repaint: Repaint) {
        self.lod = None;
        self.job.clear();
        if !filter.is_empty() {
            let snap = loaded.snap.clone();
            let analysis = loaded.analysis.clone();
            let index = loaded.devices.get(device).map_or(0, |d| d.index);
            let f = filter.clone();
            let job = Job::spawn("memsight-filter", repaint, move |_| {
                let d = analysis.devices.get(index)?;
                Some(Lod::build(d, f.mask(&snap, d)))
            });
            self.job.start((), job);
        }
        self.filter = filter;
    }

    /// Takes the filtered timeline when its worker is done.
    pub fn poll(&mut self) {
        if let Some((_, Ok(lod))) = self.job.take() {
            self.lod = lod.map(Arc::new);
        }
    }

    /// Whether a filtered timeline is being built.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// Back to no filter (another device or a new analysis: the mask no longer applies).
    pub fn clear(&mut self) {
        *self = Filtered::default();
    }
}
