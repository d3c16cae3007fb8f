//! `Action`: everything the user can want. The bindable actions are declared once, below, each
//! with its config name, default keys and help line (the doc line); the enum, name lookup,
//! the default key map, the `[keys]` names and the F1 help are all derived from that one list.
//! Adding a key action is one line here plus what it does in the App.

use std::time::Instant;

/// One bindable action: its config name (`[keys]`), default keys and help line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Binding {
    pub action: Action,
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub help: &'static str,
}

/// Declares `Action` (the bindable unit variants, `GoToGroup` and the event loop's own) and
/// `BINDINGS` from one list.
macro_rules! actions {
    (
        $( #[doc = $help:literal] $variant:ident = $name:literal [$($key:literal),*] ),* ;
        $( $group:literal = $group_name:literal [$group_key:literal] ),* $(,)?
    ) => {
        /// Something the user wants; keys, mouse, paste and ticks all become one of these.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Action {
            $( #[doc = $help] $variant, )*
            /// Go to group n (the `group_1` … `group_10` bindings).
            GoToGroup(u8),
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
            /// The file of `/bin @file` was read (or could not be).
            FileLoaded {
                group: String,
                path: String,
                result: Result<Vec<u8>, String>,
            },
        }

        /// Every bindable action in help order.
        pub(crate) const BINDINGS: &[Binding] = &[
            $( Binding {
                action: Action::$variant,
                name: $name,
                keys: &[$($key),*],
                help: $help,
            }, )*
            $( Binding {
                action: Action::GoToGroup($group),
                name: $group_name,
                keys: &[$group_key],
                help: concat!(" go to group ", $group),
            }, )*
        ];
    };
}

actions! {
    /// next group
    NextGroup = "next_group" ["ctrl-n", "alt-down"],
    /// previous group
    PrevGroup = "prev_group" ["ctrl-p", "alt-up"],
    /// next group with activity, mentions first
    NextActivity = "next_activity" ["alt-a"],
    /// switcher: find, switch to or join a group
    Switcher = "switcher" ["ctrl-k"],
    /// join a group
    JoinPrompt = "join" ["alt-j"],
    /// leave the current group
    LeavePrompt = "leave" ["alt-l"],
    /// move the current group up the pane
    MoveGroupUp = "move_group_up" ["alt-shift-up"],
    /// move the current group down the pane
    MoveGroupDown = "move_group_down" ["alt-shift-down"],
    /// scroll up a page
    PageUp = "page_up" ["pageup"],
    /// scroll down a page
    PageDown = "page_down" ["pagedown"],
    /// scroll up a message
    LineUp = "line_up" ["shift-up"],
    /// scroll down a message
    LineDown = "line_down" ["shift-down"],
    /// scroll to the top
    ScrollTop = "scroll_top" ["alt-home"],
    /// back to live
    ScrollLive = "scroll_live" ["alt-end"],
    /// jump to the first unread message
    FirstUnread = "first_unread" ["alt-u"],
    /// search this group's log
    Search = "search" ["ctrl-f"],
    /// send
    Submit = "submit" ["enter"],
    /// new line in the input
    Newline = "newline" ["alt-enter"],
    /// history back (on the first line)
    Up = "up" ["up"],
    /// history forward (on the last line)
    Down = "down" ["down"],
    /// search input history
    HistorySearch = "history_search" ["ctrl-r"],
    /// complete command, group or user
    Complete = "complete" ["tab"],
    /// complete, backwards
    CompleteBack = "complete_back" ["backtab"],
    /// start of line
    LineStart = "line_start" ["ctrl-a"],
    /// end of line
    LineEnd = "line_end" ["ctrl-e"],
    /// word left
    WordLeft = "word_left" ["alt-b", "ctrl-left"],
    /// word right
    WordRight = "word_right" ["alt-f", "ctrl-right"],
    /// delete word before cursor
    KillWordBack = "kill_word_back" ["ctrl-w"],
    /// delete to start of line
    KillLineBack = "kill_line_back" ["ctrl-u"],
    /// delete word after cursor
    KillWordForward = "kill_word_forward" ["alt-d"],
    /// delete to end of line (Ctrl+K is the switcher)
    KillLineForward = "kill_line_forward" ["alt-k"],
    /// paste what was deleted
    Yank = "yank" ["ctrl-y"],
    /// cursor left
    Left = "left" ["left"],
    /// cursor right
    Right = "right" ["right"],
    /// delete before cursor
    Backspace = "backspace" ["backspace"],
    /// delete at cursor; leave (switcher row)
    Delete = "delete" ["delete", "ctrl-d"],
    /// start of line; top of log on empty input
    Home = "home" ["home"],
    /// end of line; back to live on empty input
    End = "end" ["end"],
    /// this help (also ? on empty input)
    Help = "help" ["f1"],
    /// toggle mouse capture
    ToggleMouse = "toggle_mouse" ["alt-m"],
    /// redraw the screen
    Redraw = "redraw" ["ctrl-l"],
    /// close overlay / cancel
    Cancel = "cancel" ["esc"],
    /// clear input; twice on empty input quits
    Interrupt = "interrupt" ["ctrl-c"],
    /// show or hide the group pane
    ToggleGroups = "toggle_groups" ["f7"],
    /// suspend to the shell
    Suspend = "suspend" ["ctrl-z"],
    /// retry the last failed message
    Retry = "retry" ["alt-r"],
    /// view the newest visible message in full
    ViewMessage = "view_message" ["alt-v"];
    1 = "group_1" ["alt-1"],
    2 = "group_2" ["alt-2"],
    3 = "group_3" ["alt-3"],
    4 = "group_4" ["alt-4"],
    5 = "group_5" ["alt-5"],
    6 = "group_6" ["alt-6"],
    7 = "group_7" ["alt-7"],
    8 = "group_8" ["alt-8"],
    9 = "group_9" ["alt-9"],
    10 = "group_10" ["alt-0"],
}

impl Binding {
    /// The help line (doc comments keep their leading space).
    pub(crate) fn help(&self) -> &'static str {
        self.help.trim()
    }
}

impl Action {
    /// The bindable action with this config name.
    pub fn from_name(name: &str) -> Option<Action> {
        binding(name).map(|b| b.action.clone())
    }
}

/// The binding with this config name.
pub(crate) fn binding(name: &str) -> Option<&'static Binding> {
    BINDINGS.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_again() {
        for (i, b) in BINDINGS.iter().enumerate() {
            assert!(
                BINDINGS[..i].iter().all(|other| other.name != b.name),
                "{} twice",
                b.name
            );
            assert_eq!(Action::from_name(b.name), Some(b.action.clone()));
            assert!(!b.help().is_empty() && !b.help().starts_with(' '));
        }
        assert_eq!(Action::from_name("group_10"), Some(Action::GoToGroup(10)));
        assert_eq!(binding("group_3").map(Binding::help), Some("go to group 3"));
        assert_eq!(Action::from_name("group_11"), None);
    }
}
