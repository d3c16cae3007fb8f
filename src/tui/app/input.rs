//! Editor actions on the input line: typing, moving, killing and yanking, history and its
//! search (Ctrl+R), and pastes (several lines ask first).

use super::App;
use crate::tui::keymap::Action;
use crate::tui::overlay::{Overlay, PasteConfirm};

impl App {
    /// A key while Ctrl+R history search is open; true when the search took it. Any other
    /// key accepts the match and then acts as usual.
    pub(super) fn history_search_key(&mut self, action: &Action) -> bool {
        let editor = &mut self.state.editor;
        match action {
            Action::Insert(c) => editor.search_edit(|q| q.push(*c)),
            Action::Backspace => editor.search_edit(|q| {
                q.pop();
            }),
            Action::HistorySearch => editor.history_search(),
            Action::Cancel | Action::Interrupt => editor.search = None,
            Action::Submit => editor.search_accept(),
            _ => {
                editor.search_accept();
                return false;
            }
        }
        true
    }

    /// An editing action on the input line (anything not bound to something else).
    pub(super) fn edit(&mut self, action: Action) {
        let editor = &mut self.state.editor;
        match action {
            Action::Newline => editor.insert_char('\n'),
            Action::Up => editor.up(),
            Action::Down => editor.down(),
            Action::HistorySearch => editor.history_search(),
            Action::Paste(text) => self.paste(text),
            other => {
                editor.apply(&other);
            }
        }
    }

    /// A paste of one line goes into the input; several lines ask first.
    fn paste(&mut self, text: String) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        // A copied line often brings its newline along: that is still one line.
        let text = match text.strip_suffix('\n') {
            Some(line) if !line.contains('\n') => line.to_string(),
            _ => text,
        };
        if text.contains('\n') {
            self.state.overlay = Overlay::PasteConfirm(PasteConfirm { text });
        } else {
            self.state.editor.insert_str(&text);
        }
    }
}
