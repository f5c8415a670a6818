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

use crate::analysis::replay::{self, Rules};
use crate::model::{Action, DeviceTrace, Snapshot};

use super::settings::Settings;

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

impl RequestStream {
    /// The recorded segment entries from trace index `from` on.
    pub fn segments_from(&self, from: u32) -> impl Iterator<Item = &SegEvent> {
        self.segments
            .iter()
            .zip(&self.segment_events)
            .filter(move |(_, &e)| e >= from)
            .map(|(s, _)| s)
    }
}

/// `get_allocation_size`: what `cudaMalloc` is asked for a block of `size` (rounded) bytes.
pub fn allocation_size(size: u64) -> u64 {
    const SMALL_BUFFER: u64 = 2 << 20;
    const MIN_LARGE_ALLOC: u64 = 10 << 20;
    const ROUND_LARGE: u64 = 2 << 20;
    if size <= super::settings::SMALL_SIZE {
        SMALL_BUFFER
    } else if size < MIN_LARGE_ALLOC {
        super::settings::LARGE_BUFFER
    } else {
        size.div_ceil(ROUND_LARGE) * ROUND_LARGE
    }
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

    let mut live: crate::model::FxHashMap<u64, u32> = Default::default();
    let mut reserved: u64 = 0;

    // Blocks and segments from before the trace.
    let dump: Vec<_> = snap.segments_of(device).collect();
    let needs_initial = !dump.is_empty()
        || events.iter().any(|e| {
            matches!(
                e.action,
                Action::FreeRequested
                    | Action::FreeCompleted
                    | Action::SegmentFree
                    | Action::SegmentUnmap
            )
        });
    if needs_initial {
        let rules = Rules::from_settings(snap.allocator_settings.as_ref());
        let r = replay::replay(trace, &dump, &rules);
        if !r.starts_empty {
            for s in r.segments.iter().filter(|s| s.alloc_event == replay::NONE) {
                out.initial
                    .segments
                    .push((s.addr, s.size, s.stream, s.expandable));
                reserved += s.size;
            }
            for a in r.allocations.iter().filter(|a| a.alloc_event == replay::NONE) {
                let id = out.ids;
                out.ids += 1;
                // A block freed by the program before the trace is pending (active only).
                let allocated = a.free_requested != 0
                    || events.first().is_some_and(|e| {
                        e.action == Action::FreeRequested && e.addr == a.addr
                    });
                out.initial
                    .blocks
                    .push((id, a.addr, a.size, a.requested, a.stream, allocated));
                live.insert(a.addr, id);
            }
        }
    }

    let mut hint_start = 0u32;
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
                        stream: e.stream,
                        hints: (hint_start, end),
                        recorded_oom,
                    },
                });
                hint_start = end;
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
                let kind = if e.action == Action::SegmentAlloc {
                    SegKind::SegmentAlloc
                } else {
                    SegKind::SegmentMap
                };
                out.segments.push(SegEvent {
                    kind,
                    addr: e.addr,
                    size: e.size,
                });
                out.segment_events.push(ev);
                reserved += e.size;
            }
            Action::SegmentFree | Action::SegmentUnmap => {
                // A run of releases: empty_cache, or part of a request's retry.
                let mut j = i;
                let before = reserved;
                while j < events.len()
                    && matches!(
                        events[j].action,
                        Action::SegmentFree | Action::SegmentUnmap
                    )
                {
                    let f = &events[j];
                    let kind = if f.action == Action::SegmentFree {
                        SegKind::SegmentFree
                    } else {
                        SegKind::SegmentUnmap
                    };
                    out.segments.push(SegEvent {
                        kind,
                        addr: f.addr,
                        size: f.size,
                    });
                    out.segment_events.push(j as u32);
                    reserved = reserved.saturating_sub(f.size);
                    j += 1;
                }
                if !inside_request(events, j, before, recorded, cap) {
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
    events: &[crate::model::Event],
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
