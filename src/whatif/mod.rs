//! What if the allocator had other settings? Replays a snapshot's request stream (what the
//! program asked for: allocations, frees, `empty_cache`) through a model of PyTorch's CUDA
//! caching allocator under settings and a memory cap of your choice, and reports peak
//! reserved memory, fragmentation and every OOM that would happen.
//!
//! - [`Settings`]: `PYTORCH_CUDA_ALLOC_CONF`-style settings ([`Settings::parse_conf`]) or the
//!   recorded ones ([`Settings::from_snapshot`]);
//! - [`requests`]: the request stream of a trace;
//! - `allocator` / `expandable`: the allocator model;
//! - [`simulate`] / [`simulate_stream`]: one run; [`recorded`]: the same figures from the
//!   recording; [`compare`]: side-by-side tables and the `whatif --json` contract.
//!
//! Under the recorded settings and cap the model makes the very `segment_alloc`,
//! `segment_free`, `segment_map` and `segment_unmap` calls the recording made (the tests check
//! this on every sample), so its answers under other settings are those of the same
//! algorithm, not of an approximation.

mod allocator;
pub mod compare;
mod expandable;
pub mod requests;

use crate::analysis::replay;
use crate::model::{Action, Snapshot};

pub use crate::allocator::{Settings, SettingsError};
pub use allocator::Counters;
pub use requests::{extract, Req, Request, RequestStream, SegEvent, SegKind};

use allocator::Allocator;
use requests::NIL;

/// Physical memory assumed when none is given: an 80 GB H100 (only the size of expandable
/// segment reservations and the last-resort physical limit depend on it).
pub const DEFAULT_DEVICE_TOTAL: u64 = 85_017_493_504;

/// One scenario: settings, cap and device size.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub settings: Settings,
    /// `set_per_process_memory_fraction` as bytes (`None`: no cap).
    pub cap: Option<u64>,
    pub device_total: u64,
}

impl Scenario {
    pub fn new(settings: Settings, cap: Option<u64>) -> Scenario {
        Scenario {
            settings,
            cap,
            device_total: DEFAULT_DEVICE_TOTAL,
        }
    }
}

/// A request the model could not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SimOom {
    /// Index of the request's entry in the recorded trace (`alloc`, or `oom` when the
    /// recording failed it too).
    pub event: u32,
    /// Requested bytes.
    pub requested: u64,
    /// Counters when it failed (after the releases and retries).
    pub reserved: u64,
    pub allocated: u64,
    /// The recording failed this request too.
    pub recorded_oom: bool,
}

/// Counters at a `snapshot` marker (just before it, as the truth files hold them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SimMarker {
    pub event: u32,
    pub counters: Counters,
}

/// Reserved and allocated bytes after every request, for charts.
#[derive(Debug, Clone, Default)]
pub struct SimSeries {
    /// Trace index of each request.
    pub event: Vec<u32>,
    pub reserved: Vec<u64>,
    pub allocated: Vec<u64>,
}

/// The outcome of one simulation.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub device: usize,
    pub scenario: Scenario,
    pub peak_reserved: u64,
    pub peak_allocated: u64,
    /// Reserved minus allocated, at its largest.
    pub max_unallocated: u64,
    /// Reserved minus allocated when reserved peaked.
    pub unallocated_at_peak: u64,
    pub ooms: Vec<SimOom>,
    /// `cudaMalloc` calls plus page mappings (`segment_alloc` + `segment_map`).
    pub segments_allocated: u64,
    /// Every segment entry the model made, with the trace index of the request (or
    /// `empty_cache`) that caused it.
    pub segment_events: Vec<(u32, SegEvent)>,
    pub markers: Vec<SimMarker>,
    pub series: SimSeries,
    pub final_counters: Counters,
    /// Requests that needed the free-cached-blocks-and-retry path.
    pub num_alloc_retries: u64,
    /// Requests the recording failed that the model served.
    pub served_recorded_ooms: u32,
}

/// Simulates `device` of `snap` under `settings` and `cap`. The request stream is taken
/// with the recorded settings and the recorded cap estimated by [`infer_cap`]; use
/// [`extract`] + [`simulate_stream`] to give the recorded cap or to run several scenarios
/// over one extraction.
pub fn simulate(
    snap: &Snapshot,
    device: usize,
    settings: &Settings,
    cap: Option<u64>,
) -> SimResult {
    let recorded = Settings::from_snapshot(snap);
    let stream = extract(snap, device, &recorded, infer_cap(snap, device));
    simulate_stream(&stream, &Scenario::new(settings.clone(), cap))
}

/// Runs one scenario over an extracted request stream.
pub fn simulate_stream(rs: &RequestStream, sc: &Scenario) -> SimResult {
    let synth_base = rs
        .segments
        .iter()
        .map(|s| s.addr.saturating_add(s.size))
        .chain(rs.initial.segments.iter().map(|s| s.0 + s.1))
        .max()
        .unwrap_or(0)
        .div_ceil(1 << 30)
        * (1 << 30)
        + (1 << 40);
    let mut a = Allocator::new(sc.settings.clone(), sc.cap, sc.device_total, synth_base);
    let mut id_block = vec![NIL; rs.ids as usize];
    seed_initial(&mut a, rs, &mut id_block);

    let n = rs.requests.len();
    let mut series = SimSeries {
        event: Vec::with_capacity(n),
        reserved: Vec::with_capacity(n),
        allocated: Vec::with_capacity(n),
    };
    let mut ooms = Vec::new();
    let mut markers = Vec::new();
    let c0 = a.counters();
    let (mut peak_reserved, mut peak_allocated) = (c0.reserved, c0.allocated);
    let mut max_unallocated = c0.reserved - c0.allocated.min(c0.reserved);
    let mut unallocated_at_peak = max_unallocated;
    let mut served_recorded_ooms = 0;

    for r in &rs.requests {
        a.now = r.event;
        match r.req {
            Req::Alloc {
                id,
                size,
                stream,
                hints,
                recorded_oom,
            } => {
                let h = &rs.segments[hints.0 as usize..hints.1 as usize];
                a.set_hints(h);
                match a.malloc(size, stream, id) {
                    Some(b) => {
                        id_block[id as usize] = b;
                        if recorded_oom {
                            served_recorded_ooms += 1;
                        }
                    }
                    None => {
                        let c = a.counters();
                        ooms.push(SimOom {
                            event: r.event,
                            requested: size,
                            reserved: c.reserved,
                            allocated: c.allocated,
                            recorded_oom,
                        });
                    }
                }
                a.set_hints(&[]);
            }
            Req::FreeRequested(id) => {
                let b = id_block[id as usize];
                if b != NIL {
                    a.free_requested(b);
                }
            }
            Req::FreeCompleted(id) => {
                let b = id_block[id as usize];
                if b != NIL {
                    a.free_block(b);
                    id_block[id as usize] = NIL;
                }
            }
            Req::EmptyCache => a.release_cached_blocks(),
            Req::Marker => markers.push(SimMarker {
                event: r.event,
                counters: a.counters(),
            }),
        }
        for id in a.completed_early.drain(..) {
            if id != NIL {
                id_block[id as usize] = NIL;
            }
        }
        let c = a.counters();
        series.event.push(r.event);
        series.reserved.push(c.reserved);
        series.allocated.push(c.allocated);
        peak_allocated = peak_allocated.max(c.allocated);
        let unalloc = c.reserved.saturating_sub(c.allocated);
        max_unallocated = max_unallocated.max(unalloc);
        if c.reserved > peak_reserved {
            peak_reserved = c.reserved;
            unallocated_at_peak = unalloc;
        }
    }

    SimResult {
        device: rs.device,
        scenario: sc.clone(),
        peak_reserved,
        peak_allocated,
        max_unallocated,
        unallocated_at_peak,
        ooms,
        segments_allocated: a.segments_allocated,
        segment_events: std::mem::take(&mut a.seg_events),
        markers,
        series,
        final_counters: a.counters(),
        num_alloc_retries: a.num_alloc_retries,
        served_recorded_ooms,
    }
}

/// Lays out the segments and blocks that existed before the trace.
fn seed_initial(a: &mut Allocator, rs: &RequestStream, id_block: &mut [u32]) {
    let init = &rs.initial;
    if init.segments.is_empty() {
        return;
    }
    let mut segs: Vec<_> = init.segments.clone();
    segs.sort_by_key(|s| s.0);
    let mut blocks: Vec<_> = init.blocks.clone();
    blocks.sort_by_key(|b| b.1);
    let mut bi = 0;
    for &(addr, size, stream, expandable) in &segs {
        let end = addr + size;
        while bi < blocks.len() && blocks[bi].1 < addr {
            bi += 1;
        }
        let mut pieces = Vec::new();
        let mut cursor = addr;
        while bi < blocks.len() && blocks[bi].1 < end {
            let (id, baddr, bsize, requested, _bstream, allocated) = blocks[bi];
            let bsize = bsize.min(end - baddr);
            if baddr > cursor {
                pieces.push((cursor, baddr - cursor, None));
            }
            if baddr >= cursor {
                pieces.push((baddr, bsize, Some((id, requested, allocated))));
                cursor = baddr + bsize;
            }
            bi += 1;
        }
        if end > cursor {
            pieces.push((cursor, end - cursor, None));
        }
        let seeded = a.seed_segment(addr, size, stream, expandable, &pieces);
        for (id, b) in seeded {
            id_block[id as usize] = b;
        }
    }
}

/// Estimates the memory cap a recording ran under, from its OOMs: the roundest size at
/// least the recorded peak of reserved memory and below what the first failed request would
/// have needed. `None` when the recording has no OOM (no cap needed to explain it).
pub fn infer_cap(snap: &Snapshot, device: usize) -> Option<u64> {
    let trace = snap.trace(device)?;
    let recorded = Settings::from_snapshot(snap);
    // Reserved at the end is exact (the dump); the trace's net change leads back to the start.
    let at_end: i128 = snap.segments_of(device).map(|s| s.total_size as i128).sum();
    let net: i128 = trace
        .events
        .iter()
        .map(|e| match e.action {
            Action::SegmentAlloc | Action::SegmentMap => e.size as i128,
            Action::SegmentFree | Action::SegmentUnmap => -(e.size as i128),
            _ => 0,
        })
        .sum();
    let mut reserved = (at_end - net).max(0) as u64;
    let mut peak = reserved;
    let mut limit = u64::MAX;
    for e in &trace.events {
        match e.action {
            Action::SegmentAlloc | Action::SegmentMap => {
                reserved += e.size;
                peak = peak.max(reserved);
            }
            Action::SegmentFree | Action::SegmentUnmap => {
                reserved = reserved.saturating_sub(e.size)
            }
            Action::Oom => {
                let need = reserved + requests::allocation_size(recorded.round_size(e.size));
                limit = limit.min(need);
            }
            _ => {}
        }
    }
    if limit == u64::MAX {
        return None;
    }
    let mut unit: u64 = 1 << 30;
    while unit >= 2 << 20 {
        let c = peak.div_ceil(unit) * unit;
        if c < limit && c > 0 {
            return Some(c);
        }
        unit /= 2;
    }
    Some(limit - 1)
}

/// The recording's own figures, for comparison with simulations.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub device: usize,
    pub settings: Settings,
    /// The cap given, or estimated by [`infer_cap`] (the file does not record it).
    pub cap: Option<u64>,
    /// `cap` is the estimate of [`infer_cap`], not a value the user gave.
    pub cap_inferred: bool,
    pub peak_reserved: u64,
    pub peak_allocated: u64,
    pub max_unallocated: u64,
    pub unallocated_at_peak: u64,
    /// (trace index, requested bytes) of every `oom` entry.
    pub ooms: Vec<(u32, u64)>,
    pub segments_allocated: u64,
    /// The model under the recorded settings and cap made exactly the recorded segment calls
    /// and OOMs (so the figures above, taken from that run, are the recording's own). When
    /// false they come from memsight's exact trace replay instead.
    pub model_reproduces: bool,
}

/// The recording's figures for `device`, with the cap estimated by [`infer_cap`].
pub fn recorded(snap: &Snapshot, device: usize) -> Recorded {
    let settings = Settings::from_snapshot(snap);
    let cap = infer_cap(snap, device);
    let stream = extract(snap, device, &settings, cap);
    let mut r = recorded_from(snap, &stream, cap, DEFAULT_DEVICE_TOTAL);
    r.cap_inferred = cap.is_some();
    r
}

/// The recording's figures from an extracted stream (`cap`: the recorded cap). Runs the
/// model under the recorded settings and checks it against the trace; falls back to the
/// exact replay of `analysis` when they disagree.
pub fn recorded_from(
    snap: &Snapshot,
    stream: &RequestStream,
    cap: Option<u64>,
    device_total: u64,
) -> Recorded {
    let device = stream.device;
    let settings = Settings::from_snapshot(snap);
    let empty = crate::model::DeviceTrace {
        device,
        ..Default::default()
    };
    let trace = snap.trace(device).unwrap_or(&empty);
    let mut out = Recorded {
        device,
        settings: settings.clone(),
        cap,
        ..Default::default()
    };
    for (i, e) in trace.events.iter().enumerate() {
        match e.action {
            Action::Oom => out.ooms.push((i as u32, e.size)),
            Action::SegmentAlloc | Action::SegmentMap => out.segments_allocated += 1,
            _ => {}
        }
    }
    let mut sc = Scenario::new(settings, cap);
    sc.device_total = device_total;
    let sim = simulate_stream(stream, &sc);
    let same_segments = sim.segment_events.len() == stream.segments.len()
        && sim
            .segment_events
            .iter()
            .zip(&stream.segments)
            .all(|((_, a), b)| a == b);
    let same_ooms = sim.ooms.len() == out.ooms.len()
        && sim.ooms.iter().zip(&out.ooms).all(|(a, b)| a.event == b.0);
    if same_segments && same_ooms {
        out.model_reproduces = true;
        out.peak_reserved = sim.peak_reserved;
        out.peak_allocated = sim.peak_allocated;
        out.max_unallocated = sim.max_unallocated;
        out.unallocated_at_peak = sim.unallocated_at_peak;
        return out;
    }
    let dump: Vec<_> = snap.segments_of(device).collect();
    let r = replay::replay(trace, &dump, &Settings::from_snapshot(snap));
    out.peak_reserved = r.initial.reserved;
    out.peak_allocated = r.initial.allocated;
    let s = &r.series;
    // Sampled after the program's requests, as simulations are: the moment between a
    // segment call and the block it serves is not a state the program sees.
    for i in 0..s.len() {
        if matches!(
            trace.events[i].action,
            Action::SegmentAlloc | Action::SegmentMap | Action::SegmentFree | Action::SegmentUnmap
        ) {
            continue;
        }
        out.peak_allocated = out.peak_allocated.max(s.allocated[i]);
        let unalloc = s.reserved[i].saturating_sub(s.allocated[i]);
        out.max_unallocated = out.max_unallocated.max(unalloc);
        if s.reserved[i] > out.peak_reserved {
            out.peak_reserved = s.reserved[i];
            out.unallocated_at_peak = unalloc;
        }
    }
    out
}
