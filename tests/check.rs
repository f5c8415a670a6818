//! `memsight check` as CI runs it: exit codes, what a failure says, and the three output
//! formats, on real samples.

mod common;

use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memsight")
}

fn check(name: &str, args: &[&str]) -> Option<Output> {
    let path = common::require(name);
    Some(
        Command::new(bin())
            .arg("check")
            .arg(path)
            .args(args)
            .output()
            .expect("memsight runs"),
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A healthy run passes every rule that holds for it.
#[test]
fn healthy_run_passes() {
    let Some(o) = check(
        "gpt_train_amp",
        &[
            "--max-peak",
            "1.5GiB",
            "--max-reserved",
            "1300MB",
            "--max-fragmentation",
            "0.3",
            "--no-leaks",
            "--no-oom",
        ],
    ) else {
        return;
    };
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("PASS").count(), 5, "{out}");
    // One line per rule, and the summary.
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(
        out.contains("fragmentation at peak reserved is 5.4%, within 30%"),
        "{out}"
    );
    assert!(out.contains("ok: 5 of 5 rules passed"), "{out}");
}

/// Each failing rule fails the run with exit 1 and says by how much.
#[test]
fn failing_rules_say_by_how_much() {
    // frag_oom peaks at 2.00 GiB allocated, 2.59 GiB reserved, with a fragmentation OOM.
    let Some(o) = check("frag_oom", &["--max-peak", "1GiB"]) else {
        return;
    };
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  max-peak (device 0): peak allocated 2.00 GiB exceeds 1.00 GiB: 1.00 GiB over the limit (100.0% over)"), "{out}");

    let o = check("frag_oom", &["--max-peak", "3GiB", "--no-oom"]).unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("PASS  max-peak"), "{out}");
    assert!(out.contains("FAIL  no-oom (device 0): 1 out-of-memory error: event 112: 600.00 MiB requested, fragmentation"), "{out}");

    // The same program with expandable segments has no fragmentation at peak reserved.
    let o = check("frag_oom", &["--max-fragmentation", "30%"]).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("points over the 30% limit"),
        "{}",
        stdout(&o)
    );
    let o = check("frag_oom_expandable", &["--max-fragmentation", "0.3"]).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // The leak names its line.
    let o = check("train_val_leak", &["--no-leaks"]).unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("FAIL  no-leaks (device 0): 3 leak suspects: workloads.py:158"),
        "{out}"
    );
    // One step cannot show a leak: the rule fails and says why, rather than passing.
    let o = check("one_step_adamw", &["--no-leaks"]).unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("no-leaks (device 0): cannot tell: 1 iteration found"),
        "{out}"
    );
    // Plain bytes: 1.52 GiB of peak reserved is over 1.5 GiB, within 1.7 GB.
    let o = check("train_val_leak", &["--max-reserved", "1610612736"]).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("22.00 MiB over the limit (1.4% over)"),
        "{}",
        stdout(&o)
    );
    let o = check("train_val_leak", &["--max-reserved", "1.7GB"]).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

/// A baseline: the expandable run's peaks against the fragmented run's.
#[test]
fn growth_over_a_baseline() {
    let Some(base) = common::snapshot_path("frag_oom") else {
        return;
    };
    let base = base.to_str().unwrap();
    // Peak allocated grew 36.7% (2.00 GiB to 2.73 GiB), peak reserved 5.7%.
    let o = check(
        "frag_oom_expandable",
        &["--baseline", base, "--max-growth", "5%"],
    )
    .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  max-growth (device 0): peak allocated 2.73 GiB vs 2.00 GiB in frag_oom.pickle: grew +752.00 MiB (+36.7%)"), "{out}");
    assert!(
        out.contains("FAIL  max-growth (device 0): peak reserved"),
        "{out}"
    );
    let o = check(
        "frag_oom_expandable",
        &["--baseline", base, "--max-growth", "40%"],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = check(
        "frag_oom_expandable",
        &["--baseline", base, "--max-growth", "800MiB"],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // Against itself nothing grows.
    let o = check("frag_oom", &["--baseline", base, "--max-growth", "0%"]).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // --max-growth needs --baseline.
    let o = check("frag_oom", &["--max-growth", "5%"]).unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn json_and_junit_outputs() {
    let Some(o) = check(
        "capacity_oom",
        &["--no-oom", "--no-leaks", "--format", "json"],
    ) else {
        return;
    };
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["passed"], false);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let rule = |name: &str| {
        results
            .iter()
            .find(|r| r["rule"] == name)
            .unwrap_or_else(|| panic!("{name} evaluated"))
    };
    assert_eq!(rule("no-oom")["passed"], false);
    assert!(rule("no-oom")["message"]
        .as_str()
        .unwrap()
        .contains("capacity"));
    assert_eq!(rule("no-leaks")["passed"], true);
    assert_eq!(rule("no-leaks")["device"], 0);

    let dir = std::env::temp_dir().join(format!("memsight-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xml_path = dir.join("junit.xml");
    let o = check(
        "capacity_oom",
        &[
            "--no-oom",
            "--no-leaks",
            "--format",
            "junit",
            "-o",
            xml_path.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    assert_eq!(std::fs::read_to_string(&xml_path).unwrap(), xml);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(
        xml.contains("<testsuites name=\"memsight check\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"memsight.device0\" name=\"no-oom\">"),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert_eq!(
        xml.matches("<testcase ").count(),
        xml.matches("</testcase>").count()
    );
    assert!(xml.trim_end().ends_with("</testsuites>"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Input that cannot be read, and a gate without rules: exit 2, never 0 or 1.
#[test]
fn unreadable_input_is_exit_2() {
    let o = Command::new(bin())
        .args(["check", "/nonexistent/snap.pickle", "--no-oom"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot open"));
    let dir = std::env::temp_dir().join(format!("memsight-check-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("truncated.pickle");
    let Some(good) = common::snapshot_path("frag_oom") else {
        return;
    };
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let o = Command::new(bin())
        .args(["check", bad.to_str().unwrap(), "--no-oom"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A broken baseline is unreadable input too.
    let o = check(
        "frag_oom",
        &["--baseline", bad.to_str().unwrap(), "--max-growth", "5%"],
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = check("frag_oom", &[]).unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no rule given"));
    let o = check("frag_oom", &["--max-peak", "lots"]).unwrap();
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
