//! The Segments view: stepping to the fragmentation OOM, and a file without a trace shown at
//! dump time.

use std::path::PathBuf;

use egui_kittest::kittest::Queryable;

use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::tab::TabState;

use super::{app, app_with, click_view, focus};

#[test]
fn segments_scrub_to_the_fragmentation_oom() {
    let mut h = app("frag_oom");
    let oom_event = {
        let doc = h.state().active_tab().unwrap();
        let TabState::Ready(l) = &doc.state else {
            panic!()
        };
        let d = &l.analysis.devices[0];
        assert_eq!(d.ooms.len(), 1);
        d.ooms[0].event
    };
    click_view(&mut h, ViewId::Segments);
    h.get_by_label("Next OOM").click();
    h.run_steps(3);
    assert_eq!(focus(&h).cursor, oom_event);
    assert!(h.query_by_label_contains("OUT OF MEMORY here").is_some());
    assert!(h.query_by_label_contains("verdict fragmentation").is_some());
    // Stepping away leaves the OOM.
    h.get_by_label(">").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("OUT OF MEMORY here").is_none());
}

/// A PyTorch 2.0 file has no trace to scrub: the Segments view shows the layout at dump time,
/// with the blocks the file lists.
#[test]
fn a_file_without_a_trace_shows_its_segments_at_dump_time() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/history_only.pickle");
    let mut h = app_with(vec![Source::Path(path)]);
    click_view(&mut h, ViewId::Segments);
    assert!(h.query_by_label_contains("Segments at dump time").is_some());
    // One 2 MiB segment holding the two active blocks of 512 B and 1 MiB.
    let expected = {
        let doc = h.state().active_tab().expect("a tab");
        let TabState::Ready(l) = &doc.state else {
            panic!("not loaded")
        };
        let seg = &l.snap.segments[0];
        let active: u64 = seg
            .blocks
            .iter()
            .filter(|b| b.state == memsight::model::BlockState::ActiveAllocated)
            .map(|b| b.size)
            .sum();
        format!(
            "1 segments, {} reserved, {} allocated",
            memsight::ui::view::short_bytes(seg.total_size),
            memsight::ui::view::short_bytes(active)
        )
    };
    assert!(
        h.query_by_label_contains(&expected).is_some(),
        "no label with {expected:?}"
    );
}
