//! `memsight diff` on real samples: a fragmentation OOM against the same program with
//! expandable segments, and two points of one leaking trace.

mod common;

use std::process::Command;

use memsight::analysis::{self, Analysis};
use memsight::model::Snapshot;
use memsight::output::diff::{self, Change, Point, PointError, Side};
use memsight::output::report::{self, ReportFormat};
use memsight::read::{load_path, LoadOptions};

fn load(name: &str) -> Option<(Snapshot, Analysis)> {
    let path = common::require(name);
    let snap = load_path(&path, &LoadOptions::default()).expect("real snapshot loads");
    let a = analysis::analyze(&snap);
    Some((snap, a))
}

fn side<'a>(name: &str, s: &'a Snapshot, a: &'a Analysis, point: Point) -> Side<'a> {
    Side {
        name: name.into(),
        snap: s,
        device: &a.devices[0],
        point,
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memsight")
}

/// At their OOMs, the fragmented run failed its first 600 MiB request with 1000 MiB of 40 MiB
/// pieces live, while expandable segments let three 600 MiB requests succeed: the 600 MiB call
/// site (workloads.py:180) grew from one block to three, the pieces (workloads.py:172) did
/// not change, and the verdict went from fragmentation to capacity.
#[test]
fn expandable_segments_against_fragmentation() {
    let (Some((sa, aa)), Some((sb, ab))) = (load("frag_oom"), load("frag_oom_expandable")) else {
        return;
    };
    let d = diff::diff(
        &side("frag_oom", &sa, &aa, Point::Oom(0)),
        &side("frag_oom_expandable", &sb, &ab, Point::Oom(0)),
    )
    .expect("both traces have an OOM");
    assert_eq!(d.a.oom_verdicts, ["fragmentation"]);
    assert_eq!(d.b.oom_verdicts, ["capacity"]);
    assert!(d.b.peak_allocated > d.a.peak_allocated);
    assert!(
        d.b.allocated > d.a.allocated,
        "more fits before the OOM with expandable segments"
    );
    assert!(
        d.a.fragmentation_at_peak_reserved > 0.3 && d.b.fragmentation_at_peak_reserved < 0.01,
        "{} vs {}",
        d.a.fragmentation_at_peak_reserved,
        d.b.fragmentation_at_peak_reserved
    );
    let big = d
        .sites
        .iter()
        .find(|s| s.label == "workloads.py:180")
        .expect("the 600 MiB requests");
    assert_eq!(big.change, Change::Grew);
    assert_eq!((big.a.live_blocks, big.b.live_blocks), (1, 3));
    assert_eq!(big.a.live_bytes, 600 << 20);
    assert_eq!(big.delta_bytes, 2 * (600 << 20));
    let pieces = d
        .sites
        .iter()
        .find(|s| s.label == "workloads.py:172")
        .expect("the 40 MiB pieces");
    assert_eq!(pieces.change, Change::Same);
    assert_eq!(pieces.a.live_blocks, 25);
    // Largest change first.
    assert_eq!(d.sites[0].label, "workloads.py:180");

    // At the default point (the peaks), the 2 GiB block of line 168 is live in A only.
    let peaks = diff::diff(
        &side("frag_oom", &sa, &aa, Point::Peak),
        &side("frag_oom_expandable", &sb, &ab, Point::Peak),
    )
    .unwrap();
    let gone: Vec<_> = peaks.with(Change::Gone).map(|s| s.label.as_str()).collect();
    assert_eq!(gone, ["workloads.py:168"]);
}

/// Two points of one trace: between step 4 and the end of train_val_leak, the leaking line
/// (workloads.py:158) grows by the validation passes' kept graphs, and so do 156 and 157; what
/// the model and optimizer hold does not change.
#[test]
fn two_points_of_a_leaking_trace() {
    let Some((s, a)) = load("train_val_leak") else {
        return;
    };
    let d = diff::diff(
        &side("t", &s, &a, Point::Marker(1)),
        &side("t", &s, &a, Point::Marker(5)),
    )
    .unwrap();
    let leak = d
        .sites
        .iter()
        .find(|x| x.label == "workloads.py:158")
        .unwrap();
    assert!(leak.delta_bytes > 100 << 20, "{}", leak.delta_bytes);
    assert!(leak.b.allocs > leak.a.allocs);
    let to_end = diff::diff(
        &side("t", &s, &a, Point::Marker(5)),
        &side("t", &s, &a, Point::End),
    )
    .unwrap();
    let grew: Vec<&str> = to_end
        .with(Change::Grew)
        .map(|x| x.label.as_str())
        .collect();
    assert_eq!(
        grew,
        ["workloads.py:158", "workloads.py:156", "workloads.py:157"]
    );
    let leak = &to_end.sites[0];
    assert_eq!(leak.b.live_bytes, a.devices[0].leaks[0].live_bytes);
    // The weights (workloads.py:128) are the same at both points.
    let weights = to_end
        .sites
        .iter()
        .find(|x| x.label == "workloads.py:128")
        .unwrap();
    assert_eq!(weights.change, Change::Same);
    assert!(weights.a.live_bytes > 0);
    // Counters at the points are the replay's, which match PyTorch's at the markers.
    let truth = common::truth("train_val_leak").unwrap();
    assert_eq!(
        d.a.allocated,
        truth["markers"][1]["allocated"].as_u64().unwrap()
    );
    assert_eq!(
        d.b.allocated,
        truth["markers"][5]["allocated"].as_u64().unwrap()
    );
    // Points that do not exist are errors, not guesses.
    let e = diff::diff(
        &side("t", &s, &a, Point::Marker(99)),
        &side("t", &s, &a, Point::End),
    )
    .unwrap_err();
    assert!(matches!(e, PointError::NoMarker { count: 25, .. }), "{e}");
    assert!(diff::resolve(&a.devices[0], Point::Oom(0)).is_err());
    assert_eq!(
        diff::resolve(&a.devices[0], Point::Marker(-1)),
        Ok(Some(3140))
    );
}

#[test]
fn diff_command_in_every_format() {
    let Some(path) = common::snapshot_path("train_val_leak") else {
        return;
    };
    let p = path.to_str().unwrap();
    let o = Command::new(bin())
        .args(["diff", p, p, "--at-a", "marker:1", "--at-b", "marker:-1"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    // Nothing of the leak is live after step 0: the three lines are new.
    assert!(text.contains("New (not live in A): 3 call sites"), "{text}");
    assert!(text.contains("+864.36 MiB  workloads.py:158"), "{text}");
    assert!(text.contains("workloads.py:158"), "{text}");

    let o = Command::new(bin())
        .args([
            "diff", p, p, "--at-a", "marker:1", "--at-b", "end", "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["a"]["point"], "marker:1");
    assert_eq!(v["b"]["event"], 3140);
    assert_eq!(v["sites"][0]["label"], "workloads.py:158");
    assert_eq!(v["sites"][0]["change"], "new");
    assert_eq!(v["sites"][0]["b"]["live_blocks"], 145);

    let dir = std::env::temp_dir().join(format!("memsight-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, marker) in [("d.html", "<!DOCTYPE html>"), ("d.md", "## memsight diff")] {
        let out = dir.join(file);
        let st = Command::new(bin())
            .args([
                "diff",
                p,
                p,
                "--at-a",
                "iteration:2",
                "--at-b",
                "iteration:-1",
                "-o",
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let t = std::fs::read_to_string(&out).unwrap();
        assert!(t.starts_with(marker), "{file}");
        assert!(t.contains("workloads.py:158"), "{file}");
        if file.ends_with(".html") {
            assert!(!t.contains("<script"));
            // One chart (two points of one trace) with both points marked.
            assert_eq!(t.matches("class=\"chart memory-chart\"").count(), 1);
            assert_eq!(t.matches("<g class=\"point\">").count(), 2);
            assert!(
                t.contains("Allocated grew by"),
                "between iterations the leak grows"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    // A point that does not exist, or a file that cannot be read: exit 2 and why.
    let o = Command::new(bin())
        .args(["diff", p, p, "--at-b", "oom:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 OOMs"));
    let o = Command::new(bin())
        .args(["diff", p, "/nonexistent/x.pickle"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(bin())
        .args(["diff", p, p, "--at-a", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// The library call the app's export uses renders a diff in every format.
#[test]
fn diff_reports_render() {
    let (Some((sa, aa)), Some((sb, ab))) = (load("frag_oom"), load("frag_oom_expandable")) else {
        return;
    };
    let d = diff::diff(
        &side("frag_oom.pickle", &sa, &aa, Point::Oom(0)),
        &side("frag_oom_expandable.pickle", &sb, &ab, Point::Oom(0)),
    )
    .unwrap();
    let html = report::render_diff(&d, ReportFormat::Html);
    assert!(html.contains("frag_oom.pickle vs frag_oom_expandable.pickle"));
    assert!(html.contains("Peak allocated grew by 752.00 MiB"), "{html}");
    let md = report::render_diff(&d, ReportFormat::Md);
    assert!(
        md.contains("| peak allocated | 2.00 GiB | 2.73 GiB |"),
        "{md}"
    );
    assert!(md.contains("#### Grew (1)"));
    let json: serde_json::Value =
        serde_json::from_str(&report::render_diff(&d, ReportFormat::Json)).unwrap();
    assert_eq!(json["b"]["oom_verdicts"][0], "capacity");
}
