//! `memsight info`: what is in a file, without analysis.
//!
//! The JSON form is a stable contract (documented in README.md):
//! `{"file","format":{"variant","protocol","compression","pickle_bytes"},"load_ms",
//!   "frames","stacks","annotations","allocator_settings","unknown":{"keys","actions"},
//!   "devices":[{"device","events","actions":{name:count},"time_span_us":{"first","last"},
//!   "segments","expandable_segments","reserved","allocated","active","requested",
//!   "stacks_used"}]}`

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Action, Snapshot};

use crate::units::{bytes, duration_us};

#[derive(Debug, Serialize)]
pub struct Info {
    pub file: String,
    pub format: FormatJson,
    pub load_ms: f64,
    pub frames: usize,
    pub stacks: usize,
    pub annotations: usize,
    pub allocator_settings: serde_json::Value,
    pub unknown: UnknownJson,
    pub devices: Vec<DeviceInfo>,
}

#[derive(Debug, Serialize)]
pub struct FormatJson {
    pub variant: &'static str,
    pub protocol: u8,
    pub compression: Option<&'static str>,
    pub pickle_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct UnknownJson {
    pub keys: BTreeMap<String, u64>,
    pub actions: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct TimeSpan {
    pub first: i64,
    pub last: i64,
}

#[derive(Debug, Serialize)]
pub struct DeviceInfo {
    pub device: usize,
    pub events: usize,
    pub actions: BTreeMap<String, u64>,
    pub time_span_us: Option<TimeSpan>,
    pub segments: usize,
    pub expandable_segments: usize,
    pub reserved: u64,
    pub allocated: u64,
    pub active: u64,
    pub requested: u64,
    pub stacks_used: usize,
}

/// Summarises a loaded snapshot.
pub fn summarize(snap: &Snapshot, file: &str, load_ms: f64) -> Info {
    let mut devices = Vec::new();
    for dev in snap.device_ids() {
        let trace = snap.trace(dev);
        let events = trace.map(|t| t.events.as_slice()).unwrap_or(&[]);
        // Counted by action and marked by stack id first, named once at the end: a
        // million-event trace should not cost a million strings.
        let mut by_action: std::collections::HashMap<Action, u64> = Default::default();
        let mut stack_seen = vec![false; snap.stacks.len()];
        let mut time_span_us: Option<TimeSpan> = None;
        for e in events {
            *by_action.entry(e.action).or_insert(0) += 1;
            if let Some(seen) = stack_seen.get_mut(e.stack as usize) {
                *seen = true;
            }
            if e.time_us != 0 {
                let span = time_span_us.get_or_insert(TimeSpan {
                    first: e.time_us,
                    last: e.time_us,
                });
                span.first = span.first.min(e.time_us);
                span.last = span.last.max(e.time_us);
            }
        }
        let mut actions = BTreeMap::new();
        for (action, n) in by_action {
            let name = match action {
                Action::Other(s) => snap.frames.strings.get(s).to_string(),
                a => a.name().unwrap_or("?").to_string(),
            };
            *actions.entry(name).or_insert(0u64) += n;
        }
        let stacks_used = stack_seen.iter().filter(|&&seen| seen).count();
        let segs: Vec<_> = snap.segments_of(dev).collect();
        devices.push(DeviceInfo {
            device: dev,
            events: events.len(),
            actions,
            time_span_us,
            segments: segs.len(),
            expandable_segments: segs.iter().filter(|s| s.is_expandable).count(),
            reserved: segs.iter().map(|s| s.total_size).sum(),
            allocated: segs.iter().map(|s| s.allocated_size).sum(),
            active: segs.iter().map(|s| s.active_size).sum(),
            requested: segs.iter().map(|s| s.requested_size).sum(),
            stacks_used,
        });
    }
    Info {
        file: file.to_string(),
        format: FormatJson {
            variant: snap.format.variant.name(),
            protocol: snap.format.protocol,
            compression: snap.format.compression,
            pickle_bytes: snap.format.pickle_bytes,
        },
        load_ms,
        frames: snap.frames.len(),
        stacks: snap.stacks.len(),
        annotations: snap.annotations.len(),
        allocator_settings: snap
            .allocator_settings
            .as_ref()
            .map(|s| s.raw.to_json())
            .unwrap_or(serde_json::Value::Null),
        unknown: UnknownJson {
            keys: snap.unknown.keys.clone(),
            actions: snap.unknown.actions.clone(),
        },
        devices,
    }
}

impl Info {
    /// The plain-text rendering printed by `memsight info`.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.file);
        let _ = writeln!(
            s,
            "  format: {} (pickle protocol {}{}), {} of pickle data, loaded in {:.1} ms",
            self.format.variant,
            self.format.protocol,
            self.format
                .compression
                .map(|c| format!(", {c}-compressed"))
                .unwrap_or_default(),
            bytes(self.format.pickle_bytes),
            self.load_ms
        );
        let _ = writeln!(
            s,
            "  {} unique frames, {} unique stacks, {} annotations",
            self.frames, self.stacks, self.annotations
        );
        if self.devices.is_empty() {
            let _ = writeln!(s, "  no device has segments or trace events");
        }
        for d in &self.devices {
            let _ = writeln!(s, "  device {}:", d.device);
            let span = d
                .time_span_us
                .as_ref()
                .map(|t| format!(" over {}", duration_us(t.last - t.first)))
                .unwrap_or_default();
            let _ = writeln!(s, "    {} trace events{span}", d.events);
            if !d.actions.is_empty() {
                let acts: Vec<String> = d.actions.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(s, "    actions: {}", acts.join(", "));
            }
            let _ = writeln!(
                s,
                "    at dump: {} segments ({} expandable), reserved {}, allocated {}, active {}",
                d.segments,
                d.expandable_segments,
                bytes(d.reserved),
                bytes(d.allocated),
                bytes(d.active)
            );
        }
        if !self.unknown.keys.is_empty() || !self.unknown.actions.is_empty() {
            let _ = writeln!(s, "  kept but not modelled:");
            for (k, v) in &self.unknown.keys {
                let _ = writeln!(s, "    key {k}: {v}");
            }
            for (k, v) in &self.unknown.actions {
                let _ = writeln!(s, "    action {k}: {v}");
            }
        }
        s
    }
}
