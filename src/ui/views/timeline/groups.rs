//! Bands by something other than the call site: the call tree's groups (annotation ranges,
//! compile contexts, the user's categories), and the allocations picked in the call tree as a
//! band of their own at the bottom, in the accent colour, the rest dimmed.
//!
//! Each allocation's group and the timeline of those bands take a pass over every allocation
//! and event (hundreds of milliseconds on a 1M-event trace), so they are built on a worker
//! and kept: the groups once per (focus epoch, grouping), the bands once per (groups, pick,
//! filter); the view draws the device's own timeline meanwhile.

use std::sync::Arc;

use egui::Color32;

use crate::analysis::calltree::{allocation_groups, AllocationGroups};
use crate::ui::data::largest_site;
use crate::ui::filters::Filter;
use crate::ui::focus::{ColorBy, GroupBy, Picked};
use crate::ui::job::{Job, Pending};
use crate::ui::lod::{Keys, Lod};
use crate::ui::theme;
use crate::ui::view::ViewCtx;

/// The timeline of bands by key, with what the keys mean.
pub struct Banded {
    pub lod: Lod,
    /// The groups, when the bands are groups (band keys index `labels`); `None`: call sites.
    pub groups: Option<Arc<AllocationGroups>>,
    /// The key of the picked allocations' band.
    pub pinned: Option<u32>,
    /// What was picked.
    pub picked: Option<Arc<Picked>>,
}

/// What the bands depend on: the focus epoch, the grouping (with the user's categories), the
/// pick, the filter, and the timeline the filter gave (its address: a new one each build).
type BandKey = (u64, Option<(GroupBy, String)>, Option<u64>, Filter, usize);

/// What each allocation's group depends on: the focus epoch and the grouping.
type GroupsKey = (u64, (GroupBy, String));

/// The bands in use and the one being built, and the last allocation groups (kept apart: a
/// new pick or filter rebuilds the bands, not the groups).
#[derive(Default)]
pub struct GroupBands {
    built: Option<(BandKey, Arc<Banded>)>,
    job: Pending<BandKey, Banded>,
    groups: Option<(GroupsKey, Arc<AllocationGroups>)>,
}

impl GroupBands {
    /// The bands for the focus as it is: `None` when the bands are call sites and nothing is
    /// picked (the device's timeline serves), or while they are being built.
    pub fn current(&mut self, cx: &ViewCtx) -> Option<Arc<Banded>> {
        let grouped = cx.focus.color_by == ColorBy::Group && cx.focus.group != GroupBy::Stack;
        let spec = grouped.then(|| {
            let text = if cx.focus.group == GroupBy::Categories {
                cx.env.preferences.categories.clone()
            } else {
                String::new()
            };
            (cx.focus.group, text)
        });
        let picked = cx.focus.selection.picked.clone();
        if spec.is_none() && picked.is_none() {
            self.built = None;
            self.job.clear();
            return None;
        }
        let key: BandKey = (
            cx.focus.epoch,
            spec,
            picked.as_ref().map(|p| p.id),
            cx.focus.filtered.filter.clone(),
            cx.lod as *const Lod as usize,
        );
        if let Some((k, Ok(b))) = self.job.take() {
            if let (Some(spec), Some(g)) = (&k.1, &b.groups) {
                self.groups = Some(((k.0, spec.clone()), g.clone()));
            }
            self.built = Some((k, Arc::new(b)));
        }
        let fresh = |k: &BandKey| *k == key;
        if !self.built.as_ref().is_some_and(|(k, _)| fresh(k)) && !self.job.is_for(&key) {
            let cached = key.1.as_ref().and_then(|spec| {
                let (k, g) = self.groups.as_ref()?;
                (*k == (key.0, spec.clone())).then(|| g.clone())
            });
            let job = spawn(cx, key.1.clone(), cached, picked);
            self.job.start(key.clone(), job);
        }
        self.built
            .as_ref()
            .filter(|(k, _)| fresh(k))
            .map(|(_, b)| b.clone())
    }

    /// Whether bands are being built (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.job.busy()
    }
}

/// Builds the bands on a worker, and the allocation groups unless `cached` has them.
fn spawn(
    cx: &ViewCtx,
    spec: Option<(GroupBy, String)>,
    cached: Option<Arc<AllocationGroups>>,
    picked: Option<Arc<Picked>>,
) -> Job<Banded> {
    let snap = cx.loaded.snap.clone();
    let analysis = cx.loaded.analysis.clone();
    let index = cx.data.index;
    let mask = cx.lod.mask.clone();
    Job::spawn("memsight-bands", cx.env.repaint.clone(), move |_| {
        let d = &analysis.devices[index];
        let groups = spec.map(|(g, text)| {
            cached.unwrap_or_else(|| Arc::new(allocation_groups(&snap, d, &g.group(&text))))
        });
        let (mut keys, mut count) = match &groups {
            Some(g) => (g.of.clone(), g.labels.len()),
            None => (d.allocation_site.clone(), d.sites.sites.len()),
        };
        let pinned = picked.as_ref().map(|p| {
            for &k in &p.allocations {
                if let Some(x) = keys.get_mut(k as usize) {
                    *x = count as u32;
                }
            }
            count += 1;
            (count - 1) as u32
        });
        let lod = Lod::build_by(
            d,
            mask,
            Some(Keys {
                of: &keys,
                count,
                pinned,
            }),
        );
        Banded {
            lod,
            groups,
            pinned,
            picked,
        }
    })
}

impl Banded {
    /// The call site a band stands for (`None` for a group, the pick, or "other").
    pub fn site(&self, key: Option<u32>) -> Option<u32> {
        key.filter(|&k| self.groups.is_none() && Some(k) != self.pinned)
    }

    /// The group name of key `key` when the bands are groups.
    pub fn group_name(&self, key: u32) -> Option<&str> {
        let g = self.groups.as_ref()?;
        g.labels.get(key as usize).map(String::as_str)
    }

    /// The colour of the band of `key`: the accent for the pick (the rest dimmed behind it),
    /// the group's colour, else the call site's.
    pub fn color(&self, cx: &ViewCtx, key: Option<u32>) -> Color32 {
        let dark = cx.dark();
        let c = match key {
            Some(k) if Some(k) == self.pinned => return theme::accent(dark),
            None => theme::other(dark),
            Some(k) => match self.group_name(k) {
                Some(name) => theme::group_color(name, dark),
                None if self.groups.is_some() => theme::other(dark),
                None => cx.site_color(k),
            },
        };
        if self.pinned.is_some() {
            c.gamma_multiply(0.35)
        } else {
            c
        }
    }
}

/// Picks every allocation of group `key` (what a click on a group's band selects), with the
/// group's live bytes after event `t`.
pub(super) fn pick_group(cx: &mut ViewCtx, b: &Banded, key: u32, name: &str, t: usize) {
    let Some(groups) = &b.groups else { return };
    let allocs = &cx.analysis.replay.allocations;
    let members: Vec<u32> = (0..allocs.len() as u32)
        .filter(|&k| groups.of.get(k as usize) == Some(&key))
        .collect();
    let (mut bytes, mut blocks) = (0u64, 0u64);
    for &k in &members {
        if allocs[k as usize].allocated_at(t as u32) {
            bytes += allocs[k as usize].size;
            blocks += 1;
        }
    }
    let site = largest_site(cx.analysis, &members);
    let path = vec![format!("{}: {name}", cx.focus.group.label())];
    let picked = Picked::new(path, (bytes, blocks), members, allocs.len());
    cx.focus.select_picked(site, picked);
}
