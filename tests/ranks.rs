//! `memsight ranks` on real multi-rank jobs: the 2-rank DDP job of ../shared/snapshots (rank 0
//! alone keeps its evaluation outputs, `ranks.py:47`) and the 2-GPU recordings of
//! tests/data/recorded (FSDP2 with rank-0 state-dict gathering; a leak on every rank). The
//! expected lines come from the truth files (the lines the scripts tag), never from memsight.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memsight::analysis::Options;
use memsight::ranks::{self, FileSummary, Job, Metric, RankSource};
use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memsight")
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memsight-ranks-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn ddp() -> [PathBuf; 2] {
    [common::require("ddp_rank0"), common::require("ddp_rank1")]
}

/// A fresh directory holding copies of the DDP pair, and the originals.
fn ddp_in(tag: &str) -> (PathBuf, [PathBuf; 2]) {
    let dir = tmp_dir(tag);
    let paths = ddp();
    for p in &paths {
        std::fs::copy(p, dir.join(p.file_name().expect("name"))).expect("copy");
    }
    (dir, paths)
}

/// The outlier on `metric`, whose largest excess must be at `file:line`.
fn outlier_at<'a>(job: &'a Job, metric: Metric, file: &str, line: i64) -> &'a ranks::Outlier {
    let o = job
        .outliers
        .iter()
        .find(|o| o.metric == metric)
        .unwrap_or_else(|| panic!("an outlier on {metric:?}: {:?}", job.outliers));
    let top = o.sites.first().expect("sites that make the difference");
    assert!(
        top.key.file.ends_with(file) && top.key.line == line,
        "{metric:?}: the largest excess is at {}:{}, not {file}:{line}",
        top.key.file,
        top.key.line
    );
    o
}

/// The two ranks of a recording in tests/data/recorded, which must be there.
fn recorded(job: &str) -> [PathBuf; 2] {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/recorded");
    [0, 1].map(|r| {
        let p = dir.join(format!("{job}_rank{r}.pickle"));
        assert!(p.exists(), "recording {} missing", p.display());
        p
    })
}

/// `(file name, line)` of the lines a truth file tags under `key`.
fn tagged(truth: &Path, key: &str) -> Vec<(String, i64)> {
    let text = std::fs::read_to_string(truth)
        .unwrap_or_else(|e| panic!("truth {} missing: {e}", truth.display()));
    let v: Value = serde_json::from_str(&text).expect("truth JSON");
    let list = v[key].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|x| {
            (
                x["file"].as_str().unwrap_or_default().to_string(),
                x["line"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

fn truth_of(pickle: &Path) -> PathBuf {
    let name = pickle.to_string_lossy();
    PathBuf::from(name.replace(".pickle", ".truth.json"))
}

fn job_of(paths: &[PathBuf]) -> Job {
    let summaries = ranks::summarize_all(paths, &Options::default(), 2, &|_, _| true)
        .into_iter()
        .map(|r| r.expect("every file summarises"))
        .collect();
    ranks::reduce(summaries).expect("a job")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run memsight")
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stderr).into_owned()
        )
    })
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn ddp_rank0_is_the_outlier_with_its_evaluation_line() {
    let paths = ddp();
    let leak = tagged(&truth_of(&paths[0]), "leak_sites");
    assert_eq!(leak.len(), 1, "ranks.py tags one leak line");
    let (file, line) = &leak[0];
    let job = job_of(&paths);
    assert_eq!(job.rank_source, RankSource::FileNames);
    assert_eq!(job.ranks.len(), 2, "one busy device per rank");
    assert_eq!(job.median.peak_allocated.rank, 1);
    assert!(
        job.outliers.iter().all(|o| o.rank == 0),
        "only rank 0 stands out: {:?}",
        job.outliers
    );
    for metric in [Metric::PeakAllocated, Metric::EndAllocated] {
        let o = outlier_at(&job, metric, file, *line);
        assert_eq!(o.sites[0].median_bytes, 0, "rank 1 holds nothing there");
        assert!(o.excess_bytes >= ranks::threshold(o.median));
        assert_eq!(o.value - o.median, o.excess_bytes);
    }
    // The leak is rank 0's only: named on 1 of 2 ranks.
    let l = job
        .leaks
        .iter()
        .find(|l| l.key.line == *line)
        .expect("the leak");
    assert_eq!(l.ranks, [0]);
    assert!(!l.every_rank);
    // Each file also holds the other GPU's markers: an idle device, not a rank of its own.
    let s0 = ranks::summarize_path(&paths[0], &Options::default()).expect("summary");
    assert_eq!(s0.idle_devices, [1]);
    assert_eq!(s0.devices.len(), 1);
    assert_eq!(s0.devices[0].device, 0);
}

#[test]
fn summaries_give_the_same_answer_as_snapshots() {
    let dir = tmp_dir("summaries");
    let paths = ddp();
    let mut sums = Vec::new();
    for p in &paths {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let out = dir.join(format!("{name}.summary.json"));
        let o = run(&["summarize", s(p), "-o", s(&out)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&out).expect("summary written");
        assert!(
            text.len() < 64 << 10,
            "a summary is small: {} bytes",
            text.len()
        );
        let read = FileSummary::from_json(&text).expect("summary reads back");
        let made = ranks::summarize_path(p, &Options::default()).expect("summary");
        assert_eq!(
            read, made,
            "{name}: the summary file holds what was computed"
        );
        sums.push(out);
    }
    let from_snapshots = run(&["ranks", "--json", s(&paths[0]), s(&paths[1])]);
    let from_summaries = run(&["ranks", "--json", s(&sums[0]), s(&sums[1])]);
    let mixed = run(&["ranks", "--json", s(&sums[0]), s(&paths[1])]);
    for o in [&from_snapshots, &from_summaries, &mixed] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(json_of(&from_snapshots), json_of(&from_summaries));
    assert_eq!(json_of(&from_snapshots), json_of(&mixed));
    // The text too.
    let t1 = run(&["ranks", s(&paths[0]), s(&paths[1])]);
    let t2 = run(&["ranks", s(&sums[0]), s(&sums[1])]);
    assert_eq!(t1.stdout, t2.stdout);
    let text = String::from_utf8_lossy(&t1.stdout);
    assert!(text.contains("ranks.py:47"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_contract() {
    let paths = ddp();
    let v = json_of(&run(&["ranks", "--json", s(&paths[0]), s(&paths[1])]));
    let ranks = v["ranks"].as_array().expect("ranks");
    assert_eq!(ranks.len(), 2);
    for r in ranks {
        for k in [
            "file",
            "rank",
            "device",
            "peak_allocated",
            "peak_reserved",
            "ooms",
            "leaks",
        ] {
            assert!(!r[k].is_null(), "ranks[].{k} missing: {r}");
        }
        assert!(r["leaks"].is_array());
    }
    assert_eq!(ranks[0]["rank"], 0);
    assert_eq!(ranks[0]["file"], "ddp_rank0.pickle");
    assert_eq!(ranks[0]["leaks"][0]["line"], 47);
    let m = &v["median"];
    assert!(m["peak_allocated"].is_u64() && m["peak_reserved"].is_u64());
    assert_eq!(m["peak_allocated"], ranks[1]["peak_allocated"]);
    let outliers = v["outliers"].as_array().expect("outliers");
    assert!(!outliers.is_empty());
    for o in outliers {
        for k in ["rank", "metric", "value", "median", "excess_bytes", "sites"] {
            assert!(!o[k].is_null(), "outliers[].{k} missing: {o}");
        }
        assert_eq!(o["rank"], 0);
        let site = &o["sites"][0];
        for k in ["file", "line", "function", "bytes"] {
            assert!(!site[k].is_null(), "sites[].{k} missing: {site}");
        }
        assert_eq!(site["line"], 47);
    }
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(0));
}

#[test]
fn ranks_from_file_names() {
    use memsight::ranks::rank_from_name;
    for (name, want) in [
        ("snapshot_1200_3.pickle", Some(3)),
        ("snapshot_1200_3.pickle.xz", Some(3)),
        ("rank-3.pickle", Some(3)),
        ("rank_12.pkl", Some(12)),
        ("ddp_rank0.pickle", Some(0)),
        ("mem_rank5_step200.pickle", Some(5)),
        ("mem_rank_5_step200.pickle.gz", Some(5)),
        ("RANK7.pickle", Some(7)),
        ("run/2024/rank3.pickle", Some(3)),
        ("snapshot_100_3.pickle.summary.json", Some(3)),
        ("fsdp2_gather_rank1.pickle", Some(1)),
        ("memory_snapshot.pickle", None),
        ("rank.pickle", None),
    ] {
        assert_eq!(rank_from_name(name), want, "{name}");
    }
}

#[test]
fn ranks_fall_back_to_the_order_given() {
    let dir = tmp_dir("order");
    let [r0, r1] = ddp();
    // Two names that give no rank: the order given decides, and the output says so.
    let (a, b) = (dir.join("second.pickle"), dir.join("first.pickle"));
    std::fs::copy(&r1, &a).expect("copy");
    std::fs::copy(&r0, &b).expect("copy");
    let job = job_of(&[a, b]);
    assert!(matches!(job.rank_source, RankSource::NoNumber { .. }));
    assert_eq!(job.ranks[0].file, "second.pickle");
    assert_eq!(job.ranks[0].rank, 0);
    assert_eq!(job.ranks[1].rank, 1);
    assert!(
        job.outliers.iter().all(|o| o.rank == 1),
        "{:?}",
        job.outliers
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_is_its_snapshots() {
    let (dir, paths) = ddp_in("dir");
    // Not inputs: a truth file, notes.
    std::fs::copy(truth_of(&paths[0]), dir.join("ddp_rank0.truth.json")).expect("copy truth");
    std::fs::write(dir.join("README.md"), "notes").expect("notes");
    let from_dir = run(&["ranks", "--json", s(&dir)]);
    assert_eq!(
        from_dir.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from_dir.stderr)
    );
    let from_files = run(&["ranks", "--json", s(&paths[1]), s(&paths[0])]);
    assert_eq!(json_of(&from_dir), json_of(&from_files));
    // A summary beside its snapshot is taken instead of it, once.
    let o = run(&[
        "summarize",
        s(&dir.join("ddp_rank0.pickle")),
        "-o",
        s(&dir.join("ddp_rank0.pickle.summary.json")),
    ]);
    assert!(o.status.success());
    assert_eq!(
        ranks::expand(std::slice::from_ref(&dir)).expect("inputs"),
        [
            dir.join("ddp_rank0.pickle.summary.json"),
            dir.join("ddp_rank1.pickle")
        ]
    );
    assert_eq!(
        json_of(&run(&["ranks", "--json", s(&dir)])),
        json_of(&from_files)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_file_is_reported_and_the_others_still_compared() {
    let (dir, _) = ddp_in("bad");
    std::fs::write(dir.join("ddp_rank2.pickle"), b"not a pickle at all").expect("bad file");
    std::fs::write(
        dir.join("ddp_rank3.pickle.summary.json"),
        r#"{"format":"memsight-summary/0","memsight":"0.0.1","file":"ddp_rank3.pickle"}"#,
    )
    .expect("old summary");
    let o = run(&["ranks", "--json", s(&dir)]);
    assert_eq!(o.status.code(), Some(2), "a failed file fails the command");
    let v = json_of(&o);
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0]["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("ddp_rank2.pickle")));
    assert!(errors[1]["error"]
        .as_str()
        .is_some_and(|e| e.contains("memsight-summary/0") && e.contains("memsight 0.0.1")));
    assert_eq!(v["ranks"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["outliers"][0]["rank"], 0);
    assert_eq!(v["outliers"][0]["sites"][0]["line"], 47);
    let text = run(&["ranks", s(&dir)]);
    assert_eq!(text.status.code(), Some(2));
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("2 files could not be read"), "{out}");
    assert!(out.contains("ddp_rank2.pickle: "), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fsdp2_rank0_gathering_is_the_outlier() {
    let paths = recorded("fsdp2_gather");
    let gather = tagged(&truth_of(&paths[0]), "not_leaks");
    assert_eq!(gather.len(), 1, "record_ranks.py tags the gathering line");
    let (file, line) = &gather[0];
    let job = job_of(&paths);
    assert!(job.leaks.is_empty(), "no leak on any rank: {:?}", job.leaks);
    for metric in [Metric::PeakAllocated, Metric::EndAllocated] {
        let o = outlier_at(&job, metric, file, *line);
        assert_eq!(o.rank, 0);
        // The full weights, gathered: the bulk of the difference.
        assert!(o.sites[0].bytes * 10 >= o.excess_bytes * 9, "{o:?}");
    }
    assert!(job.outliers.iter().all(|o| o.rank == 0));
}

#[test]
fn a_leak_on_every_rank_names_no_outlier() {
    let paths = recorded("all_leak");
    let leak = tagged(&truth_of(&paths[0]), "leak_sites");
    assert_eq!(leak.len(), 1);
    let (file, line) = &leak[0];
    let job = job_of(&paths);
    assert!(job.outliers.is_empty(), "{:?}", job.outliers);
    let l = job
        .leaks
        .iter()
        .find(|l| l.key.file.ends_with(file.as_str()) && l.key.line == *line)
        .unwrap_or_else(|| panic!("{file}:{line} leaks: {:?}", job.leaks));
    assert!(l.every_rank, "{l:?}");
    assert_eq!(l.ranks, [0, 1]);
    assert_eq!(job.alignment.iterations_min, job.alignment.iterations_max);
    // Every rank's series covers its iterations, one point each.
    for r in &job.ranks {
        let s = &r.summary;
        assert_eq!(s.series.axis, ranks::SeriesAxis::Iterations);
        assert_eq!(s.series.group, 1);
        let peak = s.series.points.iter().map(|p| p.allocated_max).max();
        assert_eq!(peak, Some(s.peak_allocated));
    }
}

#[test]
fn progress_can_stop_the_rest() {
    let paths = ddp();
    let results = ranks::summarize_all(&paths, &Options::default(), 1, &|_, _| false);
    assert!(results[0].is_ok(), "the file under way is finished");
    assert!(
        matches!(results[1], Err(ranks::FileError::Cancelled)),
        "{:?}",
        results[1].as_ref().err()
    );
}
