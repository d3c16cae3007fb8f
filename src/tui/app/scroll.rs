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
        let top_end = self.top_view_end();
        let buffer = self.current_mut();
        let end = buffer.view_end();
        if buffer.lines.is_empty() {
            return;
        }
        if up {
            let new_end = end.saturating_sub(n).max(top_end).max(1);
            let anchor =
                (new_end < buffer.lines.len()).then(|| buffer.first_seq + new_end as u64 - 1);
            buffer.scroll_to(anchor);
        } else {
            let new_end = end + n;
            let anchor = if new_end >= buffer.lines.len() {
                None
            } else {
                Some(buffer.first_seq + new_end as u64 - 1)
            };
            buffer.scroll_to(anchor);
        }
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

    /// One past the bottom line of a view that fills the log from the buffer's first line.
    /// Scrolling up stops there, so the top of a buffer never shows as a few lines under
    /// empty rows.
    fn top_view_end(&self) -> usize {
        let (width, height) = self.log_size();
        let buffer = self.state.current_buffer();
        let mut rows = 0;
        for index in 0..buffer.lines.len() {
            rows += message_height(&self.state, buffer, index, width);
            if rows >= height {
                return index + 1;
            }
        }
        buffer.lines.len()
    }

    /// Scrolls so that line `from` is at the top of the log.
    pub(super) fn scroll_to_top_from(&mut self, from: usize) {
        let (width, height) = self.log_size();
        let state = &self.state;
        let buffer = state.current_buffer();
        if buffer.lines.is_empty() {
            return;
        }
        let mut rows = 0;
        let mut index = from.min(buffer.lines.len() - 1);
        loop {
            rows += message_height(state, buffer, index, width);
            if rows >= height || index + 1 >= buffer.lines.len() {
                break;
            }
            index += 1;
        }
        let seq = buffer.first_seq + index as u64;
        let last = index + 1 >= buffer.lines.len();
        self.current_mut()
            .scroll_to(if last { None } else { Some(seq) });
    }
}
