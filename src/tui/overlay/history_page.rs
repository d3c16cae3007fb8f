//! A group's stored history around a search hit or a time (`/goto`): lines read from disk,
//! one row each, the focused one highlighted. Moving past the first or last line asks for an
//! older or newer page, shown with a "loading…" row until it comes; the chat stays live
//! underneath.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Overlay, Search, dim, frame_block};
use crate::text::{display_width, truncate};
use crate::tui::history_reader::HistoryRequest;
use crate::tui::keymap::Action;
use crate::tui::layout::Areas;
use crate::tui::state::State;

/// Lines a page keeps at most; the far end is let go as new pages come in.
const KEPT_LINES: usize = 5_000;
/// Rows PageUp/PageDown move.
const PAGE_STEP: usize = 10;

/// A stored line as history overlays show it: made safe and flattened to one row.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownLine {
    /// Its history id.
    pub id: i64,
    /// The raw group name (asked for again), and its safe display form.
    pub group: String,
    pub group_shown: String,
    pub time_ms: i64,
    pub sender: String,
    pub text: String,
}

impl ShownLine {
    /// `Nov 30 14:05 sender: text`, cut to `width` columns.
    fn row(&self, state: &State, width: usize, with_group: bool) -> String {
        let time = state.clock.local(self.time_ms).format("%b %d %H:%M");
        let row = if with_group {
            format!(
                "{time} #{} {}: {}",
                self.group_shown, self.sender, self.text
            )
        } else {
            format!("{time} {}: {}", self.sender, self.text)
        };
        let row = truncate(&row, width);
        let pad = width.saturating_sub(display_width(&row));
        row + &" ".repeat(pad)
    }
}

/// The rows of `lines` that fit `height`, the `selected` one highlighted and in view.
pub(super) fn rows(
    lines: &[ShownLine],
    selected: usize,
    state: &State,
    (width, height): (usize, usize),
    with_group: bool,
) -> Vec<Line<'static>> {
    let first = selected
        .saturating_sub(height / 2)
        .min(lines.len().saturating_sub(height));
    lines
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, line)| {
            let style = if i == selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Line::from(Span::styled(line.row(state, width, with_group), style))
        })
        .collect()
}

/// The history of one group around a line.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub group: String,
    pub group_shown: String,
    pub lines: Vec<ShownLine>,
    /// The focused line (an index into `lines`).
    pub focus: usize,
    /// The read in flight, if any.
    pub loading: Option<HistoryRequest>,
    pub no_older: bool,
    pub no_newer: bool,
    pub error: Option<String>,
    /// The search this page was opened from: Esc goes back to it.
    pub back: Option<Box<Search>>,
}

impl HistoryPage {
    /// A page waiting for `request` (around a hit or a time) to be answered.
    pub(crate) fn loading(
        group: &str,
        request: HistoryRequest,
        back: Option<Box<Search>>,
    ) -> HistoryPage {
        HistoryPage {
            group: group.to_string(),
            group_shown: crate::text::sanitize_line(group),
            lines: Vec::new(),
            focus: 0,
            loading: Some(request),
            no_older: false,
            no_newer: false,
            error: None,
            back,
        }
    }

    /// Shows `lines` read for `asked`: the whole page around `focus`, or an older or newer
    /// page added at its end. An answer to a request this page no longer waits for is dropped.
    pub(crate) fn answered(
        &mut self,
        asked: &HistoryRequest,
        result: Result<(Vec<ShownLine>, Option<i64>), String>,
    ) {
        if self.loading.as_ref() != Some(asked) {
            return;
        }
        self.loading = None;
        let (lines, focus) = match result {
            Ok(answer) => answer,
            Err(error) => {
                self.error = Some(error);
                return;
            }
        };
        let full = lines.len() >= crate::tui::history_reader::PAGE_LINES;
        match asked {
            HistoryRequest::Older { .. } => {
                self.no_older = !full;
                self.focus += lines.len();
                self.lines.splice(0..0, lines);
                if self.lines.len() > KEPT_LINES {
                    self.lines.truncate(KEPT_LINES);
                    self.no_newer = false;
                }
            }
            HistoryRequest::Newer { .. } => {
                self.no_newer = !full;
                self.lines.extend(lines);
                let over = self.lines.len().saturating_sub(KEPT_LINES);
                if over > 0 {
                    self.lines.drain(..over);
                    self.focus = self.focus.saturating_sub(over);
                    self.no_older = false;
                }
            }
            _ => {
                self.focus = focus
                    .and_then(|id| lines.iter().position(|line| line.id >= id))
                    .unwrap_or(lines.len().saturating_sub(1));
                self.lines = lines;
            }
        }
    }

    pub(crate) fn handle(mut self, action: Action) -> Outcome {
        let last = self.lines.len().saturating_sub(1);
        let target = match action {
            Action::Cancel | Action::Interrupt => {
                return match self.back.take() {
                    Some(search) => Outcome::Show(Overlay::Search(*search)),
                    None => Outcome::Close,
                };
            }
            Action::Up | Action::LineUp => self.focus.checked_sub(1),
            Action::PageUp => self.focus.checked_sub(PAGE_STEP.min(self.focus.max(1))),
            Action::Down | Action::LineDown if self.focus < last => Some(self.focus + 1),
            Action::PageDown if self.focus < last => Some((self.focus + PAGE_STEP).min(last)),
            Action::Down | Action::LineDown | Action::PageDown => None,
            _ => Some(self.focus),
        };
        let up = matches!(action, Action::Up | Action::LineUp | Action::PageUp);
        match target {
            Some(focus) => self.focus = focus,
            None => return self.ask_next_page(up),
        }
        Outcome::Show(Overlay::HistoryPage(self))
    }

    /// The user moved past an end: the page beyond it, unless the history ends there.
    fn ask_next_page(mut self, older: bool) -> Outcome {
        let (Some(first), Some(last)) = (self.lines.first(), self.lines.last()) else {
            return Outcome::Show(Overlay::HistoryPage(self));
        };
        let done = if older { self.no_older } else { self.no_newer };
        if done || self.loading.is_some() {
            return Outcome::Show(Overlay::HistoryPage(self));
        }
        let group = self.group.clone();
        let request = if older {
            HistoryRequest::Older {
                group,
                before: first.id,
            }
        } else {
            HistoryRequest::Newer {
                group,
                after: last.id,
            }
        };
        self.loading = Some(request.clone());
        Outcome::Ask(Overlay::HistoryPage(self), request)
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>, state: &State, areas: Areas) {
        let log = areas.log;
        let area = Rect::new(
            log.x,
            log.y,
            log.width,
            log.height.max(3).min(frame.area().height),
        );
        let width = usize::from(area.width.saturating_sub(2));
        let mut height = usize::from(area.height.saturating_sub(2));
        let mut lines = Vec::new();
        let notice = match (&self.error, &self.loading) {
            (Some(error), _) => Some(truncate(error, width)),
            (None, Some(HistoryRequest::Older { .. })) => Some("loading older lines…".into()),
            (None, Some(HistoryRequest::Newer { .. })) => None,
            (None, Some(_)) => Some("loading…".into()),
            (None, None) if self.lines.is_empty() => Some("nothing stored for this group".into()),
            (None, None) if self.no_older && self.focus == 0 => Some("(start of history)".into()),
            (None, None) => None,
        };
        if let Some(notice) = notice {
            lines.push(Line::from(Span::styled(notice, dim())));
            height = height.saturating_sub(1);
        }
        let newer_loading = matches!(self.loading, Some(HistoryRequest::Newer { .. }));
        if newer_loading {
            height = height.saturating_sub(1);
        }
        lines.extend(rows(&self.lines, self.focus, state, (width, height), false));
        if newer_loading {
            lines.push(Line::from(Span::styled("loading newer lines…", dim())));
        }
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines).block(frame_block(format!(
                " #{} · history · ↑↓ PgUp PgDn · Esc ",
                truncate(&self.group_shown, 20)
            ))),
            area,
        );
    }
}
