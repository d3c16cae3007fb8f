//! Scrolling the log: by message, by page, to the top, to the first unread, back to live.
//! Pages are measured in rows with `layout`, so a page of long messages moves fewer of them.

use super::App;
use crate::tui::keymap::Action;
use crate::tui::layout::{layout, message_height};
use crate::tui::state::NoteLevel;

/// Messages one wheel notch scrolls.
const WHEEL_MESSAGES: usize = 3;

impl App {
    pub(super) fn scroll(&mut self, action: Action) {
        let up = matches!(
            action,
            Action::PageUp
                | Action::LineUp
                | Action::Wheel { up: true }
                | Action::ScrollTop
                | Action::Home
        );
        // Pushing up once more at the top of a buffer that has let old lines go reads them
        // from history instead.
        let pushed_past_top = up && self.top_in_view();
        match action {
            Action::PageUp => self.scroll_page(true),
            Action::PageDown => self.scroll_page(false),
            Action::LineUp => self.scroll_lines(true, 1),
            Action::LineDown => self.scroll_lines(false, 1),
            Action::Wheel { up } => self.scroll_lines(up, WHEEL_MESSAGES),
            Action::ScrollTop | Action::Home => self.scroll_to_top_from(0),
            Action::ScrollLive | Action::End => self.current_mut().scroll_to(None),
            Action::FirstUnread => match self.state.current_buffer().first_unread {
                Some(seq) => {
                    let first = self.state.current_buffer().first_seq;
                    self.scroll_to_top_from(seq.saturating_sub(first) as usize);
                }
                None => self.note(NoteLevel::Info, "no unread messages here"),
            },
            _ => {}
        }
        if up {
            self.load_older_if_at_top(pushed_past_top);
        }
    }

    /// Width and height of the log's inside.
    fn log_size(&self) -> (usize, usize) {
        let inner = layout(&self.state).log_inner;
        (usize::from(inner.width), usize::from(inner.height).max(1))
    }

    fn scroll_lines(&mut self, up: bool, n: usize) {
        let end = self.state.current_buffer().view_end();
        let new_end = if up {
            // Never above a full first screen: the top is not a few lines under empty rows.
            end.saturating_sub(n).max(self.view_end_from(0))
        } else {
            end + n
        };
        self.show_up_to(new_end);
    }

    fn scroll_page(&mut self, up: bool) {
        let (width, height) = self.log_size();
        let state = &self.state;
        let buffer = state.current_buffer();
        let end = buffer.view_end();
        let mut rows = 0;
        let mut moved = 0;
        if up {
            let mut index = end;
            while index > 1 && rows < height.saturating_sub(1) {
                index -= 1;
                rows += message_height(state, buffer, index, width);
                moved += 1;
            }
        } else {
            let mut index = end;
            while index < buffer.lines.len() && rows < height.saturating_sub(1) {
                rows += message_height(state, buffer, index, width);
                index += 1;
                moved += 1;
            }
        }
        self.scroll_lines(up, moved.max(1));
    }

    /// One past the bottom line of a view whose top line is `from`: as many lines as fill
    /// the log, or all the rest.
    fn view_end_from(&self, from: usize) -> usize {
        let (width, height) = self.log_size();
        let buffer = self.state.current_buffer();
        let mut rows = 0;
        for index in from.min(buffer.lines.len())..buffer.lines.len() {
            rows += message_height(&self.state, buffer, index, width);
            if rows >= height {
                return index + 1;
            }
        }
        buffer.lines.len()
    }

    /// Scrolls so that the view ends just before line `end`; the whole log is live.
    fn show_up_to(&mut self, end: usize) {
        let buffer = self.current_mut();
        if buffer.lines.is_empty() {
            return;
        }
        // At least the first line is shown.
        let end = end.max(1);
        let anchor = (end < buffer.lines.len()).then(|| buffer.first_seq + end as u64 - 1);
        buffer.scroll_to(anchor);
    }

    /// Scrolls so that line `from` is at the top of the log.
    pub(super) fn scroll_to_top_from(&mut self, from: usize) {
        self.show_up_to(self.view_end_from(from));
    }
}
