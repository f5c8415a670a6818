//! What the command line writes, when writing goes wrong and when the file is hostile: a
//! closed pipe ends a command quietly, a full disk is a message and exit code 3, `-o` replaces
//! its target whole or not at all and never overwrites an input, and text from the snapshot
//! (frame names, file names) cannot close a Markdown fence, split a table, or put a live image,
//! link or mention into a pull-request comment.

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
        (v(&["summarize", &cap]), 0),
        (v(&["ranks", &cap, &leak]), 0),
        (v(&["ranks", &cap, &leak, "--json"]), 0),
        // A file that cannot be read keeps its exit code when nobody reads the output.
        (v(&["ranks", &cap, &junit]), 2),
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
        (dir.clone(), "it is a directory, not a regular file"),
    ] {
        let o = Command::new(bin())
            .args(["analyze", s(&path)])
            .output()
            .expect("runs");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.matches(os_error).count(), 1, "{err}");
        // The path once, too.
        assert_eq!(err.matches(s(&path)).count(), 1, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Hostile text in the snapshot ----

/// A function name that tries to close the stack's code fence and put an image, a link, a
/// mention, HTML and table cells into the comment.
const EVIL_FUNCTION: &str = "f\n```\n![x](http://evil.example/x.png)\n[link](http://evil.example) \
     @someone | a | b <script>alert(1)</script> ```` `` www.evil.example";
/// A file name with the same (no `/`, so that the short label keeps all of it).
const EVIL_FILE: &str = "evil\n```\n![y](y.png) mail@evil.example @octocat | c | d <script>x<b>.py";

/// A snapshot whose leaking call site has those names: a leak over six marked iterations and
/// an OOM, so the Markdown has every table and every folded stack.
fn evil_snapshot(dir: &Path, name: &str) -> PathBuf {
    use serde_json::json;
    const MB: u64 = 1 << 20;
    const BASE: u64 = 0x7F00_0000_0000;
    let evil = json!([
        {"name": EVIL_FUNCTION, "filename": EVIL_FILE, "line": 7},
        {"name": "train", "filename": "/w/train.py", "line": 3}
    ]);
    let tmp = json!([
        {"name": "tmp", "filename": "/w/train.py", "line": 9},
        {"name": "train", "filename": "/w/train.py", "line": 3}
    ]);
    let ev = |action: &str, addr: u64, size: u64, t: u64, frames: &serde_json::Value| {
        json!({"action": action, "addr": addr, "size": size, "stream": 0, "time_us": t,
               "frames": frames})
    };
    let mut trace = vec![ev("segment_alloc", BASE, 64 * MB, 0, &evil)];
    let mut t = 1;
    for i in 0..6 {
        trace.push(ev("alloc", BASE + i * MB, MB, t, &evil));
        trace.push(ev("alloc", BASE + 32 * MB, 2 * MB, t + 1, &tmp));
        trace.push(ev("free_requested", BASE + 32 * MB, 2 * MB, t + 2, &tmp));
        trace.push(ev("free_completed", BASE + 32 * MB, 2 * MB, t + 3, &tmp));
        trace.push(ev("snapshot", 0, 0, t + 4, &json!([])));
        t += 5;
    }
    trace.push(
        json!({"action": "oom", "size": 64 * MB, "stream": 0, "time_us": t,
                      "device_free": 3 * MB, "frames": evil}),
    );
    let snap = json!({"segments": [], "device_traces": [trace]});
    let bytes =
        serde_pickle::to_vec(&snap, serde_pickle::SerOptions::new()).expect("pickle written");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write snapshot");
    p
}

fn run_ok(args: &[&str]) -> String {
    let o = Command::new(bin()).args(args).output().expect("runs");
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("utf-8")
}

/// Removes the code spans of a line outside fenced blocks (CommonMark: a run of N backticks
/// up to the next run of exactly N), keeping the rest.
fn outside_code_spans(line: &str) -> String {
    let b = line.as_bytes();
    let run = |i: usize| b[i..].iter().take_while(|&&c| c == b'`').count();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            out.push_str(&line[i..i + 2]);
            i += 2;
            continue;
        }
        if b[i] == b'`' {
            let n = run(i);
            let mut j = i + n;
            let mut close = None;
            while j < b.len() {
                if b[j] == b'`' {
                    let m = run(j);
                    if m == n {
                        close = Some(j + m);
                        break;
                    }
                    j += m;
                } else {
                    j += 1;
                }
            }
            match close {
                Some(end) => {
                    out.push_str("<code/>");
                    i = end;
                }
                None => {
                    out.push_str(&line[i..i + n]);
                    i += n;
                }
            }
            continue;
        }
        let c = line[i..].chars().next().expect("char");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The pipes that split a GFM table row into cells: those not escaped by a backslash, code
/// spans included (GFM splits the row before it parses code spans).
fn cell_separators(row: &str) -> usize {
    let b = row.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\'))
        .count()
}

/// Structural checks of Markdown that holds hostile text: every fenced block closes where it
/// was meant to, no live image, link, mention, autolink or HTML tag outside code, every row of
/// a table has the header's cells. Returns the lines inside fenced blocks.
fn assert_inert_markdown(md: &str, what: &str) -> Vec<String> {
    let mut fenced = Vec::new();
    let mut fence: Option<usize> = None;
    let mut table_cells: Option<usize> = None;
    for line in md.lines() {
        let ticks = line.bytes().take_while(|&c| c == b'`').count();
        if let Some(n) = fence {
            if ticks >= n && line[ticks..].trim().is_empty() {
                fence = None;
            } else {
                fenced.push(line.to_string());
            }
            continue;
        }
        if ticks >= 3 {
            // An opening fence: its info string is a plain word.
            assert!(
                line[ticks..].chars().all(|c| c.is_ascii_alphanumeric()),
                "{what}: fence {line:?}"
            );
            fence = Some(ticks);
            continue;
        }
        let text = outside_code_spans(line);
        let unescaped = |pat: &str| {
            text.match_indices(pat)
                .any(|(i, _)| i == 0 || text.as_bytes()[i - 1] != b'\\')
        };
        for pat in ["![", "](", "[link]", "[x]", "[y]", "://"] {
            assert!(!unescaped(pat), "{what}: live {pat:?} in {line:?}");
        }
        for pat in [
            "<script", "<b>", "@someone", "@octocat", "@evil", "www.evil",
        ] {
            assert!(!text.contains(pat), "{what}: live {pat:?} in {line:?}");
        }
        if line.starts_with('|') {
            let n = cell_separators(line);
            match table_cells {
                None => table_cells = Some(n),
                Some(want) => assert_eq!(n, want, "{what}: cells of {line:?}"),
            }
        } else {
            table_cells = None;
        }
    }
    assert!(fence.is_none(), "{what}: a fence left open");
    fenced
}

/// GitHub's own renderer (cmark-gfm, through Python's cmarkgfm) agrees: no image, no link,
/// no HTML from the file, no mention, and each table row has the header's cells. Skipped
/// when cmarkgfm is not installed (`pip install cmarkgfm`).
fn assert_inert_when_rendered(md: &str, what: &str) {
    let script = "import sys, cmarkgfm\n\
                  from cmarkgfm.cmark import Options\n\
                  sys.stdout.write(cmarkgfm.github_flavored_markdown_to_html(\
                  sys.stdin.read(), options=Options.CMARK_OPT_UNSAFE))";
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("{what}: python3 not found, rendering check skipped");
        return;
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(md.as_bytes()).expect("to python");
    }
    let o = child.wait_with_output().expect("python ends");
    if !o.status.success() {
        eprintln!("{what}: cmarkgfm not installed, rendering check skipped");
        return;
    }
    let html = String::from_utf8(o.stdout).expect("utf-8");
    for banned in ["<img", "<a ", "<script", "<b>"] {
        assert!(!html.contains(banned), "{what}: {banned:?} in\n{html}");
    }
    // GitHub finds mentions in text, not in code.
    let mut text = String::new();
    for (k, part) in html.split("<code").enumerate() {
        text.push_str(if k == 0 {
            part
        } else {
            part.split_once("</code>").map_or("", |(_, after)| after)
        });
    }
    for banned in ["@someone", "@octocat", "@evil"] {
        assert!(!text.contains(banned), "{what}: {banned:?} in\n{html}");
    }
    // The hostile text is there, shown as text.
    assert!(html.contains("&lt;script&gt;alert(1)"), "{what}:\n{html}");
    for table in html.split("<table>").skip(1) {
        let table = table.split("</table>").next().expect("table");
        let head = table.matches("<th>").count() + table.matches("<th ").count();
        for row in table.split("<tr>").skip(2) {
            let cells = row.matches("<td>").count() + row.matches("<td ").count();
            assert_eq!(cells, head, "{what}: row {row}");
        }
    }
    // Every stack is one fenced block.
    assert_eq!(
        html.matches("<pre").count(),
        md.matches("<details>").count(),
        "{what}:\n{html}"
    );
}

/// The frame as the folded stacks show it: on one line, every character kept.
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

#[test]
fn markdown_keeps_hostile_names_inert() {
    let dir = tmp_dir("md");
    let snap = evil_snapshot(&dir, "evil.pickle");
    let site = format!("{EVIL_FILE}:7");
    let outputs = [
        ("report", run_ok(&["report", s(&snap)])),
        (
            "report --site",
            run_ok(&["report", s(&snap), "--site", &site]),
        ),
        (
            "diff",
            run_ok(&[
                "diff",
                s(&snap),
                s(&snap),
                "--at-a",
                "marker:1",
                "--at-b",
                "end",
                "--format",
                "md",
            ]),
        ),
    ];
    for (what, md) in &outputs {
        let fenced = assert_inert_markdown(md, what);
        assert_inert_when_rendered(md, what);
        if *what != "diff" {
            // The data was there: the leak, its table row and its stack, whole.
            assert!(md.contains("#### Leak suspects"), "{what}:\n{md}");
            assert!(md.contains("<details>"), "{what}");
            let frame = format!("{}:7 in {}", one_line(EVIL_FILE), one_line(EVIL_FUNCTION));
            assert!(
                fenced.iter().any(|l| l.ends_with(&frame)),
                "{what}: the frame kept whole in its stack:\n{md}"
            );
            // Nothing from the file ends up on a line of its own in a stack.
            assert!(fenced.iter().all(|l| l.starts_with(['→', ' '])), "{what}");
        } else {
            assert!(md.contains("#### Grew (1)"), "{what}:\n{md}");
        }
    }
    // Code spans in table cells carry the pipe escaped, as GFM wants it.
    let report = &outputs[0].1;
    assert!(report.contains("@someone \\| a \\| b"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The HTML report, the HTML diff, JUnit and JSON keep the same text escaped; the plain text
/// and JSON keep it as it is.
#[test]
fn html_junit_and_json_keep_hostile_names_escaped() {
    let dir = tmp_dir("esc");
    let snap = evil_snapshot(&dir, "a<script>b&\"'.pickle");
    let html = run_ok(&["report", s(&snap), "--format", "html"]);
    let diff_html = run_ok(&[
        "diff",
        s(&snap),
        s(&snap),
        "--at-a",
        "marker:1",
        "--at-b",
        "end",
        "--format",
        "html",
    ]);
    for (what, h) in [("report", &html), ("diff", &diff_html)] {
        assert!(!h.contains("<script"), "{what}: raw <script>");
        assert!(!h.contains("x<b>"), "{what}: raw <b>");
        assert!(
            h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{what}: the name, escaped"
        );
    }
    let o = Command::new(bin())
        .args([
            "check",
            s(&snap),
            "--no-leaks",
            "--no-oom",
            "--format",
            "junit",
        ])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let xml = String::from_utf8(o.stdout).expect("utf-8");
    assert!(!xml.contains("<script"), "{xml}");
    assert!(!xml.contains("x<b>"), "{xml}");
    assert!(
        xml.contains("a&lt;script&gt;b&amp;"),
        "the file name, escaped:\n{xml}"
    );
    for args in [
        vec!["check", s(&snap), "--no-leaks", "--format", "json"],
        vec!["report", s(&snap), "--format", "json"],
        vec![
            "diff",
            s(&snap),
            s(&snap),
            "--at-a",
            "marker:1",
            "--at-b",
            "end",
            "--json",
        ],
    ] {
        let o = Command::new(bin()).args(&args).output().expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert!(
            v.to_string().contains("<script>alert(1)"),
            "{args:?}: the name, as it is"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
