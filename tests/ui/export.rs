//! Export: every format, the selected call site, every device, the path typed in the Export
//! window, and a call site's colour the same in the app and the HTML report.

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;

use memsight::ui::extensions::{ExportFormat, ExportScope};
use memsight::ui::focus::ViewId;
use memsight::ui::loader::Source;
use memsight::ui::tab::TabState;

use super::{app, app_with, click_view, common, loaded};

/// The text that `f` exports of `snap` and its analysis, titled `title`.
fn render(
    f: &ExportFormat,
    snap: &memsight::model::Snapshot,
    analysis: &memsight::analysis::Analysis,
    scope: ExportScope,
    title: &str,
) -> String {
    let bytes = (f.render)(snap, analysis, scope, title).expect("rendered");
    String::from_utf8(bytes).expect("text")
}

#[test]
fn every_export_format_renders_the_open_file() {
    let h = app("frag_oom");
    let doc = h.state().active_tab().unwrap();
    let TabState::Ready(l) = &doc.state else {
        panic!()
    };
    let formats = memsight::ui::extensions::export_formats();
    assert_eq!(formats.len(), 3);
    for f in formats {
        let scope = ExportScope {
            device: 0,
            site: None,
        };
        let text = render(&f, &l.snap, &l.analysis, scope, "frag_oom.pickle");
        assert!(
            text.contains("fragmentation"),
            "{} report names the verdict",
            f.extension
        );
    }
}

/// Export follows the selection: with the leaking line selected, every format singles it out.
#[test]
fn export_carries_the_selected_call_site() {
    let mut h = app("train_val_leak");
    click_view(&mut h, ViewId::Leaks);
    h.get_by_label("workloads.py:158").click();
    h.run_steps(3);
    let doc = h.state().active_tab().expect("a tab");
    let site = doc.focus.selection.site.expect("the leak is selected");
    let TabState::Ready(l) = &doc.state else {
        panic!("loaded")
    };
    let leak = &l.analysis.devices[0].leaks[0];
    assert_eq!(leak.site, site);
    let scope = ExportScope {
        device: 0,
        site: Some(site),
    };
    for f in memsight::ui::extensions::export_formats() {
        let text = render(&f, &l.snap, &l.analysis, scope, "t.pickle");
        match f.extension {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                let sel = &v["devices"][0]["selection"];
                assert_eq!(sel["site"], "workloads.py:158");
                assert_eq!(sel["live_at_end"].as_u64(), Some(leak.live_bytes));
            }
            ext => {
                assert!(text.contains("Selected call site"), "{ext}");
                assert!(
                    text.contains("workloads.py:158 in w_train_val_leak"),
                    "{ext} stack"
                );
            }
        }
    }
}

/// File > Export with nothing selected covers every device: the DDP rank's report names the
/// leak of its rank's GPU whichever device the app shows.
#[test]
fn export_covers_every_device_unless_a_site_is_selected() {
    let path = common::require("ddp_rank0");
    let snap =
        memsight::read::load_path(&path, &memsight::read::LoadOptions::default()).expect("loads");
    let a = memsight::analysis::analyze(&snap);
    assert!(a.devices.len() > 1);
    let quiet = a
        .devices
        .iter()
        .find(|d| d.leaks.is_empty())
        .expect("a device without the leak");
    for f in memsight::ui::extensions::export_formats() {
        let scope = ExportScope {
            device: quiet.device,
            site: None,
        };
        let text = render(&f, &snap, &a, scope, "ddp_rank0.pickle");
        assert!(
            text.contains("ranks.py:47"),
            "{}: the leak is exported",
            f.extension
        );
    }
}

/// File > Export asks where in a window with the path typed out (no native dialog needed):
/// Save writes the report beside the snapshot.
#[test]
fn export_writes_to_the_path_in_its_window() {
    let dir = std::env::temp_dir().join(format!("memsight-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let src = dir.join("frag_oom.pickle");
    std::fs::copy(
        common::snapshot_path("frag_oom").expect("the frag_oom sample"),
        &src,
    )
    .expect("a copy of the sample");
    let mut h = app_with(vec![Source::Path(src.clone())]);
    let md = memsight::ui::extensions::export_formats()
        .into_iter()
        .find(|f| f.extension == "md")
        .expect("a Markdown export");
    h.state_mut().export(md);
    h.run_steps(3);
    h.get_by_label("Save").click();
    let out = dir.join("frag_oom.pickle.md");
    let t = Instant::now();
    while !out.exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "nothing was written");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&out).expect("the report");
    assert!(text.contains("fragmentation"), "the frag_oom report");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_call_site_has_the_same_colour_in_the_app_and_the_html_report() {
    use memsight::ui::theme;
    let h = app("train_val_leak");
    let l = loaded(&h);
    let (d, dd) = (&l.analysis.devices[0], &l.devices[0]);
    // The app's colour of a site in the light theme, the report's background.
    let app_colour = |s: usize| {
        let c =
            dd.site_fixed[s].unwrap_or_else(|| theme::site_color(dd.site_tone[s].0, 0.0, false));
        format!("#{:02x}{:02x}{:02x}", c.r(), c.g(), c.b())
    };
    let report = memsight::output::report::model::device_report(&l.snap, d);
    let html = memsight::output::report::render_with(
        &l.snap,
        &l.analysis,
        &memsight::output::report::ReportOptions::default(),
        memsight::output::report::ReportFormat::Html,
    );
    let mut checked = 0;
    for band in &report.timeline.bands {
        if band.kind == memsight::output::report::model::BandKind::Other {
            continue;
        }
        let site = (0..d.sites.sites.len())
            .find(|&s| {
                let x = &d.sites.sites[s];
                if band.label == memsight::analysis::sites::NO_STACK {
                    x.file == "<unknown>"
                } else {
                    band.label.starts_with(&x.short_label())
                }
            })
            .unwrap_or_else(|| panic!("no call site for band {:?}", band.label));
        assert_eq!(band.colour, app_colour(site), "band {:?}", band.label);
        assert!(html.contains(&format!("fill=\"{}\"", band.colour)));
        checked += 1;
    }
    assert!(checked >= 3, "the chart has several call sites");
    // The leak suspect takes the first warm colour in both.
    let leak = d.leaks[0].site as usize;
    let warm = memsight::output::colours::hex(memsight::output::colours::LEAK_PALETTE[0]);
    assert_eq!(app_colour(leak), warm);
}
