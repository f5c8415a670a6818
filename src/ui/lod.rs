//! Level of detail for the memory timeline.
//!
//! A million events cannot be drawn one by one at 60 frames a second. The timeline draws about
//! one column per pixel, and for each column it needs (a) the event inside the column where the
//! allocated memory peaks, so that spikes never vanish when zoomed out, and (b) the allocated
//! bytes per call-site group at that event. Both come from structures built once on a worker
//! thread:
//! - a max pyramid over the (filtered) allocated total: the argmax of any event range costs
//!   O(log n);
//! - the per-group bytes every [`CHECK`] events, plus one signed delta per event: the groups
//!   after any event cost at most `CHECK` additions, and neighbouring columns reuse each
//!   other's state.

use crate::analysis::{DeviceAnalysis, NONE};

/// Events between two stored group states.
pub const CHECK: usize = 256;
/// Call sites drawn with their own band; the rest share the "other" band.
pub const TOP_SITES: usize = 23;

/// One band of the timeline.
#[derive(Debug, Clone)]
pub struct Group {
    /// The band's key: the call site (or, for a timeline built by [`Keys`], the key given to
    /// its allocations); `None` for "other".
    pub site: Option<u32>,
    /// Highest bytes this group held at once.
    pub peak: u64,
}

/// argmax of a column of values over power-of-two buckets.
#[derive(Debug, Clone, Default)]
pub struct MaxPyramid {
    /// `levels[l][i]`: index and value of the largest value in `[i << (l+1), (i+1) << (l+1))`
    /// (the value is kept beside the index so a query never jumps back into `values`).
    levels: Vec<Vec<(u32, u64)>>,
}

impl MaxPyramid {
    pub fn build(values: &[u64]) -> MaxPyramid {
        let mut levels: Vec<Vec<(u32, u64)>> = Vec::new();
        let mut prev: Vec<(u32, u64)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u32, v))
            .collect();
        while prev.len() > 1 {
            let next: Vec<(u32, u64)> = prev
                .chunks(2)
                .map(|c| match c {
                    [a, b] if b.1 > a.1 => *b,
                    [a, ..] => *a,
                    [] => (0, 0),
                })
                .collect();
            levels.push(next.clone());
            prev = next;
        }
        MaxPyramid { levels }
    }

    /// Index of the largest value in `[a, b)` (`a` when the range is empty).
    pub fn argmax(&self, values: &[u64], a: usize, b: usize) -> usize {
        let b = b.min(values.len());
        if a >= b {
            return a.min(values.len().saturating_sub(1));
        }
        let (mut best, mut best_v) = (a, values[a]);
        let mut i = a;
        while i < b {
            // The largest aligned bucket starting at i that fits in [i, b): O(1) per step.
            let align = if i == 0 { u32::MAX } else { i.trailing_zeros() };
            let fit = usize::BITS - 1 - (b - i).leading_zeros();
            let l = align.min(fit).min(self.levels.len() as u32) as usize;
            let (cand, v) = if l == 0 {
                (i, values[i])
            } else {
                let (k, v) = self.levels[l - 1][i >> l];
                (k as usize, v)
            };
            if v > best_v {
                best = cand;
                best_v = v;
            }
            i += 1 << l;
        }
        best
    }
}

/// The precomputed timeline of one device under one filter.
#[derive(Debug, Clone, Default)]
pub struct Lod {
    pub groups: Vec<Group>,
    /// Band of each call site (of each key, when built by keys).
    pub site_group: Vec<u16>,
    /// Group state before event `k * CHECK` (after event `k * CHECK - 1`), `groups.len()`
    /// values per checkpoint.
    checkpoints: Vec<u64>,
    /// Group touched by each event and the signed change of its bytes (0: none).
    event_group: Vec<u16>,
    event_delta: Vec<i64>,
    /// Allocated bytes that pass the filter, after each event.
    pub total: Vec<u64>,
    pub total_max: MaxPyramid,
    pub reserved_max: MaxPyramid,
    /// Allocations that pass the filter (`None`: all).
    pub mask: Option<Vec<bool>>,
}

/// Bands by something other than the call site: a key per allocation.
pub struct Keys<'a> {
    /// The key of each allocation (indexed as `Replay::allocations`), below `count`.
    pub of: &'a [u32],
    pub count: usize,
    /// A key that always gets the first band (the bottom one), however small: the
    /// allocations the user picked.
    pub pinned: Option<u32>,
}

impl Lod {
    /// Builds the timeline of `d` by call site; `mask` keeps only some allocations (filters).
    pub fn build(d: &DeviceAnalysis, mask: Option<Vec<bool>>) -> Lod {
        Lod::build_by(d, mask, None)
    }

    /// Builds the timeline of `d` with a band per key of `keys` (per call site when `None`).
    pub fn build_by(d: &DeviceAnalysis, mask: Option<Vec<bool>>, keys: Option<Keys>) -> Lod {
        let r = &d.replay;
        let n = d.events;
        let ns = keys.as_ref().map_or(d.sites.sites.len(), |k| k.count);
        let pinned = keys.as_ref().and_then(|k| k.pinned);
        let key_of = |i: usize| match &keys {
            Some(k) => k.of.get(i).copied().unwrap_or(0),
            None => d.allocation_site.get(i).copied().unwrap_or(0),
        };
        let keep = |i: usize| {
            mask.as_ref()
                .is_none_or(|m| m.get(i).copied().unwrap_or(false))
        };
        // Signed change of allocated bytes per event, and the site it belongs to.
        let mut site_of_event = vec![u32::MAX; n];
        let mut delta = vec![0i64; n];
        let mut initial_site = vec![0u64; ns];
        for (i, a) in r.allocations.iter().enumerate() {
            if !keep(i) {
                continue;
            }
            let s = key_of(i);
            if (s as usize) >= ns {
                continue;
            }
            if a.alloc_event == NONE {
                if let Some(v) = initial_site.get_mut(s as usize) {
                    *v += a.size;
                }
            } else if (a.alloc_event as usize) < n {
                delta[a.alloc_event as usize] += a.size as i64;
                site_of_event[a.alloc_event as usize] = s;
            }
            if a.free_requested != NONE && (a.free_requested as usize) < n {
                delta[a.free_requested as usize] -= a.size as i64;
                site_of_event[a.free_requested as usize] = s;
            }
        }
        // Peak bytes per site, to pick the sites that get their own band.
        let mut cur = initial_site.clone();
        let mut peak = cur.clone();
        let mut total = Vec::with_capacity(n);
        let mut t: i64 = cur.iter().sum::<u64>() as i64;
        for e in 0..n {
            let s = site_of_event[e];
            if s != u32::MAX {
                let v = &mut cur[s as usize];
                *v = (*v as i64 + delta[e]).max(0) as u64;
                peak[s as usize] = peak[s as usize].max(*v);
            }
            t += delta[e];
            total.push(t.max(0) as u64);
        }
        let mut order: Vec<u32> = (0..ns as u32)
            .filter(|&s| peak[s as usize] > 0 || Some(s) == pinned)
            .collect();
        // Largest first, the pinned key before all.
        order.sort_by_key(|&s| (Some(s) != pinned, std::cmp::Reverse(peak[s as usize]), s));
        let top = order.len().min(TOP_SITES);
        let mut groups: Vec<Group> = order[..top]
            .iter()
            .map(|&s| Group {
                site: Some(s),
                peak: peak[s as usize],
            })
            .collect();
        let other = groups.len() as u16;
        let other_peak: u64 = order[top..].iter().map(|&s| peak[s as usize]).sum();
        groups.push(Group {
            site: None,
            peak: other_peak,
        });
        let mut site_group = vec![other; ns];
        for (g, &s) in order[..top].iter().enumerate() {
            site_group[s as usize] = g as u16;
        }
        let g = groups.len();
        let mut state = vec![0u64; g];
        for (s, &v) in initial_site.iter().enumerate() {
            state[site_group[s] as usize] += v;
        }
        let mut event_group = vec![0u16; n];
        let mut checkpoints = Vec::with_capacity((n / CHECK + 1) * g);
        checkpoints.extend_from_slice(&state);
        for e in 0..n {
            let s = site_of_event[e];
            if s != u32::MAX {
                let gi = site_group[s as usize];
                event_group[e] = gi;
                let v = &mut state[gi as usize];
                *v = (*v as i64 + delta[e]).max(0) as u64;
            }
            if (e + 1) % CHECK == 0 {
                checkpoints.extend_from_slice(&state);
            }
        }
        let total_max = MaxPyramid::build(&total);
        let reserved_max = MaxPyramid::build(&r.series.reserved);
        Lod {
            groups,
            site_group,
            checkpoints,
            event_group,
            event_delta: delta,
            total,
            total_max,
            reserved_max,
            mask,
        }
    }

    pub fn events(&self) -> usize {
        self.total.len()
    }

    /// Whether allocation `i` passes the filter.
    pub fn keeps(&self, i: usize) -> bool {
        self.mask
            .as_ref()
            .is_none_or(|m| m.get(i).copied().unwrap_or(false))
    }

    /// Writes the bytes of every group after event `t` into `out`.
    pub fn groups_after(&self, t: usize, out: &mut [u64]) {
        let g = self.groups.len();
        let k = ((t + 1) / CHECK).min(self.checkpoints.len() / g.max(1) - 1);
        out.copy_from_slice(&self.checkpoints[k * g..(k + 1) * g]);
        self.apply(k * CHECK, t + 1, out);
    }

    /// Moves a group state from "before event `from`" to "before event `to`" (`from <= to`).
    pub fn apply(&self, from: usize, to: usize, out: &mut [u64]) {
        let to = to.min(self.event_delta.len());
        for e in from..to {
            let d = self.event_delta[e];
            if d != 0 {
                let v = &mut out[self.event_group[e] as usize];
                *v = (*v as i64 + d).max(0) as u64;
            }
        }
    }

    /// Group states for consecutive sample events (ascending): one `groups.len()` row each.
    pub fn sample(&self, events: &[usize]) -> Vec<u64> {
        let g = self.groups.len();
        let mut out = vec![0u64; events.len() * g];
        let mut state = vec![0u64; g];
        let mut have: Option<usize> = None;
        for (c, &t) in events.iter().enumerate() {
            match have {
                Some(p) if p <= t && t - p < CHECK => self.apply(p + 1, t + 1, &mut state),
                _ => self.groups_after(t, &mut state),
            }
            have = Some(t);
            out[c * g..(c + 1) * g].copy_from_slice(&state);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::MaxPyramid;

    #[test]
    fn pyramid_argmax_matches_a_scan() {
        let v: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 1013).collect();
        let p = MaxPyramid::build(&v);
        for (a, b) in [
            (0, 1000),
            (3, 17),
            (500, 501),
            (0, 1),
            (999, 1000),
            (13, 777),
        ] {
            let want = (a..b)
                .max_by_key(|&i| (v[i], std::cmp::Reverse(i)))
                .unwrap();
            assert_eq!(v[p.argmax(&v, a, b)], v[want]);
        }
    }
}
