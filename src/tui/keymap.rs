//! Keys → `Action`s: the UX.md defaults, overridden per action by the config's `[keys]` table
//! (`next_group = ["ctrl-n", "alt-down"]`). The help overlay is generated from the live map.

use std::collections::HashMap;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use thiserror::Error;

/// Something the user wants; keys, mouse, paste and ticks all become one of these.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    GoToGroup(u8),
    NextGroup,
    PrevGroup,
    NextActivity,
    Switcher,
    JoinPrompt,
    LeavePrompt,
    PageUp,
    PageDown,
    LineUp,
    LineDown,
    ScrollTop,
    ScrollLive,
    FirstUnread,
    Search,
    Submit,
    Newline,
    Up,
    Down,
    HistorySearch,
    Complete,
    CompleteBack,
    LineStart,
    LineEnd,
    WordLeft,
    WordRight,
    KillWordBack,
    KillLineBack,
    KillWordForward,
    Yank,
    Left,
    Right,
    Backspace,
    Delete,
    Home,
    End,
    Help,
    ToggleMouse,
    Redraw,
    Cancel,
    Interrupt,
    ToggleGroups,
    Suspend,
    Retry,
    ViewMessage,
    // Not bindable: produced by the event loop.
    Insert(char),
    Paste(String),
    Resize(u16, u16),
    Tick {
        wall_ms: i64,
        mono: Instant,
    },
    Click {
        column: u16,
        row: u16,
    },
    Wheel {
        up: bool,
    },
    FileLoaded {
        group: String,
        path: String,
        result: Result<Vec<u8>, String>,
    },
}

/// Bindable actions: config name, default keys, description for the help overlay.
const BINDINGS: &[(&str, &[&str], &str)] = &[
    ("next_group", &["ctrl-n", "alt-down"], "next group"),
    ("prev_group", &["ctrl-p", "alt-up"], "previous group"),
    (
        "next_activity",
        &["alt-a"],
        "next group with activity, mentions first",
    ),
    (
        "switcher",
        &["ctrl-k"],
        "switcher: find, switch to or join a group",
    ),
    ("join", &["alt-j"], "join a group"),
    ("leave", &["alt-l"], "leave the current group"),
    ("page_up", &["pageup"], "scroll up a page"),
    ("page_down", &["pagedown"], "scroll down a page"),
    ("line_up", &["shift-up"], "scroll up a message"),
    ("line_down", &["shift-down"], "scroll down a message"),
    ("scroll_top", &["alt-home"], "scroll to the top"),
    ("scroll_live", &["alt-end"], "back to live"),
    (
        "first_unread",
        &["alt-u"],
        "jump to the first unread message",
    ),
    ("search", &["ctrl-f"], "search this group's log"),
    ("submit", &["enter"], "send"),
    ("newline", &["alt-enter"], "new line in the input"),
    ("up", &["up"], "history back (on the first line)"),
    ("down", &["down"], "history forward (on the last line)"),
    ("history_search", &["ctrl-r"], "search input history"),
    ("complete", &["tab"], "complete command, group or user"),
    ("complete_back", &["backtab"], "complete, backwards"),
    ("line_start", &["ctrl-a"], "start of line"),
    ("line_end", &["ctrl-e"], "end of line"),
    ("word_left", &["alt-b", "ctrl-left"], "word left"),
    ("word_right", &["alt-f", "ctrl-right"], "word right"),
    ("kill_word_back", &["ctrl-w"], "delete word before cursor"),
    ("kill_line_back", &["ctrl-u"], "delete to start of line"),
    ("kill_word_forward", &["alt-d"], "delete word after cursor"),
    ("yank", &["ctrl-y"], "paste what was deleted"),
    ("left", &["left"], "cursor left"),
    ("right", &["right"], "cursor right"),
    ("backspace", &["backspace"], "delete before cursor"),
    (
        "delete",
        &["delete", "ctrl-d"],
        "delete at cursor; leave (switcher row)",
    ),
    (
        "home",
        &["home"],
        "start of line; top of log on empty input",
    ),
    ("end", &["end"], "end of line; back to live on empty input"),
    ("help", &["f1"], "this help (also ? on empty input)"),
    ("toggle_mouse", &["alt-m"], "toggle mouse capture"),
    ("redraw", &["ctrl-l"], "redraw the screen"),
    ("cancel", &["esc"], "close overlay / cancel"),
    (
        "interrupt",
        &["ctrl-c"],
        "clear input; twice on empty input quits",
    ),
    ("toggle_groups", &["f7"], "show or hide the group pane"),
    ("suspend", &["ctrl-z"], "suspend to the shell"),
    ("retry", &["alt-r"], "retry the last failed message"),
    (
        "view_message",
        &["alt-v"],
        "view the newest visible message in full",
    ),
    ("group_1", &["alt-1"], "go to group 1"),
    ("group_2", &["alt-2"], "go to group 2"),
    ("group_3", &["alt-3"], "go to group 3"),
    ("group_4", &["alt-4"], "go to group 4"),
    ("group_5", &["alt-5"], "go to group 5"),
    ("group_6", &["alt-6"], "go to group 6"),
    ("group_7", &["alt-7"], "go to group 7"),
    ("group_8", &["alt-8"], "go to group 8"),
    ("group_9", &["alt-9"], "go to group 9"),
    ("group_10", &["alt-0"], "go to group 10"),
];

impl Action {
    /// The bindable action with this config name.
    pub fn from_name(name: &str) -> Option<Action> {
        if let Some(n) = name.strip_prefix("group_") {
            return match n.parse::<u8>() {
                Ok(n @ 1..=10) => Some(Action::GoToGroup(n)),
                _ => None,
            };
        }
        Some(match name {
            "next_group" => Action::NextGroup,
            "prev_group" => Action::PrevGroup,
            "next_activity" => Action::NextActivity,
            "switcher" => Action::Switcher,
            "join" => Action::JoinPrompt,
            "leave" => Action::LeavePrompt,
            "page_up" => Action::PageUp,
            "page_down" => Action::PageDown,
            "line_up" => Action::LineUp,
            "line_down" => Action::LineDown,
            "scroll_top" => Action::ScrollTop,
            "scroll_live" => Action::ScrollLive,
            "first_unread" => Action::FirstUnread,
            "search" => Action::Search,
            "submit" => Action::Submit,
            "newline" => Action::Newline,
            "up" => Action::Up,
            "down" => Action::Down,
            "history_search" => Action::HistorySearch,
            "complete" => Action::Complete,
            "complete_back" => Action::CompleteBack,
            "line_start" => Action::LineStart,
            "line_end" => Action::LineEnd,
            "word_left" => Action::WordLeft,
            "word_right" => Action::WordRight,
            "kill_word_back" => Action::KillWordBack,
            "kill_line_back" => Action::KillLineBack,
            "kill_word_forward" => Action::KillWordForward,
            "yank" => Action::Yank,
            "left" => Action::Left,
            "right" => Action::Right,
            "backspace" => Action::Backspace,
            "delete" => Action::Delete,
            "home" => Action::Home,
            "end" => Action::End,
            "help" => Action::Help,
            "toggle_mouse" => Action::ToggleMouse,
            "redraw" => Action::Redraw,
            "cancel" => Action::Cancel,
            "interrupt" => Action::Interrupt,
            "toggle_groups" => Action::ToggleGroups,
            "suspend" => Action::Suspend,
            "retry" => Action::Retry,
            "view_message" => Action::ViewMessage,
            _ => return None,
        })
    }
}

/// A key with its modifiers, normalised so that lookups match what terminals send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyChord {
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> Self {
        let mut modifiers =
            modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            // The character already says whether Shift was down.
            KeyCode::Char(c) => {
                modifiers.remove(KeyModifiers::SHIFT);
                if modifiers.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        KeyChord { code, modifiers }
    }

    /// Parses `ctrl-n`, `alt-enter`, `shift-up`, `f1`, `?`.
    pub fn parse(text: &str) -> Result<Self, KeymapError> {
        let bad = || KeymapError::BadKey(text.to_string());
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(stripped) = lower.strip_prefix("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - stripped.len()..];
            } else if let Some(stripped) = lower.strip_prefix("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = &rest[rest.len() - stripped.len()..];
            } else if let Some(stripped) = lower.strip_prefix("shift-") {
                modifiers |= KeyModifiers::SHIFT;
                rest = &rest[rest.len() - stripped.len()..];
            } else {
                break;
            }
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "space" => KeyCode::Char(' '),
            f if f.starts_with('f') && f.len() > 1 => {
                KeyCode::F(f[1..].parse::<u8>().map_err(|_| bad())?)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(KeyChord::new(code, modifiers))
    }

    /// How the help overlay shows the key: `Ctrl+N`, `Alt+↓`, `F1`.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl+");
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            out.push_str("Alt+");
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            out.push_str("Shift+");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("Space"),
            KeyCode::Char(c) => out.push(c.to_ascii_uppercase()),
            KeyCode::Enter => out.push_str("Enter"),
            KeyCode::Esc => out.push_str("Esc"),
            KeyCode::Tab => out.push_str("Tab"),
            KeyCode::BackTab => out.push_str("Shift+Tab"),
            KeyCode::Backspace => out.push_str("Backspace"),
            KeyCode::Delete => out.push_str("Del"),
            KeyCode::Insert => out.push_str("Ins"),
            KeyCode::Home => out.push_str("Home"),
            KeyCode::End => out.push_str("End"),
            KeyCode::PageUp => out.push_str("PgUp"),
            KeyCode::PageDown => out.push_str("PgDn"),
            KeyCode::Up => out.push('↑'),
            KeyCode::Down => out.push('↓'),
            KeyCode::Left => out.push('←'),
            KeyCode::Right => out.push('→'),
            KeyCode::F(n) => out.push_str(&format!("F{n}")),
            other => out.push_str(&format!("{other:?}")),
        }
        out
    }
}

/// Why the `[keys]` table could not be used.
#[derive(Debug, Error, PartialEq)]
pub enum KeymapError {
    #[error("[keys]: unknown action '{0}'; see `wpchat --print-default-config` for the names")]
    UnknownAction(String),
    #[error("[keys]: cannot read key '{0}'; write keys like \"ctrl-n\", \"alt-enter\", \"f1\"")]
    BadKey(String),
    #[error("[keys]: '{0}' must be a key string or a list of key strings")]
    BadValue(String),
}

/// One row of the help overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct HelpRow {
    pub keys: String,
    pub description: String,
}

/// The live key map.
#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<KeyChord, Action>,
    /// (action name, keys) in display order, for the help overlay.
    rows: Vec<(&'static str, Vec<KeyChord>, &'static str)>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::from_table(&toml::Table::new()).unwrap_or_else(|_| Keymap {
            map: HashMap::new(),
            rows: Vec::new(),
        })
    }
}

impl Keymap {
    /// The defaults with the config's `[keys]` table applied (an action listed there loses
    /// its default keys).
    pub fn from_table(table: &toml::Table) -> Result<Self, KeymapError> {
        for name in table.keys() {
            if Action::from_name(name).is_none() {
                return Err(KeymapError::UnknownAction(name.clone()));
            }
        }
        let mut rows = Vec::new();
        let mut map = HashMap::new();
        for (name, defaults, description) in BINDINGS {
            let keys: Vec<KeyChord> = match table.get(*name) {
                None => defaults
                    .iter()
                    .map(|k| KeyChord::parse(k))
                    .collect::<Result<_, _>>()?,
                Some(toml::Value::String(k)) => vec![KeyChord::parse(k)?],
                Some(toml::Value::Array(list)) => list
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(k) => KeyChord::parse(k),
                        _ => Err(KeymapError::BadValue((*name).to_string())),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(KeymapError::BadValue((*name).to_string())),
            };
            if let Some(action) = Action::from_name(name) {
                for key in &keys {
                    map.insert(*key, action.clone());
                }
            }
            rows.push((*name, keys, *description));
        }
        Ok(Keymap { map, rows })
    }

    /// The action for a key press: a bound action, else a typed character, else nothing.
    pub fn action_for(&self, key: KeyEvent) -> Option<Action> {
        let chord = KeyChord::new(key.code, key.modifiers);
        if let Some(action) = self.map.get(&chord) {
            return Some(action.clone());
        }
        match key.code {
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(Action::Insert(c))
            }
            _ => None,
        }
    }

    /// Rows for the help overlay, from the live bindings.
    pub fn help_rows(&self) -> Vec<HelpRow> {
        self.rows
            .iter()
            .map(|(name, keys, description)| HelpRow {
                keys: if keys.is_empty() {
                    format!("({name})")
                } else {
                    keys.iter()
                        .map(KeyChord::label)
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                description: (*description).to_string(),
            })
            .collect()
    }

    /// The label of the first key bound to an action, for hints (`F1 help`).
    pub fn label_of(&self, name: &str) -> Option<String> {
        self.rows
            .iter()
            .find(|(n, _, _)| *n == name)
            .and_then(|(_, keys, _)| keys.first().map(KeyChord::label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_follow_ux() {
        let keymap = Keymap::default();
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('3'), KeyModifiers::ALT)),
            Some(Action::GoToGroup(3))
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('0'), KeyModifiers::ALT)),
            Some(Action::GoToGroup(10))
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('N'), KeyModifiers::CONTROL)),
            Some(Action::NextGroup)
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Enter, KeyModifiers::ALT)),
            Some(Action::Newline)
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
            Some(Action::Insert('Q'))
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::CompleteBack)
        );
    }

    #[test]
    fn config_replaces_an_actions_keys() {
        let table: toml::Table = toml::from_str("next_group = \"alt-n\"\nhelp = [\"f2\"]").unwrap();
        let keymap = Keymap::from_table(&table).unwrap();
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('n'), KeyModifiers::ALT)),
            Some(Action::NextGroup)
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::F(1), KeyModifiers::NONE)),
            None
        );
        assert!(keymap.help_rows().iter().any(|r| r.keys == "F2"));
    }

    #[test]
    fn config_errors_name_the_problem() {
        let table: toml::Table = toml::from_str("fly = \"f3\"").unwrap();
        assert_eq!(
            Keymap::from_table(&table).unwrap_err(),
            KeymapError::UnknownAction("fly".into())
        );
        let table: toml::Table = toml::from_str("help = \"hyper-x\"").unwrap();
        assert!(matches!(
            Keymap::from_table(&table),
            Err(KeymapError::BadKey(_))
        ));
    }
}
