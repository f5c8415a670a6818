//! The Events view: it follows the cursor, moves it on a click or a key, finds an address and
//! narrows the list by action, size and text.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use memsight::ui::focus::ViewId;
use memsight::ui::MemsightApp;

use super::{app, click_view, events_where, focus, loaded, view};

/// The events the Events view lists now.
fn listed_events(h: &Harness<'static, MemsightApp>) -> Vec<usize> {
    let rows = h.state().active_tab().unwrap().views.events.rows();
    let rows = rows.expect("the list is built");
    (0..rows.len()).filter_map(|r| rows.event(r)).collect()
}

#[test]
fn the_events_view_follows_the_cursor_and_finds_an_address() {
    use memsight::analysis::NONE;
    use memsight::model::Action;

    let mut h = app("frag_oom");
    let (n, oom) = {
        let d = &loaded(&h).analysis.devices[0];
        (d.events, d.ooms[0].event)
    };
    assert!(n > 100, "frag_oom has a trace");
    // The cursor moved elsewhere (Segments' Next OOM): the list shows its row.
    click_view(&mut h, ViewId::Segments);
    h.get_by_label("Next OOM").click();
    h.run_steps(3);
    let key = ViewId::ALL
        .iter()
        .position(|&v| v == ViewId::Events)
        .unwrap()
        + 1;
    h.key_press(egui::Key::from_name(&key.to_string()).unwrap());
    h.run_steps(3);
    assert_eq!(view(&h), ViewId::Events);
    assert!(h.query_by_label(&format!("{n} of {n} events")).is_some());
    let oom_size = loaded(&h).snap.trace(0).unwrap().events[oom].size;
    assert!(
        h.query_by_label(&oom.to_string()).is_some(),
        "the cursor's row"
    );
    assert!(h.query_by_label("oom").is_some());
    let size = memsight::ui::view::short_bytes(oom_size);
    assert!(h.query_all_by_label(&size).count() >= 1, "{size}");

    // A click on a row moves the cursor there and selects its allocation.
    let (target, alloc, site) = {
        let d = &loaded(&h).analysis.devices[0];
        let target = (oom - 8..oom)
            .rev()
            .find(|&e| d.replay.event_allocation[e] != NONE)
            .expect("an allocation's event just before the OOM");
        let k = d.replay.event_allocation[target];
        (target, k, d.allocation_site[k as usize])
    };
    h.get_by_label(&target.to_string()).click();
    h.run_steps(2);
    assert_eq!(focus(&h).cursor, target);
    assert_eq!(focus(&h).selection.allocation, Some(alloc));
    assert_eq!(focus(&h).selection.site, Some(site));
    // Hovering a row shows its stack.
    h.get_by_label(&target.to_string()).hover();
    h.run_steps(40);
    assert!(h
        .query_by_label_contains("click to move the time cursor here")
        .is_some());

    // The keyboard steps through the rows.
    for (key, want) in [
        (egui::Key::ArrowDown, target + 1),
        (egui::Key::ArrowUp, target),
        (egui::Key::End, n - 1),
        (egui::Key::Home, 0),
    ] {
        h.key_press(key);
        h.run_steps(2);
        assert_eq!(focus(&h).cursor, want, "{key:?}");
    }

    // Find address (Ctrl+F from another view): an address inside one of the 40 MiB pieces.
    let (addr, expected_allocs) = {
        let d = &loaded(&h).analysis.devices[0];
        let a = d.replay.allocations[alloc as usize];
        let addr = a.addr + a.size / 2;
        // Truth from the allocations' lifetimes, not from scanning events.
        let mut want: Vec<usize> = d
            .replay
            .allocations
            .iter()
            .filter(|b| b.addr <= addr && addr < b.addr + b.size)
            .flat_map(|b| [b.alloc_event, b.free_requested, b.free_completed])
            .filter(|&e| e != NONE)
            .map(|e| e as usize)
            .collect();
        want.sort_unstable();
        (addr, want)
    };
    click_view(&mut h, ViewId::Timeline);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run_steps(2);
    assert_eq!(view(&h), ViewId::Events);
    h.event(egui::Event::Text(format!("{addr:#x}")));
    h.run_steps(3);
    let listed = listed_events(&h);
    let events = &loaded(&h).snap.trace(0).unwrap().events;
    let r = &loaded(&h).analysis.devices[0].replay;
    let (blocks, segments): (Vec<usize>, Vec<usize>) =
        listed.iter().partition(|&&e| r.event_allocation[e] != NONE);
    assert!(!expected_allocs.is_empty());
    assert_eq!(blocks, expected_allocs, "the block events at {addr:#x}");
    assert!(
        !segments.is_empty(),
        "the segment holding {addr:#x} is listed"
    );
    for e in segments {
        let ev = &events[e];
        assert!(matches!(
            ev.action,
            Action::SegmentAlloc | Action::SegmentFree
        ));
        assert!(ev.addr <= addr && addr < ev.addr + ev.size);
    }
    let shown = format!("{} of {n} events", listed.len());
    assert!(h.query_by_label(&shown).is_some(), "{shown}");

    // An action and a size range narrow the same way; nothing left says so.
    let ev = &mut h.state_mut().active_tab_mut().unwrap().views.events;
    ev.address.clear();
    ev.action = Some(Action::Alloc);
    ev.min_size = "600 MiB".into();
    h.run_steps(3);
    let big: Vec<usize> = events_where(&h, |e| e.action == Action::Alloc && e.size >= 600 << 20);
    assert!(!big.is_empty());
    assert_eq!(listed_events(&h), big);
    h.state_mut()
        .active_tab_mut()
        .unwrap()
        .views
        .events
        .max_size = "1 KiB".into();
    h.run_steps(3);
    assert!(h.query_by_label_contains("No event matches").is_some());

    // Text: the events with a frame at workloads.py line 172 (the 40 MiB pieces).
    let ev = &mut h.state_mut().active_tab_mut().unwrap().views.events;
    ev.action = None;
    ev.min_size.clear();
    ev.max_size.clear();
    ev.text = "WORKLOADS.py:172".into();
    h.run_steps(3);
    let snap = &loaded(&h).snap;
    let at_172 = events_where(&h, |e| {
        snap.stacks.get(e.stack).iter().any(|&f| {
            snap.frames.filename(f).ends_with("workloads.py") && snap.frames.get(f).line == 172
        })
    });
    assert!(at_172.len() > 10, "frag_oom carves its segment at line 172");
    assert_eq!(listed_events(&h), at_172);
}
