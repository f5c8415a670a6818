//! What memsight prints for every bundled sample, compared byte for byte with the committed
//! copies in `tests/golden/`. A refactor must leave them identical; a change in behaviour
//! shows up in review as a diff of exactly what users would see.
//!
//! To accept a deliberate change: `UPDATE_GOLDEN=1 cargo test --release --test golden`, then
//! read the diff before committing it. (`scripts/outputs.sh` does the same over every
//! snapshot on the machine, for changes that need the larger files.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// The commands whose output is kept, each with the file suffix it is kept under.
const OUTPUTS: [(&str, &[&str]); 5] = [
    ("analyze.txt", &["analyze"]),
    ("analyze.json", &["analyze", "--json"]),
    ("report.md", &["report", "--format", "md"]),
    ("report.json", &["report", "--format", "json"]),
    (
        "check.txt",
        &[
            "check",
            "--no-leaks",
            "--no-oom",
            "--max-fragmentation",
            "30%",
        ],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn samples() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("sample_snapshots"))
        .expect("sample_snapshots/ is part of the repository")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pickle"))
        .collect();
    v.sort();
    v
}

/// Stdout, stderr and the exit code of one command, run from the repository root with the
/// sample named by its relative path (so no machine's paths end up in the output).
fn run(args: &[&str], sample: &str) -> Vec<u8> {
    let rel = Path::new("sample_snapshots").join(sample);
    let out = Command::new(env!("CARGO_BIN_EXE_memsight"))
        .current_dir(root())
        .args(args)
        .arg(&rel)
        .output()
        .expect("the memsight binary runs");
    let mut bytes = out.stdout;
    if !out.stderr.is_empty() {
        bytes.extend_from_slice(b"--- stderr\n");
        bytes.extend_from_slice(&out.stderr);
    }
    bytes.extend_from_slice(format!("--- exit {}\n", out.status.code().unwrap_or(-1)).as_bytes());
    bytes
}

#[test]
fn every_output_of_every_sample_matches_its_golden_copy() {
    let names = samples();
    assert!(
        names.len() >= 5,
        "expected the bundled samples, found {names:?}"
    );
    let dir = root().join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    if update {
        std::fs::create_dir_all(&dir).expect("tests/golden can be created");
    }
    let mut differ = Vec::new();
    let mut checked = 0;
    for name in &names {
        for (suffix, args) in OUTPUTS {
            let got = run(args, name);
            let path = dir.join(format!("{name}.{suffix}"));
            if update {
                std::fs::write(&path, &got).expect("a golden file can be written");
                continue;
            }
            let want = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (UPDATE_GOLDEN=1 writes the golden copies)",
                    path.display()
                )
            });
            checked += 1;
            if got != want {
                let first = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                let line = want[..first].iter().filter(|&&b| b == b'\n').count() + 1;
                differ.push(format!(
                    "{} (first difference on line {line})",
                    path.display()
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "outputs changed; review with UPDATE_GOLDEN=1 and git diff tests/golden:\n{}",
        differ.join("\n")
    );
    assert!(update || checked == names.len() * OUTPUTS.len());
}
