//! The help overlay: the live key map and the slash commands, or one command's usage.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{Outcome, Overlay, centered, clamped, frame_block, reading_area, scrolled};
use crate::text::{display_width, truncate};
use crate::tui::commands::COMMANDS;
use crate::tui::keymap::Action;
use crate::tui::layout::{Areas, layout};
use crate::tui::state::State;

/// Keys and commands; scrolls, any other key closes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Help {
    pub scroll: u16,
    /// Only this command's help, from `/help cmd`.
    pub topic: Option<String>,
}

impl Help {
    pub(crate) fn handle(self, action: Action, state: &State) -> Outcome {
        match scrolled(&action, self.scroll) {
            Some(scroll) => {
                let (area, lines) = self.area_and_lines(state, &layout(state));
                let scroll = clamped(scroll, lines.len(), area);
                Outcome::Show(Overlay::Help(Help { scroll, ..self }))
            }
            None => Outcome::Close,
        }
    }

    /// The box (the whole width above the input; small for one command) and its lines.
    fn area_and_lines(&self, state: &State, areas: &Areas) -> (Rect, Vec<Line<'static>>) {
        let region = reading_area(areas);
        match &self.topic {
            Some(topic) => {
                let lines = topic_lines(topic);
                // One command's help is a few lines: a small box, not the whole screen.
                let height = (lines.len() as u16 + 2).max(4);
                (centered(region, 72, height), lines)
            }
            None => (
                region,
                all_lines(state, usize::from(region.width.saturating_sub(2))),
            ),
        }
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>, state: &State, areas: Areas) {
        let (area, lines) = self.area_and_lines(state, &areas);
        let scroll = clamped(self.scroll, lines.len(), area);
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((scroll, 0))
                .block(frame_block(" help · ↑↓ scroll · Esc closes ".to_string())),
            area,
        );
    }
}

fn heading(text: &'static str) -> Line<'static> {
    Line::from(Span::styled(
        text,
        Style::new().add_modifier(Modifier::BOLD),
    ))
}

fn topic_lines(topic: &str) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for command in COMMANDS.iter().filter(|c| c.name == topic) {
        lines.push(Line::from(Span::styled(
            command.usage,
            Style::new().fg(Color::Cyan),
        )));
        lines.push(Line::from(format!("  {}", command.help)));
    }
    lines
}

fn all_lines(state: &State, inner_width: usize) -> Vec<Line<'static>> {
    let keys_width = state
        .help
        .iter()
        .map(|r| display_width(&r.keys))
        .max()
        .unwrap_or(0)
        .min(inner_width / 2);
    let mut lines = vec![heading("Keys")];
    for row in &state.help {
        let keys = truncate(&row.keys, keys_width);
        let pad = keys_width.saturating_sub(display_width(&keys));
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {keys}{} ", " ".repeat(pad)),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(row.description.clone()),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(heading("Commands"));
    for command in COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {}  ", command.usage),
                Style::new().fg(Color::Cyan),
            ),
            Span::raw(command.help),
        ]));
    }
    lines
}
