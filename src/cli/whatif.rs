//! `memsight whatif FILE [--set K:V]... [--variant "K:V,K:V"]... [--cap SIZE] [--json]`:
//! replays the recorded requests under other allocator settings and compares.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};

use crate::model::Snapshot;
use crate::output::write;
use crate::units::parse_size;
use crate::whatif::{self, compare, Scenario, Settings};

#[derive(Debug, clap::Args)]
pub struct WhatifArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    /// A setting for every variant, `PYTORCH_CUDA_ALLOC_CONF` style, e.g.
    /// `expandable_segments:True` or `max_split_size_mb:256` (repeatable).
    #[arg(long = "set", value_name = "KEY:VALUE")]
    pub set: Vec<String>,
    /// One variant to compare, as a `PYTORCH_CUDA_ALLOC_CONF` string applied on top of the
    /// `--set`s, e.g. "max_split_size_mb:256,roundup_power2_divisions:4"; `cap:SIZE` inside
    /// sets that variant's cap (repeatable; without any, the `--set`s form one variant).
    #[arg(long = "variant", value_name = "CONF")]
    pub variant: Vec<String>,
    /// Memory cap for every variant, like `set_per_process_memory_fraction` (e.g. 3GiB).
    /// Default: the cap the recording ran under, estimated from its OOMs.
    #[arg(long, value_name = "SIZE", conflicts_with = "no_cap")]
    pub cap: Option<String>,
    /// Simulate with no cap at all.
    #[arg(long)]
    pub no_cap: bool,
    /// The cap the recording ran under, when the estimate from its OOMs is not right (it
    /// decides which releases in the trace were `empty_cache` calls).
    #[arg(long, value_name = "SIZE")]
    pub recorded_cap: Option<String>,
    /// Start the variants from PyTorch's defaults instead of the recorded settings.
    #[arg(long)]
    pub from_defaults: bool,
    /// Device memory in bytes (default: 80 GB).
    #[arg(long, value_name = "SIZE")]
    pub device_memory: Option<String>,
    /// Device to simulate (default: the first with a trace).
    #[arg(long)]
    pub device: Option<usize>,
    /// Print `{"recorded":{...},"variants":[...]}`.
    #[arg(long)]
    pub json: bool,
}

fn size(text: &str) -> Result<u64> {
    parse_size(text).map_err(|e| anyhow!(e))
}

/// Splits `cap:SIZE` out of a variant string; the rest is allocator settings.
fn split_cap(conf: &str) -> Result<(String, Option<u64>)> {
    let mut rest = Vec::new();
    let mut cap = None;
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in conf.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&conf[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&conf[start..]);
    for p in parts {
        match p.trim().split_once(':') {
            Some(("cap", v)) => cap = Some(size(v.trim())?),
            _ => rest.push(p),
        }
    }
    Ok((rest.join(","), cap))
}

/// The recording and every variant's simulation, for the text table or the JSON.
pub struct Simulation {
    pub device: usize,
    pub stream: whatif::RequestStream,
    pub recorded: whatif::Recorded,
    pub results: Vec<whatif::SimResult>,
    pub extract_ms: f64,
    pub sim_ms: f64,
}

impl Simulation {
    /// The `--json` form: `{"recorded":{...},"variants":[...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        compare::to_json(&self.recorded, &self.results)
    }
}

/// Runs the variants `args` describes on a loaded snapshot (`args.file` is not read here):
/// shared by `memsight whatif` and the Python package's `Snapshot.whatif`.
pub fn simulate(snap: &Snapshot, args: &WhatifArgs) -> Result<Simulation> {
    let device = match args.device {
        Some(d) => d,
        None => snap
            .devices
            .iter()
            .find(|d| !d.events.is_empty())
            .map(|d| d.device)
            .ok_or_else(|| anyhow!("the snapshot has no allocator trace to replay"))?,
    };
    if snap.trace(device).is_none_or(|t| t.events.is_empty()) {
        bail!("device {device} has no allocator trace to replay");
    }
    let recorded_settings = Settings::from_snapshot(snap);
    let recorded_cap = match &args.recorded_cap {
        Some(c) => Some(size(c)?),
        None => whatif::infer_cap(snap, device),
    };
    let device_total = match &args.device_memory {
        Some(m) => size(m)?,
        None => whatif::DEFAULT_DEVICE_TOTAL,
    };
    let t = Instant::now();
    let stream = whatif::extract(snap, device, &recorded_settings, recorded_cap);
    let extract_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut rec = whatif::recorded_from(snap, &stream, recorded_cap, device_total);
    rec.cap_inferred = args.recorded_cap.is_none() && recorded_cap.is_some();

    let mut base = if args.from_defaults {
        Settings::default()
    } else {
        recorded_settings
    };
    for s in &args.set {
        base.apply_conf(s)?;
    }
    let default_cap = if args.no_cap {
        None
    } else if let Some(c) = &args.cap {
        Some(size(c)?)
    } else {
        rec.cap
    };
    let mut scenarios = Vec::new();
    if args.variant.is_empty() {
        scenarios.push((base.clone(), default_cap));
    }
    for v in &args.variant {
        let (conf, cap) = split_cap(v)?;
        let mut s = base.clone();
        s.apply_conf(&conf)?;
        scenarios.push((s, cap.or(default_cap)));
    }
    let t = Instant::now();
    let results: Vec<_> = scenarios
        .into_iter()
        .map(|(settings, cap)| {
            let mut sc = Scenario::new(settings, cap);
            sc.device_total = device_total;
            whatif::simulate_stream(&stream, &sc)
        })
        .collect();
    Ok(Simulation {
        device,
        stream,
        recorded: rec,
        results,
        extract_ms,
        sim_ms: t.elapsed().as_secs_f64() * 1e3,
    })
}

pub fn run(args: &WhatifArgs) -> Result<i32> {
    let (snap, load_ms) = super::load(&args.file)?;
    let sim = simulate(&snap, args)?;
    let text = if args.json {
        serde_json::to_string_pretty(&sim.to_json())? + "\n"
    } else {
        let device = sim.device;
        let site = |event: u32| compare::site_label(&snap, device, event);
        format!(
            "Device {device}: {} requests from {} trace events (extracted in {:.0} ms, \
             {} simulation(s) in {:.0} ms; file loaded in {load_ms:.0} ms).\n\n{}",
            sim.stream.requests.len(),
            sim.stream.events,
            sim.extract_ms,
            sim.results.len(),
            sim.sim_ms,
            compare::table(&sim.recorded, &sim.results, &site)
        )
    };
    write::stdout(&text)?;
    Ok(super::exit::OK)
}
