//! Search (Ctrl+F, `/search`): typing finds matches in the current buffer at once (↑ older,
//! ↓ newer, the log scrolls to them); Enter searches all stored history (history.md's
//! syntax), results newest first below the query; Enter on a result opens its group around
//! the hit. The footer says when the full-text index lags behind the writes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::history_page::{HistoryPage, ShownLine, rows};
use super::{Outcome, Overlay, dim, frame_block, prompt_line};
use crate::history::Query;
use crate::text::{sanitize_line, truncate};
use crate::tui::history_reader::HistoryRequest;
use crate::tui::keymap::Action;
use crate::tui::layout::Areas;
use crate::tui::state::State;

/// The query, the line found in the buffer, and what stored history answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    pub query: String,
    pub found: Option<u64>,
    /// The search of stored history, once Enter asked for it.
    pub stored: Option<Stored>,
}

/// A search of stored history: for which query, and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub text: String,
    pub state: StoredState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoredState {
    Searching,
    Hits {
        hits: Vec<ShownLine>,
        /// Rows not yet in the full-text index (scanned instead).
        behind: u64,
        selected: usize,
    },
    Failed(String),
}

impl Search {
    /// A search that already looked for `query` from the newest line.
    pub(crate) fn new(query: String, state: &State) -> Self {
        let found = state.current_buffer().search(&query, None, true);
        Search {
            query,
            found,
            stored: None,
        }
    }

    /// Where the log should scroll to show the match.
    pub(crate) fn outcome(self) -> Outcome {
        match self.found {
            Some(seq) => Outcome::ShowAt(Overlay::Search(self), seq),
            None => Outcome::Show(Overlay::Search(self)),
        }
    }

    /// Asks stored history for the query (a bad filter is said at once, nothing is asked).
    pub(crate) fn submit(mut self) -> Outcome {
        let text = self.query.trim().to_string();
        if text.is_empty() {
            return self.outcome();
        }
        match Query::parse(&text) {
            Ok(query) => {
                self.stored = Some(Stored {
                    text: text.clone(),
                    state: StoredState::Searching,
                });
                Outcome::Ask(
                    Overlay::Search(self),
                    HistoryRequest::Search { text, query },
                )
            }
            Err(error) => {
                self.stored = Some(Stored {
                    text,
                    state: StoredState::Failed(error.to_string()),
                });
                self.outcome()
            }
        }
    }

    /// Shows what stored history answered for `text`, if this search still waits for it.
    pub(crate) fn answered(&mut self, text: &str, state: StoredState) {
        if let Some(stored) = &mut self.stored
            && stored.text == text
            && stored.state == StoredState::Searching
        {
            stored.state = state;
        }
    }

    pub(crate) fn handle(mut self, action: Action, state: &State) -> Outcome {
        if let Some(outcome) = self.handle_hits(&action) {
            return outcome;
        }
        let buffer = state.current_buffer();
        match action {
            Action::Cancel | Action::Interrupt => return Outcome::Close,
            Action::Insert(c) => {
                self.query.push(c);
                self.stored = None;
                self.found = buffer.search(&self.query, None, true);
            }
            Action::Backspace => {
                self.query.pop();
                self.stored = None;
                self.found = buffer.search(&self.query, None, true);
            }
            // The box holds one line: Ctrl+U clears it, as in the input row.
            Action::KillLineBack => {
                self.query.clear();
                self.stored = None;
                self.found = None;
            }
            Action::Submit => return self.submit(),
            Action::Up | Action::Search => {
                self.found = buffer.search(&self.query, self.found, true).or(self.found);
            }
            Action::Down => {
                self.found = buffer.search(&self.query, self.found, false).or(self.found);
            }
            _ => {}
        }
        self.outcome()
    }

    /// Keys that move through stored results and open one; `None` for the others.
    fn handle_hits(&mut self, action: &Action) -> Option<Outcome> {
        let Some(Stored {
            state: StoredState::Hits { hits, selected, .. },
            ..
        }) = &mut self.stored
        else {
            return None;
        };
        match action {
            Action::Up => *selected = selected.saturating_sub(1),
            Action::Down => *selected = (*selected + 1).min(hits.len().saturating_sub(1)),
            Action::Submit => {
                let hit = hits.get(*selected)?.clone();
                let request = HistoryRequest::Around {
                    group: hit.group.clone(),
                    id: hit.id,
                };
                let back = Some(Box::new(self.clone()));
                let page = HistoryPage::loading(&hit.group, request.clone(), back);
                return Some(Outcome::Ask(Overlay::HistoryPage(page), request));
            }
            _ => return None,
        }
        Some(Outcome::Show(Overlay::Search(self.clone())))
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>, state: &State, areas: Areas) {
        let log = areas.log;
        let results = self.stored.as_ref().map(|stored| &stored.state);
        let wanted = match results {
            Some(StoredState::Hits { hits, .. }) => hits.len() as u16 + 4,
            Some(_) => 4,
            None => 3,
        };
        let area = Rect::new(
            log.x + 1,
            log.y + 1,
            log.width.saturating_sub(2),
            wanted.min(log.height.saturating_sub(1)),
        );
        let width = usize::from(area.width.saturating_sub(2));
        let status = match (self.query.is_empty(), self.found) {
            (true, _) => String::new(),
            (false, _) if results.is_some() => String::new(),
            (false, Some(_)) => "  ↵ all history · ↑ older · ↓ newer".to_string(),
            (false, None) => "  not in this log · ↵ all history".to_string(),
        };
        let mut line: Line<'static> = prompt_line(sanitize_line(&self.query));
        line.spans.push(Span::styled(status, dim()));
        let mut lines = vec![line];
        let footer = match results {
            None => None,
            Some(StoredState::Searching) => Some("searching all history…".to_string()),
            Some(StoredState::Failed(error)) => Some(sanitize_line(error)),
            Some(StoredState::Hits {
                hits,
                behind,
                selected,
            }) => {
                let height = usize::from(area.height.saturating_sub(4));
                lines.extend(rows(hits, *selected, state, (width, height), true));
                Some(footer(hits.len(), *behind))
            }
        };
        if let Some(footer) = footer {
            lines.push(Line::from(Span::styled(truncate(&footer, width), dim())));
        }
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines).block(frame_block(match self.stored {
                Some(_) => " search all history · Esc ".to_string(),
                None => format!(
                    " search #{} · Esc ",
                    truncate(&state.current_buffer().display, 20)
                ),
            })),
            area,
        );
    }
}

/// The results' footer: how far the index lags (first: it is why a hit may be missing),
/// how many, and the keys.
fn footer(hits: usize, behind: u64) -> String {
    let count = match hits {
        0 => "no match in stored history".to_string(),
        1 => "1 result · ↵ open".to_string(),
        n => format!("{n} results, newest first · ↑↓ ↵ open"),
    };
    if behind == 0 {
        return count;
    }
    format!("index {} behind · {count}", grouped(behind))
}

/// `12345` as `12 345`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
