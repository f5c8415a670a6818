//! The bar above a loaded file's views: the view switcher, then the device and the filters.
//! Both rows wrap in a narrow window rather than run under the Stack panel.

use egui::{RichText, Ui};

use super::commands::Command;
use super::data::Loaded;
use super::filters::{Filter, Pool};
use super::focus::{Focus, ViewId};
use super::job::Repaint;

/// View switcher and filters of a loaded file.
pub fn view_bar(ui: &mut Ui, l: &Loaded, focus: &mut Focus, repaint: Repaint) {
    ui.add_space(2.0);
    ui.horizontal_wrapped(|ui| {
        for v in ViewId::ALL {
            let key = Command::Show(v).shortcut_text(ui.ctx());
            ui.selectable_value(&mut focus.view, v, RichText::new(v.label()).size(15.0))
                .on_hover_text(format!("{}  (key {key})", v.tooltip()));
        }
    });
    ui.horizontal_wrapped(|ui| {
        let mut f: Filter = focus.filtered.filter.clone();
        let mut device = focus.device;
        let label = ui.label("device");
        if l.devices.len() > 1 {
            egui::ComboBox::from_id_salt("device")
                .selected_text(format!(
                    "cuda:{}",
                    l.analysis
                        .devices
                        .get(l.devices[device].index)
                        .map(|d| d.device)
                        .unwrap_or(0)
                ))
                .show_ui(ui, |ui| {
                    for (i, dd) in l.devices.iter().enumerate() {
                        if let Some(a) = l.analysis.devices.get(dd.index) {
                            ui.selectable_value(
                                &mut device,
                                i,
                                format!("cuda:{} ({} events)", a.device, a.events),
                            );
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        } else if let Some(a) = l
            .devices
            .first()
            .and_then(|dd| l.analysis.devices.get(dd.index))
        {
            ui.label(format!("cuda:{}", a.device));
        }
        if device != focus.device {
            focus.set_device(device);
            return;
        }
        let Some(dd) = l.devices.get(focus.device) else {
            return;
        };
        ui.separator();
        // Streams by number (`DeviceData::stream_name`); the raw handle is in the tooltip.
        let stream_name = |s: u64| dd.stream_name(s);
        let label = ui.label("stream");
        egui::ComboBox::from_id_salt("stream")
            .width(90.0)
            .selected_text(f.stream.map_or("all".to_string(), stream_name))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.stream, None, "all");
                for &s in &dd.streams {
                    ui.selectable_value(&mut f.stream, Some(s), stream_name(s))
                        .on_hover_text(format!("CUDA stream handle {s:#x}"));
                }
            })
            .response
            .labelled_by(label.id);
        let label = ui.label("pool");
        let no_pools = crate::analysis::pools::Pools::default();
        let pools = l
            .analysis
            .devices
            .get(dd.index)
            .map_or(&no_pools, |a| &a.pools);
        egui::ComboBox::from_id_salt("pool")
            .width(if pools.has_private() { 170.0 } else { 70.0 })
            .selected_text(f.pool.label(pools))
            .show_ui(ui, |ui| {
                // The dump's pools only where there is more than the default one.
                let listed = if pools.has_private() {
                    pools.pools.len()
                } else {
                    0
                };
                let each_pool = (0..listed as u16).map(Pool::Of);
                for p in [Pool::All, Pool::Small, Pool::Large]
                    .into_iter()
                    .chain(each_pool)
                {
                    ui.selectable_value(&mut f.pool, p, p.label(pools));
                }
            })
            .response
            .labelled_by(label.id);
        ui.label("min size");
        let mut mib = f.min_size as f64 / (1u64 << 20) as f64;
        if ui
            .add(
                egui::DragValue::new(&mut mib)
                    .speed(0.5)
                    .range(0.0..=1e6)
                    .suffix(" MiB"),
            )
            .on_hover_text("Only blocks at least this large")
            .changed()
        {
            f.min_size = (mib * (1u64 << 20) as f64) as u64;
        }
        ui.add(
            egui::TextEdit::singleline(&mut f.text)
                .hint_text("filter frames (file or function)")
                .desired_width(220.0),
        );
        if !f.is_empty() && ui.small_button("clear filters").clicked() {
            f = Filter::default();
        }
        if f != focus.filtered.filter {
            focus.filtered.set(f, l, focus.device, repaint);
        }
    });
    ui.add_space(2.0);
}
