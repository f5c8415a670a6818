//! Reports on the real samples: every format on every snapshot, the JSON contract shared with
//! `analyze --json`, and the HTML rendered by headless Chromium (DOM and pixels).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use memsight::analysis::{self, Analysis};
use memsight::model::Snapshot;
use memsight::output::analyze_json;
use memsight::output::report::model::{self, CHART_COLUMNS, MAX_BANDS};
use memsight::output::report::{self, ReportFormat, ReportOptions};
use memsight::read::{load_path, LoadOptions};

fn load(name: &str) -> Option<(Snapshot, Analysis)> {
    let path = common::require(name);
    let snap = load_path(&path, &LoadOptions::default()).expect("real snapshot loads");
    let a = analysis::analyze(&snap);
    Some((snap, a))
}

/// The headline each sample must get, from what the workload really did (see the samples'
/// README): `None` where any headline will do.
fn expected_headline(name: &str) -> Option<&'static str> {
    match name {
        "train_val_leak" => Some("Memory leak at workloads.py:158"),
        "frag_oom" => Some("Fragmentation OOM"),
        "frag_oom_expandable" | "capacity_oom" => Some("Capacity OOM"),
        "gpt_train_amp" => Some("Healthy"),
        _ => None,
    }
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memsight-report-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Checks every format of one sample; returns the HTML.
fn check_all_formats(name: &str, snap: &Snapshot, a: &Analysis) -> String {
    let opts = ReportOptions {
        title: format!("{name}.pickle"),
        device: None,
        focus_site: None,
    };
    let d = &a.devices[0];
    let r = model::device_report(snap, d);
    let headline = model::headline(&r.findings);
    if let Some(want) = expected_headline(name) {
        assert_eq!(headline, want, "{name}: headline");
    }

    // The chart is downsampled: at most one column per pixel, a few bands, and at every column
    // the bands add up exactly to the allocated bytes at the sampled event.
    let t = &r.timeline;
    assert!(
        t.sample.len() <= CHART_COLUMNS,
        "{name}: {} columns",
        t.sample.len()
    );
    assert!(
        t.bands.len() <= MAX_BANDS + 1,
        "{name}: {} bands",
        t.bands.len()
    );
    assert!(
        t.sample.windows(2).all(|w| w[0] < w[1]),
        "{name}: samples increase"
    );
    for (c, &e) in t.sample.iter().enumerate() {
        let stacked: u64 = t.bands.iter().map(|b| b.values[c]).sum();
        assert_eq!(
            stacked, d.replay.series.allocated[e],
            "{name}: column {c} (event {e})"
        );
        assert!(
            t.reserved[c] >= stacked,
            "{name}: reserved below allocated at column {c}"
        );
    }
    // The peak column is the peak.
    assert!(
        t.sample.contains(&d.peak.allocated_event),
        "{name}: peak sampled"
    );
    // What held the peak adds up to at most the peak, and its top entry is really there.
    let held: u64 = r.peak_sites.iter().map(|p| p.bytes).sum();
    assert!(held <= d.peak.allocated && held > 0, "{name}: peak sites");

    // HTML: self-contained, with the verdict, the chart and its bands.
    let html = report::render_with(snap, a, &opts, ReportFormat::Html);
    assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
    assert!(html.contains(&headline), "{name}: headline in HTML");
    for banned in [
        "<script", "<link", "@import", "url(", " src=", "<iframe", "<img",
    ] {
        assert!(!html.contains(banned), "{name}: HTML contains {banned:?}");
    }
    assert!(html.contains("@media print"), "{name}: print styles");
    assert!(
        html.contains("class=\"chart memory-chart\""),
        "{name}: chart"
    );
    let bands = html.matches("<path class=\"band\"").count();
    assert_eq!(bands, t.bands.len(), "{name}: one path per band");
    assert!(
        html.len() < 2_000_000,
        "{name}: HTML is {} bytes",
        html.len()
    );
    for o in &d.ooms {
        let v = match o.verdict {
            analysis::Verdict::Fragmentation => "Fragmentation",
            analysis::Verdict::Capacity => "Capacity",
        };
        assert!(html.contains(v), "{name}: OOM verdict {v}");
    }
    for l in &d.leaks {
        assert!(html.contains(&format!(
            "{}:{}",
            Path::new(&l.file).file_name().unwrap().to_string_lossy(),
            l.line
        )));
    }

    // Markdown: verdict line, tables, leak stacks folded.
    let md = report::render_with(snap, a, &opts, ReportFormat::Md);
    assert!(
        md.contains(&format!("**Verdict: {headline}**")),
        "{name}: md verdict"
    );
    assert!(md.contains("#### What held the peak"), "{name}");
    if !d.leaks.is_empty() {
        assert!(
            md.contains("#### Leak suspects") && md.contains("<details>"),
            "{name}"
        );
    }
    if !d.ooms.is_empty() {
        assert!(md.contains("#### Out-of-memory errors"), "{name}");
    }

    // JSON: the analyze --json contract, plus the report's fields.
    let json: serde_json::Value =
        serde_json::from_str(&report::render_with(snap, a, &opts, ReportFormat::Json))
            .expect("report JSON parses");
    // Through text, as the report's was: floats then parse back alike on both sides.
    let contract: serde_json::Value = serde_json::from_str(
        &serde_json::to_string(&analyze_json::to_json(a, snap.format.variant)).unwrap(),
    )
    .unwrap();
    let devs = json["devices"].as_array().expect("devices");
    assert_eq!(devs.len(), a.devices.len());
    for (got, want) in devs.iter().zip(contract["devices"].as_array().unwrap()) {
        for key in [
            "device",
            "events",
            "trace_complete",
            "markers",
            "peak",
            "final",
            "fragmentation",
            "ooms",
            "leaks",
        ] {
            assert_eq!(
                got[key], want[key],
                "{name}: JSON {key} differs from analyze --json"
            );
        }
        assert_eq!(got["headline"], headline.as_str());
        // A device that allocated nothing (a rank's file's trace of the other GPU) has no
        // peak to hold.
        let allocated = got["peak"]["allocated"].as_u64().unwrap_or(0) > 0;
        assert_eq!(
            got["peak_sites"].as_array().is_some_and(|v| !v.is_empty()),
            allocated,
            "{name}"
        );
    }
    html
}

#[test]
fn every_format_on_every_sample() {
    let mut done = 0;
    for name in common::ALL {
        if name == "huge_trace" {
            continue; // its own test below, so the two run in parallel
        }
        let Some((snap, a)) = load(name) else {
            continue;
        };
        check_all_formats(name, &snap, &a);
        done += 1;
    }
    assert!(done >= 6, "only {done} samples found");
}

#[test]
fn every_format_on_the_huge_trace() {
    let Some((snap, a)) = load("huge_trace") else {
        return;
    };
    check_all_formats("huge_trace", &snap, &a);
}

#[test]
fn one_device_or_none() {
    let Some((snap, a)) = load("frag_oom") else {
        return;
    };
    let none = report::render(&snap, &a, Some(7), ReportFormat::Json);
    let v: serde_json::Value = serde_json::from_str(&none).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 0);
    let md = report::render(&snap, &a, Some(7), ReportFormat::Md);
    assert!(md.contains("nothing to analyse"));
    let html = report::render(&snap, &a, Some(0), ReportFormat::Html);
    assert!(html.contains("Fragmentation OOM"));
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memsight")
}

/// The command writes the format its output's extension names; `--format` overrides it.
#[test]
fn report_command_picks_the_format() {
    let Some(path) = common::snapshot_path("capacity_oom") else {
        return;
    };
    let dir = tmp_dir("cli");
    for (file, marker) in [
        ("r.html", "<!DOCTYPE html>"),
        ("r.md", "## memsight report"),
        ("r.json", "{"),
    ] {
        let out = dir.join(file);
        let st = Command::new(bin())
            .arg("report")
            .arg(&path)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success(), "{file}");
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.starts_with(marker),
            "{file}: {}",
            &text[..40.min(text.len())]
        );
        assert!(text.contains("Capacity"), "{file}");
    }
    let out = dir.join("r.txt");
    let o = Command::new(bin())
        .args(["report", path.to_str().unwrap(), "--format", "json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["devices"][0]["ooms"][0]["verdict"], "capacity");
    // An extension that names no format is an error (exit 2), not a guess.
    let o = Command::new(bin())
        .args(["report", path.to_str().unwrap(), "-o"])
        .arg(dir.join("r.txt"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"));
    // Unreadable input: exit 2 with the reason.
    let bad = dir.join("bad.pickle");
    std::fs::write(&bad, b"not a pickle").unwrap();
    let o = Command::new(bin())
        .args(["report", bad.to_str().unwrap(), "-o"])
        .arg(dir.join("x.html"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium

fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: no Chromium at {} (set CHROMIUM)", p.display());
        None
    }
}

fn chromium_cmd(chrome: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chrome);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

struct Png {
    width: u32,
    height: u32,
    /// RGB triples.
    rgb: Vec<[u8; 3]>,
}

fn decode_png(path: &Path) -> Png {
    let file = std::fs::File::open(path).expect("screenshot written");
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let ch = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(ch)
        .map(|p| match ch {
            1 | 2 => [p[0], p[0], p[0]],
            _ => [p[0], p[1], p[2]],
        })
        .collect();
    Png {
        width: info.width,
        height: info.height,
        rgb,
    }
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

fn count_near(img: &Png, c: [u8; 3], tol: i32) -> usize {
    img.rgb
        .iter()
        .filter(|p| (0..3).all(|i| (p[i] as i32 - c[i] as i32).abs() <= tol))
        .count()
}

/// The HTML report of two real samples, opened in headless Chromium: after rendering, the DOM
/// holds the verdict and the chart with its bands, and the screenshot shows them (not blank,
/// the chart's band colours and the red of the verdict present).
#[test]
fn html_renders_in_chromium() {
    let Some(chrome) = chromium() else { return };
    let dir = tmp_dir("chromium");
    for (name, verdict) in [
        ("frag_oom", "Fragmentation OOM"),
        ("train_val_leak", "Memory leak at workloads.py:158"),
    ] {
        let Some((snap, a)) = load(name) else {
            continue;
        };
        let opts = ReportOptions {
            title: format!("{name}.pickle"),
            device: None,
            focus_site: None,
        };
        let html = report::render_with(&snap, &a, &opts, ReportFormat::Html);
        let page = dir.join(format!("{name}.html"));
        std::fs::write(&page, &html).unwrap();
        let url = format!("file://{}", page.display());

        let dom = chromium_cmd(&chrome, &dir.join(format!("profile-{name}-dom")))
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(dom.status.success(), "chromium --dump-dom failed");
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.contains(verdict), "{name}: verdict in the rendered DOM");
        assert!(
            dom.contains("<svg class=\"chart memory-chart\""),
            "{name}: chart"
        );
        let bands = dom.matches("class=\"band\"").count();
        assert!(bands >= 2, "{name}: {bands} bands in the DOM");
        assert!(dom.contains("class=\"reserved\""), "{name}: reserved line");

        let shot = dir.join(format!("{name}.png"));
        let st = chromium_cmd(&chrome, &dir.join(format!("profile-{name}-png")))
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1280,2000")
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(st.status.success(), "chromium --screenshot failed");
        let img = decode_png(&shot);
        assert_eq!((img.width, img.height), (1280, 2000));
        let mut colours: Vec<[u8; 3]> = img.rgb.clone();
        colours.sort_unstable();
        colours.dedup();
        assert!(
            colours.len() > 200,
            "{name}: only {} colours: blank page?",
            colours.len()
        );
        // The bottom band (in its call site's colour) covers a real area of the chart.
        let chart = memsight::output::report::model::device_report(&snap, &a.devices[0]).timeline;
        let band = count_near(&img, hex(&chart.bands[0].colour), 4);
        assert!(
            band > 5_000,
            "{name}: {band} pixels of the first band colour"
        );
        // The verdict box is red (problem).
        let red = count_near(&img, hex("#b91c1c"), 10);
        assert!(red > 300, "{name}: {red} red pixels of the verdict");
        if name == "frag_oom" {
            let second = count_near(&img, hex(&chart.bands[1].colour), 4);
            assert!(second > 2_000, "{name}: {second} pixels of the second band");
        } else {
            // The leak's band, in the first leak colour, on top of the stack.
            let warm = memsight::output::colours::LEAK_PALETTE[0];
            let leak = count_near(&img, warm, 4);
            assert!(leak > 5_000, "{name}: {leak} pixels of the leak band");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files without a trace still give a report (the dump-time state only) that says what it
/// cannot tell and never calls the run healthy; an empty one says there is nothing to
/// analyse; neither panics.
#[test]
fn segments_only_and_empty_snapshots() {
    use memsight::output::diff::{self, Point, Side};
    let seg = serde_json::json!({
        "segments": [{
            "device": 0, "address": 1u64 << 30, "total_size": 4u64 << 20,
            "allocated_size": 1u64 << 20, "active_size": 1u64 << 20,
            "requested_size": 1_000_000, "stream": 0, "segment_type": "large",
            "blocks": [
                {"address": 1u64 << 30, "size": 1u64 << 20, "requested_size": 1_000_000,
                 "state": "active_allocated"},
                {"address": (1u64 << 30) + (1 << 20), "size": 3u64 << 20, "requested_size": 0,
                 "state": "inactive"}
            ]
        }],
        "device_traces": [[]]
    });
    let bytes = serde_pickle::to_vec(&seg, serde_pickle::SerOptions::new()).unwrap();
    let snap = memsight::read::load_bytes(&bytes, &LoadOptions::default()).expect("loads");
    let a = analysis::analyze(&snap);
    assert_eq!(a.devices.len(), 1);
    for f in [ReportFormat::Html, ReportFormat::Md, ReportFormat::Json] {
        let text = report::render(&snap, &a, None, f);
        assert!(text.contains("No allocator trace"), "{f:?}: {text}");
        assert!(!text.contains("Healthy"), "{f:?}: {text}");
    }
    let html = report::render(&snap, &a, None, ReportFormat::Html);
    assert!(html.contains("has no trace for this device"));
    let r = model::device_report(&snap, &a.devices[0]);
    assert_eq!(r.peak_sites.len(), 1);
    assert_eq!(r.peak_sites[0].bytes, 1 << 20);
    let side = |p| Side {
        name: "s".into(),
        snap: &snap,
        device: &a.devices[0],
        point: p,
    };
    let d = diff::diff(&side(Point::End), &side(Point::Peak)).expect("the dump is both");
    assert!(d.sites.iter().all(|s| s.change == diff::Change::Same));
    assert!(diff::diff(&side(Point::Marker(0)), &side(Point::End)).is_err());

    let empty = serde_json::json!({"segments": [], "device_traces": []});
    let bytes = serde_pickle::to_vec(&empty, serde_pickle::SerOptions::new()).unwrap();
    let snap = memsight::read::load_bytes(&bytes, &LoadOptions::default()).expect("loads");
    let a = analysis::analyze(&snap);
    for f in [ReportFormat::Html, ReportFormat::Md] {
        assert!(report::render(&snap, &a, None, f).contains("nothing to analyse"));
    }
}

/// `--site` singles out a call site, as the app's export of a selection does: its allocations,
/// what it held at the peak and at the end, and its stack.
#[test]
fn report_singles_out_a_call_site() {
    let Some(path) = common::snapshot_path("train_val_leak") else {
        return;
    };
    let o = Command::new(bin())
        .args([
            "report",
            path.to_str().unwrap(),
            "--site",
            "workloads.py:158",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sel = &v["devices"][0]["selection"];
    let leak = &v["devices"][0]["leaks"][0];
    assert_eq!(sel["site"], "workloads.py:158");
    assert_eq!(sel["live_at_end"], leak["live_bytes"]);
    assert_eq!(sel["blocks_at_end"], leak["live_blocks"]);
    assert!(sel["allocations"].as_u64().unwrap() >= sel["blocks_at_end"].as_u64().unwrap());
    assert!(sel["leak_growth_per_iteration"].as_f64().unwrap() > 0.0);
    let first_user = sel["stack"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["user"] == true)
        .expect("a user frame");
    assert_eq!(first_user["line"], 158);
    let md = Command::new(bin())
        .args([
            "report",
            path.to_str().unwrap(),
            "--site",
            "workloads.py:158",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(md.stdout).unwrap();
    assert!(
        text.contains("#### Selected call site: `workloads.py:158`"),
        "{text}"
    );
    // A site that is not there is a clear error, exit 2.
    let bad = Command::new(bin())
        .args([
            "report",
            path.to_str().unwrap(),
            "--site",
            "workloads.py:9999",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no call site workloads.py:9999"));
}
