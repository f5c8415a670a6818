//! The request stream of a recorded trace: what the *program* asked of the allocator, with
//! what the allocator decided on its own taken out.
//!
//! Kept: every `alloc` (and every failed request, recorded as an `oom` entry), the frees of
//! those blocks, `empty_cache` calls and `snapshot` markers. Dropped: `segment_*` entries,
//! which the model makes itself. They are kept aside as the recording's own decisions, for
//! two uses: the addresses `cudaMalloc` returned (the model reuses them when it makes the same
//! call, so that ties between equal blocks break as they did) and the fidelity check.
//!
//! `empty_cache` leaves no entry of its own: it shows as a run of `segment_free` (or
//! `segment_unmap`) entries. The same run also appears inside a request that found no cached
//! block and no room under the cap (free cached segments and retry). A run is taken as
//! `empty_cache` unless it is followed by the segment allocation or OOM of a request that,
//! given the reserved memory before the run and the cap, had to release memory (or garbage
//! collection was due).

use crate::model::{Action, BlockState, DeviceTrace, Event, Segment, Snapshot};

use crate::allocator::Settings;
use crate::analysis::replay::subtract;

/// Marks "no block" / "no hint".
pub const NIL: u32 = u32::MAX;

/// One thing the program did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// A request for `size` bytes on `stream`; `id` names the block for its frees.
    /// `hints` is the range of [`RequestStream::segments`] the recording created while
    /// serving it. `recorded_oom`: the recording failed it.
    Alloc {
        id: u32,
        size: u64,
        stream: u64,
        hints: (u32, u32),
        recorded_oom: bool,
    },
    /// The program dropped block `id` (`allocated` falls).
    FreeRequested(u32),
    /// Block `id` became reusable (after uses on other streams completed).
    FreeCompleted(u32),
    /// `torch.cuda.empty_cache()`.
    EmptyCache,
    /// A `torch.cuda.memory._snapshot()` marker.
    Marker,
}

/// A request with the index of the trace entry it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub event: u32,
    pub req: Req,
}

/// What a segment entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegKind {
    SegmentAlloc,
    SegmentFree,
    SegmentMap,
    SegmentUnmap,
}

impl SegKind {
    pub fn name(self) -> &'static str {
        match self {
            SegKind::SegmentAlloc => "segment_alloc",
            SegKind::SegmentFree => "segment_free",
            SegKind::SegmentMap => "segment_map",
            SegKind::SegmentUnmap => "segment_unmap",
        }
    }

    /// Whether memory is added (cudaMalloc or pages mapped).
    pub fn grows(self) -> bool {
        matches!(self, SegKind::SegmentAlloc | SegKind::SegmentMap)
    }
}

/// A segment entry: recorded, or made by the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SegEvent {
    pub kind: SegKind,
    pub addr: u64,
    pub size: u64,
}

impl SegEvent {
    /// The segment entry a trace event records, if it is one.
    fn of(e: &Event) -> Option<SegEvent> {
        let kind = match e.action {
            Action::SegmentAlloc => SegKind::SegmentAlloc,
            Action::SegmentFree => SegKind::SegmentFree,
            Action::SegmentMap => SegKind::SegmentMap,
            Action::SegmentUnmap => SegKind::SegmentUnmap,
            _ => return None,
        };
        Some(SegEvent {
            kind,
            addr: e.addr,
            size: e.size,
        })
    }
}

/// A block or segment that existed before the first entry (the ring buffer wrapped, or
/// history was turned on late), reconstructed from the dump.
#[derive(Debug, Clone, Default)]
pub struct Initial {
    /// (address, size, stream, expandable)
    pub segments: Vec<(u64, u64, u64, bool)>,
    /// (id, address, block size, requested size, stream, still allocated)
    pub blocks: Vec<(u32, u64, u64, u64, u64, bool)>,
}

/// The request stream of one device.
#[derive(Debug, Clone, Default)]
pub struct RequestStream {
    pub device: usize,
    pub requests: Vec<Request>,
    /// Every recorded segment entry, in order (hints and fidelity reference).
    pub segments: Vec<SegEvent>,
    /// Trace index of each entry of `segments`.
    pub segment_events: Vec<u32>,
    /// Number of block ids (allocs, failed requests and blocks from before the trace).
    pub ids: u32,
    pub initial: Initial,
    /// Free / release entries that named no known block (counted, skipped).
    pub unmatched: u32,
    /// Number of trace entries.
    pub events: usize,
}

pub use crate::allocator::allocation_size;

/// The pool of each trace entry's block (an index into the dump's pools, 0 the default),
/// and the pools' ids by index; both empty when every segment of the dump is the default
/// pool's. The trace does not name pools: the replay places blocks in the dump's segments
/// ([`crate::analysis::pools`]).
fn request_pools(
    trace: &DeviceTrace,
    dump: &[&Segment],
    recorded: &Settings,
) -> (Vec<u16>, Vec<(i64, i64)>) {
    use crate::analysis::{pools, replay};
    if dump.iter().all(|s| s.pool_id == pools::DEFAULT_POOL) {
        return (Vec::new(), Vec::new());
    }
    let r = replay::replay(trace, dump, recorded);
    let p = pools::Pools::build(&r, dump);
    let of_event = r
        .event_allocation
        .iter()
        .map(|&k| {
            if k == replay::NONE {
                0
            } else {
                p.of_allocation(k as usize)
            }
        })
        .collect();
    (of_event, p.pools.iter().map(|x| x.id).collect())
}

/// The model's stream key of a request in pool `pool`: a private pool's blocks serve only its
/// own requests, as a stream's serve only that stream's, so the model keeps pools apart the
/// way it keeps streams apart. (Stream handles are user-space addresses, below 2^56.)
fn pool_stream(stream: u64, pool: u16) -> u64 {
    stream ^ ((pool as u64) << 56)
}

/// Extracts the request stream of `device`. `recorded` and `cap` are the settings and the
/// memory cap the trace was recorded under: they decide which `segment_free` runs were
/// `empty_cache` calls.
pub fn extract(
    snap: &Snapshot,
    device: usize,
    recorded: &Settings,
    cap: Option<u64>,
) -> RequestStream {
    let empty = DeviceTrace {
        device,
        ..Default::default()
    };
    let trace = snap.trace(device).unwrap_or(&empty);
    let events = &trace.events;
    let mut out = RequestStream {
        device,
        events: events.len(),
        ..Default::default()
    };

    // Addresses come from the file and are multiples of 512: a hash that mixes every bit
    // (foldhash, as the reader's tables) keeps them spread over the buckets.
    let mut live: foldhash::HashMap<u64, u32> = Default::default();
    let mut reserved: u64 = 0;

    // Blocks and segments from before the trace.
    let dump: Vec<_> = snap.segments_of(device).collect();
    let (pool_of, pool_ids) = request_pools(trace, &dump, recorded);
    out.initial = initial_state(events, &dump, recorded, &pool_ids);
    for s in &out.initial.segments {
        reserved += s.1;
    }
    for b in &mut out.initial.blocks {
        b.0 = out.ids;
        out.ids += 1;
        live.insert(b.1, b.0);
    }

    let mut hint_start = 0u32;
    // Completions of cross-stream frees that the allocator's synchronisation inside a
    // request's retry made: they belong after that request's first search (see below).
    let mut deferred: Vec<Request> = Vec::new();
    let mut i = 0usize;
    while i < events.len() {
        let e = &events[i];
        let ev = i as u32;
        match e.action {
            Action::Alloc | Action::Oom => {
                let recorded_oom = e.action == Action::Oom;
                let id = out.ids;
                out.ids += 1;
                if !recorded_oom {
                    live.insert(e.addr, id);
                }
                let end = out.segments.len() as u32;
                out.requests.push(Request {
                    event: ev,
                    req: Req::Alloc {
                        id,
                        size: e.size,
                        stream: pool_stream(e.stream, pool_of.get(i).copied().unwrap_or(0)),
                        hints: (hint_start, end),
                        recorded_oom,
                    },
                });
                hint_start = end;
                out.requests.append(&mut deferred);
            }
            Action::FreeRequested => match live.get(&e.addr) {
                Some(&id) => out.requests.push(Request {
                    event: ev,
                    req: Req::FreeRequested(id),
                }),
                None => out.unmatched += 1,
            },
            Action::FreeCompleted => match live.remove(&e.addr) {
                Some(id) => out.requests.push(Request {
                    event: ev,
                    req: Req::FreeCompleted(id),
                }),
                None => out.unmatched += 1,
            },
            Action::SegmentAlloc | Action::SegmentMap => {
                out.segments.extend(SegEvent::of(e));
                out.segment_events.push(ev);
                reserved += e.size;
            }
            Action::SegmentFree | Action::SegmentUnmap => {
                // A run of releases: empty_cache, or part of a request's retry.
                let mut j = i;
                let before = reserved;
                while j < events.len()
                    && matches!(events[j].action, Action::SegmentFree | Action::SegmentUnmap)
                {
                    let f = &events[j];
                    out.segments.extend(SegEvent::of(f));
                    out.segment_events.push(j as u32);
                    reserved = reserved.saturating_sub(f.size);
                    j += 1;
                }
                if inside_request(events, j, before, recorded, cap) {
                    // `release_cached_blocks` first completes every block still waiting on
                    // another stream; those free_completed entries sit right before the run.
                    // Had the request's first search been able to use them it would not have
                    // come this far, so they are applied after the request: the model
                    // completes them itself when it takes the same path.
                    let mut k = i;
                    while let Some(r) = out.requests.last().copied() {
                        let Req::FreeCompleted(_) = r.req else { break };
                        let at = r.event as usize;
                        let immediate = at > 0
                            && events[at - 1].action == Action::FreeRequested
                            && events[at - 1].addr == events[at].addr;
                        if at + 1 != k || immediate {
                            break;
                        }
                        deferred.insert(0, r);
                        out.requests.pop();
                        k = at;
                    }
                } else {
                    out.requests.push(Request {
                        event: ev,
                        req: Req::EmptyCache,
                    });
                    hint_start = out.segments.len() as u32;
                }
                i = j;
                continue;
            }
            Action::Snapshot => out.requests.push(Request {
                event: ev,
                req: Req::Marker,
            }),
            Action::Other(_) => {}
        }
        i += 1;
    }
    out
}

/// Whether the release run ending before entry `j` belongs to the request that follows:
/// the next entries are that request's new segment (or its OOM), and with `reserved` before
/// the run the request could not have had its segment without releasing first.
fn inside_request(
    events: &[Event],
    j: usize,
    reserved: u64,
    recorded: &Settings,
    cap: Option<u64>,
) -> bool {
    let Some(next) = events.get(j) else {
        return false;
    };
    match next.action {
        Action::Oom => true,
        Action::SegmentAlloc | Action::SegmentMap => {
            let Some(cap) = cap else {
                return false;
            };
            // The request these segments serve.
            let Some(req) = events[j..]
                .iter()
                .find(|e| matches!(e.action, Action::Alloc | Action::Oom))
            else {
                return false;
            };
            let alloc_size = allocation_size(recorded.round_size(req.size));
            let gc_due = recorded.garbage_collection_threshold > 0.0
                && reserved as f64 > recorded.garbage_collection_threshold * cap as f64;
            reserved + alloc_size > cap || gc_due
        }
        _ => false,
    }
}

/// What existed before the first entry: the dump's segments and active blocks the trace never
/// made, and the segments and blocks the trace releases without having made them (their
/// block size is estimated as the rounded request). Empty for a trace that starts from an
/// empty allocator. Block ids are left 0 for the caller to number.
///
/// The address sets hash with foldhash, as the replay's prescan does: one pass over every
/// event, where std's hasher would be most of the cost.
///
/// What lies in a private pool's segment (`pool_ids`: the dump's pools by index, see
/// [`pool_stream`]) carries that pool in its stream key.
fn initial_state(
    events: &[Event],
    dump: &[&Segment],
    settings: &Settings,
    pool_ids: &[(i64, i64)],
) -> Initial {
    use foldhash::HashSet;
    let pool_of = |s: &Segment| pool_ids.iter().position(|&id| id == s.pool_id).unwrap_or(0) as u16;
    // The dump's segment holding `addr`, for blocks freed in the trace but made before it.
    let segment_at = |addr: u64| {
        dump.iter()
            .find(|s| s.address <= addr && addr < s.address + s.total_size)
    };
    let mut init = Initial::default();
    let mut live: HashSet<u64> = HashSet::default();
    let mut pending: HashSet<u64> = HashSet::default();
    let mut ever_alloc: HashSet<u64> = HashSet::default();
    let mut segs: HashSet<u64> = HashSet::default();
    let mut ever_seg: HashSet<u64> = HashSet::default();
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    let mut ever_mapped: Vec<(u64, u64)> = Vec::new();
    let mut pre_blocks: Vec<(u64, u64, u64, bool)> = Vec::new();
    for e in events {
        match e.action {
            Action::Alloc => {
                live.insert(e.addr);
                ever_alloc.insert(e.addr);
            }
            Action::FreeRequested => {
                if !live.contains(&e.addr) && !pending.contains(&e.addr) {
                    pre_blocks.push((e.addr, e.size, e.stream, true));
                    live.insert(e.addr);
                }
                pending.insert(e.addr);
            }
            Action::FreeCompleted => {
                let was_pending = pending.remove(&e.addr);
                if !live.remove(&e.addr) && !was_pending {
                    pre_blocks.push((e.addr, e.size, e.stream, false));
                }
            }
            Action::SegmentAlloc => {
                segs.insert(e.addr);
                ever_seg.insert(e.addr);
            }
            Action::SegmentFree if !segs.remove(&e.addr) => {
                init.segments.push((e.addr, e.size, e.stream, false));
            }
            Action::SegmentMap => {
                mapped.push((e.addr, e.addr + e.size));
                ever_mapped.push((e.addr, e.addr + e.size));
            }
            Action::SegmentUnmap => {
                let (a, b) = (e.addr, e.addr + e.size);
                let covered: u64 = mapped
                    .iter()
                    .map(|&(x, y)| y.min(b).saturating_sub(x.max(a)))
                    .sum();
                if covered < b - a {
                    init.segments.push((a, b - a, e.stream, true));
                }
                mapped = subtract(&mapped, (a, b));
            }
            _ => {}
        }
    }
    let mut dump_blocks = Vec::new();
    for s in dump {
        let stream = pool_stream(s.stream, pool_of(s));
        if s.is_expandable {
            let mut parts = vec![(s.address, s.address + s.total_size)];
            for &(x, y) in &ever_mapped {
                parts = subtract(&parts, (x, y));
            }
            for (a, b) in parts {
                init.segments.push((a, b - a, stream, true));
            }
        } else if !ever_seg.contains(&s.address) {
            init.segments.push((s.address, s.total_size, stream, false));
        }
        let mut addr = s.address;
        for b in &s.blocks {
            if b.address != 0 {
                addr = b.address;
            }
            let active = matches!(
                b.state,
                BlockState::ActiveAllocated | BlockState::ActivePendingFree
            );
            if active && !ever_alloc.contains(&addr) {
                let allocated = b.state == BlockState::ActiveAllocated;
                dump_blocks.push((0, addr, b.size, b.requested_size, stream, allocated));
            }
            addr += b.size;
        }
    }
    if init.segments.is_empty() {
        return init;
    }
    let mut seen: HashSet<u64> = HashSet::default();
    for b in dump_blocks {
        seen.insert(b.1);
        init.blocks.push(b);
    }
    for (addr, requested, stream, allocated) in pre_blocks {
        if seen.insert(addr) {
            let pool = segment_at(addr).map_or(0, |s| pool_of(s));
            let stream = pool_stream(stream, pool);
            let size = settings.round_size(requested);
            init.blocks
                .push((0, addr, size, requested, stream, allocated));
        }
    }
    init
}
