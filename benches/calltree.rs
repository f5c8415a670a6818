//! Call-tree benchmark: building the tree of live memory at arbitrary events of a big trace,
//! side by side with the cheapest thing that looks at the same blocks (the report's per-call-site
//! totals at one event, a single scan of the allocations), so that the figure is a ratio that
//! survives this machine's drift, and against the 50 ms budget the issue sets.
//!
//! `cargo bench --bench calltree [-- FILE...]`; without files it uses
//! `../shared/snapshots/huge_trace.pickle.xz` (1M events). The file is loaded and analysed
//! once; then for [`QUERIES`] events spread over the trace (a fixed stride, so runs compare),
//! each variant is timed at every event, the variants alternating per event.

use std::path::PathBuf;
use std::time::Instant;

use memsight::analysis::calltree::{CallTree, Frames, Group, TreeOptions};
use memsight::analysis::point::Point;
use memsight::read::{load_path, LoadOptions};

/// The allocator the `memsight` binary ships with, so that the figures are the product's.
#[global_allocator]
static ALLOC: memsight::heap::HugePageAlloc = memsight::heap::HugePageAlloc;

const QUERIES: usize = 200;

fn main() {
    let mut files: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/snapshots/huge_trace.pickle.xz");
        if p.exists() {
            files.push(p);
        } else {
            eprintln!("no snapshot to measure: give a path, or put ../shared beside the repo");
            return;
        }
    }
    println!("| file | events | live blocks at peak | what | mean | median | max | max / 50 ms budget | mean / site scan |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for file in &files {
        let snap = load_path(file, &LoadOptions::default()).expect("snapshot loads");
        let a = memsight::analysis::analyze(&snap);
        let Some(d) = a.devices.first() else {
            continue;
        };
        if d.events == 0 {
            continue;
        }
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let stride = (d.events / QUERIES).max(1);
        let events: Vec<usize> = (0..QUERIES)
            .map(|k| (k * stride + stride / 2) % d.events)
            .collect();
        let grouped = TreeOptions {
            group: Group::Annotation,
            frames: Frames::FoldLibrary,
            inverted: false,
        };
        type Variant<'a> = (&'a str, Box<dyn Fn(usize) -> u64 + 'a>);
        let variants: Vec<Variant> = vec![
            (
                "site scan (baseline: report's per-site totals)",
                Box::new(|t| {
                    memsight::output::report::model::sites_at(&snap, d, Some(t), usize::MAX)
                        .iter()
                        .map(|s| s.bytes)
                        .sum()
                }),
            ),
            (
                "call tree, every frame",
                Box::new(|t| {
                    CallTree::at_event(&snap, d, Some(t), &TreeOptions::default())
                        .root()
                        .total
                        .bytes
                }),
            ),
            (
                "call tree, by annotation, library folded",
                Box::new(|t| {
                    CallTree::at_event(&snap, d, Some(t), &grouped)
                        .root()
                        .total
                        .bytes
                }),
            ),
            (
                "growth tree from event 0",
                Box::new(|t| {
                    CallTree::growth(
                        &snap,
                        d,
                        Point::Event(0),
                        Point::Event(t),
                        &TreeOptions::default(),
                    )
                    .map(|x| x.root().total.bytes)
                    .unwrap_or(0)
                }),
            ),
        ];
        let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(QUERIES); variants.len()];
        for &t in &events {
            for (v, (_, f)) in variants.iter().enumerate() {
                let start = Instant::now();
                let bytes = f(t);
                times[v].push(start.elapsed().as_secs_f64() * 1e3);
                // The answer is checked, so that the work cannot be optimised away.
                assert_eq!(bytes, d.replay.series.allocated[t], "event {t}");
            }
        }
        let peak_blocks = d
            .replay
            .allocations
            .iter()
            .filter(|x| x.allocated_at(d.peak.allocated_event as u32))
            .count();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let base = mean(&times[0]);
        for (v, (what, _)) in variants.iter().enumerate() {
            let mut s = times[v].clone();
            s.sort_by(f64::total_cmp);
            let max = s[s.len() - 1];
            println!(
                "| {name} | {} | {peak_blocks} | {what} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} | {:.1}x |",
                d.events,
                mean(&s),
                s[s.len() / 2],
                max,
                max / 50.0,
                mean(&s) / base
            );
        }
    }
}
