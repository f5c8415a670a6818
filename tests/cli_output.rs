//! What the command line writes when writing goes wrong: a closed pipe ends a command quietly,
//! a full disk is a message and exit code 3, and `-o` replaces its target whole or not at all
//! and never overwrites an input.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memsight")
}

/// A fresh temporary directory for one test.
fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memsight-out-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A bundled sample (in the repository, so it must be there).
fn sample(name: &str) -> PathBuf {
    let p = common::sample_dir().join(format!("{name}.pickle"));
    assert!(p.exists(), "bundled sample {} missing", p.display());
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every command that prints, with arguments that make it print, and its exit code when
/// printing succeeds.
fn printing_commands(dir: &Path) -> Vec<(Vec<String>, i32)> {
    let cap = s(&sample("capacity_oom")).to_string();
    let leak = s(&sample("train_val_leak")).to_string();
    let junit = s(&dir.join("junit.xml")).to_string();
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        (v(&["info", &cap]), 0),
        (v(&["info", &cap, "--json"]), 0),
        (v(&["analyze", &cap]), 0),
        (v(&["analyze", &cap, "--json"]), 0),
        (v(&["report", &cap]), 0),
        (v(&["report", &leak, "--format", "html"]), 0),
        (v(&["report", &cap, "-o", "-"]), 0),
        (v(&["diff", &cap, &leak]), 0),
        (v(&["diff", &cap, &leak, "--json"]), 0),
        (v(&["diff", &cap, &leak, "--format", "md"]), 0),
        (v(&["check", &cap, "--max-peak", "100GiB"]), 0),
        // A failed rule keeps its exit code when nobody reads the output.
        (
            v(&["check", &cap, "--no-oom", "--format", "junit", "-o", &junit]),
            1,
        ),
        (
            v(&[
                "explain-oom",
                "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 15.90 GiB total \
                 capacity; 14.90 GiB already allocated; 1.00 MiB free; 15.00 GiB reserved in \
                 total by PyTorch)",
            ]),
            0,
        ),
        (v(&["whatif", &cap]), 0),
        (v(&["whatif", &cap, "--json"]), 0),
    ]
}

/// Standard output is a pipe whose reader has gone before anything was written (`| head`
/// that already exited): every command ends quietly, without a panic.
#[test]
fn closed_pipe_ends_quietly() {
    let dir = tmp_dir("pipe");
    for (args, code) in printing_commands(&dir) {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let o = Command::new(bin())
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("memsight runs");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}: quiet on a closed pipe");
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    }
    // `check -o` still wrote its file for CI, whoever reads standard output.
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("junit written");
    assert!(junit.contains("<testsuites"), "{junit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The reader goes away in the middle (`memsight report ... | head -c1`): quiet, exit 0.
#[test]
fn pipe_closed_mid_write_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(bin())
        .args(["report", s(&sample("train_val_leak")), "--format", "html"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memsight runs");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    out.read_exact(&mut first).expect("one byte");
    assert_eq!(&first, b"<");
    drop(out);
    let o = child.wait_with_output().expect("memsight ends");
    // The report (300 kB) is far larger than a pipe's buffer, so the write met the closed pipe.
    let err = stderr(&o);
    assert_eq!(err, "", "quiet");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

/// Standard output on a full disk: a one-line message and exit code 3, never a panic.
#[cfg(target_os = "linux")]
#[test]
fn full_disk_on_stdout_is_exit_3() {
    let dir = tmp_dir("full");
    for (args, _) in printing_commands(&dir) {
        let full = File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let o = Command::new(bin())
            .args(&args)
            .stdout(full)
            .output()
            .expect("memsight runs");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(
            err,
            "memsight: cannot write to standard output: No space left on device (os error 28)\n",
            "{args:?}"
        );
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A note on standard error that cannot be written ("wrote out.md") is not worth a panic: the
/// report was written.
#[cfg(target_os = "linux")]
#[test]
fn full_stderr_does_not_panic() {
    let dir = tmp_dir("stderr");
    let out = dir.join("out.md");
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = Command::new(bin())
        .args(["report", s(&sample("capacity_oom")), "-o", s(&out)])
        .stderr(full)
        .output()
        .expect("memsight runs");
    assert_eq!(o.status.code(), Some(0));
    assert!(std::fs::read_to_string(&out)
        .expect("report written")
        .contains("Verdict"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-o` naming the input, however it is spelled, is refused before anything is written, and
/// the snapshot is left as it was.
#[test]
fn output_over_an_input_is_refused() {
    let dir = tmp_dir("input");
    let snap = dir.join("snap.pickle");
    let other = dir.join("other.pickle");
    std::fs::copy(sample("capacity_oom"), &snap).expect("copy");
    std::fs::copy(sample("frag_oom"), &other).expect("copy");
    let original = std::fs::read(&snap).expect("read");
    std::fs::create_dir_all(dir.join("sub")).expect("sub");
    let roundabout = dir.join("sub/../snap.pickle");
    let hard = dir.join("hard.md");
    std::fs::hard_link(&snap, &hard).expect("hard link");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&snap, dir.join("link.md")).expect("symlink");
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["report", s(&snap), "-o", s(&snap), "--format", "md"],
        vec!["report", s(&snap), "-o", s(&roundabout), "--format", "html"],
        vec!["report", s(&snap), "-o", s(&hard)],
        vec![
            "diff",
            s(&other),
            s(&snap),
            "-o",
            s(&snap),
            "--format",
            "md",
        ],
        vec![
            "diff",
            s(&snap),
            s(&other),
            "-o",
            s(&snap),
            "--format",
            "md",
        ],
        vec!["check", s(&snap), "--no-oom", "-o", s(&snap)],
        vec![
            "check",
            s(&other),
            "--baseline",
            s(&snap),
            "--max-growth",
            "5%",
            "-o",
            s(&snap),
        ],
    ];
    let link = dir.join("link.md");
    if cfg!(unix) {
        cases.push(vec!["report", s(&snap), "-o", s(&link)]);
    }
    for args in cases {
        let o = Command::new(bin()).args(&args).output().expect("runs");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("refusing to overwrite the input"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(&snap).expect("read"), original, "{args:?}");
        assert_eq!(o.stdout, b"", "{args:?}: nothing printed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write that fails halfway (the file size limit of `ulimit -f`, as a full disk would)
/// leaves the previous report byte for byte and no temporary file; so does a target that is a
/// directory or in a directory that does not exist.
#[cfg(unix)]
#[test]
fn failed_write_keeps_the_previous_file() {
    let dir = tmp_dir("keep");
    let snap = dir.join("snap.pickle");
    std::fs::copy(sample("train_val_leak"), &snap).expect("copy");
    let out = dir.join("out.html");
    let previous = b"<p>the previous report</p>\n".repeat(100);
    std::fs::write(&out, &previous).expect("previous report");
    let before = entries(&dir);
    // The shell ignores SIGXFSZ (inherited through exec), so the write fails with EFBIG
    // after the first few kilobytes instead of killing memsight.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 8; exec '{}' report '{}' -o '{}'",
            bin(),
            s(&snap),
            s(&out)
        ))
        .output()
        .expect("sh runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.starts_with(&format!("memsight: cannot write {}: ", out.display())),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        std::fs::read(&out).expect("read"),
        previous,
        "previous report kept"
    );
    assert_eq!(entries(&dir), before, "no temporary file left");

    // A directory as the target, and a directory that is not there.
    let d = dir.join("reports.md");
    std::fs::create_dir(&d).expect("dir");
    let before = entries(&dir);
    for target in [d.clone(), dir.join("missing/out.md")] {
        let o = Command::new(bin())
            .args(["report", s(&snap), "-o", s(&target)])
            .output()
            .expect("runs");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{target:?}: {err}");
        assert!(err.contains("cannot write"), "{err}");
        assert_eq!(entries(&dir), before, "{target:?}: nothing left behind");
        assert_eq!(entries(&d), Vec::<String>::new());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A successful `-o` replaces the target whole: its permissions are kept, a symbolic link
/// stays a link and the file it points to gets the report, and no temporary file is left.
#[cfg(unix)]
#[test]
fn written_file_replaces_the_target() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp_dir("replace");
    let snap = sample("capacity_oom");
    let out = dir.join("out.md");
    std::fs::write(&out, "old").expect("old");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let real = dir.join("real.md");
    std::fs::write(&real, "old").expect("old");
    let link = dir.join("link.md");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let junit = dir.join("junit.xml");
    std::fs::write(&junit, "old").expect("old");
    for args in [
        vec!["report", s(&snap), "-o", s(&out)],
        vec!["report", s(&snap), "-o", s(&link)],
        vec![
            "check",
            s(&snap),
            "--no-oom",
            "--format",
            "junit",
            "-o",
            s(&junit),
        ],
    ] {
        let o = Command::new(bin()).args(&args).output().expect("runs");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let md = std::fs::read_to_string(&out).expect("report");
    assert!(md.starts_with("## memsight report"), "{md}");
    let mode = std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "permissions kept");
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&real)
        .expect("real")
        .starts_with("## memsight report"));
    assert!(std::fs::read_to_string(&junit)
        .expect("junit")
        .contains("<testsuites"));
    assert_eq!(entries(&dir), ["junit.xml", "link.md", "out.md", "real.md"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// OS errors are said once.
#[test]
fn os_errors_are_said_once() {
    let dir = tmp_dir("msg");
    for (path, os_error) in [
        (PathBuf::from("/nonexistent/snap.pickle"), "(os error 2)"),
        (dir.clone(), "(os error 21)"),
    ] {
        let o = Command::new(bin())
            .args(["analyze", s(&path)])
            .output()
            .expect("runs");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.matches(os_error).count(), 1, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
