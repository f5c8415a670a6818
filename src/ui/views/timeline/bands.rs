//! Drawing bands: quads into one mesh, and the per-allocation layout used when zoomed in.

use egui::{
    epaint::{Mesh, Vertex, WHITE_UV},
    Color32, Rect,
};

use crate::analysis::NONE;
use crate::ui::view::ViewCtx;

/// Work allowed for per-allocation bands (live allocations times columns).
pub(super) const ALLOC_BUDGET: usize = 1_500_000;

/// `c` darkened by `f` (0..1), alpha kept.
pub(super) fn shade(c: Color32, f: f32) -> Color32 {
    let m = |v: u8| (v as f32 * f) as u8;
    Color32::from_rgba_premultiplied(m(c.r()), m(c.g()), m(c.b()), c.a())
}

pub(super) fn quad(mesh: &mut Mesh, r: Rect, color: Color32) {
    let i = mesh.vertices.len() as u32;
    for p in [
        r.left_top(),
        r.right_top(),
        r.right_bottom(),
        r.left_bottom(),
    ] {
        mesh.vertices.push(Vertex {
            pos: p,
            uv: WHITE_UV,
            color,
        });
    }
    mesh.indices
        .extend_from_slice(&[i, i + 1, i + 2, i, i + 2, i + 3]);
}

/// Per-allocation bands at each column: (allocation, low bytes, high bytes).
pub(super) struct AllocBands {
    pub(super) cols: Vec<Vec<(u32, u64, u64)>>,
}

impl AllocBands {
    /// The bands at each sample of `events`, from the allocations live in the visible events
    /// `visible` (`[first, end)`).
    pub(super) fn build(
        cx: &ViewCtx,
        events: &[usize],
        visible: (usize, usize),
    ) -> Option<AllocBands> {
        let n = cx.analysis.events;
        let r = &cx.analysis.replay;
        let t0 = visible.0.min(n - 1);
        let t1 = visible.1.min(n - 1);
        if t1 - t0 > ALLOC_BUDGET {
            return None;
        }
        // Candidates: allocated at t0, or allocated inside the window.
        let mut cand: Vec<u32> = cx
            .analysis
            .layout
            .active_after(r, Some(t0))
            .into_iter()
            .filter(|&k| r.allocations[k as usize].allocated_at(t0 as u32))
            .collect();
        for e in t0 + 1..=t1 {
            let k = r.event_allocation[e];
            if k != NONE && r.allocations[k as usize].alloc_event as usize == e {
                cand.push(k);
            }
        }
        cand.retain(|&k| cx.lod.keeps(k as usize));
        if cand.len() * events.len() > ALLOC_BUDGET {
            return None;
        }
        // Oldest at the bottom.
        cand.sort_by_key(|&k| {
            let a = r.allocations[k as usize].alloc_event;
            (if a == NONE { 0 } else { a as u64 + 1 }, k)
        });
        let cols = events
            .iter()
            .map(|&t| {
                let mut acc = 0u64;
                let mut col = Vec::new();
                for &k in &cand {
                    let a = &r.allocations[k as usize];
                    if a.allocated_at(t as u32) {
                        col.push((k, acc, acc + a.size));
                        acc += a.size;
                    }
                }
                col
            })
            .collect();
        Some(AllocBands { cols })
    }
}
