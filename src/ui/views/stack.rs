//! The Stack panel: the selected allocation's (or call site's) stack, the user's frames first
//! and library frames folded; `file:line` copies the path or opens `$EDITOR`; the source line
//! is shown when the file can be found locally (see the source roots setting).

use egui::{Color32, RichText, Ui};

use crate::analysis::sites::is_library_file;
use crate::model::StackId;
use crate::units;

use crate::ui::focus::Picked;
use crate::ui::sources;
use crate::ui::theme;
use crate::ui::view::{short_bytes, ViewCtx};

pub fn show(ui: &mut Ui, cx: &mut ViewCtx) {
    let sel = cx.focus.selection.clone();
    if let Some(p) = &sel.picked {
        picked(ui, cx, p);
    }
    let Some(site) = sel.site else {
        if sel.picked.is_some() {
            return;
        }
        ui.add_space(8.0);
        ui.label(RichText::new("Nothing selected").strong());
        ui.label(
            "Click a band in the timeline, a block in Segments or a row in Leaks to see its \
             stack here.",
        );
        return;
    };
    let d = cx.analysis;
    let Some(cs) = d.sites.get(site) else {
        return;
    };
    ui.horizontal(|ui| {
        crate::ui::view::swatch(ui, cx.site_color(site));
        // A long path would widen the panel: cut it, the whole in the tooltip.
        let label = RichText::new(cs.short_label())
            .monospace()
            .strong()
            .size(15.0);
        ui.add(egui::Label::new(label).truncate())
            .on_hover_text(format!("{}:{}", cs.file, cs.line));
    });
    ui.label(format!("in {}()", cs.function));
    if !cs.user {
        ui.label(RichText::new("no frame of your own code in this stack").weak());
    }
    if ui.small_button("clear selection").clicked() {
        cx.focus.select_site(None);
        return;
    }
    let mut stack: StackId = cs.stack;
    if let Some(k) = sel.allocation {
        if let Some(a) = d.replay.allocations.get(k as usize) {
            stack = a.stack;
            ui.separator();
            ui.label(RichText::new(format!("Allocation #{k}")).strong());
            ui.label(format!(
                "{} block, {} requested, stream {}, at {:#x}",
                units::bytes(a.size),
                units::bytes(a.requested),
                a.stream,
                a.addr
            ));
            ui.label(super::timeline::lifetime(
                cx,
                a.alloc_event,
                a.free_requested,
            ));
            let history = super::segments::block_history(cx, a.addr);
            if !history.is_empty() {
                ui.label(
                    RichText::new(format!(
                        "History in the file ({} entries, oldest first; the stack below is \
                         the latest)",
                        history.len()
                    ))
                    .strong(),
                );
                const SHOWN: usize = 12;
                let skip = history.len().saturating_sub(SHOWN);
                if skip > 0 {
                    ui.label(RichText::new(format!("... {skip} earlier entries")).weak());
                }
                for line in &history[skip..] {
                    ui.label(RichText::new(line).monospace());
                }
            }
        }
    } else {
        // Site totals.
        let (mut count, mut live) = (0u64, 0u64);
        for (i, a) in d.replay.allocations.iter().enumerate() {
            if d.allocation_site.get(i) == Some(&site) {
                count += 1;
                if a.free_requested == crate::analysis::NONE {
                    live += a.size;
                }
            }
        }
        ui.label(format!(
            "{count} allocations; {} still allocated at the end",
            short_bytes(live)
        ));
    }
    if let Some(leak) = d.leaks.iter().find(|l| l.site == site) {
        ui.label(
            RichText::new(format!(
                "Leak suspect: +{} per iteration",
                short_bytes(leak.growth_bytes_per_iteration.max(0.0) as u64)
            ))
            .color(theme::warn(cx.dark())),
        );
    }
    ui.separator();
    frames(ui, cx, stack);
}

/// Levels of a picked node's path shown.
const PATH_SHOWN: usize = 12;

/// A call tree node's allocations: its path, its bytes; its largest call site follows.
fn picked(ui: &mut Ui, cx: &mut ViewCtx, p: &Picked) {
    ui.horizontal(|ui| {
        crate::ui::view::swatch(ui, theme::accent(cx.dark()));
        ui.label(RichText::new("Picked in the call tree").strong().size(15.0));
    });
    // A deep stack: its innermost frames say most.
    let skip = p.path.len().saturating_sub(PATH_SHOWN);
    if skip > 0 {
        ui.label(
            RichText::new(format!("... {skip} outer levels"))
                .weak()
                .small(),
        );
    }
    for (depth, name) in p.path.iter().enumerate().skip(skip) {
        let depth = depth - skip;
        ui.label(
            RichText::new(format!("{}{name}", "  ".repeat(depth)))
                .monospace()
                .small(),
        );
    }
    let mut what = format!(
        "{} in {} at the tree's moment",
        short_bytes(p.bytes),
        units::count(p.blocks, "block")
    );
    // A growth tree or a group also holds allocations not live at that moment.
    if p.allocations.len() as u64 != p.blocks {
        what.push_str(&format!(
            "; {} in all",
            units::count(p.allocations.len() as u64, "allocation")
        ));
    }
    ui.label(what);
    ui.label(
        RichText::new("The timeline and Segments light these allocations; below, the call site holding the most of them.")
            .weak(),
    );
    ui.separator();
}

fn frames(ui: &mut Ui, cx: &mut ViewCtx, stack: StackId) {
    let snap = cx.loaded.snap.clone();
    let ids = snap.stacks.get(stack);
    if ids.is_empty() {
        ui.label("The stack is empty (recorded without stacks).");
        return;
    }
    let is_lib = |f: u32| {
        let fr = snap.frames.get(f);
        is_library_file(snap.frames.filename(f), fr.line)
    };
    let user: Vec<u32> = ids.iter().copied().filter(|&f| !is_lib(f)).collect();
    ui.label(
        RichText::new(format!(
            "Your code ({} frames, innermost first)",
            user.len()
        ))
        .strong(),
    );
    if user.is_empty() {
        ui.label(RichText::new("none").weak());
    }
    egui::ScrollArea::vertical()
        .id_salt("stack")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for &f in &user {
                frame_row(ui, cx, f, true);
            }
            let libs = ids.len() - user.len();
            if libs > 0 {
                egui::CollapsingHeader::new(format!("Library frames ({libs}), full stack"))
                    .id_salt(("libframes", stack))
                    .default_open(false)
                    .show(ui, |ui| {
                        for &f in ids {
                            frame_row(ui, cx, f, !is_lib(f));
                        }
                    });
            }
        });
}

fn frame_row(ui: &mut Ui, cx: &mut ViewCtx, f: u32, user: bool) {
    let snap = cx.loaded.snap.clone();
    let fr = snap.frames.get(f);
    let file = snap.frames.filename(f).to_string();
    let name = snap.frames.name(f).to_string();
    let short = file.rsplit('/').next().unwrap_or(&file).to_string();
    let loc = if fr.line > 0 {
        format!("{short}:{}", fr.line)
    } else {
        short.clone()
    };
    let color = if user {
        ui.visuals().text_color()
    } else {
        ui.visuals().weak_text_color()
    };
    ui.horizontal_wrapped(|ui| {
        let resp = ui
            .link(RichText::new(&loc).monospace().color(if user {
                theme::accent(cx.dark())
            } else {
                color
            }))
            .on_hover_text(format!("{file}:{}\nclick: copy path:line", fr.line));
        if resp.clicked() {
            ui.ctx().copy_text(format!("{file}:{}", fr.line));
        }
        ui.label(RichText::new(format!("{name}()")).color(color));
        if user {
            if let Ok(editor) = std::env::var("EDITOR") {
                if !editor.trim().is_empty()
                    && ui
                        .small_button("edit")
                        .on_hover_text(format!("Open in {editor}"))
                        .clicked()
                {
                    let path = sources::locate(&file, &cx.env.preferences.source_roots)
                        .unwrap_or_else(|| file.clone().into());
                    let mut parts = editor.split_whitespace();
                    if let Some(cmd) = parts.next() {
                        let _ = std::process::Command::new(cmd)
                            .args(parts)
                            .arg(format!("+{}", fr.line))
                            .arg(path)
                            .spawn();
                    }
                }
            }
        }
    });
    if user && fr.line > 0 {
        let roots = cx.env.preferences.source_roots.clone();
        let dark = cx.dark();
        if let Some((_, lines)) = cx.env.sources.get(&file, &roots) {
            let i = (fr.line - 1) as usize;
            if let Some(text) = lines.get(i) {
                let bg = if dark {
                    Color32::from_gray(0x22)
                } else {
                    Color32::from_gray(0xee)
                };
                egui::Frame::new()
                    .fill(bg)
                    .inner_margin(4.0)
                    .corner_radius(3.0)
                    .show(ui, |ui| {
                        ui.label(
                            RichText::new(format!("{:>5}  {}", fr.line, text.trim()))
                                .monospace()
                                .size(11.5),
                        );
                    });
            }
        }
    }
}
