//! Load and analysis benchmark, side by side with CPython's `pickle.load` of the same file.
//!
//! `cargo bench --bench load [-- FILE...]`. Without files it uses `big_trace` and `huge_trace`
//! from `../shared/snapshots`, decompressed once with `xz -dk` into `target/bench-data/` so that
//! both sides time parsing, not decompression. For each file it prints, as a Markdown table:
//! - load time: memsight's reader vs CPython's `pickle.load`, in alternating rounds (each side's
//!   best of its rounds), and the ratio;
//! - peak resident memory of a fresh process that loads the file once, against the file size
//!   (both sides measured the same way: `VmHWM` / `ru_maxrss` of a child process);
//! - load plus full analysis (`analysis::analyze`), min of several runs, and its peak memory;
//! - the cost of a block-layout query at random events (what the Segments view scrubs through);
//! - a what-if run: extracting the request stream and simulating it under other settings.
//!
//! Peak memory needs a fresh process per measurement, so the binary re-executes itself with
//! `--child MODE FILE`, and CPython runs as `python3 -c`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use memsight::read::{load_path, LoadOptions};

/// The allocator the `memsight` binary ships with, so that the figures are the product's.
#[global_allocator]
static ALLOC: memsight::heap::HugePageAlloc = memsight::heap::HugePageAlloc;

const RUNS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    // `cargo bench` passes `--bench`; anything that is not a flag is a file to measure.
    let mut files: Vec<PathBuf> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        files = default_files();
    }
    if files.is_empty() {
        eprintln!(
            "no snapshot files to measure (give paths, or put ../shared/snapshots beside the repo)"
        );
        return;
    }
    let python = python_available();
    if !python {
        eprintln!("python3 not found: the CPython baseline columns are left empty");
    }

    println!("| file | size | memsight load (best of {RUNS} rounds) | CPython pickle.load (best of {RUNS} rounds) | speedup | memsight peak RSS | ratio to file | CPython peak RSS | load + analyze (min of 3) | its peak RSS | ratio to file |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut layout_rows = Vec::new();
    for file in &files {
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        // Rounds alternate memsight and CPython, so that a machine that slows down for a
        // while (this one shares its host) slows both sides, not one.
        let mut load_ms = f64::INFINITY;
        let mut py_ms: Option<f64> = None;
        for _ in 0..RUNS {
            load_ms = load_ms.min(min_ms(1, || {
                load_path(file, &LoadOptions::default()).expect("snapshot loads")
            }));
            if python {
                if let Some(t) = cpython_ms(file) {
                    py_ms = Some(py_ms.map_or(t, |b| b.min(t)));
                }
            }
        }
        let py = py_ms.zip(python.then(|| cpython_rss(file)).flatten());
        let (rss_load, _) = child_run("load", file);
        let analyze_ms = min_ms(3, || {
            let snap = load_path(file, &LoadOptions::default()).expect("snapshot loads");
            let a = memsight::analysis::analyze(&snap);
            (snap, a)
        });
        let (rss_analyze, _) = child_run("analyze", file);
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
        let (py_ms, py_rss) = py.map_or(("-".into(), "-".into()), |(t, r)| {
            (format!("{t:.0} ms"), mib(r))
        });
        let speedup = py.map_or("-".into(), |(t, _)| format!("**{:.1}x**", t / load_ms));
        println!(
            "| {name} | {} | {load_ms:.0} ms | {py_ms} | {speedup} | {} | {:.2}x | {py_rss} | {analyze_ms:.0} ms | {} | {:.2}x |",
            mib(size),
            mib(rss_load),
            rss_load as f64 / size.max(1) as f64,
            mib(rss_analyze),
            rss_analyze as f64 / size.max(1) as f64,
        );
        layout_rows.push((name.to_string(), layout_query(file), whatif_ms(file)));
    }
    println!();
    println!("| file | events | layout queries | mean | max | what-if: extract requests | what-if: one simulation (expandable_segments:True) |");
    println!("|---|---|---|---|---|---|---|");
    for (name, (events, n, mean, max), (extract, sim)) in layout_rows {
        println!(
            "| {name} | {events} | {n} | {mean:.2} ms | {max:.2} ms | {extract:.0} ms | {sim:.0} ms |"
        );
    }
}

/// The shared big and huge traces, decompressed once into `target/bench-data/`.
fn default_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/snapshots");
    let cache = root.join("target/bench-data");
    let mut out = Vec::new();
    for name in ["big_trace", "huge_trace"] {
        let plain = cache.join(format!("{name}.pickle"));
        if !plain.exists() {
            let xz = shared.join(format!("{name}.pickle.xz"));
            if !xz.exists() {
                eprintln!("skipping {name}: {} not found", xz.display());
                continue;
            }
            let _ = std::fs::create_dir_all(&cache);
            let ok = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "xz -dc '{}' > '{}.tmp' && mv '{}.tmp' '{}'",
                    xz.display(),
                    plain.display(),
                    plain.display(),
                    plain.display()
                ))
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                eprintln!("skipping {name}: could not decompress {}", xz.display());
                continue;
            }
        }
        out.push(plain);
    }
    out
}

/// The fastest of `runs` calls of `f`, in ms. What `f` returns is dropped after the clock
/// stops, as CPython's side frees its object tree outside the timing (`del d`).
fn min_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = std::hint::black_box(f());
            let ms = t.elapsed().as_secs_f64() * 1e3;
            drop(out);
            ms
        })
        .fold(f64::INFINITY, f64::min)
}

fn python_available() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("import pickle")
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// CPython's `pickle.load` of the file: min time of [`RUNS`] in one process, and the peak RSS
/// of a separate process that loads it once.
/// CPython's `pickle.load` of `file` in ms: the better of two loads in one `python3` process
/// (the second reuses the memory the first freed, as memsight's rounds after the first do).
fn cpython_ms(file: &Path) -> Option<f64> {
    python_number(&format!(
        "import pickle,time\nbest=1e9\nfor _ in range(2):\n    t=time.perf_counter()\n    \
         with open({path:?},'rb') as f: d=pickle.load(f)\n    best=min(best,time.perf_counter()-t)\n    \
         del d\nprint(best*1e3)",
        path = file.display().to_string()
    ))
}

/// Peak RSS in bytes of a fresh `python3` that loads `file` once.
fn cpython_rss(file: &Path) -> Option<u64> {
    let rss = python_number(&format!(
        "import pickle,resource\nwith open({path:?},'rb') as f: d=pickle.load(f)\n\
         print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024)",
        path = file.display().to_string()
    ))?;
    Some(rss as u64)
}

fn python_number(code: &str) -> Option<f64> {
    let out = Command::new("python3").arg("-c").arg(code).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Runs this binary as a child that does `mode` on `file` once; returns (peak RSS bytes, ms).
fn child_run(mode: &str, file: &Path) -> (u64, f64) {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .arg("--child")
        .arg(mode)
        .arg(file)
        .output()
        .expect("child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let rss = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let ms = it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    (rss, ms)
}

/// In the child: do the work once, print peak RSS (VmHWM) in bytes and the time.
fn child(args: &[String]) {
    let (Some(mode), Some(file)) = (args.first(), args.get(1)) else {
        return;
    };
    let t = Instant::now();
    let snap = load_path(Path::new(file), &LoadOptions::default()).expect("snapshot loads");
    if mode == "analyze" {
        let a = memsight::analysis::analyze(&snap);
        std::hint::black_box(&a);
    }
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!("{} {ms}", peak_rss());
    std::hint::black_box(&snap);
}

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Block-layout queries at 200 events spread over the trace of the first device:
/// (events, queries, mean ms, max ms).
fn layout_query(file: &Path) -> (usize, usize, f64, f64) {
    let snap = load_path(file, &LoadOptions::default()).expect("snapshot loads");
    let analysis = memsight::analysis::analyze(&snap);
    let Some(dev) = analysis.devices.first() else {
        return (0, 0, 0.0, 0.0);
    };
    let n = 200usize;
    let mut times = Vec::with_capacity(n);
    // A fixed-stride walk with an odd multiplier visits events all over the trace.
    for k in 0..n {
        let t = (k * 7919 * 131) % dev.events.max(1);
        let start = Instant::now();
        let layout = dev.layout.layout_after(&dev.replay, Some(t));
        std::hint::black_box(&layout);
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let mean = times.iter().sum::<f64>() / n as f64;
    let max = times.iter().cloned().fold(0.0, f64::max);
    (dev.events, n, mean, max)
}

/// What-if on the first device: (extract ms, simulate ms), each the min of 3, the file already
/// loaded.
fn whatif_ms(file: &Path) -> (f64, f64) {
    use memsight::whatif::{self, Scenario, Settings};
    let snap = load_path(file, &LoadOptions::default()).expect("snapshot loads");
    let Some(device) = snap.devices.first().map(|d| d.device) else {
        return (0.0, 0.0);
    };
    let recorded = Settings::from_snapshot(&snap);
    let cap = whatif::infer_cap(&snap, device);
    let mut stream = None;
    let extract = min_ms(3, || {
        stream = Some(whatif::extract(&snap, device, &recorded, cap));
    });
    let Some(stream) = stream else {
        return (extract, 0.0);
    };
    let mut settings = recorded.clone();
    if settings.apply_conf("expandable_segments:True").is_err() {
        return (extract, f64::NAN);
    }
    let sim = min_ms(3, || {
        whatif::simulate_stream(&stream, &Scenario::new(settings.clone(), cap))
    });
    (extract, sim)
}
