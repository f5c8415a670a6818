//! Helpers shared by the integration tests: where the real snapshots and their truth live.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `../shared/snapshots` beside the repository (present in CI and on developer machines).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/snapshots")
}

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_snapshots")
}

/// The snapshot file for `name`: the bundled sample, else the shared one (plain or `.xz`).
pub fn snapshot_path(name: &str) -> Option<PathBuf> {
    let candidates = [
        sample_dir().join(format!("{name}.pickle")),
        shared_dir().join(format!("{name}.pickle")),
        shared_dir().join(format!("{name}.pickle.xz")),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.pickle")),
    ];
    candidates.into_iter().find(|p| p.exists())
}

/// The snapshot file for `name`, or a failed test that says what is missing: the data a
/// test needs must be there (CI has ../shared beside the repository).
pub fn require(name: &str) -> PathBuf {
    snapshot_path(name).unwrap_or_else(|| {
        panic!(
            "snapshot {name:?} not found in sample_snapshots/, {} or tests/data/",
            shared_dir().display()
        )
    })
}

/// The truth JSON for `name`.
pub fn truth(name: &str) -> Option<serde_json::Value> {
    let candidates = [
        sample_dir().join(format!("{name}.truth.json")),
        shared_dir().join(format!("{name}.truth.json")),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.truth.json")),
    ];
    let p = candidates.into_iter().find(|p| p.exists())?;
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// Every workload that has a truth file.
pub const ALL: [&str; 12] = [
    "train_val_leak_wrapped",
    "one_step_adamw",
    "steady_nomarks",
    "leak_nomarks",
    "kv_generate",
    "train_val_leak",
    "frag_oom",
    "frag_oom_expandable",
    "capacity_oom",
    "gpt_train_amp",
    "big_trace",
    "huge_trace",
];

/// Runs the `memsight` command `cmd` (built with [`memsight`]) and returns its standard
/// output; a failure panics with its standard error and `what`.
pub fn run_ok(cmd: &mut std::process::Command, what: &str) -> Vec<u8> {
    let out = cmd.output().expect("memsight runs");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `memsight` binary of this build, as a command to add arguments to.
pub fn memsight() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_memsight"))
}
