//! Leak verdicts on every real snapshot whose answer is known: the shared samples (recorded by
//! ../shared/snapshots/*.py), the recordings in tests/data/recorded/ (scripts/
//! record_iterations.py and scripts/check_record.py), and the public snapshots that other people recorded.
//!
//! A file whose truth names no leak must get none; a file with a leak must rank a real leak
//! line first; the iterations found must be within one of how many the run made. The data
//! must be there: a missing file fails the test (CI has ../shared beside the repository).

mod common;

use std::path::{Path, PathBuf};

use memsight::analysis::findings::{self, Finding};
use memsight::analysis::{
    self, DeviceAnalysis, GrowthKind, IterationSource, IterationSpec, Options,
};
use memsight::model::Snapshot;
use memsight::read::{load_path, LoadOptions};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A snapshot with its truth file.
struct Case {
    name: String,
    snap: Snapshot,
    truth: Value,
}

fn load(path: &Path) -> Snapshot {
    load_path(path, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{} must load: {e}", path.display()))
}

fn read_truth(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} must be readable: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every snapshot in `dir` that has a `NAME.truth.json` beside it.
fn cases_in(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{} must exist: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
    paths.sort();
    for p in paths {
        let file = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(name) = file
            .strip_suffix(".pickle.xz")
            .or_else(|| file.strip_suffix(".pickle"))
        else {
            continue;
        };
        let truth = dir.join(format!("{name}.truth.json"));
        if truth.exists() {
            out.push(Case {
                name: name.to_string(),
                snap: load(&p),
                truth: read_truth(&truth),
            });
        }
    }
    out
}

/// The device the truth describes: the one with the most events (a rank's file also holds a
/// near-empty trace of the other GPU).
fn main_device(a: &analysis::Analysis) -> &DeviceAnalysis {
    a.devices.iter().max_by_key(|d| d.events).expect("a device")
}

/// Whether frame `file:line` is in the stack of call site `site`.
fn stack_has(snap: &Snapshot, d: &DeviceAnalysis, site: u32, file: &str, line: i64) -> bool {
    let Some(s) = d.sites.get(site) else {
        return false;
    };
    snap.stacks
        .get(s.stack)
        .iter()
        .any(|&f| snap.frames.get(f).line == line && snap.frames.filename(f).ends_with(file))
}

fn lines_of(truth: &Value, key: &str) -> Vec<(String, i64)> {
    truth[key]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|x| {
                    (
                        x["file"].as_str().unwrap_or_default().to_string(),
                        x["line"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The verdict of one case against its truth.
fn check(case: &Case) {
    let a = analysis::analyze(&case.snap);
    let name = &case.name;
    let d = main_device(&a);
    let leaks = lines_of(&case.truth, "leak_sites");
    let not_leaks = lines_of(&case.truth, "not_leaks");
    let found: Vec<String> = d
        .leaks
        .iter()
        .map(|l| format!("{}:{}", l.file, l.line))
        .collect();
    if leaks.is_empty() {
        for dev in &a.devices {
            assert!(
                dev.leaks.is_empty(),
                "{name}: no leak expected, got {found:?}"
            );
        }
    } else {
        let first = d
            .leaks
            .first()
            .unwrap_or_else(|| panic!("{name}: the leak is missed"));
        assert!(
            leaks
                .iter()
                .any(|(f, l)| stack_has(&case.snap, d, first.site, f, *l)),
            "{name}: the first suspect {found:?} is not a real leak line {leaks:?}"
        );
        assert!(first.confidence > 0.0 && first.confidence < 1.0, "{name}");
    }
    for (f, l) in &not_leaks {
        assert!(
            !d.leaks
                .iter()
                .any(|x| x.line == *l && x.file.ends_with(f.as_str())),
            "{name}: {f}:{l} is not a leak, got {found:?}"
        );
    }
    if let Some(want) = case.truth["iterations"].as_u64() {
        let got = d.iterations.count() as i64;
        assert!(
            (got - want as i64).abs() <= 1,
            "{name}: {got} iterations from {:?}, the run made {want}",
            d.iterations.source
        );
        assert_ne!(d.iterations.source, IterationSource::None, "{name}");
    }
    let list = findings::findings(d, case.snap.format.variant);
    if d.iterations.can_judge_leaks() {
        assert!(
            !list
                .iter()
                .any(|f| matches!(f, Finding::NoLeakVerdict { .. })),
            "{name}"
        );
    } else {
        assert!(
            d.leaks.is_empty(),
            "{name}: a leak verdict from too few iterations"
        );
        assert!(
            list.iter()
                .any(|f| matches!(f, Finding::NoLeakVerdict { .. })),
            "{name}: too few iterations must be said"
        );
        assert!(
            !list.contains(&Finding::Healthy),
            "{name}: healthy without evidence"
        );
    }
}

/// The shared samples with iteration truth, and every other shared snapshot with a truth.
#[test]
fn shared_samples_get_the_right_verdict() {
    let cases = cases_in(&common::shared_dir());
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "one_step_adamw",
        "steady_nomarks",
        "leak_nomarks",
        "kv_generate",
        "ddp_rank0",
        "ddp_rank1",
        "train_val_leak",
        "gpt_train_amp",
        "frag_oom",
        "capacity_oom",
        "big_trace",
        "huge_trace",
    ] {
        assert!(
            names.contains(&want),
            "../shared/snapshots lacks {want}: {names:?}"
        );
    }
    for c in &cases {
        check(c);
    }
}

/// The recordings made for this: a bounded cache, a DataLoader loop, loops with no optimizer,
/// optimizer state filled head by head, annotated steps, a leak that starts midway; and each
/// rank of the 2-GPU jobs (`scripts/record_ranks.py`): FSDP2 with rank-0 gathering, a leak on
/// every rank; a training step captured in a CUDA graph beside a user memory pool
/// (`scripts/record_graphs.py`); and an OOM while a graph's pool holds free memory
/// (`scripts/record_graph_oom.py`).
#[test]
fn recorded_loops_get_the_right_verdict() {
    let cases = cases_in(&root().join("tests/data/recorded"));
    assert_eq!(
        cases.len(),
        14,
        "tests/data/recorded must hold its 14 recordings (8 loops, 2 jobs of 2 ranks, 2 graphs)"
    );
    for c in &cases {
        check(c);
    }
}

/// The bundled samples and the wrapped-ring fixture.
#[test]
fn bundled_samples_get_the_right_verdict() {
    let cases = cases_in(&common::sample_dir());
    assert_eq!(cases.len(), 5, "sample_snapshots must hold its 5 samples");
    for c in &cases {
        check(c);
    }
    let wrapped = Case {
        name: "train_val_leak_wrapped".into(),
        snap: load(&root().join("tests/data/train_val_leak_wrapped.pickle")),
        truth: read_truth(&root().join("tests/data/train_val_leak_wrapped.truth.json")),
    };
    check(&wrapped);
}

fn analyse_recorded(name: &str) -> (Snapshot, analysis::Analysis) {
    let snap = load(&root().join(format!("tests/data/recorded/{name}.pickle")));
    let a = analysis::analyze(&snap);
    (snap, a)
}

/// Growth that is not a leak is named for what it is.
#[test]
fn growth_is_named_for_what_it_is() {
    // A cache keyed by sequence length fills in four steps, then stays: bounded, at its line.
    let (_, a) = analyse_recorded("bounded_cache");
    let d = main_device(&a);
    let g = d
        .growth
        .iter()
        .find(|g| g.line == 163)
        .expect("the cache line grows");
    assert_eq!(g.kind, GrowthKind::Bounded);
    assert_eq!(g.iterations, 4);

    // AdamW state made head by head over four steps: bounded, at the opt.step() line.
    let (_, a) = analyse_recorded("adam_staggered");
    let d = main_device(&a);
    let g = d.growth.iter().find(|g| g.line == 286).expect("opt.step()");
    assert_eq!(g.kind, GrowthKind::Bounded);

    // One step of AdamW: no verdict, and the optimizer state is one-time growth at opt.step().
    let snap = load(&common::shared_dir().join("one_step_adamw.pickle"));
    let a = analysis::analyze(&snap);
    let d = main_device(&a);
    assert_eq!(d.iterations.count(), 1);
    assert_eq!(d.iterations.source, IterationSource::OptimizerSteps);
    let step_line = std::fs::read_to_string(common::shared_dir().join("iters.py"))
        .expect("iters.py")
        .lines()
        .position(|l| l.trim() == "opt.step()")
        .expect("a step line") as i64
        + 1;
    let g = d
        .growth
        .iter()
        .find(|g| g.line == step_line && g.file.ends_with("iters.py"))
        .expect("optimizer state is named");
    assert_eq!(g.kind, GrowthKind::OneTime);

    // A KV cache grown by torch.cat inside each request and freed at its end: transient.
    let snap = load(&common::shared_dir().join("kv_generate.pickle.xz"));
    let a = analysis::analyze(&snap);
    let d = main_device(&a);
    assert!(d.leaks.is_empty());
    assert!(
        d.growth.iter().any(|g| g.kind == GrowthKind::Transient),
        "{:?}",
        d.growth
    );
}

/// What `memsight.record()` left on an H200 (scripts/check_record.py, tests/data/recorded/
/// README.md): a leaking loop whose iterations come from `Recorder.step()`'s `memsight.step`
/// annotations, and a loop under a 2 GiB cap whose OOM the observer dumped as it happened.
#[test]
fn python_record_snapshots_are_diagnosed() {
    let (snap, a) = analyse_recorded("record_leak");
    let d = main_device(&a);
    assert_eq!(d.iterations.source, IterationSource::Annotations);
    assert_eq!(d.iterations.detail.as_deref(), Some("memsight.step"));
    assert_eq!(d.iterations.count(), 8, "check_record.py runs 8 steps");
    assert!(d.ooms.is_empty());
    let leak = d.leaks.first().expect("the kept outputs are a leak");
    assert!(leak.file.ends_with("/check_record.py"), "{}", leak.file);
    assert_eq!(leak.line, 59, "the LEAK line of scripts/check_record.py");
    assert_eq!(leak.growth_bytes_per_iteration, (4u64 << 20) as f64);
    assert_eq!(leak.live_bytes, 32 << 20, "8 kept outputs of 4 MiB");
    drop(snap);

    // The dump the OOM observer wrote ends at the failed request; the one the block's end
    // wrote holds it too, with the observer's own `snapshot` marker after it.
    for name in ["record_oom_at_oom", "record_oom"] {
        let (snap, a) = analyse_recorded(name);
        let d = main_device(&a);
        assert_eq!(d.ooms.len(), 1, "{name}: one OOM");
        let oom = &d.ooms[0];
        assert_eq!(oom.verdict, memsight::analysis::Verdict::Capacity, "{name}");
        assert_eq!(oom.requested, 512 << 20, "{name}: the 512 MiB activation");
        assert!(oom.reserved <= 2 << 30, "{name}: within the 2 GiB cap");
        let trace = snap.trace(d.device).expect("a trace");
        assert_eq!(trace.events[oom.event].action, memsight::model::Action::Oom);
        if name == "record_oom_at_oom" {
            assert_eq!(
                oom.event + 1,
                trace.events.len(),
                "{name}: dumped at the OOM"
            );
        }
        assert_eq!(
            d.iterations.detail.as_deref(),
            Some("memsight.step"),
            "{name}"
        );
        assert_eq!(d.iterations.count(), 5, "{name}: 5 steps before the OOM");
    }
}

/// Iterations come from the best evidence each file has.
#[test]
fn iterations_come_from_the_evidence() {
    let source = |dir: &Path, file: &str| {
        let a = analysis::analyze(&load(&dir.join(file)));
        let d = main_device(&a);
        (d.iterations.source, d.iterations.detail.clone())
    };
    let rec = root().join("tests/data/recorded");
    let shared = common::shared_dir();
    assert_eq!(
        source(&shared, "train_val_leak.pickle").0,
        IterationSource::Markers
    );
    let (s, detail) = source(&rec, "annotated_steps.pickle");
    assert_eq!(s, IterationSource::Annotations);
    assert_eq!(detail.as_deref(), Some("ProfilerStep"));
    let (s, detail) = source(&shared, "steady_nomarks.pickle");
    assert_eq!(s, IterationSource::Annotations);
    assert_eq!(detail.as_deref(), Some("Optimizer.step"));
    // No markers, no annotations, no optimizer: the loop's own period.
    let (s, detail) = source(&rec, "infer_nomarks.pickle");
    assert_eq!(s, IterationSource::Period);
    assert!(detail.is_some_and(|d| d.starts_with("record_iterations.py:")));
}

/// The user can name where iterations come from, and a source with no evidence gives none.
#[test]
fn iterations_can_be_named() {
    let snap = load(&common::shared_dir().join("leak_nomarks.pickle"));
    let with = |spec: &str| {
        let spec: IterationSpec = spec.parse().expect("a spec");
        analysis::analyze_with(&snap, &Options { iterations: spec })
    };
    // The line that makes each step's input runs once per step.
    let x_line = std::fs::read_to_string(common::shared_dir().join("iters.py"))
        .expect("iters.py")
        .lines()
        .position(|l| l.contains("x = torch.randn(256, 1024"))
        .expect("the input line") as i64
        + 1;
    let a = with(&format!("site:iters.py:{x_line}"));
    let d = main_device(&a);
    assert_eq!(d.iterations.source, IterationSource::Site);
    assert_eq!(d.iterations.count(), 10);
    assert_eq!(d.leaks.first().map(|l| l.line), Some(81));
    // The file has no markers: no iterations, and so no leak verdict.
    let a = with("marker");
    let d = main_device(&a);
    assert_eq!(d.iterations.count(), 0);
    assert!(d.leaks.is_empty());
    let a = with("annotation:Optimizer.step");
    assert_eq!(main_device(&a).iterations.count(), 10);
}

/// Public snapshots: none shows a leak, and what grows in each is explained.
#[test]
fn public_snapshots_show_no_false_leak() {
    let dir = root().join("tests/data/public");
    // (file, the iteration source of its main device, why what grows there is not a leak)
    let explained: [(&str, IterationSource, &str); 10] = [
        (
            "bcrafton__memory_snapshot_06f51ae.pickle",
            IterationSource::OptimizerSteps,
            "history enabled inside one optimizer step of a hand-written AdamW that creates its \
          state parameter by parameter (optimizer.py:74-75): one iteration, one-time growth",
        ),
        (
            "constructor-sun__memory_snapshot_b5ef67c.pickle.xz",
            IterationSource::None,
            "one forward pass of a graph network whose layers keep their activations for the \
          backward (update_nodes): a layer loop, not steps",
        ),
        (
            "cranberrii__memory_snapshot_ffe2e0c.pickle.xz",
            IterationSource::None,
            "a notebook cell loading a model: made once and kept",
        ),
        (
            "jaspersolt__snapshot_6720e24.pickle",
            IterationSource::Markers,
            "markers around counterfactual generation; activations rise and fall inside each",
        ),
        (
            "lfielike__my_snapshot_658ce37.pickle",
            IterationSource::None,
            "a single event: nothing to compare",
        ),
        (
            "magma27__memory_snapshot_a80ccc7.pickle",
            IterationSource::None,
            "one forward pass of a transformer: activations kept for the backward",
        ),
        (
            "silmont2000__mem_snapshot_b61be40.pickle",
            IterationSource::None,
            "97 events of one forward: too short to show steps",
        ),
        (
            "silmont2000__memory_forward_bf16_128_d9ecf8b.pickle",
            IterationSource::Period,
            "forward passes repeated: activations climb in each and are released",
        ),
        (
            "silmont2000__memory_forward_fp32_128_769df2d.pickle",
            IterationSource::Period,
            "the same in fp32",
        ),
        (
            "muduard__dump_snapshot_7bced59.pickle",
            IterationSource::None,
            "one event per device: a diffusion step's latents kept, nothing to compare",
        ),
    ];
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/public")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().contains(".pickle"))
        .collect();
    entries.sort();
    for p in &entries {
        let file = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let snap = load(p);
        let a = analysis::analyze(&snap);
        for d in &a.devices {
            assert!(
                d.leaks.is_empty(),
                "{file} device {}: {:?}",
                d.device,
                d.leaks
            );
        }
        let grows = a.devices.iter().any(|d| !d.growth.is_empty());
        match explained.iter().find(|(f, _, _)| *f == file) {
            Some((_, source, why)) => {
                let d = main_device(&a);
                assert_eq!(d.iterations.source, *source, "{file}: {why}");
            }
            None => assert!(!grows, "{file} shows growth that no test explains"),
        }
        checked += 1;
    }
    assert!(checked >= 29, "only {checked} public snapshots found");
}
