//! Overlays drawn over the main screen, one at a time. Each lives in its own file and owns
//! its keys (`handle`, which returns an [`Outcome`] for the App to act on) and its drawing.

mod confirm;
mod help;
mod history_page;
mod join_prompt;
mod search;
mod switcher;
mod viewer;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;

pub use confirm::{LeaveConfirm, PasteConfirm};
pub use help::Help;
pub use history_page::{HistoryPage, ShownLine};
pub use join_prompt::JoinPrompt;
pub use search::{Search, Stored, StoredState};
pub use switcher::Switcher;
pub use viewer::Viewer;

use super::history_reader::HistoryRequest;
use super::keymap::Action;
use super::layout::Areas;
use super::state::{NoteLevel, State};
use crate::text::wrap_ranges;

/// The overlay shown, if any.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help(Help),
    Switcher(Switcher),
    JoinPrompt(JoinPrompt),
    LeaveConfirm(LeaveConfirm),
    PasteConfirm(PasteConfirm),
    Search(Search),
    Viewer(Viewer),
    HistoryPage(HistoryPage),
}

/// What an overlay asks of the App after a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Keep an overlay open: this one (changed or not), or the one it leads to.
    Show(Overlay),
    /// Keep it open and put a note in the status bar.
    ShowWithNote(Overlay, NoteLevel, String),
    /// Keep it open with the log scrolled so that this line is the newest shown.
    ShowAt(Overlay, u64),
    Close,
    SwitchTo(usize),
    Join(String),
    Leave(String),
    /// Send pasted text as one message.
    SendPaste(String),
    /// Put pasted text into the input to edit it first.
    EditPaste(String),
    /// Keep this overlay open and read stored history for it.
    Ask(Overlay, HistoryRequest),
}

impl Overlay {
    /// A key (as an action) while this overlay is open.
    pub(crate) fn handle(self, action: Action, state: &State) -> Outcome {
        match self {
            Overlay::None => Outcome::Close,
            Overlay::Help(help) => help.handle(action, state),
            Overlay::Switcher(switcher) => switcher.handle(action, state),
            Overlay::JoinPrompt(prompt) => prompt.handle(action, state),
            Overlay::LeaveConfirm(confirm) => confirm.handle(action),
            Overlay::PasteConfirm(confirm) => confirm.handle(action),
            Overlay::Search(search) => search.handle(action, state),
            Overlay::Viewer(viewer) => viewer.handle(action, state),
            Overlay::HistoryPage(page) => page.handle(action),
        }
    }

    /// Draws the overlay over the main screen.
    pub(crate) fn draw(&self, frame: &mut Frame<'_>, state: &State, areas: Areas) {
        match self {
            Overlay::None => {}
            Overlay::Help(help) => help.draw(frame, state, areas),
            Overlay::Switcher(switcher) => switcher.draw(frame, state),
            Overlay::JoinPrompt(prompt) => prompt.draw(frame),
            Overlay::LeaveConfirm(confirm) => confirm.draw(frame),
            Overlay::PasteConfirm(confirm) => confirm.draw(frame),
            Overlay::Search(search) => search.draw(frame, state, areas),
            Overlay::Viewer(viewer) => viewer.draw(frame, areas),
            Overlay::HistoryPage(page) => page.draw(frame, state, areas),
        }
    }
}

/// The new scroll offset for a scrolling key in a read-only overlay (help, viewer); `None`
/// for any other key, which closes it.
fn scrolled(action: &Action, scroll: u16) -> Option<u16> {
    match action {
        Action::Up | Action::LineUp => Some(scroll.saturating_sub(1)),
        Action::Down | Action::LineDown => Some(scroll.saturating_add(1)),
        Action::PageUp => Some(scroll.saturating_sub(10)),
        Action::PageDown => Some(scroll.saturating_add(10)),
        Action::Home | Action::ScrollTop => Some(0),
        Action::End | Action::ScrollLive => Some(u16::MAX),
        _ => None,
    }
}

/// Where a reading overlay (help, viewer) goes: the whole width above the input row, so that
/// the input and the status bar stay in view and no sliver of the log shows beside it.
fn reading_area(areas: &Areas) -> Rect {
    Rect::new(0, 0, areas.status.width, areas.input.y)
}

/// `scroll` kept within `rows` lines shown `visible` at a time (inside a border).
fn clamped(scroll: u16, rows: usize, area: Rect) -> u16 {
    let visible = usize::from(area.height.saturating_sub(2));
    let last = u16::try_from(rows.saturating_sub(visible)).unwrap_or(u16::MAX);
    scroll.min(last)
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2)).max(1);
    let height = height.min(area.height.saturating_sub(2)).max(1);
    Rect::new(
        area.x + (area.width.saturating_sub(width)) / 2,
        area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    )
}

fn frame_block(title: String) -> Block<'static> {
    Block::bordered()
        .title(Span::styled(
            title,
            Style::new().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::new().fg(Color::Cyan))
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The `› text` line of a one-line prompt.
fn prompt_line(text: String) -> Line<'static> {
    Line::from(vec![
        Span::styled("› ", Style::new().fg(Color::Cyan)),
        Span::raw(text),
    ])
}

/// Wraps text to `width` into owned lines.
fn wrapped_lines(text: &str, width: usize) -> Vec<Line<'static>> {
    wrap_ranges(text, width, 10_000)
        .into_iter()
        .map(|r| Line::from(text[r].trim_end_matches('\n').to_string()))
        .collect()
}
