//! What a loaded file holds for the views: the snapshot, its analysis, and per-device indexes
//! built on the worker thread (site colours, what held the peak) or, for the timeline's
//! pyramid, just after it.

use std::sync::{Arc, OnceLock};

use crate::analysis::{Analysis, DeviceAnalysis};
use crate::model::Snapshot;
use crate::output::colours;

use rayon::prelude::*;

use super::lod::Lod;
use super::theme;

/// A loaded and analysed snapshot.
pub struct Loaded {
    pub snap: Arc<Snapshot>,
    pub analysis: Arc<Analysis>,
    /// The options the analysis ran with (the iterations the user picked).
    pub options: crate::analysis::Options,
    pub devices: Vec<DeviceData>,
    pub load_ms: u128,
    pub analyze_ms: u128,
}

/// Live bytes of one call site at a moment.
#[derive(Debug, Clone, Copy)]
pub struct SiteBytes {
    pub site: u32,
    pub bytes: u64,
    pub blocks: u64,
}

/// Per-device indexes for drawing.
pub struct DeviceData {
    /// Index into `analysis.devices`.
    pub index: usize,
    /// Hue and shade of each call site (see [`theme::site_color`]).
    pub site_tone: Vec<(f32, f32)>,
    /// The fixed colour of each call site that has one, shared with the reports.
    pub site_fixed: Vec<Option<egui::Color32>>,
    /// The unfiltered timeline, once built.
    pub lod: Pyramid,
    /// Call sites holding memory at the allocated peak, largest first.
    pub peak_holders: Vec<SiteBytes>,
    /// Category of each call site.
    pub site_category: Vec<crate::analysis::oom::Category>,
    /// Distinct streams that allocate.
    pub streams: Vec<u64>,
    /// Whether every event has a time and times never go back, so that the timeline can put
    /// its ticks at round times (found once here: the view draws every frame).
    pub timed: bool,
}

/// The unfiltered timeline of one device, built after the file opens: the first view, the
/// Diagnosis, does not need it, so the file opens without waiting for it (the timeline says
/// it is being built until then).
#[derive(Clone, Default)]
pub struct Pyramid(Arc<OnceLock<Arc<Lod>>>);

impl Pyramid {
    pub fn get(&self) -> Option<&Arc<Lod>> {
        self.0.get()
    }

    /// Builds `pyramids` (one per device, in the order of `analysis.devices`) on the worker
    /// pool, calling `done` when they are all there. Nothing waits for it.
    pub fn build_later(
        analysis: Arc<Analysis>,
        pyramids: Vec<Pyramid>,
        done: impl Fn() + Send + 'static,
    ) {
        rayon::spawn(move || {
            pyramids
                .par_iter()
                .zip(analysis.devices.par_iter())
                .for_each(|(p, d)| {
                    let _ = p.0.set(Arc::new(Lod::build(d, None)));
                });
            done();
        });
    }
}

impl DeviceData {
    /// Everything but the timeline's pyramid (see [`Pyramid::build_later`]).
    pub fn build(index: usize, snap: &Snapshot, d: &DeviceAnalysis) -> DeviceData {
        let site_category = d
            .sites
            .sites
            .iter()
            .map(|s| crate::analysis::oom::category(snap, s.stack))
            .collect();
        // The leak suspects and the sites holding the most at the peak have the colours the
        // HTML report gives them (output::colours); the rest a hue from their name. Either
        // way one colour per site in every view.
        let site_fixed = colours::site_colours(d)
            .into_iter()
            .map(|c| c.map(theme::rgb))
            .collect();
        let site_tone: Vec<(f32, f32)> = d
            .sites
            .sites
            .iter()
            .map(|s| (theme::site_hue(&colours::site_key(s)), 0.0))
            .collect();
        let peak_holders = live_by_site(d, d.peak.allocated_event);
        let mut streams: Vec<u64> = d.replay.allocations.iter().map(|a| a.stream).collect();
        streams.sort_unstable();
        streams.dedup();
        let timed = snap.trace(d.device).is_some_and(|t| {
            !t.events.is_empty()
                && t.events.iter().all(|e| e.time_us != 0)
                && t.events.windows(2).all(|w| w[0].time_us <= w[1].time_us)
        });
        DeviceData {
            index,
            timed,
            site_tone,
            site_fixed,
            site_category,
            lod: Pyramid::default(),
            peak_holders,
            streams,
        }
    }

    /// A stream as the views name it: `stream 0`, `stream 1`, ... in the order of their handles
    /// (the default stream, handle 0, first when it allocates); the raw handle for a stream
    /// that never allocates.
    pub fn stream_name(&self, stream: u64) -> String {
        match self.streams.iter().position(|&x| x == stream) {
            Some(i) => format!("stream {i}"),
            None => format!("{stream:#x}"),
        }
    }
}

/// Allocated bytes by call site after event `t`, largest first.
pub fn live_by_site(d: &DeviceAnalysis, t: usize) -> Vec<SiteBytes> {
    let mut by = vec![(0u64, 0u64); d.sites.sites.len()];
    if d.events == 0 {
        return Vec::new();
    }
    for (i, a) in d.replay.allocations.iter().enumerate() {
        if a.allocated_at(t as u32) {
            let s = d.allocation_site.get(i).copied().unwrap_or(0) as usize;
            if let Some(v) = by.get_mut(s) {
                v.0 += a.size;
                v.1 += 1;
            }
        }
    }
    let mut out: Vec<SiteBytes> = by
        .into_iter()
        .enumerate()
        .filter(|(_, v)| v.0 > 0)
        .map(|(s, v)| SiteBytes {
            site: s as u32,
            bytes: v.0,
            blocks: v.1,
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.site.cmp(&b.site)));
    out
}

/// The call site with the most bytes among `allocations` (indices into `Replay::allocations`):
/// what a pick of many allocations selects as its call site.
pub fn largest_site(d: &DeviceAnalysis, allocations: &[u32]) -> Option<u32> {
    let mut by = foldhash::HashMap::<u32, u64>::default();
    for &a in allocations {
        if let (Some(&site), Some(x)) = (
            d.allocation_site.get(a as usize),
            d.replay.allocations.get(a as usize),
        ) {
            *by.entry(site).or_default() += x.size;
        }
    }
    by.into_iter()
        .max_by_key(|&(s, bytes)| (bytes, std::cmp::Reverse(s)))
        .map(|(s, _)| s)
}

impl Loaded {
    pub fn device(&self, i: usize) -> Option<(&DeviceAnalysis, &DeviceData)> {
        let dd = self.devices.get(i)?;
        Some((self.analysis.devices.get(dd.index)?, dd))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use super::*;

    /// The file opens with its pyramids pending; they arrive later, equal to what the
    /// timeline would build at once, and the app is told.
    #[test]
    fn pyramids_are_built_after_the_file_opens_and_say_so() {
        let snap = crate::read::load_bytes(
            super::super::preferences::EMBEDDED_SAMPLE,
            &crate::read::LoadOptions::default(),
        )
        .expect("the bundled sample loads");
        let analysis = Arc::new(crate::analysis::analyze(&snap));
        let devices: Vec<DeviceData> = (analysis.devices.iter().enumerate())
            .map(|(i, d)| DeviceData::build(i, &snap, d))
            .collect();
        assert!(devices.iter().all(|d| d.lod.get().is_none()));
        let (tx, rx) = channel();
        let pyramids = devices.iter().map(|d| d.lod.clone()).collect();
        Pyramid::build_later(analysis.clone(), pyramids, move || {
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the pyramids are built and the app told");
        for (dd, d) in devices.iter().zip(&analysis.devices) {
            let lod = dd.lod.get().expect("built");
            let now = Lod::build(d, None);
            assert_eq!(lod.total, now.total);
            assert_eq!(lod.groups.len(), now.groups.len());
        }
    }
}
