//! What the file holds: format, devices, events, counters.

use egui::{RichText, Ui};

use crate::units;

use crate::ui::focus::ViewId;
use crate::ui::view::{section, ViewCtx};

pub fn show(ui: &mut Ui, cx: &mut ViewCtx) {
    let snap = &cx.loaded.snap;
    let d = cx.analysis;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            section(ui, "File");
            egui::Grid::new("file").striped(true).show(ui, |ui| {
                let rows: Vec<(&str, String)> = vec![
                    ("format", snap.format.variant.name().to_string()),
                    ("pickle protocol", snap.format.protocol.to_string()),
                    (
                        "compression",
                        snap.format.compression.unwrap_or("none").to_string(),
                    ),
                    ("pickle bytes", units::bytes(snap.format.pickle_bytes)),
                    ("read in", format!("{} ms", cx.loaded.load_ms)),
                    ("analysed in", format!("{} ms", cx.loaded.analyze_ms)),
                    ("devices", cx.loaded.analysis.devices.len().to_string()),
                    ("unique frames", snap.frames.len().to_string()),
                    ("unique stacks", snap.stacks.len().to_string()),
                    (
                        "allocator settings",
                        snap.allocator_settings
                            .as_ref()
                            .and_then(|s| s.alloc_conf.clone())
                            .unwrap_or_else(|| "default".into()),
                    ),
                ];
                for (k, v) in rows {
                    ui.label(RichText::new(k).strong());
                    ui.label(v);
                    ui.end_row();
                }
            });
            section(ui, &format!("Device {}", d.device));
            egui::Grid::new("device").striped(true).show(ui, |ui| {
                let f = d.final_counters;
                let rows: Vec<(&str, String)> = vec![
                    ("events", d.events.to_string()),
                    ("allocations", d.replay.allocations.len().to_string()),
                    ("call sites", d.sites.sites.len().to_string()),
                    ("segments over time", d.replay.segments.len().to_string()),
                    ("snapshot markers", d.markers.len().to_string()),
                    (
                        "iterations",
                        format!(
                            "{} ({:?})",
                            d.iterations.boundaries.len(),
                            d.iterations.source
                        ),
                    ),
                    (
                        "trace complete",
                        if d.trace_complete {
                            "yes".into()
                        } else {
                            format!("no, exact from event {}", d.replay.exact_from)
                        },
                    ),
                    ("peak allocated", units::bytes(d.peak.allocated)),
                    ("peak reserved", units::bytes(d.peak.reserved)),
                    ("final allocated", units::bytes(f.allocated)),
                    ("final active", units::bytes(f.active)),
                    ("final requested", units::bytes(f.requested)),
                    ("final reserved", units::bytes(f.reserved)),
                    ("anomalies", d.replay.anomalies.len().to_string()),
                ];
                // Pools other than the default one serve only their own requests (CUDA
                // graphs, torch.cuda.MemPool): say what each holds at the dump.
                let pools = d.pools.pools.iter().filter(|_| d.pools.has_private());
                let rows = rows.into_iter().chain(pools.map(|p| {
                    (
                        "pool at the dump",
                        format!(
                            "{}: {} segment{}, {} reserved",
                            crate::output::words::pool_name(p),
                            p.segments,
                            units::plural(p.segments),
                            units::bytes(p.reserved)
                        ),
                    )
                }));
                for (k, v) in rows {
                    ui.label(RichText::new(k).strong());
                    ui.label(v);
                    ui.end_row();
                }
            });
            if !d.markers.is_empty() {
                section(ui, "Snapshot markers");
                egui::Grid::new("markers").striped(true).show(ui, |ui| {
                    for h in ["#", "event", "allocated", "reserved", ""] {
                        ui.label(RichText::new(h).strong());
                    }
                    ui.end_row();
                    for (k, m) in d.markers.iter().enumerate().take(500) {
                        ui.label(k.to_string());
                        ui.label(m.event.to_string());
                        ui.label(units::bytes(m.counters.allocated));
                        ui.label(units::bytes(m.counters.reserved));
                        if ui.small_button("go").clicked() {
                            cx.focus.jump_to(m.event, ViewId::Timeline);
                        }
                        ui.end_row();
                    }
                });
            }
        });
}
