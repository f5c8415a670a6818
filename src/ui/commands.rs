//! Every command of the app in one table, with its label and keyboard shortcut: the menus, the
//! shortcut handler and the Keys window all read it, so a shortcut is never advertised without
//! being bound (rerun's `UICommand` keeps the same discipline).

use egui::{Key, KeyboardShortcut, Modifiers, Ui};

use super::focus::ViewId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Open,
    CloseTab,
    NextTab,
    Show(ViewId),
    /// The Events view with the keyboard in its address field: search by address or size.
    FindEvent,
    Settings,
    Keys,
    Quit,
}

/// Number keys for the views, in [`ViewId::ALL`] order.
const DIGITS: [Key; 9] = [
    Key::Num1,
    Key::Num2,
    Key::Num3,
    Key::Num4,
    Key::Num5,
    Key::Num6,
    Key::Num7,
    Key::Num8,
    Key::Num9,
];

/// Mouse and keys inside the views, for the Keys window (the views handle these themselves).
pub const GESTURES: [(&str, &str); 7] = [
    (
        "wheel, Ctrl+wheel, W/S, Up/Down",
        "zoom the timeline around the pointer",
    ),
    ("drag, Shift+wheel, A/D, Left/Right", "pan the timeline"),
    ("Home", "show the whole trace"),
    (
        "click",
        "select a band, block or row; moves the time cursor",
    ),
    ("Left/Right in Segments", "step the cursor one event"),
    (
        "Up/Down, PageUp/PageDown, Home/End in Events",
        "step the cursor through the listed events",
    ),
    ("drop files on the window", "open them"),
];

impl Command {
    /// Every command, in menu order.
    pub fn all() -> Vec<Command> {
        let mut v = vec![Command::Open, Command::CloseTab, Command::NextTab];
        v.extend(ViewId::ALL.map(Command::Show));
        v.push(Command::FindEvent);
        v.extend([Command::Settings, Command::Keys, Command::Quit]);
        v
    }

    pub fn label(self) -> &'static str {
        match self {
            Command::Open => "Open...",
            Command::CloseTab => "Close tab",
            Command::NextTab => "Next tab",
            Command::Show(v) => v.label(),
            Command::FindEvent => "Find address or size...",
            Command::Settings => "Settings...",
            Command::Keys => "Keys and mouse",
            Command::Quit => "Quit",
        }
    }

    pub fn shortcut(self) -> Option<KeyboardShortcut> {
        let key = |m, k| Some(KeyboardShortcut::new(m, k));
        match self {
            Command::Open => key(Modifiers::COMMAND, Key::O),
            Command::CloseTab => key(Modifiers::COMMAND, Key::W),
            Command::NextTab => key(Modifiers::CTRL, Key::Tab),
            Command::Show(v) => {
                let i = ViewId::ALL.iter().position(|x| *x == v)?;
                key(Modifiers::NONE, *DIGITS.get(i)?)
            }
            Command::FindEvent => key(Modifiers::COMMAND, Key::F),
            Command::Keys => key(Modifiers::NONE, Key::F1),
            Command::Settings | Command::Quit => None,
        }
    }

    /// The shortcut as the platform writes it (`Ctrl+O`, `⌘O`), or nothing.
    pub fn shortcut_text(self, ctx: &egui::Context) -> String {
        self.shortcut()
            .map(|s| ctx.format_shortcut(&s))
            .unwrap_or_default()
    }

    /// A menu entry with its shortcut beside it; whether it was clicked.
    pub fn menu_button(self, ui: &mut Ui) -> bool {
        let text = self.shortcut_text(ui.ctx());
        ui.add(egui::Button::new(self.label()).shortcut_text(text))
            .clicked()
    }

    /// The commands whose shortcut was pressed this frame (consumed, so no widget also acts
    /// on the key). Nothing while a text field has the keyboard.
    pub fn pressed(ctx: &egui::Context) -> Vec<Command> {
        if ctx.egui_wants_keyboard_input() {
            return Vec::new();
        }
        ctx.input_mut(|i| {
            Command::all()
                .into_iter()
                .filter(|c| c.shortcut().is_some_and(|s| i.consume_shortcut(&s)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_a_key_and_no_two_commands_share_one() {
        for v in ViewId::ALL {
            assert!(Command::Show(v).shortcut().is_some(), "{v:?} has no key");
        }
        let keys: Vec<_> = Command::all().iter().filter_map(|c| c.shortcut()).collect();
        for (i, a) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(a), "{a:?} is bound twice");
        }
    }
}
