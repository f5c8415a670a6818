//! Small windows: every view keeps to the central panel, left of the Stack panel, and the
//! Diagnosis wraps its sentences at the panel's edge (issue 15: below about 1000 px the
//! timeline ran under the Stack panel and the Diagnosis was cut).

use std::time::Duration;

use egui_kittest::kittest::{By, NodeT, Queryable};
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::preferences::Preferences;
use memsight::ui::MemsightApp;

use super::{click_view, common, wait_loaded};

/// The small windows checked: the size, and one near the app's minimum (720x480).
const SIZES: [(f32, f32); 2] = [(900.0, 650.0), (760.0, 560.0)];

/// The views a user reads first, each on a file where it has something to show.
const VIEWS: [ViewId; 5] = [
    ViewId::Diagnosis,
    ViewId::Timeline,
    ViewId::Segments,
    ViewId::Events,
    ViewId::Diff,
];

fn app_at(name: &str, (w, h): (f32, f32)) -> Harness<'static, MemsightApp> {
    let path = common::require(name);
    let mut h = Harness::builder()
        .with_size(egui::vec2(w, h))
        .build_eframe(move |cc| {
            MemsightApp::with_sources(
                &cc.egui_ctx,
                Preferences::default(),
                vec![Source::Path(path)],
            )
        });
    wait_loaded(&mut h, Duration::from_secs(120));
    h
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
                h.run_steps(4);
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
