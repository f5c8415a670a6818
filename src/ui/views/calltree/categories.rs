//! The editor of the user's categories: `NAME = REGEX` lines over frames, as `memsight
//! flamegraph --category`, kept in the preferences so they outlive the session. A line that
//! does not parse is named under the editor with the reason, and the other lines still group.

use egui::{RichText, Ui};

use crate::analysis::calltree::{parse_categories, CategoryError, UNCATEGORISED};
use crate::ui::theme;
use crate::ui::view::ViewCtx;

/// The last text checked and what was wrong with it (checked when the text changes, not per
/// frame: compiling every regex 60 times a second would be waste).
#[derive(Default)]
pub struct Checked {
    text: String,
    good: usize,
    errors: Vec<CategoryError>,
}

/// Draws the editor; the text lives in the preferences.
pub fn editor(ui: &mut Ui, checked: &mut Checked, cx: &mut ViewCtx) {
    let dark = cx.dark();
    egui::CollapsingHeader::new("My categories")
        .default_open(true)
        .show(ui, |ui| {
            ui.label(
                RichText::new(format!(
                    "One NAME = REGEX a line, matched against each frame's FILE:LINE FUNCTION; \
                     the first category that matches a frame of the stack wins, the rest is \
                     {UNCATEGORISED}. The same as memsight flamegraph --category NAME=REGEX."
                ))
                .weak()
                .small(),
            );
            let text = &mut cx.env.preferences.categories;
            ui.add(
                egui::TextEdit::multiline(text)
                    .id_salt("categories")
                    .code_editor()
                    .desired_rows(3)
                    .desired_width(f32::INFINITY)
                    .hint_text("attention = attn|softmax\noptimizer = optim|adam"),
            );
            if checked.text != *text {
                let (good, errors) = parse_categories(text);
                *checked = Checked {
                    text: text.clone(),
                    good: good.len(),
                    errors,
                };
            }
            for e in &checked.errors {
                ui.label(
                    RichText::new(format!("line {}: {}", e.line, e.message))
                        .color(theme::oom(dark))
                        .small(),
                );
            }
            if checked.good == 0 {
                ui.label(
                    RichText::new(format!("No category yet: everything is {UNCATEGORISED}."))
                        .weak()
                        .small(),
                );
            }
        });
}
