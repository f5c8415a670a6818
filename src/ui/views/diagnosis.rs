//! The landing view: the verdict in plain words, per device. Every line links to the view that
//! shows the evidence.

use egui::{RichText, Ui};

use crate::analysis::Verdict;
use crate::output::format;

use super::{section, short_bytes, swatch, View, ViewCtx};
use crate::ui::theme;

pub fn show(ui: &mut Ui, cx: &mut ViewCtx) {
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.set_max_width(980.0);
            body(ui, cx);
        });
}

fn body(ui: &mut Ui, cx: &mut ViewCtx) {
    let d = cx.d;
    let dark = cx.dark();
    ui.add_space(4.0);
    ui.label(
        RichText::new(format!(
            "Device {}: {} events, peak {} allocated / {} reserved",
            d.device,
            d.events,
            short_bytes(d.peak.allocated),
            short_bytes(d.peak.reserved)
        ))
        .size(20.0)
        .strong(),
    );
    if let Some(note) = d.trace_note(cx.loaded.snap.format.variant) {
        ui.label(RichText::new(note.text).color(theme::warn(dark)));
    }

    // The headline.
    let mut headline = Vec::new();
    if !d.ooms.is_empty() {
        let frag = d
            .ooms
            .iter()
            .filter(|o| o.verdict == Verdict::Fragmentation)
            .count();
        headline.push(format!(
            "{} out-of-memory error{} ({} fragmentation, {} capacity)",
            d.ooms.len(),
            if d.ooms.len() == 1 { "" } else { "s" },
            frag,
            d.ooms.len() - frag
        ));
    }
    if !d.leaks.is_empty() {
        headline.push(format!(
            "{} leak suspect{}",
            d.leaks.len(),
            if d.leaks.len() == 1 { "" } else { "s" }
        ));
    }
    ui.add_space(4.0);
    if headline.is_empty() {
        ui.label(
            RichText::new("No leak and no out-of-memory error found.")
                .color(theme::good(dark))
                .size(16.0),
        );
    } else {
        ui.label(
            RichText::new(headline.join(", ") + ".")
                .color(theme::warn(dark))
                .size(16.0),
        );
    }

    // Leaks.
    section(ui, "Leak suspects");
    if d.leaks.is_empty() {
        ui.label("None: no call site keeps more memory alive iteration after iteration.");
    }
    for (k, leak) in d.leaks.iter().enumerate() {
        ui.horizontal_wrapped(|ui| {
            swatch(ui, cx.site_color(leak.site));
            let label = cx.site_label(leak.site);
            let link = ui
                .link(RichText::new(&label).monospace())
                .on_hover_text("Show in the Leaks view and select it");
            if link.clicked() {
                cx.doc.select_site(Some(leak.site));
                cx.doc.view = View::Leaks;
            }
            if ui
                .small_button("timeline")
                .on_hover_text("Show its band in the memory timeline")
                .clicked()
            {
                cx.doc.select_site(Some(leak.site));
                cx.doc.view = View::Timeline;
            }
            ui.label(format!(
                "in {}() grows by {} per iteration over {} iterations and holds {} in {} \
                 blocks at the end (confidence {:.0}%).",
                leak.function,
                short_bytes(leak.growth_bytes_per_iteration.max(0.0) as u64),
                leak.iterations,
                short_bytes(leak.live_bytes),
                leak.live_blocks,
                leak.confidence * 100.0
            ));
        });
        if k == 0 {
            ui.label(
                RichText::new(
                    "A leak here means references survive: e.g. a loss summed as a tensor \
                     without .item() or torch.no_grad(), or outputs kept in a list.",
                )
                .weak(),
            );
        }
    }

    // OOMs.
    section(ui, "Out-of-memory errors");
    if d.ooms.is_empty() {
        ui.label("None in this trace.");
    }
    for (k, o) in d.ooms.iter().enumerate() {
        ui.group(|ui| {
            ui.horizontal_wrapped(|ui| {
                let color = match o.verdict {
                    Verdict::Fragmentation => theme::warn(dark),
                    Verdict::Capacity => theme::oom(dark),
                };
                ui.label(
                    RichText::new(format!(
                        "OOM {} : {}",
                        k + 1,
                        o.verdict.name().to_uppercase()
                    ))
                    .color(color)
                    .strong(),
                );
                ui.label(format!(
                    "requesting {} at event {}, with {} allocated, {} reserved, {} reserved but \
                     unallocated, largest free block {}.",
                    short_bytes(o.requested),
                    o.event,
                    short_bytes(o.allocated),
                    short_bytes(o.reserved),
                    short_bytes(o.free_in_reserved),
                    short_bytes(o.largest_free_block)
                ));
            });
            ui.label(&o.advice);
            if let Some(top) = o.by_site.first() {
                ui.label(format!(
                    "Largest live call site at the failure: {} with {}.",
                    top.label,
                    short_bytes(top.bytes)
                ));
            }
            ui.horizontal(|ui| {
                if ui
                    .link("Show the segments at this OOM")
                    .on_hover_text("Segments view with the cursor on the failed allocation")
                    .clicked()
                {
                    cx.doc.jump_to(o.event);
                    cx.doc.view = View::Segments;
                }
                if ui.link("Show in the timeline").clicked() {
                    cx.doc.jump_to(o.event);
                    cx.doc.view = View::Timeline;
                }
            });
        });
    }

    // Peak.
    section(ui, "Peak");
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "Allocated memory peaks at {} (event {}",
            short_bytes(d.peak.allocated),
            d.peak.allocated_event
        ));
        if let Some(t) = cx.time_of(d.peak.allocated_event) {
            ui.label(format!("{t})."));
        } else {
            ui.label(").");
        }
        if ui.link("Show the peak").clicked() {
            cx.doc.jump_to(d.peak.allocated_event);
            cx.doc.view = View::Timeline;
        }
    });
    ui.label(format!(
        "Reserved memory peaks at {} (event {}).",
        short_bytes(d.peak.reserved),
        d.peak.reserved_event
    ));
    if !cx.dd.peak_holders.is_empty() {
        ui.label("What held the allocated peak:");
        let total = d.peak.allocated.max(1);
        for h in cx.dd.peak_holders.iter().take(6) {
            ui.horizontal(|ui| {
                ui.add_space(12.0);
                swatch(ui, cx.site_color(h.site));
                let label = cx.site_label(h.site);
                if ui
                    .link(RichText::new(&label).monospace())
                    .on_hover_text("Select this call site")
                    .clicked()
                {
                    cx.doc.select_site(Some(h.site));
                }
                ui.label(format!(
                    "{} in {} blocks ({:.0}%)",
                    short_bytes(h.bytes),
                    h.blocks,
                    h.bytes as f64 * 100.0 / total as f64
                ));
            });
        }
    }

    // Fragmentation.
    section(ui, "Fragmentation");
    match &d.fragmentation.worst {
        Some(w) if w.reserved > 0 => {
            let split = w.reserved_unallocated.saturating_sub(w.largest_free_block);
            ui.horizontal_wrapped(|ui| {
                ui.label(format!(
                    "At its worst (event {}), {} of {} reserved was free but split: the \
                     largest free block was {} ({:.0}% external fragmentation), so {} could \
                     not serve one large request.",
                    w.event,
                    short_bytes(w.reserved_unallocated),
                    short_bytes(w.reserved),
                    short_bytes(w.largest_free_block),
                    w.external * 100.0,
                    short_bytes(split)
                ));
                if ui.link("Show the segments then").clicked() {
                    cx.doc.jump_to(w.event);
                    cx.doc.view = View::Segments;
                }
            });
        }
        _ => {
            ui.label("No reserved memory in this trace.");
        }
    }
    if let Some(end) = &d.fragmentation.at_end {
        ui.label(format!(
            "At the end: {} allocated, {} reserved in {} segments.",
            format::bytes(end.allocated),
            format::bytes(end.reserved),
            end.segments
        ));
    }
}
