//! What the `load` fuzz target checks, and a stable-Rust driver for machines without
//! cargo-fuzz: it replays every corpus file, then mutates them (byte flips, cuts, splices,
//! inserted opcodes, repeated chunks) for a given time, catching panics and saving each
//! crashing input, and each input that takes longer than [`SLOW`], under `artifacts/load/`.
//!
//! Whatever loads goes on through the whole tool: the analysis (replay, iterations, growth,
//! findings) and every output (the analyze JSON, the text diagnosis, the HTML, Markdown and
//! JSON reports), so a file that reads cleanly cannot panic or hang what comes after.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use memsight::read::{load_bytes, LoadOptions};

/// An input that takes longer than this (load, analysis and every output) is saved as a hang.
pub const SLOW: Duration = Duration::from_secs(10);

/// Loads `data`; any result is fine, a panic is the bug. A successful load is walked (so that
/// inconsistent models, ids out of range, would panic here), analysed and rendered in every
/// output format.
pub fn check(data: &[u8]) {
    if let Ok(snap) = load_bytes(data, &LoadOptions::default()) {
        walk(&snap);
        let a = memsight::analysis::analyze(&snap);
        let _ = serde_json::to_string(&memsight::output::analyze_json::to_json(
            &a,
            snap.format.variant,
        ));
        let _ = memsight::cli::analyze::summary_text(&snap, &a);
        for f in [
            memsight::output::report::ReportFormat::Html,
            memsight::output::report::ReportFormat::Md,
            memsight::output::report::ReportFormat::Json,
        ] {
            let _ = memsight::output::report::render(&snap, &a, None, f);
        }
    }
}

/// Touches every id the model holds.
fn walk(snap: &memsight::model::Snapshot) {
    let _ = snap.device_ids();
    for d in &snap.devices {
        for e in &d.events {
            for &f in snap.stacks.get(e.stack) {
                let _ = snap.frames.name(f).len() + snap.frames.filename(f).len();
            }
            let _ = snap.frames.strings.get(e.compile_context);
        }
    }
    for s in &snap.segments {
        let _ = snap.stacks.get(s.stack);
        for b in &s.blocks {
            let _ = snap.stacks.get(b.stack);
        }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Opcodes and values worth inserting: memo, marks, containers, long lengths, refused ones.
const INTERESTING: &[&[u8]] = &[
    b"(",
    b"t",
    b"e",
    b"u",
    b"s",
    b"a",
    b"0",
    b"2",
    b"h\x00",
    b"j\xff\xff\xff\xff",
    b"q\x00",
    b"\x94",
    b"]",
    b"}",
    b")",
    b"\x85",
    b"\x86",
    b"\x87",
    b"N",
    b".",
    b"\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00",
    b"X\xff\xff\xff\xff",
    b"\x8c\x06action",
    b"\x8c\x05frames",
    b"\x8c\x08segments",
    b"R",
    b"c",
    b"\x93",
    b"\x95\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x80\x05",
    b"I01\n",
    b"L99999999999999999999999L\n",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut d = corpus[rng.below(corpus.len())].clone();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = d.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = rng.next() as u8;
            }
            2 if len > 1 => d.truncate(rng.below(len)),
            3 => {
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                let at = rng.below(len + 1);
                d.splice(at..at, ins.iter().copied());
            }
            4 if len > 2 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                d.drain(a..b);
            }
            5 if len > 2 => {
                // Repeat a chunk (deep nesting, long runs of one opcode).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                let chunk = d[a..b].to_vec();
                let times = 1 + rng.below(200);
                for _ in 0..times {
                    d.splice(b..b, chunk.iter().copied());
                }
            }
            6 => {
                // Splice in a piece of another input.
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(256)).min(other.len());
                    let at = rng.below(len + 1);
                    d.splice(at..at, other[a..b].iter().copied());
                }
            }
            _ if len > 0 => {
                // Overwrite a little-endian length with an extreme value.
                let i = rng.below(len);
                let v: [u8; 4] = match rng.below(3) {
                    0 => [0xff; 4],
                    1 => [0, 0, 0, 0x80],
                    _ => (rng.next() as u32).to_le_bytes(),
                };
                for (k, b) in v.iter().enumerate() {
                    if let Some(x) = d.get_mut(i + k) {
                        *x = *b;
                    }
                }
            }
            _ => {}
        }
    }
    d.truncate(max_len);
    d
}

fn save_crash(data: &[u8]) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/load");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("crash-{h:016x}"));
    let _ = std::fs::write(&path, data);
    path
}

/// Runs one input: `false` when it panicked or took longer than [`SLOW`].
fn run_one(data: &[u8]) -> bool {
    let t = Instant::now();
    catch_unwind(AssertUnwindSafe(|| check(data))).is_ok() && t.elapsed() < SLOW
}

/// `load [--seconds N] [--seed S] [--max-len BYTES] PATH...`: replays every file (or every
/// file in each folder), then mutates for N seconds (default 60). Exit status 1 on any crash.
pub fn replay_main() -> ExitCode {
    let mut seconds = 60u64;
    let mut seed = 0x5eed_u64;
    let mut max_len = 1 << 20;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--seconds" => seconds = num("--seconds"),
            "--seed" => seed = num("--seed"),
            "--max-len" => max_len = num("--max-len") as usize,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let mut corpus = Vec::new();
    for p in &paths {
        let files: Vec<PathBuf> = if p.is_dir() {
            std::fs::read_dir(p)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default()
        } else {
            vec![p.clone()]
        };
        for f in files {
            if let Ok(d) = std::fs::read(&f) {
                corpus.push(d);
            }
        }
    }
    if corpus.is_empty() {
        corpus.push(b"\x80\x04}\x94.".to_vec());
    }
    // Quiet panics: a crash is reported once, with its file.
    std::panic::set_hook(Box::new(|_| {}));
    let mut runs = 0u64;
    let mut crashes = Vec::new();
    for d in &corpus {
        runs += 1;
        if !run_one(d) {
            crashes.push(save_crash(d));
        }
    }
    let replayed = runs;
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let d = mutate(&mut rng, &corpus, max_len);
        runs += 1;
        if !run_one(&d) {
            crashes.push(save_crash(&d));
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "load: {replayed} corpus inputs replayed, {runs} runs in all over {seconds} s, {} crashes",
        crashes.len()
    );
    for c in &crashes {
        println!("crash: {}", c.display());
    }
    if crashes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
