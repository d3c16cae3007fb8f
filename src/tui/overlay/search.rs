//! Log search (Ctrl+F, `/search`): a query over the current buffer; Enter or ↑ finds older
//! matches, ↓ newer ones, and the log scrolls to the match.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Overlay, dim, frame_block, prompt_line};
use crate::text::{sanitize_line, truncate};
use crate::tui::keymap::Action;
use crate::tui::layout::Areas;
use crate::tui::state::State;

/// The query and the sequence number of the line found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    pub query: String,
    pub found: Option<u64>,
}

impl Search {
    /// A search that already looked for `query` from the newest line.
    pub(crate) fn new(query: String, state: &State) -> Self {
        let found = state.current_buffer().search(&query, None, true);
        Search { query, found }
    }

    /// Where the log should scroll to show the match.
    pub(crate) fn outcome(self) -> Outcome {
        match self.found {
            Some(seq) => Outcome::ShowAt(Overlay::Search(self), seq),
            None => Outcome::Show(Overlay::Search(self)),
        }
    }

    pub(crate) fn handle(mut self, action: Action, state: &State) -> Outcome {
        let buffer = state.current_buffer();
        match action {
            Action::Cancel | Action::Interrupt => return Outcome::Close,
            Action::Insert(c) => {
                self.query.push(c);
                self.found = buffer.search(&self.query, None, true);
            }
            Action::Backspace => {
                self.query.pop();
                self.found = buffer.search(&self.query, None, true);
            }
            Action::Submit | Action::Up | Action::Search => {
                self.found = buffer.search(&self.query, self.found, true).or(self.found);
            }
            Action::Down => {
                self.found = buffer.search(&self.query, self.found, false).or(self.found);
            }
            _ => {}
        }
        self.outcome()
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>, state: &State, areas: Areas) {
        let log = areas.log;
        let area = Rect::new(
            log.x + 1,
            log.y + 1,
            log.width.saturating_sub(2),
            3.min(log.height.saturating_sub(1)),
        );
        let status = match (self.query.is_empty(), self.found) {
            (true, _) => String::new(),
            (false, Some(_)) => "  ↵ older · ↓ newer".to_string(),
            (false, None) => "  no match".to_string(),
        };
        let mut line: Line<'static> = prompt_line(sanitize_line(&self.query));
        line.spans.push(Span::styled(status, dim()));
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(line).block(frame_block(format!(
                " search #{} · Esc ",
                truncate(&state.current_buffer().display, 20)
            ))),
            area,
        );
    }
}
