//! What if: the recorded requests replayed through memsight's model of the caching allocator
//! under other settings or another cap, side by side with the recording, with reserved memory
//! of every scenario overlaid on one chart. The simulations run on a worker thread.

use std::sync::Arc;
use std::time::Instant;

use egui::{Color32, Rect, RichText, Sense, Stroke, Ui};
use rayon::prelude::*;

use crate::model::Snapshot;
use crate::units;
use crate::whatif::{self, Recorded, Scenario, Settings, SimResult};

use crate::ui::job::{Job, Pending, Repaint};
use crate::ui::plot;
use crate::ui::view::{fixed_cell, section, swatch, text_width, View, ViewCtx};

/// One-click variants: the settings users reach for after an OOM.
/// Width of the chart's byte axis labels.
const AXIS_W: f32 = 60.0;

const PRESETS: [(&str, &str); 4] = [
    ("expandable segments", "expandable_segments:True"),
    ("max split 256 MiB", "max_split_size_mb:256"),
    ("round up in 4 divisions", "roundup_power2_divisions:4"),
    ("GC at 60%", "garbage_collection_threshold:0.6"),
];

/// The measures of the results table, one row each, with what they mean (on hover).
const MEASURES: [(&str, &str); 5] = [
    ("cap", "The memory the allocator may reserve"),
    (
        "peak reserved",
        "The most memory held from the driver at once",
    ),
    (
        "peak allocated",
        "The most memory in blocks the program held at once",
    ),
    (
        "unallocated at peak",
        "Reserved but not allocated when reserved peaked",
    ),
    (
        "segment calls",
        "cudaMalloc calls, plus page mappings under expandable segments, over the whole run \
         (not the segments held at the end)",
    ),
];

/// A scenario's name in the results table's header at most (cut with "...", whole on hover).
const SCENARIO_W: f32 = 200.0;

/// One scenario's column of the results table.
struct Column {
    name: String,
    /// A variant's settings are code: monospace.
    mono: bool,
    color: Color32,
    /// The texts of the `MEASURES` rows.
    values: [String; 5],
    /// Its OOMs: event and the bytes requested.
    ooms: Vec<(usize, u64)>,
}

/// Colours of the variants' lines (the recording is drawn in the text colour).
const VARIANT_COLORS: [Color32; 6] = [
    Color32::from_rgb(0x2e, 0x86, 0xde),
    Color32::from_rgb(0xe6, 0x7e, 0x22),
    Color32::from_rgb(0x27, 0xae, 0x60),
    Color32::from_rgb(0x8e, 0x44, 0xad),
    Color32::from_rgb(0xc0, 0x39, 0x2b),
    Color32::from_rgb(0x16, 0xa0, 0x85),
];

/// The What-if view of one tab: the variants typed, the simulation running or done.
pub struct WhatIfView {
    /// One variant per line, `PYTORCH_CUDA_ALLOC_CONF` style (`key:value,key:value`), applied
    /// on top of the recorded settings.
    pub variants: String,
    /// Memory cap for the variants (`3GiB`); empty: the cap the recording ran under.
    pub cap: String,
    /// The simulations running, and the device they are of.
    job: Pending<usize, Outcome>,
    /// The last outcome and the device it belongs to.
    outcome: Option<(usize, Arc<Outcome>)>,
    error: Option<String>,
    /// The default variant runs once when the view first opens, so it never starts empty.
    started: bool,
}

impl Default for WhatIfView {
    fn default() -> Self {
        WhatIfView {
            variants: PRESETS[0].1.to_string(),
            cap: String::new(),
            job: Pending::default(),
            outcome: None,
            error: None,
            started: false,
        }
    }
}

/// What a run found.
pub struct Outcome {
    pub recorded: Recorded,
    pub variants: Vec<(String, SimResult)>,
    pub requests: usize,
    pub ms: f64,
}

impl WhatIfView {
    /// Whether a simulation is running (the panel then keeps repainting).
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// The last finished simulations and the device they belong to.
    pub fn outcome(&self) -> Option<(usize, &Outcome)> {
        self.outcome.as_ref().map(|(d, o)| (*d, o.as_ref()))
    }

    /// Starts the simulations of the current variants on a worker thread.
    pub fn start(&mut self, snap: Arc<Snapshot>, device: usize, repaint: Repaint) {
        self.started = true;
        self.error = None;
        let cap = match self.cap.trim() {
            "" => None,
            t => match units::parse_size(t) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.error = Some(format!("cap: {e}"));
                    return;
                }
            },
        };
        let base = Settings::from_snapshot(&snap);
        let mut scenarios = Vec::new();
        for line in self
            .variants
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let mut s = base.clone();
            if let Err(e) = s.apply_conf(line) {
                self.error = Some(format!("{line}: {e}"));
                return;
            }
            scenarios.push((line.to_string(), s));
        }
        if scenarios.is_empty() {
            self.error = Some("give at least one variant, e.g. expandable_segments:True".into());
            return;
        }
        let job = Job::spawn("memsight-whatif", repaint, move |_| {
            let t = Instant::now();
            let recorded_settings = Settings::from_snapshot(&snap);
            let recorded_cap = whatif::infer_cap(&snap, device);
            let stream = whatif::extract(&snap, device, &recorded_settings, recorded_cap);
            let mut recorded =
                whatif::recorded_from(&snap, &stream, recorded_cap, whatif::DEFAULT_DEVICE_TOTAL);
            recorded.cap_inferred = recorded_cap.is_some();
            let cap = cap.or(recorded.cap);
            let variants = scenarios
                .into_par_iter()
                .map(|(label, s)| {
                    let sim = whatif::simulate_stream(&stream, &Scenario::new(s, cap));
                    (label, sim)
                })
                .collect();
            Outcome {
                recorded,
                variants,
                requests: stream.requests.len(),
                ms: t.elapsed().as_secs_f64() * 1e3,
            }
        });
        self.job.start(device, job);
    }

    fn poll(&mut self) {
        match self.job.take() {
            None => {}
            Some((device, Ok(o))) => self.outcome = Some((device, Arc::new(o))),
            Some((_, Err(_))) => self.error = Some("the simulation stopped unexpectedly".into()),
        }
    }
}

impl View for WhatIfView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        show(self, ui, cx);
    }
}

/// The view scrolls as a whole: its table and chart are taller than a small window.
fn show(st: &mut WhatIfView, ui: &mut Ui, cx: &mut ViewCtx) {
    egui::ScrollArea::vertical()
        .id_salt("whatif")
        .auto_shrink([false, false])
        .show(ui, |ui| body(st, ui, cx));
}

fn body(st: &mut WhatIfView, ui: &mut Ui, cx: &mut ViewCtx) {
    let device = cx.analysis.device;
    if !st.started {
        st.start(cx.loaded.snap.clone(), device, cx.env.repaint.clone());
    }
    st.poll();
    if st.busy() {
        ui.ctx().request_repaint();
    }
    section(ui, "What if the allocator had other settings?");
    ui.label(
        "memsight replays the requests this program made through a model of PyTorch's caching \
         allocator (pools, rounding, splitting, max_split_size_mb, garbage collection, \
         expandable segments, the memory cap). Under the recorded settings the model makes the \
         same segment calls as the recording; under yours it shows what would have happened.",
    );
    ui.add_space(6.0);
    ui.horizontal_wrapped(|ui| {
        ui.label("Presets:");
        for (label, conf) in PRESETS {
            let clicked = ui
                .button(label)
                .on_hover_text(format!("Add the variant {conf}"))
                .clicked();
            if clicked && !st.variants.lines().any(|l| l.trim() == conf) {
                if !st.variants.trim().is_empty() && !st.variants.ends_with('\n') {
                    st.variants.push('\n');
                }
                st.variants.push_str(conf);
            }
        }
    });
    ui.label("Variants, one per line (key:value,key:value on top of the recorded settings):");
    ui.add(
        egui::TextEdit::multiline(&mut st.variants)
            .code_editor()
            .desired_rows(3)
            .desired_width(f32::INFINITY),
    );
    ui.horizontal(|ui| {
        ui.label("Memory cap:");
        ui.add(
            egui::TextEdit::singleline(&mut st.cap)
                .hint_text("recorded")
                .desired_width(90.0),
        )
        .on_hover_text("Like torch.cuda.set_per_process_memory_fraction, e.g. 3GiB. Empty: the cap the recording ran under.");
        let run = ui.add_enabled(!st.busy(), egui::Button::new("Simulate"));
        if run.clicked() {
            st.start(cx.loaded.snap.clone(), device, cx.env.repaint.clone());
        }
        if st.busy() {
            ui.spinner();
            ui.label("simulating...");
        }
    });
    if let Some(e) = &st.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    let Some((dev, outcome)) = st.outcome.clone() else {
        return;
    };
    if dev != device {
        ui.label("Simulate again for this device.");
        return;
    }
    ui.add_space(8.0);
    results_table(ui, &outcome);
    ui.add_space(8.0);
    section(ui, "Reserved memory over the trace");
    chart(ui, cx, &outcome);
}

fn cap_text(cap: Option<u64>, inferred: bool) -> String {
    match cap {
        Some(c) if inferred => format!("{} (inferred)", units::bytes(c)),
        Some(c) => units::bytes(c),
        None => "none".into(),
    }
}

fn results_table(ui: &mut Ui, o: &Outcome) {
    ui.label(
        RichText::new(format!(
            "{} requests replayed, {} scenario(s) in {:.0} ms",
            o.requests,
            o.variants.len() + 1,
            o.ms
        ))
        .weak(),
    );
    let rec = &o.recorded;
    // One column per scenario and one row per measure: a row per scenario with a column per
    // measure was wider than the panel of a small window.
    let mut scenarios: Vec<Column> = vec![Column {
        name: "recorded".into(),
        mono: false,
        color: ui.visuals().text_color(),
        values: [
            cap_text(rec.cap, rec.cap_inferred),
            units::bytes(rec.peak_reserved),
            units::bytes(rec.peak_allocated),
            units::bytes(rec.unallocated_at_peak),
            rec.segments_allocated.to_string(),
        ],
        ooms: rec.ooms.iter().map(|&(e, r)| (e as usize, r)).collect(),
    }];
    for (k, (label, sim)) in o.variants.iter().enumerate() {
        scenarios.push(Column {
            name: label.clone(),
            mono: true,
            color: VARIANT_COLORS[k % VARIANT_COLORS.len()],
            values: [
                cap_text(sim.scenario.cap, false),
                units::bytes(sim.peak_reserved),
                units::bytes(sim.peak_allocated),
                units::bytes(sim.unallocated_at_peak),
                sim.segments_allocated.to_string(),
            ],
            ooms: sim
                .ooms
                .iter()
                .map(|f| (f.event as usize, f.requested))
                .collect(),
        });
    }
    egui::ScrollArea::horizontal()
        .id_salt("whatif_table")
        .auto_shrink([false, true])
        .show(ui, |ui| {
            egui::Grid::new("whatif_table")
                .striped(true)
                .num_columns(scenarios.len() + 1)
                .spacing([16.0, 4.0])
                .show(ui, |ui| {
                    ui.label(RichText::new("scenario").strong())
                        .on_hover_text("The allocator settings replayed");
                    for c in &scenarios {
                        let mut name = RichText::new(&c.name).strong();
                        if c.mono {
                            name = name.monospace();
                        }
                        // The swatch, the space after it and the name.
                        let w = (text_width(ui, name.clone()) + 12.0 + ui.spacing().item_spacing.x)
                            .min(SCENARIO_W);
                        fixed_cell(ui, w, |ui| {
                            swatch(ui, c.color);
                            ui.add(egui::Label::new(name).truncate());
                        });
                    }
                    ui.end_row();
                    for (row, (h, tip)) in MEASURES.iter().enumerate() {
                        ui.label(RichText::new(*h).strong()).on_hover_text(*tip);
                        for c in &scenarios {
                            ui.label(&c.values[row]);
                        }
                        ui.end_row();
                    }
                    ui.label(RichText::new("OOMs").strong())
                        .on_hover_text("Requests the allocator could not serve");
                    for c in &scenarios {
                        match c.ooms.first() {
                            None => {
                                ui.label(
                                    RichText::new("none")
                                        .color(Color32::from_rgb(0x27, 0xae, 0x60)),
                                );
                            }
                            Some((e, r)) => {
                                let n = c.ooms.len();
                                ui.label(
                                    RichText::new(format!("{n}, first at {e}"))
                                        .color(ui.visuals().error_fg_color),
                                )
                                .on_hover_text(format!(
                                    "{n} OOM{}, the first at event {e}, a request of {}",
                                    units::plural(n),
                                    units::bytes(*r)
                                ));
                            }
                        }
                    }
                    ui.end_row();
                });
        });
    for (e, r) in &rec.ooms {
        let fate: Vec<String> = o
            .variants
            .iter()
            .map(|(label, sim)| {
                let failed = sim.ooms.iter().any(|x| x.event == *e);
                format!("{label}: {}", if failed { "still fails" } else { "served" })
            })
            .collect();
        ui.label(format!(
            "Recorded OOM at event {e} ({}): {}",
            units::bytes(*r),
            fate.join("; ")
        ));
    }
}

/// Reserved memory of the recording (exact replay) and of each variant (per request), one
/// maximum per pixel column, on one scale.
fn chart(ui: &mut Ui, cx: &ViewCtx, o: &Outcome) {
    let width = ui.available_width().max(200.0);
    let (outer, resp) = ui.allocate_exact_size(egui::vec2(width, 220.0), Sense::hover());
    let painter = ui.painter_at(outer);
    let visuals = ui.visuals();
    // The plot, with the byte axis's labels to its left.
    let rect = Rect::from_min_max(outer.min + egui::vec2(AXIS_W, 0.0), outer.max);
    painter.rect_filled(rect, 4.0, visuals.extreme_bg_color);
    let events = cx.analysis.events.max(1);
    let cols = (rect.width() as usize).max(1);
    let col_of = |e: usize| (e * cols / events).min(cols - 1);
    // Max per column; a column without an event keeps the level of the one before (the
    // counters are a step function of the event index).
    let columns = |points: &mut dyn Iterator<Item = (usize, u64)>| -> Vec<u64> {
        let mut v: Vec<Option<u64>> = vec![None; cols];
        for (e, b) in points {
            let c = &mut v[col_of(e)];
            *c = Some(c.map_or(b, |x| x.max(b)));
        }
        let mut last = 0;
        v.into_iter()
            .map(|x| {
                last = x.unwrap_or(last);
                last
            })
            .collect()
    };
    let mut lines: Vec<(Color32, Vec<u64>)> = Vec::new();
    let recorded = columns(
        &mut cx
            .analysis
            .replay
            .series
            .reserved
            .iter()
            .copied()
            .enumerate(),
    );
    lines.push((visuals.text_color(), recorded));
    for (k, (_, sim)) in o.variants.iter().enumerate() {
        let mut points = sim
            .series
            .event
            .iter()
            .zip(&sim.series.reserved)
            .map(|(&e, &r)| (e as usize, r));
        lines.push((
            VARIANT_COLORS[k % VARIANT_COLORS.len()],
            columns(&mut points),
        ));
    }
    let top = lines
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .chain(o.variants.iter().filter_map(|(_, s)| s.scenario.cap))
        .max()
        .unwrap_or(1)
        .max(1) as f32
        * 1.08;
    let y_of = |b: u64| rect.bottom() - 6.0 - (b as f32 / top) * (rect.height() - 12.0);
    let x_of = |c: usize| rect.left() + c as f32 + 0.5;
    plot::byte_grid(&painter, rect, top as f64, |b| y_of(b as u64), cx.dark());
    if let Some(cap) = o.recorded.cap {
        let y = y_of(cap);
        painter.line_segment(
            [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
            Stroke::new(1.0, visuals.warn_fg_color),
        );
        painter.text(
            egui::pos2(rect.left() + 4.0, y - 2.0),
            egui::Align2::LEFT_BOTTOM,
            format!("cap {}", units::bytes(cap)),
            egui::FontId::proportional(11.0),
            visuals.warn_fg_color,
        );
    }
    for (color, v) in &lines {
        let pts: Vec<egui::Pos2> = v
            .iter()
            .enumerate()
            .map(|(c, &b)| egui::pos2(x_of(c), y_of(b)))
            .collect();
        painter.add(egui::Shape::line(pts, Stroke::new(1.5, *color)));
    }
    // OOMs of each scenario as ticks at the bottom.
    for (e, _) in &o.recorded.ooms {
        let x = x_of(col_of(*e as usize));
        painter.line_segment(
            [
                egui::pos2(x, rect.bottom() - 14.0),
                egui::pos2(x, rect.bottom()),
            ],
            Stroke::new(2.0, visuals.text_color()),
        );
    }
    for (k, (_, sim)) in o.variants.iter().enumerate() {
        for oom in &sim.ooms {
            let x = x_of(col_of(oom.event as usize));
            painter.line_segment(
                [
                    egui::pos2(x, rect.bottom() - 14.0),
                    egui::pos2(x, rect.bottom()),
                ],
                Stroke::new(2.0, VARIANT_COLORS[k % VARIANT_COLORS.len()]),
            );
        }
    }
    if let Some(p) = resp.hover_pos().filter(|p| p.x >= rect.left()) {
        let c = ((p.x - rect.left()) as usize).min(cols - 1);
        let e = c * events / cols;
        let mut text = format!("event {e}\nrecorded: {}", units::bytes(lines[0].1[c]));
        for ((label, _), (_, v)) in o.variants.iter().zip(&lines[1..]) {
            text.push_str(&format!("\n{label}: {}", units::bytes(v[c])));
        }
        resp.on_hover_text_at_pointer(text);
    }
}
