//! Hostile input: truncated and corrupted real snapshots, and hand-made pickles that try to
//! make the reader execute code, allocate without bound or recurse without bound. Every case
//! must end in a typed [`ReadError`] (with the byte offset where the stream is at fault), never
//! a panic, a hang or an abort.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use memsight::read::{load_bytes, LoadOptions, ReadError};

fn read(bytes: &[u8]) -> Result<memsight::model::Snapshot, ReadError> {
    load_bytes(bytes, &LoadOptions::default())
}

fn err(bytes: &[u8]) -> ReadError {
    match read(bytes) {
        Ok(_) => panic!("{bytes:?} was accepted"),
        Err(e) => e,
    }
}

fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_snapshots");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("sample_snapshots") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "pickle") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read(&path).expect("read sample")));
        }
    }
    out.sort();
    assert!(out.len() >= 5, "samples missing");
    out
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Runs `load` on `bytes`, turning a panic into a description of the case.
fn no_panic(case: &str, bytes: &[u8]) -> Result<Option<ReadError>, String> {
    match catch_unwind(AssertUnwindSafe(|| read(bytes))) {
        Ok(Ok(_)) => Ok(None),
        Ok(Err(e)) => {
            let msg = e.to_string();
            if msg.is_empty() {
                return Err(format!("{case}: empty error message"));
            }
            Ok(Some(e))
        }
        Err(_) => Err(format!("{case}: PANIC")),
    }
}

/// Offsets to cut at: the whole header byte by byte, then spread over the file.
fn cut_points(len: usize, rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..len.min(64)).collect();
    for i in 0..n {
        v.push(len * i / n);
        v.push(rng.below(len));
    }
    v.push(len - 1);
    v.sort_unstable();
    v.dedup();
    v
}

/// Every sample cut short anywhere fails with a typed error whose offset is within the data.
#[test]
fn truncated_samples_fail_cleanly() {
    let samples = samples();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = samples
            .iter()
            .enumerate()
            .map(|(k, (name, bytes))| {
                scope.spawn(move || {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ k as u64);
                    let mut bad = Vec::new();
                    for cut in cut_points(bytes.len(), &mut rng, 120) {
                        let case = format!("{name} cut at {cut}");
                        match no_panic(&case, &bytes[..cut]) {
                            Err(m) => bad.push(m),
                            Ok(None) => bad.push(format!("{case}: accepted")),
                            Ok(Some(e)) => match e.offset() {
                                Some(o) if o <= cut as u64 => {}
                                Some(o) => bad.push(format!("{case}: offset {o} beyond the data")),
                                None if cut == 0 => {}
                                None => bad.push(format!("{case}: no offset in {e}")),
                            },
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every sample with bytes overwritten anywhere either still reads or fails with a typed error;
/// never a panic.
#[test]
fn corrupted_samples_never_panic() {
    let samples = samples();
    let (failures, errors): (Vec<String>, usize) = std::thread::scope(|scope| {
        let handles: Vec<_> = samples
            .iter()
            .enumerate()
            .map(|(k, (name, bytes))| {
                scope.spawn(move || {
                    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ k as u64);
                    let mut bad = Vec::new();
                    let mut errors = 0;
                    // Fewer runs on the 2.5 MB sample keep the test short.
                    let runs = if bytes.len() > 1 << 20 { 120 } else { 400 };
                    let mut buf = bytes.clone();
                    for i in 0..runs {
                        let at = if i < 48 { i } else { rng.below(bytes.len()) };
                        let width = 1 + rng.below(4);
                        let mut changed = Vec::new();
                        for j in at..(at + width).min(buf.len()) {
                            changed.push(j);
                            buf[j] = match rng.below(4) {
                                0 => 0xff,
                                1 => 0x00,
                                2 => buf[j] ^ (1 << rng.below(8)),
                                _ => rng.next() as u8,
                            };
                        }
                        let case = format!("{name} corrupted at {at}..+{width}");
                        match no_panic(&case, &buf) {
                            Err(m) => bad.push(m),
                            Ok(Some(_)) => errors += 1,
                            Ok(None) => {}
                        }
                        for j in changed {
                            buf[j] = bytes[j];
                        }
                    }
                    (bad, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker")).fold(
            (Vec::new(), 0),
            |(mut b, n), (b2, n2)| {
                b.extend(b2);
                (b, n + n2)
            },
        )
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(errors > 200, "corruption was caught only {errors} times");
}

#[test]
fn not_a_pickle() {
    for (bytes, at) in [
        (&b"hello, world"[..], 0),
        (b"\x89PNG\r\n\x1a\n", 0),
        (b"{\"segments\": []}", 0),
        (b"", 0),
    ] {
        let e = err(bytes);
        assert!(matches!(e, ReadError::NotPickle { .. }), "{e}");
        assert_eq!(e.offset(), Some(at));
        assert!(e.to_string().contains("not a pickle"), "{e}");
    }
}

#[test]
fn truncated_stream() {
    let e = err(b"\x80\x04\x95");
    assert!(matches!(e, ReadError::Truncated { offset: 3, .. }), "{e}");
    assert!(e.to_string().contains("FRAME"), "{e}");
    let e = err(b"\x80\x04}q\x00(X\x08\x00\x00\x00segm");
    assert!(matches!(e, ReadError::Truncated { .. }), "{e}");
    assert!(e.to_string().contains("string"), "{e}");
    // No STOP at the end.
    let e = err(b"\x80\x04}");
    assert!(matches!(e, ReadError::Truncated { offset: 3, .. }), "{e}");
}

#[test]
fn unsupported_opcode() {
    let e = err(b"\x80\x04\xff.");
    assert!(
        matches!(
            e,
            ReadError::UnsupportedOpcode {
                offset: 2,
                code: 0xff
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("0xff at byte 2"), "{e}");
    let e = err(b"\x80\x09.");
    assert!(e.to_string().contains("protocol 9"), "{e}");
}

#[test]
fn wrong_shapes_are_not_snapshots() {
    // [1, 2, 3]
    let e = err(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02K\x03e.");
    assert!(matches!(e, ReadError::NotASnapshot { .. }), "{e}");
    assert!(e.to_string().contains("list of 3 items"), "{e}");
    // {'device_traces': []}
    let e = err(b"\x80\x04}\x8c\rdevice_traces]s.");
    assert!(e.to_string().contains("no 'segments' key"), "{e}");
    // {'segments': 5}
    let e = err(b"\x80\x04}\x8c\x08segmentsK\x05s.");
    assert!(e.to_string().contains("'segments' is an int"), "{e}");
    // A segment with a negative size: named by place, not by a byte offset.
    let e = err(b"\x80\x04}\x8c\x08segments](}\x8c\ntotal_sizeJ\xfb\xff\xff\xffses.");
    assert!(matches!(e, ReadError::NotASnapshot { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("segment 0: total_size is negative (-5)"),
        "{e}"
    );
    // A bare int.
    let e = err(b"K\x05.");
    assert!(e.to_string().contains("holds an int"), "{e}");
    // A trace entry whose action is not a string.
    let e = err(b"\x80\x04}(\x8c\x08segments]\x8c\rdevice_traces]](}(\x8c\x06actionK\x01ueaeu.");
    assert!(e.to_string().contains("action is not a string"), "{e}");
    assert!(e.offset().is_some());
}

/// Object-construction opcodes are refused at the opcode, before anything is looked up.
#[test]
fn code_execution_opcodes_are_refused() {
    let cases: [(&[u8], &str, u64); 10] = [
        (b"\x80\x02cos\nsystem\n.", "GLOBAL", 2),
        (b"\x80\x04\x8c\x02os\x8c\x06system\x93.", "STACK_GLOBAL", 14),
        (b"\x80\x02N)R.", "REDUCE", 4),
        (b"\x80\x02}}b.", "BUILD", 4),
        (b"(ios\nsystem\n.", "INST", 1),
        (b"(N)o.", "OBJ", 3),
        (b"\x80\x02N)\x81.", "NEWOBJ", 4),
        (b"\x80\x04N)}\x92.", "NEWOBJ_EX", 5),
        (b"\x80\x02Pid\n.", "PERSID", 2),
        (b"\x80\x02\x82\x01.", "EXT1", 2),
    ];
    for (bytes, name, at) in cases {
        let e = err(bytes);
        match &e {
            ReadError::Forbidden { name: n, offset } => {
                assert_eq!((*n, *offset), (name, at), "{e}");
            }
            other => panic!("{name}: {other}"),
        }
        assert!(e.to_string().contains("never imports or calls"), "{e}");
    }
    // What CPython writes for collections.OrderedDict(): GLOBAL-free protocol 4 uses
    // STACK_GLOBAL then REDUCE.
    let od = b"\x80\x04\x95#\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.";
    assert!(matches!(
        err(od),
        ReadError::Forbidden {
            name: "STACK_GLOBAL",
            ..
        }
    ));
}

/// Lengths the data claims are never trusted for allocation.
#[test]
fn huge_length_claims_fail_without_allocating() {
    let cases: [&[u8]; 6] = [
        b"\x80\x04X\xff\xff\xff\xffabc",
        b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7fabc",
        b"\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00abc",
        b"\x80\x04B\xff\xff\xff\xffabc",
        b"\x80\x04T\xff\xff\xff\xffabc",
        b"\x80\x04\x8b\xff\xff\xff\x7f\x00",
    ];
    for bytes in cases {
        let e = err(bytes);
        assert!(
            matches!(e, ReadError::Truncated { .. } | ReadError::Limit { .. }),
            "{e}"
        );
        assert!(e.offset().is_some_and(|o| o <= bytes.len() as u64), "{e}");
    }
    // A 4 GB string claim in a real-looking header ends as truncation at the data's end.
    let e = err(b"\x80\x04}\x94X\x00\x00\x00\xffsegments");
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn memo_misuse() {
    let e = err(b"\x80\x04h\x05.");
    assert!(matches!(e, ReadError::Malformed { offset: 4, .. }), "{e}");
    assert!(e.to_string().contains("memo key 5"), "{e}");
    let e = err(b"\x80\x04j\xff\xff\xff\xff.");
    assert!(e.to_string().contains("memo key 4294967295"), "{e}");
    // Writing a memo key far beyond anything written is a limit, not a 64 GB memo.
    let e = err(b"\x80\x04Nr\xff\xff\xff\x7f.");
    assert!(matches!(e, ReadError::Limit { .. }), "{e}");
    // Many far-apart keys cannot grow the memo beyond the size of the data.
    let mut many = b"\x80\x04N".to_vec();
    for i in 1..2000u32 {
        many.push(b'r');
        many.extend_from_slice(&(i * 1_000_000).to_le_bytes());
    }
    many.push(b'.');
    assert!(matches!(err(&many), ReadError::Limit { .. }));
}

/// Nesting a million levels deep: the machine is iterative, and turning unmodelled data into
/// values stops at a depth limit instead of overflowing the stack.
#[test]
fn million_deep_nesting() {
    const N: usize = 1_000_000;
    // [[[...]]] as the root.
    let mut root = b"\x80\x04".to_vec();
    root.extend(std::iter::repeat_n(b']', N));
    root.extend(std::iter::repeat_n(b'a', N - 1));
    root.push(b'.');
    let e = err(&root);
    assert!(matches!(e, ReadError::NotASnapshot { .. }), "{e}");

    // {'segments': [], 'x': [[[...]]]}: kept unmodelled data, nested too deep.
    let mut kept = b"\x80\x04}\x8c\x08segments]s\x8c\x01x".to_vec();
    kept.extend(std::iter::repeat_n(b']', N));
    kept.extend(std::iter::repeat_n(b'a', N - 1));
    kept.extend_from_slice(b"s.");
    let e = err(&kept);
    assert!(matches!(e, ReadError::Limit { .. }), "{e}");
    assert!(e.to_string().contains("nested deeper"), "{e}");

    // A million open MARKs, and a million nested dicts in a trace entry field.
    let mut marks = b"\x80\x04".to_vec();
    marks.extend(std::iter::repeat_n(b'(', N));
    marks.push(b'.');
    assert!(read(&marks).is_err());

    // A list that contains itself, under an unmodelled key.
    let cycle = b"\x80\x04}\x8c\x08segments]s\x8c\x01x]q\x00h\x00as.";
    let e = err(cycle);
    assert!(e.to_string().contains("or a cycle"), "{e}");
}

/// Garbage after STOP and a stream that never stops.
#[test]
fn trailing_data_and_no_stop() {
    let e = err(b"\x80\x04}\x8c\x08segments]s.garbage");
    assert!(e.to_string().contains("follows the pickle's STOP"), "{e}");
    assert_eq!(e.offset(), Some(16));
}

/// Compressed input that is corrupt fails as a decompression error with an offset.
#[test]
fn corrupt_compressed_input() {
    let mut gz = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff];
    gz.extend_from_slice(b"\xde\xad\xbe\xef not deflate");
    let e = err(&gz);
    assert!(
        matches!(e, ReadError::Decompress { format: "gzip", .. }),
        "{e}"
    );
    let xz = b"\xfd7zXZ\x00\x00\x04garbage";
    assert!(matches!(
        err(xz),
        ReadError::Decompress { format: "xz", .. }
    ));
    let zst = b"\x28\xb5\x2f\xfd\xff\xff\xff\xffjunk";
    assert!(matches!(
        err(zst),
        ReadError::Decompress { format: "zstd", .. }
    ));
}

/// Shapes that would make reading quadratic: a frame list appended one frame at a time, and a
/// dict filled one key at a time. Both must read in linear time and memory.
#[test]
fn one_by_one_growth_stays_linear() {
    const N: usize = 100_000;
    // {'segments': [], 'x': [frame, frame, ...]} with APPENDS of one frame each.
    let mut frames = b"\x80\x04}\x8c\x08segments]s\x8c\x01x".to_vec();
    frames.extend_from_slice(
        b"}q\x00(\x8c\x04name\x8c\x01f\x8c\x08filename\x8c\x01g\x8c\x04lineK\x01u0]",
    );
    for _ in 0..N {
        frames.extend_from_slice(b"(h\x00e");
    }
    frames.extend_from_slice(b"s.");
    let snap = read(&frames).expect("reads");
    assert_eq!(snap.extra_top_level.len(), 1);
    match &snap.extra_top_level[0].1 {
        memsight::model::PyValue::List(items) => assert_eq!(items.len(), N),
        other => panic!("x is {other}"),
    }
    assert!(
        snap.stacks.len() < 10_000,
        "{} stacks interned",
        snap.stacks.len()
    );

    // {'segments': [], 'x': {0: 0, 1: 0, ...}} with one SETITEM per key.
    let mut dict = b"\x80\x04}\x8c\x08segments]s\x8c\x01x}".to_vec();
    for i in 0..N as u32 {
        dict.push(b'J');
        dict.extend_from_slice(&i.to_le_bytes());
        dict.extend_from_slice(b"K\x00s");
    }
    dict.extend_from_slice(b"s.");
    let snap = read(&dict).expect("reads");
    match &snap.extra_top_level[0].1 {
        memsight::model::PyValue::Dict(items) => assert_eq!(items.len(), N),
        other => panic!("x is {other}"),
    }
}

/// `{'segments': [], 'x': bomb}`, the bomb a list of two references to the previous list,
/// `levels` times over through the memo ("billion laughs"): 2**levels leaves from a dozen
/// bytes per level. `long_get` writes the references as LONG_BINGET (any number of levels)
/// rather than BINGET (up to 255).
fn laughs(levels: u32, long_get: bool) -> Vec<u8> {
    let mut p = b"\x80\x04}\x8c\x08segments]s\x8c\x01x]\x94".to_vec();
    for i in 0..levels {
        // Drop the previous level from the stack (it stays in the memo), then [prev, prev].
        p.extend_from_slice(b"0](");
        for _ in 0..2 {
            if long_get {
                p.push(b'j');
                p.extend_from_slice(&i.to_le_bytes());
            } else {
                p.extend_from_slice(&[b'h', i as u8]);
            }
        }
        p.extend_from_slice(b"e\x94");
    }
    p.extend_from_slice(b"s.");
    p
}

/// A pickle of `runs` repetitions of `unit` (opcodes that each add a value), compressible to
/// almost nothing.
fn runs_of(unit: &[u8], runs: usize, mut write: impl FnMut(&[u8])) {
    write(b"\x80\x04");
    let chunk = unit.repeat(65536 / unit.len());
    let mut left = runs;
    while left > 0 {
        let n = left.min(chunk.len() / unit.len());
        write(&chunk[..n * unit.len()]);
        left -= n;
    }
    write(b".");
}

/// 128 MiB of EMPTY_LIST, MEMOIZE (each a new list on the stack and in the memo), zstd- or
/// xz-compressed into a few dozen KB.
fn compressed_bomb(xz: bool) -> Vec<u8> {
    use std::io::Write;
    let runs = 64 << 20;
    if xz {
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        runs_of(b"]\x94", runs, |b| enc.write_all(b).expect("xz"));
        enc.finish().expect("xz")
    } else {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).expect("zstd");
        runs_of(b"]\x94", runs, |b| enc.write_all(b).expect("zstd"));
        enc.finish().expect("zstd")
    }
}

/// Memo references are shared, never copied: data kept unmodelled that expands through them
/// beyond what the file can hold is refused, with the offset, instead of filling memory.
#[test]
fn shared_references_are_not_expanded_without_bound() {
    // 2**20 leaves from 200 bytes; then 2**60.
    for (levels, long_get) in [(20, false), (60, true)] {
        let bytes = laughs(levels, long_get);
        let e = err(&bytes);
        assert!(matches!(e, ReadError::Limit { .. }), "{levels} levels: {e}");
        assert!(e.to_string().contains("memory"), "{e}");
        assert!(e.to_string().contains("top-level key 'x'"), "{e}");
        assert!(e.offset().is_some_and(|o| o <= bytes.len() as u64), "{e}");
    }
    // Shared references themselves are fine: 2**20 leaves, but only as a shared structure
    // that nothing copies (the bomb as a segment's unmodelled key is only counted).
    let mut p = b"\x80\x04}\x8c\x08segments]}(\x8c\x0atotal_sizeK\x00\x8c\x01x".to_vec();
    let bomb = laughs(20, false);
    p.extend_from_slice(&bomb[b"\x80\x04}\x8c\x08segments]s\x8c\x01x".len()..bomb.len() - 2]);
    p.extend_from_slice(b"uas.");
    let snap = read(&p).expect("a shared structure nobody copies reads");
    assert_eq!(snap.segments.len(), 1);
}

/// Decompression bombs: a few dozen KB of zstd or xz that decompress to 128 MiB of opcodes
/// that each add a value are refused once they claim more memory than the file can hold.
#[test]
fn compressed_bombs_are_refused() {
    for xz in [false, true] {
        let bytes = compressed_bomb(xz);
        assert!(bytes.len() < 200_000, "bomb of {} bytes", bytes.len());
        let e = err(&bytes);
        assert!(matches!(e, ReadError::Limit { .. }), "{e}");
        assert!(e.to_string().contains("memory"), "{e}");
        assert!(e.offset().is_some_and(|o| o < 128 << 20), "{e}");
    }
}

/// Runs `memsight info FILE`, killed past `kill_above` bytes of resident memory or 60 s:
/// (whether it exited successfully, its stderr, its peak RSS in bytes from `wait4`).
#[cfg(target_os = "linux")]
fn spawn_info(path: &Path, kill_above: u64) -> (bool, String, u64) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    // Reaped by `wait4` below, which also gives its resource usage, not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_memsight"))
        .arg("info")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memsight runs");
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let (status, max_rss) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid, and wait4 writes only into the two locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage.ru_maxrss as u64 * 1024);
        }
        assert_eq!(r, 0, "wait4 failed");
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .unwrap_or(0)
            * 1024;
        if rss > kill_above || start.elapsed() > Duration::from_secs(60) {
            // Not reaped yet, so the pid is still this child's.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, stderr, max_rss)
}

/// Not a test: the helper [`info_peak_rss`] runs in a fresh copy of this binary.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "a helper, run by bombs_keep_the_process_small"]
fn info_peak_rss_helper() {
    let Some(path) = std::env::var_os("MEMSIGHT_PEAK_RSS_OF") else {
        return;
    };
    let (ok, stderr, rss) = spawn_info(Path::new(&path), 1 << 30);
    println!("PEAK_RSS {} {rss}", u8::from(ok));
    println!("STDERR {}", stderr.trim().replace('\n', " "));
}

/// Peak resident memory of `memsight info FILE`: (whether it succeeded, its stderr, its peak
/// RSS in bytes). Spawned from a fresh copy of this test binary, because the kernel counts the
/// memory of the process that spawns into the child's peak (`exec` records the replaced
/// memory's high-water mark), and this process holds whatever the tests beside it allocated.
#[cfg(target_os = "linux")]
fn info_peak_rss(path: &Path) -> (bool, String, u64) {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "info_peak_rss_helper",
            "--ignored",
            "--nocapture",
        ])
        .env("MEMSIGHT_PEAK_RSS_OF", path)
        .output()
        .expect("the helper runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |tag: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} from the helper: {text}"))
            .to_string()
    };
    let peak = field("PEAK_RSS ");
    let (ok, rss) = peak.split_once(' ').expect("two fields");
    (ok == "1", field("STDERR "), rss.parse().expect("a number"))
}

/// The same bombs through the `memsight` binary: the process stays within a few dozen MiB of
/// what it takes to open a small real snapshot.
#[cfg(target_os = "linux")]
#[test]
fn bombs_keep_the_process_small() {
    const MIB: u64 = 1 << 20;
    let dir = std::env::temp_dir().join(format!("memsight-bombs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_snapshots/frag_oom.pickle");
    let (ok, stderr, base) = info_peak_rss(&sample);
    assert!(ok, "the sample does not load: {stderr}");
    let cases = [
        ("laughs60.pickle", laughs(60, true)),
        ("laughs24.pickle", laughs(24, false)),
        ("bomb.pickle.zst", compressed_bomb(false)),
        ("bomb.pickle.xz", compressed_bomb(true)),
    ];
    let mut bad = Vec::new();
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write bomb");
        let (ok, stderr, rss) = info_peak_rss(&path);
        let line = format!(
            "{name} ({} bytes): peak RSS {} MiB against {} MiB for a 12 KB sample; {}",
            bytes.len(),
            rss / MIB,
            base / MIB,
            stderr.trim()
        );
        if ok || !stderr.contains("memory") || rss > base + 32 * MIB {
            bad.push(line);
        } else {
            eprintln!("{line}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// `{'segments': [], 'x': [s(0), s(1), ...]}`: `n` distinct strings, appended in batches of a
/// thousand as CPython's pickler does.
fn strings_pickle(n: usize, s: impl Fn(usize) -> String) -> Vec<u8> {
    let mut p = b"\x80\x04}\x8c\x08segments]s\x8c\x01x]".to_vec();
    for batch in (0..n).collect::<Vec<_>>().chunks(1000) {
        p.push(b'(');
        for &i in batch {
            let t = s(i);
            p.push(0x8c);
            p.push(t.len() as u8);
            p.extend_from_slice(t.as_bytes());
        }
        p.push(b'e');
    }
    p.extend_from_slice(b"s.");
    p
}

/// Many distinct short strings that differ only in their last bytes (`fn000001`, ...) load in
/// linear time: the interner's hash must not send them all to a few buckets (it did: a million
/// took 30 s, against under a second for a million decimal strings).
///
/// Measured as a ratio, against as many decimal strings (which any hash spreads): both lists
/// take the same memory, so cache and page-fault effects, which make 2N strings take more
/// than twice as long as N on this machine, cancel out.
#[test]
fn distinct_strings_load_in_linear_time() {
    const N: usize = 200_000;
    let best_of_3 = |bytes: &[u8]| {
        (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                let snap = read(bytes).expect("reads");
                let took = t.elapsed().as_secs_f64();
                assert_eq!(snap.extra_top_level.len(), 1, "the list is there");
                took
            })
            .fold(f64::INFINITY, f64::min)
    };
    let decimal = best_of_3(&strings_pickle(N, |i| i.to_string()));
    let similar = best_of_3(&strings_pickle(N, |i| format!("fn{i:06}")));
    assert!(
        similar < 3.0 * decimal,
        "{N} strings fn000000...: {:.1} ms, {N} decimal strings: {:.1} ms ({:.1}x)",
        similar * 1e3,
        decimal * 1e3,
        similar / decimal
    );
}

/// A FIFO with no writer, character devices and directories: named for what they are, and
/// opening one never blocks.
#[cfg(target_os = "linux")]
#[test]
fn special_files_are_named_and_never_block() {
    use memsight::read::load_path;
    use std::time::Duration;
    let dir = std::env::temp_dir().join(format!("memsight-special-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().expect("utf-8 path")).expect("no NUL");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let cases = [
        (fifo.clone(), "is a FIFO"),
        ("/dev/zero".into(), "is a character device"),
        ("/dev/urandom".into(), "is a character device"),
        (dir.clone(), "is a directory"),
    ];
    for (path, what) in cases {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let r = load_path(&p, &LoadOptions::default());
            let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
        });
        let r = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("opening {} blocked", path.display()));
        let e = r.expect_err("a special file is refused");
        assert!(e.contains(what), "{}: {e}", path.display());
        assert!(e.contains("not a regular file"), "{}: {e}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Messages: a zstd error gives a position that means something, and an OS error is printed
/// once when the error is shown with its causes (as `memsight` does, through anyhow).
#[test]
fn error_messages_are_precise_and_not_repeated() {
    let zst = b"\x28\xb5\x2f\xfd\xff\xff\xff\xffjunk";
    let e = err(zst).to_string();
    assert!(!e.contains("near byte 0"), "{e}");
    assert!(e.contains("zstd") && e.contains("of the file"), "{e}");

    let missing = Path::new("/nonexistent/memsight/x.pickle");
    let e = memsight::read::load_path(missing, &LoadOptions::default()).expect_err("missing");
    let shown = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(shown.matches("No such file").count(), 1, "{shown}");
}
