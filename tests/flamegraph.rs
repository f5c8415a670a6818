//! Call trees and flame graphs on real snapshots: the root holds exactly the allocated bytes
//! PyTorch counted at every marker, the command writes all three formats, inferno reads the
//! folded stacks back, growth between two moments names the leaking line, and hostile frame
//! names stay inert.

mod common;

use std::path::PathBuf;

use memsight::analysis::calltree::{CallTree, Frames, Group, Key, TreeOptions};
use memsight::analysis::point::Point;
use memsight::analysis::{self, Analysis};
use memsight::model::Snapshot;
use memsight::output::flamegraph;
use memsight::read::{load_path, LoadOptions};

fn load(name: &str) -> (Snapshot, Analysis, serde_json::Value) {
    let path = common::require(name);
    let truth = common::truth(name).unwrap_or_else(|| panic!("{name}: no truth file"));
    let snap = load_path(&path, &LoadOptions::default()).expect("real snapshot loads");
    let a = analysis::analyze(&snap);
    (snap, a, truth)
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memsight-flame-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The byte count that inferno's SVG gives its root: `<title>all (1,234 bytes, 100%)`.
fn inferno_root_bytes(svg: &str) -> u64 {
    let start = svg.find("<title>all (").expect("inferno's root frame") + "<title>all (".len();
    let digits: String = svg[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| c.is_ascii_digit())
        .collect();
    digits.parse().expect("root byte count")
}

/// At every marker of every sample (and at the end, for the files without markers), the
/// tree's root holds exactly `torch.cuda.memory_stats()`'s allocated bytes, however the tree
/// is grouped and folded; `by_annotation` adds up to the peak.
#[test]
fn root_equals_pytorch_allocated_at_every_marker() {
    let options = [
        TreeOptions::default(),
        TreeOptions {
            group: Group::Annotation,
            frames: Frames::FoldLibrary,
            inverted: true,
        },
    ];
    let mut checked = 0;
    for name in common::ALL {
        let (snap, a, truth) = load(name);
        let d = &a.devices[0];
        let want = truth["markers"].as_array().expect("markers array");
        // A wrapped ring lost its oldest markers: they line up from the end.
        let offset = want.len() - d.markers.len();
        for k in 0..d.markers.len() {
            let allocated = want[k + offset]["allocated"].as_u64().expect("allocated");
            for o in &options {
                let tree = CallTree::at(&snap, d, Point::Marker(k as i64), o).expect("marker");
                assert_eq!(
                    tree.root().total.bytes,
                    allocated,
                    "{name} marker {k} {o:?}"
                );
            }
            checked += 1;
        }
        let end = CallTree::at(&snap, d, Point::End, &options[0]).expect("end");
        assert_eq!(
            Some(end.root().total.bytes),
            truth["final"]["allocated"].as_u64(),
            "{name} end"
        );
        let by: u64 = d.by_annotation.iter().map(|s| s.bytes).sum();
        if snap.annotations.is_empty() {
            assert!(d.by_annotation.is_empty(), "{name}");
        } else {
            assert_eq!(
                by, d.peak.allocated,
                "{name}: by_annotation sums to the peak"
            );
        }
    }
    assert!(checked >= 70, "only {checked} markers checked");
}

/// The folded stacks of the peak, drawn by inferno: it accepts every line and its root is
/// the allocated peak; a growth tree goes through inferno's differential mode.
#[test]
fn inferno_reads_the_folded_stacks_back() {
    for name in ["gpt_train_amp", "train_val_leak", "frag_oom"] {
        let (snap, a, _) = load(name);
        let d = &a.devices[0];
        let tree = CallTree::at(&snap, d, Point::Peak, &TreeOptions::default()).expect("peak");
        let folded = flamegraph::folded(&snap, &tree);
        let sum: u64 = folded
            .lines()
            .map(|l| {
                let (_, n) = l.rsplit_once(' ').expect("a count");
                n.parse::<u64>().expect("a byte count")
            })
            .sum();
        assert_eq!(
            sum, d.peak.allocated,
            "{name}: the lines add up to the peak"
        );
        let mut opt = inferno::flamegraph::Options::default();
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(&mut opt, folded.lines(), &mut svg)
            .expect("inferno reads the folded stacks");
        let svg = String::from_utf8(svg).expect("utf-8");
        assert_eq!(inferno_root_bytes(&svg), d.peak.allocated, "{name}");

        let growth = CallTree::growth(
            &snap,
            d,
            Point::Event(0),
            Point::Peak,
            &TreeOptions::default(),
        )
        .expect("growth");
        let diff = flamegraph::folded(&snap, &growth);
        assert!(
            diff.lines().all(|l| l.rsplitn(3, ' ').count() == 3),
            "{name}: two counts"
        );
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(
            &mut inferno::flamegraph::Options::default(),
            diff.lines(),
            &mut svg,
        )
        .expect("inferno reads the differential stacks");
    }
}

/// `memsight flamegraph` writes the format the extension names; bad points and outputs are
/// errors with their reason, never a panic.
#[test]
fn command_writes_all_three_formats() {
    let path = common::require("train_val_leak");
    let (_, a, _) = load("train_val_leak");
    let d = &a.devices[0];
    let m3 = d.markers[3].counters.allocated;
    let dir = tmp_dir("cli");
    let run = |args: &[&str]| {
        common::memsight()
            .arg("flamegraph")
            .arg(&path)
            .args(args)
            .output()
            .expect("memsight runs")
    };
    for ext in ["folded", "svg", "json"] {
        let out = dir.join(format!("m3.{ext}"));
        let mut cmd = common::memsight();
        cmd.arg("flamegraph").arg(&path).args([
            "--at",
            "marker:3",
            "-o",
            out.to_str().expect("path"),
        ]);
        common::run_ok(&mut cmd, ext);
        let text = std::fs::read_to_string(&out).expect("written");
        match ext {
            "folded" => {
                let sum: u64 = text
                    .lines()
                    .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
                    .sum();
                assert_eq!(sum, m3);
            }
            "svg" => {
                assert!(text.contains("<svg") && text.contains("marker:3"), "svg");
                assert_eq!(inferno_root_bytes(&text), m3);
            }
            _ => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                assert_eq!(v["bytes"].as_u64(), Some(m3));
                assert_eq!(v["nodes"][0]["bytes"].as_u64(), Some(m3));
                assert_eq!(v["event"].as_u64(), Some(d.markers[3].event as u64));
                let nodes = v["nodes"].as_array().expect("nodes");
                assert_eq!(v["nodes"][0]["end"].as_u64(), Some(nodes.len() as u64));
            }
        }
    }
    // Standard output: folded stacks.
    let o = run(&["--at", "end"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 3);
    // Growth: two counts per line.
    let o = run(&[
        "--from",
        "marker:1",
        "--at",
        "marker:-1",
        "--format",
        "folded",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout)
        .lines()
        .all(|l| l.rsplitn(3, ' ').count() == 3));
    // Errors: exit 2 with the reason.
    for (args, reason) in [
        (vec!["--at", "marker:99"], "snapshot markers"),
        (vec!["--at", "oom:0"], "OOMs"),
        (vec!["--at", "yesterday"], "not a point"),
        (vec!["--device", "7"], "no device 7"),
        (vec!["--fold", "sideways"], "expected all"),
        (vec!["--category", "x=("], "x=("),
        (vec!["-o", "/tmp/x.png"], "--format"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(reason), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The input is never overwritten (exit 3).
    let o = run(&["-o", path.to_str().expect("path"), "--format", "svg"]);
    assert_eq!(o.status.code(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sum of the growth of every node for the frames at `file:line`, counting each stack once
/// (the outermost such frame on its path).
fn growth_at_line(snap: &Snapshot, tree: &CallTree, file: &str, line: i64) -> i64 {
    let hit = |n: u32| match tree.nodes[n as usize].key {
        Key::Frame(f) | Key::Library(f) => {
            snap.frames.get(f).line == line && snap.frames.filename(f).ends_with(file)
        }
        _ => false,
    };
    (1..tree.nodes.len() as u32)
        .filter(|&n| hit(n) && !tree.path(n).iter().rev().skip(1).any(|&p| hit(p)))
        .map(|n| tree.nodes[n as usize].total.delta())
        .sum()
}

/// Between two moments of a leaking run, the leaking line (from the truth file) grew; the
/// tree's root grew by exactly what the allocated counter did.
#[test]
fn growth_names_the_leaking_line() {
    for (name, from, to) in [
        ("train_val_leak", Point::Marker(1), Point::Marker(-1)),
        ("leak_nomarks", Point::Iteration(0), Point::Iteration(-1)),
    ] {
        let (snap, a, truth) = load(name);
        let d = &a.devices[0];
        let o = TreeOptions {
            frames: Frames::FoldLibrary,
            ..Default::default()
        };
        let tree = CallTree::growth(&snap, d, from, to, &o).expect("points");
        let (ta, tb) = (
            analysis::point::resolve(d, from)
                .expect("from")
                .expect("event"),
            analysis::point::resolve(d, to).expect("to").expect("event"),
        );
        let s = &d.replay.series.allocated;
        assert_eq!(
            tree.root().total.delta(),
            s[tb] as i64 - s[ta] as i64,
            "{name}"
        );
        let leaks = truth["leak_sites"].as_array().expect("leak sites");
        assert!(!leaks.is_empty(), "{name}: the truth names a leak");
        let main = &leaks[0];
        let file = main["file"].as_str().expect("file");
        let line = main["line"].as_i64().expect("line");
        let grew = growth_at_line(&snap, &tree, file, line);
        assert!(grew > 0, "{name}: {file}:{line} grew by {grew}");
        // A line that looks like a leak but keeps no GPU memory barely moves.
        for nl in truth["not_leaks"].as_array().into_iter().flatten() {
            let l = nl["line"].as_i64().expect("line");
            let g = growth_at_line(&snap, &tree, file, l);
            assert!(
                g.abs() < grew / 100,
                "{name}: {file}:{l} grew {g}, the leak {grew}"
            );
        }
    }
}

/// A snapshot whose frame names carry `;`, newlines and markup: the folded text keeps one
/// line per stack with the names percent-encoded, the SVG and the JSON keep them inert.
#[test]
fn hostile_frame_names_are_escaped() {
    use serde_json::json;
    let evil = "evil;name\n<script>alert(1)</script>&";
    let frames = json!([
        {"name": evil, "filename": "/w/a;b.py", "line": 7},
        {"name": "main", "filename": "/w/train.py", "line": 1}
    ]);
    let ev = |action: &str, addr: u64, size: u64, frames: serde_json::Value| {
        json!({"action": action, "addr": addr, "size": size, "stream": 0, "time_us": 0,
               "frames": frames})
    };
    let base = 0x7f00_0000_0000u64;
    let trace = vec![
        ev("segment_alloc", base, 1 << 21, json!([])),
        ev("alloc", base, 1 << 20, frames.clone()),
        ev("alloc", base + (1 << 20), 512, json!([])),
    ];
    let snap = json!({"segments": [], "device_traces": [trace]});
    let bytes = serde_pickle::to_vec(&snap, serde_pickle::SerOptions::new()).expect("pickle");
    let dir = tmp_dir("hostile");
    let input = dir.join("evil.pickle");
    std::fs::write(&input, bytes).expect("write");
    let out = |ext: &str| -> String {
        let p = dir.join(format!("out.{ext}"));
        let mut cmd = common::memsight();
        cmd.arg("flamegraph").arg(&input).arg("-o").arg(&p);
        common::run_ok(&mut cmd, ext);
        std::fs::read_to_string(&p).expect("written")
    };
    let folded = out("folded");
    assert_eq!(folded.lines().count(), 2, "{folded}");
    assert!(folded.contains("evil%3Bname%0A<script>"), "{folded}");
    assert!(folded.contains("/w/a%3Bb.py:7"), "{folded}");
    let svg = out("svg");
    assert!(
        !svg.contains("<script>alert"),
        "markup from the file is escaped in the SVG"
    );
    assert!(
        svg.contains("&lt;script&gt;alert"),
        "the name is shown, escaped"
    );
    let json: serde_json::Value = serde_json::from_str(&out("json")).expect("JSON parses");
    let names: Vec<&str> = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["function"].as_str())
        .collect();
    assert!(
        names.contains(&evil),
        "the JSON keeps the name as written: {names:?}"
    );
    assert_eq!(json["bytes"].as_u64(), Some((1 << 20) + 512));
    let _ = std::fs::remove_dir_all(&dir);
}
