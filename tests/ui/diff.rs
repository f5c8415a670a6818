//! The Diff view, checked against `memsight diff --json`: two moments of one file, and two
//! open files.

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::MemsightApp;

use super::{app_with, click_view, common, step_until, view};

/// Steps the app until the Diff view has its table.
fn wait_diff(h: &mut Harness<'static, MemsightApp>) -> memsight::ui::views::diff::Table {
    step_until(h, Duration::from_secs(60), "no diff came", |a| {
        let v = &a.active_tab().expect("a tab").views.diff;
        !v.busy() && v.table().is_some()
    });
    let v = &h.state().active_tab().expect("a tab").views.diff;
    let table = v.table().expect("a table").clone();
    h.run_steps(2);
    table
}

/// `memsight diff A B --json` with these points, as the terminal user runs it.
fn cli_diff(a: &std::path::Path, b: &std::path::Path, at: [&str; 2]) -> serde_json::Value {
    let mut cmd = common::memsight();
    cmd.args(["diff", "--json", "--at-a", at[0], "--at-b", at[1]])
        .args([a, b]);
    serde_json::from_slice(&common::run_ok(&mut cmd, "memsight diff")).expect("diff --json is JSON")
}

/// The view's table holds exactly the numbers of `memsight diff --json`, site by site.
fn assert_same_as_cli(t: &memsight::ui::views::diff::Table, cli: &serde_json::Value) {
    for side in ["a", "b"] {
        let s = if side == "a" { &t.diff.a } else { &t.diff.b };
        assert_eq!(cli[side]["allocated"], s.allocated, "allocated at {side}");
        assert_eq!(
            cli[side]["event"],
            serde_json::json!(s.event),
            "event of {side}"
        );
    }
    let rows = cli["sites"].as_array().expect("sites");
    assert_eq!(rows.len(), t.diff.sites.len());
    for (x, y) in t.diff.sites.iter().zip(rows) {
        assert_eq!(y["label"], x.label.as_str());
        assert_eq!(y["function"], x.function.as_str());
        assert_eq!(y["a"]["live_bytes"], x.a.live_bytes, "{}", x.label);
        assert_eq!(y["b"]["live_bytes"], x.b.live_bytes, "{}", x.label);
        assert_eq!(y["a"]["live_blocks"], x.a.live_blocks, "{}", x.label);
        assert_eq!(y["b"]["live_blocks"], x.b.live_blocks, "{}", x.label);
        assert_eq!(y["delta_bytes"], x.delta_bytes, "{}", x.label);
        assert_eq!(y["change"], x.change.name(), "{}", x.label);
    }
}

/// The Diff view opens on the first iteration against the last: the leaking line grew most,
/// the totals are the allocated bytes the replay has at those events, and every row is what
/// `memsight diff` prints for the same points; two other points compare the same way, and a
/// click on a row selects its call site.
#[test]
fn the_diff_view_compares_two_moments_as_memsight_diff_does() {
    let path = common::require("train_val_leak");
    let mut h = app_with(vec![Source::Path(path.clone())]);
    click_view(&mut h, ViewId::Diff);
    assert!(h
        .query_by_label_contains("Open another file to compare with it")
        .is_some());
    let t = wait_diff(&mut h);
    let (ea, eb, top) = {
        let tab = h.state().active_tab().expect("a tab");
        let d = &tab.loaded().expect("loaded").analysis.devices[0];
        let b = &d.iterations.boundaries;
        let (ea, eb) = (b[0], b[b.len() - 1]);
        // The site that grew most, from the live blocks at both events.
        let live = |e| memsight::ui::data::live_by_site(d, e);
        let at = |v: &[memsight::ui::data::SiteBytes], s| {
            v.iter().find(|x| x.site == s).map_or(0, |x| x.bytes as i64)
        };
        let (la, lb) = (live(ea), live(eb));
        let top = lb
            .iter()
            .max_by_key(|x| x.bytes as i64 - at(&la, x.site))
            .map(|x| d.sites.sites[x.site as usize].short_label())
            .expect("something is live at the end");
        let alloc = |e: usize| d.replay.series.at(e).allocated;
        assert_eq!(t.diff.a.allocated, alloc(ea));
        assert_eq!(t.diff.b.allocated, alloc(eb));
        (alloc(ea), alloc(eb), top)
    };
    assert_eq!(top, "workloads.py:158", "the leak grew most");
    assert_eq!(t.diff.sites[0].label, top, "largest change first");
    for total in [ea, eb] {
        let text = memsight::units::bytes(total);
        assert!(
            h.query_all_by_label(&text).count() >= 1,
            "the totals show {text}"
        );
    }
    assert_same_as_cli(&t, &cli_diff(&path, &path, ["iteration:0", "iteration:-1"]));

    // Two other moments: the start against the peak.
    {
        let v = &mut h.state_mut().active_tab_mut().expect("a tab").views.diff;
        v.a = memsight::ui::views::diff::Pick::Start;
        v.b = memsight::ui::views::diff::Pick::Peak;
    }
    let t = wait_diff(&mut h);
    assert_same_as_cli(&t, &cli_diff(&path, &path, ["event:0", "peak"]));

    h.get_by_label(&top).click();
    h.run_steps(3);
    let tab = h.state().active_tab().expect("a tab");
    let d = &tab.loaded().expect("loaded").analysis.devices[0];
    let site = tab.focus.selection.site.expect("a click selects the site");
    assert_eq!(d.sites.sites[site as usize].short_label(), top);
    assert_eq!(view(&h), ViewId::Diff, "a click stays in the view");
}

/// Two open files: the fragmented run against the one with expandable segments, at their
/// peaks, as `memsight diff frag_oom.pickle frag_oom_expandable.pickle` compares them.
#[test]
fn the_diff_view_compares_two_open_files() {
    let (a, b) = (
        common::require("frag_oom"),
        common::require("frag_oom_expandable"),
    );
    let mut h = app_with(vec![Source::Path(b.clone()), Source::Path(a.clone())]);
    assert_eq!(h.state().active, 1, "frag_oom in view");
    click_view(&mut h, ViewId::Diff);
    assert!(h
        .query_by_label_contains("Open another file to compare with it")
        .is_none());
    // A trace whose iterations end with nothing live opens on a pair that shows a change.
    let t = wait_diff(&mut h);
    assert!(t.diff.sites.iter().any(|x| x.delta_bytes != 0));
    let other = h.state().tabs[0].source.title();
    {
        let v = &mut h.state_mut().active_tab_mut().expect("a tab").views.diff;
        v.other = Some(other.clone());
        v.a = memsight::ui::views::diff::Pick::Peak;
        v.b = memsight::ui::views::diff::Pick::Peak;
    }
    let t = wait_diff(&mut h);
    assert!(h.query_by_label_contains(&format!("B ({other})")).is_some());
    assert_same_as_cli(&t, &cli_diff(&a, &b, ["peak", "peak"]));
    let tab = &h.state().tabs[0];
    let peak_b = tab.loaded().expect("loaded").analysis.devices[0]
        .peak
        .allocated;
    assert_eq!(
        t.diff.b.allocated, peak_b,
        "B is the other file at its peak"
    );
}
