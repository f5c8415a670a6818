//! Turns the machine's root value into a typed [`Snapshot`].

use crate::model::{
    AllocatorSettings, Annotation, Block, BlockState, DeviceTrace, Event, FormatInfo,
    FormatVariant, HistoryEntry, PyValue, Segment, SegmentType, Snapshot,
};

use super::error::{ReadError, Result};
use super::pickle::{Machine, Node, Packed, Value};

/// Dict items of `v`, decoded, or `None` if it is not a dict.
fn dict_items(m: &Machine, v: Value) -> Option<Vec<(Value, Value)>> {
    match v {
        Value::Node(id) => match &m.nodes[id as usize] {
            Node::Dict(d) => Some(d.iter().map(|&(k, v)| (m.val(k), m.val(v))).collect()),
            _ => None,
        },
        _ => None,
    }
}

fn list_items(m: &Machine, v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Node(id) => match &m.nodes[id as usize] {
            Node::List(d) | Node::Tuple(d) => Some(d.iter().map(|&p| m.val(p)).collect()),
            _ => None,
        },
        _ => None,
    }
}

/// The items of a list or tuple, borrowed (still packed: see [`Machine::val`]).
fn list_slice<'m>(m: &'m Machine<'_, '_>, v: Value) -> Option<&'m [Packed]> {
    match v {
        Value::Node(id) => match &m.nodes[id as usize] {
            Node::List(d) | Node::Tuple(d) => Some(d),
            _ => None,
        },
        _ => None,
    }
}

fn key_name(m: &Machine, k: Value) -> Option<String> {
    match k {
        Value::Str(s) => Some(m.frames.strings.get(s).to_string()),
        _ => None,
    }
}

fn type_name(m: &Machine, v: Value) -> &'static str {
    match v {
        Value::None | Value::Unset => "None",
        Value::Bool(_) => "a bool",
        Value::Int(_) | Value::BigInt(_) => "an int",
        Value::Float(_) => "a float",
        Value::Str(_) => "a str",
        Value::Bytes(_) => "bytes",
        Value::Event(_) => "a trace entry",
        Value::Node(id) => match &m.nodes[id as usize] {
            Node::List(_) => "a list",
            Node::Tuple(_) => "a tuple",
            Node::Dict(_) => "a dict",
            Node::Set(_) => "a set",
            Node::Frame(_) => "a frame dict",
            Node::Stack(_) => "a list of frames",
            Node::Event(_) => "a trace entry",
        },
    }
}

fn not_snapshot(what: impl Into<String>) -> ReadError {
    ReadError::NotASnapshot { what: what.into() }
}

/// Builds the snapshot from the root value of a finished machine.
pub(crate) fn build(mut m: Machine, root: Value, pickle_bytes: u64) -> Result<Snapshot> {
    let mut segments_v = None;
    let mut traces_v = None;
    let mut settings_v = None;
    let mut annotations_v = None;
    let mut extra_top_level = Vec::new();

    if let Some(items) = dict_items(&m, root) {
        for (k, v) in items {
            match key_name(&m, k).as_deref() {
                Some("segments") => segments_v = Some(v),
                Some("device_traces") => traces_v = Some(v),
                Some("allocator_settings") => settings_v = Some(v),
                Some("external_annotations") => annotations_v = Some(v),
                Some(other) => {
                    let name = other.to_string();
                    let pv = m
                        .to_pyvalue(v, 0)
                        .map_err(|e| in_context(e, &format!("top-level key '{name}'")))?;
                    *m.unknown.keys.entry(format!("top.{name}")).or_default() += 1;
                    extra_top_level.push((name, pv));
                }
                None => {
                    return Err(not_snapshot(
                        "the top-level dict has a key that is not a string",
                    ))
                }
            }
        }
        if segments_v.is_none() {
            return Err(not_snapshot(
                "the top-level dict has no 'segments' key (a snapshot from \
                 torch.cuda.memory._dump_snapshot has 'segments' and 'device_traces')",
            ));
        }
    } else if let Some(items) = list_items(&m, root) {
        // torch.cuda.memory_snapshot() returns a bare list of segment dicts.
        let looks_like_segments = !items.is_empty()
            && items.iter().all(|&v| {
                dict_items(&m, v).is_some_and(|d| {
                    d.iter()
                        .any(|(k, _)| key_name(&m, *k).as_deref() == Some("total_size"))
                })
            });
        if !looks_like_segments {
            return Err(not_snapshot(format!(
                "the pickle holds a list of {} items, not a snapshot dict with 'segments'",
                items.len()
            )));
        }
        segments_v = Some(root);
    } else {
        return Err(not_snapshot(format!(
            "the pickle holds {}, not a snapshot dict with 'segments'",
            type_name(&m, root)
        )));
    }

    let segments = match segments_v {
        Some(v) => build_segments(&mut m, v)?,
        None => Vec::new(),
    };
    let has_history = segments
        .iter()
        .any(|s| s.blocks.iter().any(|b| !b.history.is_empty()));

    // PyTorch 2.0 files may carry a `device_traces` key too (holding a stray entry or two),
    // but their allocation history lives in the blocks: that is what decides how to read them.
    let variant = if has_history {
        FormatVariant::BlockHistory
    } else if traces_v.is_some() {
        FormatVariant::DeviceTraces
    } else {
        FormatVariant::SegmentsOnly
    };

    let allocator_settings = match settings_v {
        Some(v) => Some(build_settings(&m, v).map_err(|e| in_context(e, "allocator_settings"))?),
        None => None,
    };
    let annotations = match annotations_v {
        Some(v) => {
            build_annotations(&mut m, v).map_err(|e| in_context(e, "external_annotations"))?
        }
        None => Vec::new(),
    };
    // Last, because it frees the generic tree the other parts are read from.
    let devices = match traces_v {
        Some(v) => build_traces(&mut m, v)?,
        None => Vec::new(),
    };

    Ok(Snapshot {
        format: FormatInfo {
            variant,
            protocol: m.protocol.unwrap_or(0),
            compression: m.compression(),
            pickle_bytes,
        },
        segments,
        devices,
        allocator_settings,
        annotations,
        frames: std::mem::take(&mut m.frames),
        stacks: std::mem::take(&mut m.stacks),
        extra_top_level,
        unknown: std::mem::take(&mut m.unknown),
    })
}

fn int_field(m: &Machine, v: Value, field: &str) -> Result<u64> {
    match v {
        Value::None => Ok(0),
        _ => m.as_u64(v, field),
    }
}

fn i64_field(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        Value::Bool(b) => Some(b as i64),
        _ => None,
    }
}

fn build_segments(m: &mut Machine, v: Value) -> Result<Vec<Segment>> {
    let items = list_items(m, v)
        .ok_or_else(|| not_snapshot(format!("'segments' is {}, not a list", type_name(m, v))))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, seg_v) in items.into_iter().enumerate() {
        let seg = build_segment(m, seg_v, i).map_err(|e| in_context(e, &format!("segment {i}")))?;
        out.push(seg);
    }
    Ok(out)
}

/// A value of the right pickle shape but the wrong meaning (a negative size, a frame that is
/// not a dict) is a snapshot problem, not a pickle one: say where in the snapshot it is rather
/// than a byte offset (which, once the stream is read, would only be its end). A limit keeps
/// its offset and gains the place.
fn in_context(e: ReadError, place: &str) -> ReadError {
    match e {
        ReadError::Malformed { what, .. } => not_snapshot(format!("{place}: {what}")),
        ReadError::NotASnapshot { what } => not_snapshot(format!("{place}: {what}")),
        ReadError::Limit { offset, what } => ReadError::Limit {
            offset,
            what: format!("{place}: {what}"),
        },
        other => other,
    }
}

fn build_segment(m: &mut Machine, seg_v: Value, i: usize) -> Result<Segment> {
    let d = dict_items(m, seg_v).ok_or_else(|| {
        not_snapshot(format!(
            "segment {i} is {}, not a dict",
            type_name(m, seg_v)
        ))
    })?;
    let mut seg = Segment {
        device: 0,
        address: 0,
        total_size: 0,
        allocated_size: 0,
        active_size: 0,
        requested_size: 0,
        stream: 0,
        segment_type: SegmentType::Unknown,
        pool_id: (0, 0),
        is_expandable: false,
        stack: 0,
        blocks: Vec::new(),
    };
    let mut addressed = Vec::new();
    for (k, val) in d {
        let Some(key) = key_name(m, k) else { continue };
        match key.as_str() {
            "device" => seg.device = int_field(m, val, "device")? as usize,
            "address" => seg.address = int_field(m, val, "address")?,
            "total_size" => seg.total_size = int_field(m, val, "total_size")?,
            "allocated_size" => seg.allocated_size = int_field(m, val, "allocated_size")?,
            "active_size" => seg.active_size = int_field(m, val, "active_size")?,
            "requested_size" => seg.requested_size = int_field(m, val, "requested_size")?,
            "stream" => seg.stream = int_field(m, val, "stream")?,
            "segment_type" => {
                seg.segment_type = match val {
                    Value::Str(s) => match m.frames.strings.get(s) {
                        "large" => SegmentType::Large,
                        "small" => SegmentType::Small,
                        _ => SegmentType::Unknown,
                    },
                    _ => SegmentType::Unknown,
                }
            }
            "segment_pool_id" => {
                if let Some(t) = list_items(m, val) {
                    let a = t.first().and_then(|&x| i64_field(x)).unwrap_or(0);
                    let b = t.get(1).and_then(|&x| i64_field(x)).unwrap_or(0);
                    seg.pool_id = (a, b);
                }
            }
            "is_expandable" => seg.is_expandable = matches!(val, Value::Bool(true)),
            "frames" => seg.stack = m.stack_of(val)?,
            "blocks" => (seg.blocks, addressed) = build_blocks(m, val, i)?,
            other => {
                *m.unknown
                    .keys
                    .entry(format!("segment.{other}"))
                    .or_default() += 1;
            }
        }
    }
    // PyTorch 2.0 blocks have no `address`: they tile the segment in order, so each one
    // starts where the previous one ends.
    let mut at = seg.address;
    for (b, &has_address) in seg.blocks.iter_mut().zip(&addressed) {
        if !has_address {
            b.address = at;
        }
        at = b.address.wrapping_add(b.size);
    }
    Ok(seg)
}

/// The blocks of segment `seg`, and for each whether the file gave its address.
fn build_blocks(m: &mut Machine, v: Value, seg: usize) -> Result<(Vec<Block>, Vec<bool>)> {
    let items = list_items(m, v)
        .ok_or_else(|| not_snapshot(format!("segment {seg}'s blocks are not a list")))?;
    let mut out = Vec::with_capacity(items.len());
    let mut addressed = Vec::with_capacity(items.len());
    for bv in items {
        let d = dict_items(m, bv)
            .ok_or_else(|| not_snapshot(format!("a block of segment {seg} is not a dict")))?;
        let mut b = Block {
            address: 0,
            size: 0,
            requested_size: 0,
            state: BlockState::Unknown,
            stack: 0,
            history: Vec::new(),
        };
        let mut has_requested = false;
        let mut has_address = false;
        for (k, val) in d {
            let Some(key) = key_name(m, k) else { continue };
            match key.as_str() {
                "address" => {
                    b.address = int_field(m, val, "address")?;
                    has_address = true;
                }
                "size" => b.size = int_field(m, val, "size")?,
                "requested_size" => {
                    b.requested_size = int_field(m, val, "requested_size")?;
                    has_requested = true;
                }
                "state" => {
                    b.state = match val {
                        Value::Str(s) => BlockState::from_name(m.frames.strings.get(s)),
                        _ => BlockState::Unknown,
                    }
                }
                "frames" => b.stack = m.stack_of(val)?,
                "history" => {
                    for hv in list_items(m, val).unwrap_or_default() {
                        let Some(hd) = dict_items(m, hv) else {
                            continue;
                        };
                        let mut h = HistoryEntry {
                            addr: 0,
                            real_size: 0,
                            stack: 0,
                        };
                        for (hk, hval) in hd {
                            match key_name(m, hk).as_deref() {
                                Some("addr") => h.addr = int_field(m, hval, "addr")?,
                                Some("real_size") => h.real_size = int_field(m, hval, "real_size")?,
                                Some("frames") => h.stack = m.stack_of(hval)?,
                                Some(other) => {
                                    *m.unknown
                                        .keys
                                        .entry(format!("history.{other}"))
                                        .or_default() += 1;
                                }
                                None => {}
                            }
                        }
                        b.history.push(h);
                    }
                }
                other => {
                    *m.unknown.keys.entry(format!("block.{other}")).or_default() += 1;
                }
            }
        }
        if !has_requested {
            b.requested_size = b.size;
        }
        // PyTorch 2.0 blocks with a history have the stack of their latest allocation there.
        if b.stack == 0 {
            if let Some(h) = b.history.last() {
                b.stack = h.stack;
            }
        }
        out.push(b);
        addressed.push(has_address);
    }
    Ok((out, addressed))
}

fn build_traces(m: &mut Machine, v: Value) -> Result<Vec<DeviceTrace>> {
    let lists = list_items(m, v).ok_or_else(|| {
        not_snapshot(format!(
            "'device_traces' is {}, not a list",
            type_name(m, v)
        ))
    })?;
    // Event indices per device, in trace order.
    let mut per_device: Vec<Vec<u32>> = Vec::with_capacity(lists.len());
    for (dev, lv) in lists.iter().enumerate() {
        // Borrowed, not copied: this list has one entry per event.
        let items = list_slice(m, *lv).ok_or_else(|| {
            not_snapshot(format!(
                "device_traces[{dev}] is {}, not a list",
                type_name(m, *lv)
            ))
        })?;
        let mut idxs = Vec::with_capacity(items.len());
        for (i, &it) in items.iter().enumerate() {
            match m.val(it) {
                Value::Event(e) => idxs.push(e),
                other => {
                    return Err(not_snapshot(format!(
                        "device_traces[{dev}][{i}] is {}, not a trace entry with an 'action'",
                        type_name(m, other)
                    )))
                }
            }
        }
        per_device.push(idxs);
    }

    // The generic tree is no longer needed: free it before the events are laid out per
    // device, so that the two never coexist at full size.
    m.release_tree();
    let mut pool = std::mem::take(&mut m.events);
    let pool_len = pool.len();
    let mut extras = std::mem::take(&mut m.event_extras);
    extras.sort_by_key(|e| e.0);
    let mut out = Vec::with_capacity(per_device.len());
    for (dev, idxs) in per_device.iter().enumerate() {
        // Usually one device's events are exactly the whole pool, in order: move, don't copy.
        let contiguous_all =
            idxs.len() == pool_len && idxs.iter().enumerate().all(|(i, &e)| e as usize == i);
        let events: Vec<Event> = if contiguous_all {
            std::mem::take(&mut pool)
        } else {
            idxs.iter()
                .map(|&e| {
                    pool.get(e as usize).copied().ok_or_else(|| {
                        not_snapshot(format!("device {dev}'s trace refers to a missing entry"))
                    })
                })
                .collect::<Result<_>>()?
        };
        let mut extra_fields = Vec::new();
        if !extras.is_empty() {
            for (local, &global) in idxs.iter().enumerate() {
                let start = extras.partition_point(|e| e.0 < global);
                for e in extras[start..].iter().take_while(|e| e.0 == global) {
                    extra_fields.push((local as u32, e.1.clone(), e.2.clone()));
                }
            }
        }
        out.push(DeviceTrace {
            device: dev,
            events,
            extra_fields,
        });
    }
    Ok(out)
}

fn build_settings(m: &Machine, v: Value) -> Result<AllocatorSettings> {
    let raw = m.to_pyvalue(v, 0)?;
    let mut s = AllocatorSettings {
        raw: raw.clone(),
        ..Default::default()
    };
    if let PyValue::Dict(_) = raw {
        s.alloc_conf = raw
            .get("PYTORCH_CUDA_ALLOC_CONF")
            .and_then(|x| x.as_str())
            .map(str::to_string);
        s.max_split_size = match raw.get("max_split_size") {
            Some(PyValue::Int(i)) if *i > 0 => Some(*i as u64),
            _ => None,
        };
        s.garbage_collection_threshold = raw
            .get("garbage_collection_threshold")
            .and_then(PyValue::as_f64);
        s.expandable_segments = match raw.get("expandable_segments") {
            Some(PyValue::Bool(b)) => Some(*b),
            _ => None,
        };
        if let Some(PyValue::Dict(items)) = raw.get("roundup_power2_divisions") {
            for (k, v) in items {
                let start = match k {
                    PyValue::Str(s) => s.parse::<u64>().ok(),
                    PyValue::Int(i) => Some(*i as u64),
                    _ => None,
                };
                if let (Some(start), Some(div)) = (start, v.as_i64()) {
                    s.roundup_power2_divisions.push((start, div.max(0) as u64));
                }
            }
        }
    }
    Ok(s)
}

fn build_annotations(m: &mut Machine, v: Value) -> Result<Vec<Annotation>> {
    let items = list_items(m, v).unwrap_or_default();
    let mut out = Vec::with_capacity(items.len());
    for a in items {
        let pv = m.to_pyvalue(a, 0)?;
        if !matches!(pv, PyValue::Dict(_)) {
            *m.unknown
                .keys
                .entry("annotation.<not a dict>".into())
                .or_default() += 1;
            continue;
        }
        out.push(Annotation {
            stage: pv
                .get("stage")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string(),
            name: pv
                .get("name")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string(),
            device: pv
                .get("device")
                .and_then(PyValue::as_i64)
                .unwrap_or(0)
                .max(0) as usize,
            time_us: pv.get("time_us").and_then(PyValue::as_i64).unwrap_or(0),
        });
    }
    Ok(out)
}
