//! Call tree: the memory live at the time cursor by full stack, as an icicle (outermost frames
//! on top, widths to scale), with the callees of the node in focus (top-down) and the frames
//! that allocated most themselves (bottom-up). Growth mode draws the same tree against an
//! earlier moment: red for what grew, green for what shrank.
//!
//! Above the stack the tree can hold groups (annotation ranges, compile contexts, the user's
//! categories, edited in `categories.rs`); the grouping is the focus's, so the timeline's colours
//! follow it. A click on a node picks the allocations under it in every view ([`pick`]).
//!
//! Trees are built on a worker ([`Job`]): a few milliseconds on a 1M-event trace
//! (BENCHMARKS.md), but a frame has 16. Each is kept until what it depends on changes.

use std::sync::Arc;

use egui::{pos2, vec2, Color32, Rect, RichText, Sense, Stroke, Ui};

mod categories;

use crate::analysis::calltree::{CallTree, Frames, TreeOptions};
use crate::analysis::DeviceAnalysis;
use crate::model::Snapshot;
use crate::output::flamegraph;
use crate::ui::data::{largest_site, live_by_site};
pub use crate::ui::focus::GroupBy;
use crate::ui::focus::Picked;
use crate::ui::job::{Job, Pending};
use crate::ui::theme;
use crate::ui::view::{fitted_table, section, short_bytes, text_width, Cell, View, ViewCtx};
use crate::units;

const ROW_H: f32 = 20.0;
/// Characters of a frame name in the callee table at most (fewer where the column is narrower).
const NAME_CHARS: usize = 48;
/// The name column of the callee and line tables at least, however narrow the panel.
const MIN_NAME_W: f32 = 80.0;
/// Rows of the bottom-up list.
const BOTTOM_UP_ROWS: usize = 25;

/// The moment a growth tree is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Since {
    /// No growth: the memory live at the cursor.
    #[default]
    Nothing,
    /// The first event of the trace.
    FirstEvent,
    /// The last iteration boundary before the cursor.
    PreviousIteration,
    /// Just before the k-th `snapshot` marker (0-based), as `--from marker:K`.
    Marker(usize),
}

impl Since {
    fn label(self) -> String {
        match self {
            Since::Nothing => "nothing (live memory)".into(),
            Since::FirstEvent => "the first event".into(),
            Since::PreviousIteration => "the previous iteration".into(),
            Since::Marker(k) => format!("marker {k}"),
        }
    }
}

/// Markers offered in the Growth since list (a trace can hold thousands).
const MAX_MARKERS: usize = 64;

/// What a tree depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TreeKey {
    epoch: u64,
    cursor: usize,
    /// The event a growth tree grows from.
    base: Option<usize>,
    frames: Frames,
    group: GroupBy,
    /// The user's categories when grouping by them (empty otherwise).
    categories: String,
}

impl TreeKey {
    /// Whether `self` and `other` are the same tree at other moments (a zoom carries over).
    fn same_shape(&self, other: &TreeKey) -> bool {
        (self.frames, self.group, &self.categories)
            == (other.frames, other.group, &other.categories)
    }
}

/// A tree with what the view shows of it.
pub struct Built {
    pub tree: CallTree,
    /// Display name of every node.
    pub names: Vec<String>,
    /// The lines of code holding the most memory at the tree's moment (the innermost frame of
    /// the user's own code, as the timeline's bands): (label, bytes, blocks), largest first.
    pub bottom_up: Vec<(String, u64, u64)>,
}

impl Built {
    fn new(tree: CallTree, snap: &Snapshot, d: &DeviceAnalysis) -> Built {
        let names = flamegraph::names(snap, &tree);
        let bottom_up = match tree.event {
            Some(t) => live_by_site(d, t)
                .into_iter()
                .take(BOTTOM_UP_ROWS)
                .map(|s| {
                    let label = d.sites.get(s.site).map_or_else(
                        || "<unknown>".to_string(),
                        |c| format!("{} {}", c.short_label(), c.function),
                    );
                    (label, s.bytes, s.blocks)
                })
                .collect(),
            None => Vec::new(),
        };
        Built {
            tree,
            names,
            bottom_up,
        }
    }
}

/// The Call tree view's options and its current tree (the grouping is the focus's, shared
/// with the timeline's colours).
pub struct CallTreeView {
    pub frames: Frames,
    pub since: Since,
    pub search: String,
    /// The node the icicle is zoomed into.
    pub zoom: u32,
    built: Option<(TreeKey, Arc<Built>)>,
    job: Pending<TreeKey, Built>,
    checked: categories::Checked,
    /// The node this view picked last, with the pick's id (outlined while still picked).
    picked_node: Option<(u64, u32)>,
}

impl Default for CallTreeView {
    /// Library frames folded: a model's memory reads by the user's own calls first.
    fn default() -> Self {
        CallTreeView {
            frames: Frames::FoldLibrary,
            since: Since::default(),
            search: String::new(),
            zoom: 0,
            built: None,
            job: Pending::default(),
            checked: categories::Checked::default(),
            picked_node: None,
        }
    }
}

impl CallTreeView {
    /// The current tree, once built for the cursor in view.
    pub fn tree(&self) -> Option<&Built> {
        self.built.as_ref().map(|(_, b)| b.as_ref())
    }

    fn key(&self, cx: &ViewCtx) -> TreeKey {
        let d = cx.analysis;
        let cursor = cx.focus.cursor.min(d.events.saturating_sub(1));
        let base = match self.since {
            Since::Nothing => None,
            Since::FirstEvent => Some(0),
            Since::PreviousIteration => d
                .iterations
                .boundaries
                .iter()
                .rev()
                .find(|&&b| b < cursor)
                .copied(),
            Since::Marker(k) => {
                crate::analysis::point::resolve(d, crate::analysis::point::Point::Marker(k as i64))
                    .ok()
                    .flatten()
            }
        };
        let group = cx.focus.group;
        TreeKey {
            epoch: cx.focus.epoch,
            cursor,
            base,
            frames: self.frames,
            group,
            categories: if group == GroupBy::Categories {
                cx.env.preferences.categories.clone()
            } else {
                String::new()
            },
        }
    }

    /// Starts building the tree for `key` unless it is built or being built.
    fn refresh(&mut self, cx: &ViewCtx, key: TreeKey) {
        if self.built.as_ref().is_some_and(|(k, _)| *k == key) || self.job.is_for(&key) {
            return;
        }
        let snap = cx.loaded.snap.clone();
        let analysis = cx.loaded.analysis.clone();
        let index = cx.data.index;
        let opts = TreeOptions {
            frames: key.frames,
            group: key.group.group(&key.categories),
            ..TreeOptions::default()
        };
        let (cursor, base) = (key.cursor, key.base);
        let traced = cx.analysis.events > 0;
        let job = Job::spawn("memsight-calltree", cx.env.repaint.clone(), move |_| {
            let d = &analysis.devices[index];
            let at = traced.then_some(cursor);
            let tree = match base {
                Some(b) => CallTree::growth(
                    &snap,
                    d,
                    crate::analysis::point::Point::Event(b),
                    crate::analysis::point::Point::Event(cursor),
                    &opts,
                )
                .unwrap_or_else(|_| CallTree::at_event(&snap, d, at, &opts)),
                None => CallTree::at_event(&snap, d, at, &opts),
            };
            Built::new(tree, &snap, d)
        });
        self.job.start(key, job);
    }

    fn poll(&mut self) {
        let Some((key, Ok(b))) = self.job.take() else {
            return;
        };
        let keep_zoom = self.built.as_ref().is_some_and(|(k, _)| k.same_shape(&key))
            && (self.zoom as usize) < b.tree.nodes.len();
        if !keep_zoom {
            self.zoom = 0;
        }
        self.built = Some((key, Arc::new(b)));
        // Node numbers belong to one tree.
        self.picked_node = None;
    }

    /// Whether a tree is being built (the app then keeps repainting).
    pub fn busy(&self) -> bool {
        self.job.busy()
    }
}

impl View for CallTreeView {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewCtx) {
        let key = self.key(cx);
        self.refresh(cx, key.clone());
        self.poll();
        toolbar(ui, self, cx);
        if cx.focus.group == GroupBy::Categories {
            categories::editor(ui, &mut self.checked, cx);
        }
        let Some((built_key, built)) = self.built.clone() else {
            ui.spinner();
            return;
        };
        if built_key != key {
            ui.label(
                RichText::new("updating for the new cursor...")
                    .weak()
                    .small(),
            );
        }
        let b = &built;
        let zoom = (self.zoom as usize).min(b.tree.nodes.len() - 1) as u32;
        breadcrumbs(ui, self, b, zoom);
        let avail = ui.available_height();
        egui::ScrollArea::vertical()
            .id_salt("icicle")
            .max_height((avail * 0.55).max(160.0))
            .auto_shrink([false, true])
            .show(ui, |ui| icicle(ui, self, cx, b, zoom));
        ui.separator();
        ui.columns(2, |cols| {
            top_down(&mut cols[0], self, b, zoom);
            bottom_up(&mut cols[1], b);
        });
    }
}

fn toolbar(ui: &mut Ui, v: &mut CallTreeView, cx: &mut ViewCtx) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Frames:");
        ui.selectable_value(&mut v.frames, Frames::All, "all");
        ui.selectable_value(&mut v.frames, Frames::FoldLibrary, "fold library")
            .on_hover_text("Runs of PyTorch, installed-package and C++ frames become one node");
        ui.selectable_value(&mut v.frames, Frames::FoldNative, "fold C++")
            .on_hover_text("A stack's C++ frames become one node");
        ui.separator();
        ui.label("Group by:");
        for g in [
            GroupBy::Stack,
            GroupBy::Annotation,
            GroupBy::CompileContext,
            GroupBy::Categories,
        ] {
            let hover = if g == GroupBy::Stack {
                g.tooltip().to_string()
            } else {
                format!(
                    "{}, above the stack; the timeline takes its colours from them",
                    g.tooltip()
                )
            };
            if ui
                .selectable_label(cx.focus.group == g, g.label())
                .on_hover_text(hover)
                .clicked()
            {
                cx.focus.set_group(g);
            }
        }
        ui.separator();
        ui.label("Growth since:");
        egui::ComboBox::from_id_salt("since")
            .selected_text(v.since.label())
            .show_ui(ui, |ui| {
                let markers = (0..cx.analysis.markers.len().min(MAX_MARKERS)).map(Since::Marker);
                for s in [Since::Nothing, Since::FirstEvent, Since::PreviousIteration]
                    .into_iter()
                    .chain(markers)
                {
                    ui.selectable_value(&mut v.since, s, s.label());
                }
            });
        ui.separator();
        ui.label("Search:");
        ui.add(
            egui::TextEdit::singleline(&mut v.search)
                .hint_text("function or file")
                .desired_width(160.0),
        );
        if v.busy() {
            ui.spinner();
        }
        if cx.analysis.events == 0 {
            ui.label(RichText::new("(the dump: this device has no trace)").weak());
        }
    });
}

fn breadcrumbs(ui: &mut Ui, v: &mut CallTreeView, b: &Built, zoom: u32) {
    let t = &b.tree;
    let root = t.root();
    ui.horizontal_wrapped(|ui| {
        let at = match t.event {
            Some(e) => format!("after event {e}"),
            None => "at the dump".to_string(),
        };
        let headline = match t.base_event {
            Some(base) => format!(
                "Growth from event {} to {at}: {} now, {} then",
                base.map_or("-".into(), |e| e.to_string()),
                short_bytes(root.total.bytes),
                short_bytes(root.total.base_bytes)
            ),
            None => format!(
                "Live {at}: {} in {}",
                short_bytes(root.total.bytes),
                units::count(root.total.blocks, "block")
            ),
        };
        ui.label(RichText::new(headline).strong());
    });
    if zoom != 0 {
        ui.horizontal_wrapped(|ui| {
            for n in t.path(zoom) {
                if ui.link(b.names[n as usize].as_str()).clicked() {
                    v.zoom = n;
                }
                ui.label(">");
            }
        });
    }
}

/// The colour of a node: by name normally; by growth in growth mode.
fn node_color(b: &Built, n: u32, max_delta: f64, dark: bool) -> Color32 {
    // Muted: the icicle is large, and the text on it must stay readable.
    let node = &b.tree.nodes[n as usize];
    if b.tree.is_growth() {
        let d = node.total.delta();
        let t = (d.unsigned_abs() as f64 / max_delta.max(1.0)).clamp(0.15, 1.0) as f32;
        let c = match d.signum() {
            1 => theme::oom(dark),
            -1 => theme::good(dark),
            _ => return theme::other(dark),
        };
        c.gamma_multiply(0.35 + 0.65 * t)
    } else {
        // A group's colour is the timeline's for the same group (theme::group_color).
        theme::group_color(&b.names[n as usize], dark).gamma_multiply(0.8)
    }
}

fn icicle(ui: &mut Ui, v: &mut CallTreeView, cx: &mut ViewCtx, b: &Built, zoom: u32) {
    let t = &b.tree;
    let z = t.nodes[zoom as usize];
    let growth = t.is_growth();
    // In growth mode widths follow the larger of the two moments, so shrinking nodes show.
    let weight = |n: &crate::analysis::calltree::Node| {
        if growth {
            n.total.bytes.max(n.total.base_bytes)
        } else {
            n.total.bytes
        }
    };
    let xs = t.layout(zoom, weight);
    let depth = (zoom as usize..z.end as usize)
        .map(|i| t.nodes[i].depth - z.depth)
        .max()
        .unwrap_or(0);
    let width = ui.available_width();
    let (resp, painter) =
        ui.allocate_painter(vec2(width, (depth + 1) as f32 * ROW_H), Sense::click());
    let dark = cx.dark();
    let total = weight(&z).max(1) as f64;
    let max_delta = (zoom as usize..z.end as usize)
        .map(|i| t.nodes[i].total.delta().unsigned_abs())
        .max()
        .unwrap_or(1) as f64;
    let needle = v.search.trim().to_lowercase();
    let font = egui::FontId::proportional(12.0);
    let text_color = if dark { Color32::WHITE } else { Color32::BLACK };
    let mut hovered = None;
    // The node picked here, while its pick is the selection.
    let picked = v.picked_node.and_then(|(id, n)| {
        let current = cx.focus.selection.picked.as_ref()?;
        (current.id == id).then_some(n)
    });
    for i in zoom as usize..z.end as usize {
        let node = &t.nodes[i];
        let w = weight(node) as f64 / total * width as f64;
        if w < 0.5 {
            continue;
        }
        let x = resp.rect.left() + (xs[i - zoom as usize] * width as f64) as f32;
        let y = resp.rect.top() + (node.depth - z.depth) as f32 * ROW_H;
        let r = Rect::from_min_size(pos2(x, y), vec2((w as f32 - 1.0).max(0.5), ROW_H - 1.0));
        let name = &b.names[i];
        let matched = !needle.is_empty() && name.to_lowercase().contains(&needle);
        let mut color = node_color(b, i as u32, max_delta, dark);
        if !needle.is_empty() && !matched {
            color = color.gamma_multiply(0.3);
        }
        painter.rect_filled(r, 2.0, color);
        if matched || picked == Some(i as u32) {
            painter.rect_stroke(
                r,
                2.0,
                Stroke::new(2.0, theme::accent(dark)),
                egui::StrokeKind::Inside,
            );
        }
        if r.width() > 40.0 {
            let chars = ((r.width() - 6.0) / 6.5) as usize;
            let label: String = name.chars().take(chars).collect();
            painter.with_clip_rect(r).text(
                r.left_center() + vec2(3.0, 0.0),
                egui::Align2::LEFT_CENTER,
                label,
                font.clone(),
                text_color,
            );
        }
        if resp.hover_pos().is_some_and(|p| r.contains(p)) {
            hovered = Some(i as u32);
        }
    }
    if let Some(n) = hovered {
        let node = t.nodes[n as usize];
        let resp = resp.on_hover_ui_at_pointer(|ui| {
            ui.label(RichText::new(&b.names[n as usize]).monospace());
            ui.label(format!(
                "{} in {} ({} allocated here)",
                units::bytes(node.total.bytes),
                units::count(node.total.blocks, "block"),
                units::bytes(node.own.bytes)
            ));
            if growth {
                ui.label(format!(
                    "{} then: {}",
                    units::bytes(node.total.base_bytes),
                    units::signed_bytes(node.total.delta())
                ));
            }
            ui.label(
                RichText::new("click: zoom in and select its allocations in every view").weak(),
            );
        });
        if resp.clicked() {
            v.zoom = n;
            let id = pick(cx, b, n);
            v.picked_node = id.map(|id| (id, n));
        }
    } else if resp.clicked() && zoom != 0 {
        v.zoom = t.nodes[zoom as usize].parent;
    }
}

/// Selects the allocations under node `n` in every view (the timeline's bands, Segments'
/// blocks, the Stack panel), with the call site holding the most of them as the selected
/// site, so that views that show one site (Leaks, the export) still have one.
/// Returns the pick's id.
pub fn pick(cx: &mut ViewCtx, b: &Built, n: u32) -> Option<u64> {
    let t = &b.tree;
    let node = t.nodes.get(n as usize)?;
    let allocations: Vec<u32> = t.allocations(n).collect();
    let site = largest_site(cx.analysis, &allocations);
    // The root stands for everything: its path is its own name, not an empty list.
    let path = t
        .path(n)
        .into_iter()
        .skip(usize::from(n != 0))
        .map(|i| b.names[i as usize].clone())
        .collect();
    let total = cx.analysis.replay.allocations.len();
    let picked = Picked::new(
        path,
        (node.total.bytes, node.total.blocks),
        allocations,
        total,
    );
    let id = picked.id;
    cx.focus.select_picked(site, picked);
    Some(id)
}

fn top_down(ui: &mut Ui, v: &mut CallTreeView, b: &Built, zoom: u32) {
    section(ui, "Callees (top-down)");
    let t = &b.tree;
    let children: Vec<u32> = t.children(zoom).collect();
    let cells: Vec<Vec<Cell>> = children
        .iter()
        .map(|&c| {
            let n = t.nodes[c as usize];
            vec![
                short_bytes(n.total.bytes).into(),
                short_bytes(n.own.bytes).into(),
                n.total.blocks.to_string().into(),
            ]
        })
        .collect();
    let char_w = text_width(ui, RichText::new("M").monospace().small());
    fitted_table(
        ui,
        "top-down",
        &["frame", "total", "self", "blocks"],
        &cells,
        MIN_NAME_W,
        |ui, i, width| {
            let c = children[i];
            // Long frame names would push the numbers out of the panel: cut to the column,
            // the whole name on hover.
            let name = &b.names[c as usize];
            let fit = (((width - 4.0) / char_w) as usize).clamp(8, NAME_CHARS);
            let short: String = if name.chars().count() > fit {
                name.chars().take(fit - 1).chain(['…']).collect()
            } else {
                name.clone()
            };
            if ui
                .link(RichText::new(short).monospace().small())
                .on_hover_text(name)
                .clicked()
            {
                v.zoom = c;
            }
        },
        |ui| {
            if children.is_empty() {
                ui.label(RichText::new("No callees: this frame allocated it all.").weak());
            }
        },
    );
}

fn bottom_up(ui: &mut Ui, b: &Built) {
    section(ui, "Lines holding the most (bottom-up)");
    let cells: Vec<Vec<Cell>> = b
        .bottom_up
        .iter()
        .map(|(_, bytes, blocks)| {
            vec![
                short_bytes(*bytes).into(),
                units::count(*blocks, "block").into(),
            ]
        })
        .collect();
    fitted_table(
        ui,
        "bottom-up",
        &[],
        &cells,
        MIN_NAME_W,
        |ui, i, _| {
            let name = &b.bottom_up[i].0;
            ui.add(egui::Label::new(RichText::new(name).monospace().small()).truncate());
        },
        |_| {},
    );
}
