//! Small windows: every view keeps to the central panel, left of the Stack panel, and the
//! Diagnosis wraps its sentences at the panel's edge (issue 15: below about 1000 px the
//! timeline ran under the Stack panel and the Diagnosis was cut).

use egui_kittest::kittest::{By, NodeT, Queryable};
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::MemsightApp;

use super::{click_view, common, settle};

/// The small windows checked: the size, and one near the app's minimum (720x480).
const SIZES: [(f32, f32); 2] = [(900.0, 650.0), (760.0, 560.0)];

/// Every view, each on a file where it has something to show: the test opens each on
/// train_val_leak (its leak for Leaks, its iterations for Diff) and on frag_oom (its OOM for
/// Segments and What if).
const VIEWS: [ViewId; 9] = [
    ViewId::Diagnosis,
    ViewId::Timeline,
    ViewId::CallTree,
    ViewId::Segments,
    ViewId::Leaks,
    ViewId::WhatIf,
    ViewId::Summary,
    ViewId::Events,
    ViewId::Diff,
];

fn app_at(name: &str, size: (f32, f32)) -> Harness<'static, MemsightApp> {
    super::app_sized(vec![Source::Path(common::require(name))], size)
}

/// Widgets of the central panel (those centred in it, less the containers around the whole
/// panel, and the Stack panel's resize handle on its edge) that reach past its left or right edge, with their labels.
fn overflowing(h: &Harness<'static, MemsightApp>) -> Vec<String> {
    let p = h.state().panels().expect("a loaded file");
    let c = p.central;
    h.query_all(By::new().include_labels())
        .filter_map(|n| {
            let a = n.accesskit_node();
            if a.bounding_box().is_none() || a.role() == egui::Role::Splitter {
                return None;
            }
            let r = n.rect();
            let inside = c.contains(r.center()) && !r.contains_rect(c);
            let out = r.left() < c.left() - 1.0 || r.right() > c.right() + 1.0;
            (inside && out).then(|| format!("{:?} {:?} {:?} {r:?}", a.role(), a.label(), a.value()))
        })
        .collect()
}

/// What is wrong with view `v` in a window `width` wide: the central panel under the Stack
/// panel, a Stack panel wider than a third of the window, widgets past the central panel.
fn misfits(h: &Harness<'static, MemsightApp>, v: ViewId, width: f32) -> Vec<String> {
    let p = h.state().panels().expect("a loaded file");
    let mut wrong = Vec::new();
    if p.central.right() > p.stack.left() + 1.0 {
        wrong.push(format!(
            "{v:?} at {width}: the central panel {:?} runs under the Stack panel {:?}",
            p.central, p.stack
        ));
    }
    if p.stack.width() > width / 3.0 + 1.0 {
        wrong.push(format!(
            "{v:?} at {width}: the Stack panel takes {} of {width}",
            p.stack.width()
        ));
    }
    let out = overflowing(h);
    if !out.is_empty() {
        wrong.push(format!(
            "{v:?} at {width}: past the central panel {:?}: {out:#?}",
            p.central
        ));
    }
    wrong
}

/// Every view at both sizes; the failures are gathered so that one run names them all.
#[test]
fn every_view_fits_a_small_window() {
    let mut wrong = Vec::new();
    for size in SIZES {
        for name in ["train_val_leak", "frag_oom"] {
            let mut h = app_at(name, size);
            for v in VIEWS {
                click_view(&mut h, v);
                settle(&mut h);
                wrong.extend(
                    misfits(&h, v, size.0)
                        .into_iter()
                        .map(|m| format!("{name}: {m}")),
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_diagnosis_wraps_at_the_panel_edge() {
    for size in SIZES {
        let h = app_at("frag_oom", size);
        let c = h.state().panels().expect("a loaded file").central;
        let line = h.get_by_label_contains("external fragmentation").rect();
        assert!(
            line.left() >= c.left() - 1.0 && line.right() <= c.right() + 1.0,
            "at {size:?} the fragmentation sentence {line:?} leaves the panel {c:?}"
        );
        assert!(
            line.height() > 30.0,
            "at {size:?} the fragmentation sentence {line:?} is not wrapped"
        );
    }
}

/// The timeline in a short window: its legend (the call sites wrap onto several lines in a
/// narrow panel) lies whole inside the central panel and below the chart, the chart keeps its
/// minimum height, and the toolbar's hint is one line inside the panel. Also at the app's
/// smallest window (720x480).
#[test]
fn the_timeline_legend_and_hint_fit_a_small_window() {
    for size in SIZES.into_iter().chain([(720.0, 480.0)]) {
        let mut h = app_at("train_val_leak", size);
        click_view(&mut h, ViewId::Timeline);
        h.run_steps(4);
        let p = h.state().panels().expect("a loaded file");
        let c = p.central;
        assert!(
            c.bottom() <= p.stack.bottom() + 1.0,
            "at {size:?} the central panel {c:?} is taller than the window's middle {:?}",
            p.stack
        );
        let plot = h
            .state()
            .active_tab()
            .expect("a tab")
            .views
            .timeline
            .plot_rect
            .expect("a plot");
        // 120 px with the axes: 30 of them are the margin and the time axis.
        assert!(plot.height() >= 89.0, "at {size:?} the chart {plot:?}");
        let inside = |r: egui::Rect| {
            r.left() >= c.left() - 1.0
                && r.right() <= c.right() + 1.0
                && r.top() >= c.top() - 1.0
                && r.bottom() <= c.bottom() + 1.0
        };
        // The legend's last entry, then every entry below the chart.
        let last = h.get_by_label_contains("ticks: iterations").rect();
        assert!(
            inside(last) && last.top() >= plot.bottom(),
            "at {size:?} the legend's end {last:?} is cut (panel {c:?}, chart {plot:?})"
        );
        let mut entries = 0;
        for n in h.query_all(By::new().include_labels()) {
            if n.accesskit_node().bounding_box().is_none() {
                continue;
            }
            let r = n.rect();
            if !c.contains(r.center()) || r.top() < plot.bottom() {
                continue;
            }
            entries += 1;
            assert!(inside(r), "at {size:?} the legend entry {r:?} leaves {c:?}");
        }
        assert!(
            entries >= 10,
            "at {size:?} the legend shows its sites: {entries}"
        );
        for name in ["workloads.py:158", "reserved", "snapshot marker", "cursor"] {
            let r = h
                .query_all_by_label(name)
                .map(|n| n.rect())
                .find(|r| r.top() >= plot.bottom())
                .unwrap_or_else(|| panic!("at {size:?} {name:?} is in the legend"));
            assert!(inside(r), "at {size:?} {name:?} {r:?} leaves {c:?}");
        }
        let hint = h.get_by_label_contains("wheel: zoom").rect();
        assert!(
            inside(hint) && hint.bottom() <= plot.top(),
            "at {size:?} the hint {hint:?} leaves the toolbar in {c:?}"
        );
        assert!(
            hint.height() < 20.0,
            "at {size:?} the hint {hint:?} is one line"
        );
    }
}
