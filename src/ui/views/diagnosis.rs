//! The landing view: the verdict in plain words, per device. Every line links to the view that
//! shows the evidence.

use egui::{RichText, Ui};

use crate::analysis::findings::{self, Finding, Severity};
use crate::analysis::oom::OomReport;
use crate::output::words;
use crate::units;

use crate::ui::focus::ViewId;
use crate::ui::theme;
use crate::ui::view::{section, short_bytes, swatch, ViewCtx};

pub fn show(ui: &mut Ui, cx: &mut ViewCtx) {
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.set_max_width(ui.available_width().min(980.0));
            body(ui, cx);
        });
}

fn body(ui: &mut Ui, cx: &mut ViewCtx) {
    let d = cx.analysis;
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

    if cx.loaded.devices.len() > 1 {
        every_device(ui, cx);
    }
    if d.events > 0 {
        let n = d.iterations.count();
        ui.label(
            RichText::new(format!(
                "{n} iteration{} (from {})",
                units::plural(n),
                words::iteration_source(&d.iterations)
            ))
            .weak(),
        );
    }

    // The findings, in the order every output gives them: the headline first.
    let list = findings::findings(d, cx.loaded.snap.format.variant);
    for (k, f) in list.iter().enumerate() {
        let text = words::finding(f, d);
        let color = severity_color(ui, text.severity, dark);
        ui.add_space(if k == 0 { 6.0 } else { 2.0 });
        ui.group(|ui| {
            ui.set_width(ui.available_width());
            ui.label(
                RichText::new(&text.title)
                    .color(color)
                    .strong()
                    .size(if k == 0 { 17.0 } else { 14.0 }),
            );
            if !matches!(f, Finding::ExplainedGrowth { .. }) {
                // (The growth is listed below, each line a link.)
                ui.label(&text.detail);
            }
            match f {
                Finding::Oom { index, .. } => {
                    if let Some(o) = d.ooms.get(*index) {
                        oom_details(ui, cx, o);
                    }
                }
                Finding::Leaks { .. } => leak_list(ui, cx),
                Finding::ExplainedGrowth { .. } => crate::ui::view::growth_list(ui, cx),
                Finding::Fragmented { at, .. } if ui.link("Show the segments then").clicked() => {
                    cx.focus.jump_to(at.event, ViewId::Segments);
                }
                _ => {}
            }
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
            cx.focus.jump_to(d.peak.allocated_event, ViewId::Timeline);
        }
    });
    ui.label(format!(
        "Reserved memory peaks at {} (event {}).",
        short_bytes(d.peak.reserved),
        d.peak.reserved_event
    ));
    if !cx.data.peak_holders.is_empty() {
        ui.label("What held the allocated peak:");
        let total = d.peak.allocated.max(1);
        for h in cx.data.peak_holders.iter().take(6) {
            ui.horizontal_wrapped(|ui| {
                ui.add_space(12.0);
                swatch(ui, cx.site_color(h.site));
                let label = cx.site_label(h.site);
                if ui
                    .link(RichText::new(&label).monospace())
                    .on_hover_text("Select this call site")
                    .clicked()
                {
                    cx.focus.select_site(Some(h.site));
                }
                ui.label(format!(
                    "{} in {} ({:.0}%)",
                    short_bytes(h.bytes),
                    units::count(h.blocks, "block"),
                    h.bytes as f64 * 100.0 / total as f64
                ));
            });
        }
    }

    // Fragmentation.
    section(ui, "Fragmentation");
    match &d.fragmentation.worst {
        Some(w) if w.reserved > 0 => {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!(
                    "At its worst (event {}), {} of {} reserved was free but split: the \
                     largest free block was {} ({:.0}% external fragmentation), so {} could \
                     not serve one large request.{}",
                    w.event,
                    short_bytes(w.reserved_unallocated),
                    short_bytes(w.reserved),
                    short_bytes(w.largest_free_block),
                    w.external * 100.0,
                    short_bytes(w.stranded),
                    crate::output::words::all_pools_caveat(d)
                ));
                if ui.link("Show the segments then").clicked() {
                    cx.focus.jump_to(w.event, ViewId::Segments);
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
            units::bytes(end.allocated),
            units::bytes(end.reserved),
            end.segments
        ));
    }
}

/// Every leak suspect, each a link to its evidence.
fn leak_list(ui: &mut Ui, cx: &mut ViewCtx) {
    let d = cx.analysis;
    for leak in &d.leaks {
        ui.horizontal_wrapped(|ui| {
            swatch(ui, cx.site_color(leak.site));
            let label = cx.site_label(leak.site);
            let link = ui
                .link(RichText::new(&label).monospace())
                .on_hover_text("Show in the Leaks view and select it");
            if link.clicked() {
                cx.focus.show_site(leak.site, ViewId::Leaks);
            }
            if ui
                .small_button("timeline")
                .on_hover_text("Show its band in the memory timeline")
                .clicked()
            {
                cx.focus.show_site(leak.site, ViewId::Timeline);
            }
            ui.label(format!(
                "in {}() grows by {} per iteration over {} and holds {} in {} at the end \
                 (confidence {:.0}%).",
                leak.function,
                short_bytes(leak.growth_bytes_per_iteration.max(0.0) as u64),
                units::count(leak.iterations as u64, "iteration"),
                short_bytes(leak.live_bytes),
                units::count(leak.live_blocks, "block"),
                leak.confidence * 100.0
            ));
        });
    }
}

/// An OOM's fix, what held the memory, and links to the segments and the timeline there.
fn oom_details(ui: &mut Ui, cx: &mut ViewCtx, o: &OomReport) {
    let d = cx.analysis;
    ui.label(words::oom_advice(d, o));
    if let Some(top) = o.by_site.first() {
        ui.label(format!(
            "Largest live call site at the failure: {} with {}.",
            words::site_with_function(d, top.site),
            short_bytes(top.bytes)
        ));
    }
    ui.horizontal_wrapped(|ui| {
        if ui
            .link("Show the segments at this OOM")
            .on_hover_text("Segments view with the cursor on the failed allocation")
            .clicked()
        {
            cx.focus.jump_to(o.event, ViewId::Segments);
        }
        if ui.link("Show in the timeline").clicked() {
            cx.focus.jump_to(o.event, ViewId::Timeline);
        }
    });
}

/// One line per device with its headline, so that a problem on another GPU is never hidden
/// behind a clean first device; each links to that device.
fn every_device(ui: &mut Ui, cx: &mut ViewCtx) {
    let dark = cx.dark();
    let variant = cx.loaded.snap.format.variant;
    let mut go = None;
    ui.add_space(4.0);
    ui.label(RichText::new("Every device").strong());
    for (i, dd) in cx.loaded.devices.iter().enumerate() {
        let Some(dev) = cx.loaded.analysis.devices.get(dd.index) else {
            continue;
        };
        let list = findings::findings(dev, variant);
        let Some(head) = findings::headline(&list) else {
            continue;
        };
        let text = words::finding(head, dev);
        ui.horizontal_wrapped(|ui| {
            let name = format!("cuda:{}", dev.device);
            if i == cx.focus.device {
                ui.label(RichText::new(name).monospace().strong());
            } else if ui.link(RichText::new(name).monospace()).clicked() {
                go = Some(i);
            }
            ui.label(RichText::new(&text.title).color(severity_color(ui, text.severity, dark)));
        });
    }
    if let Some(i) = go {
        cx.focus.set_device(i);
    }
}

fn severity_color(ui: &Ui, s: Severity, dark: bool) -> egui::Color32 {
    match s {
        Severity::Problem => theme::oom(dark),
        Severity::Warning => theme::warn(dark),
        Severity::Note => ui.visuals().weak_text_color(),
        Severity::Ok => theme::good(dark),
    }
}
