//! The two confirmations: leaving a group, and sending a multi-line paste.

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Overlay, centered, frame_block, wrapped_lines};
use crate::text::{display_width, sanitize, sanitize_line, truncate};
use crate::tui::keymap::Action;

/// "leave #group? y or Enter leaves"; any other key stays.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaveConfirm {
    pub group: String,
}

impl LeaveConfirm {
    pub(crate) fn handle(self, action: Action) -> Outcome {
        if matches!(action, Action::Submit | Action::Insert('y' | 'Y')) {
            Outcome::Leave(self.group)
        } else {
            Outcome::Close
        }
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        let name = truncate(&sanitize_line(&self.group), 30);
        let question = format!("leave #{name}? ");
        let rest = " or Enter leaves · any other key stays";
        // Wide enough for the whole question (the box is cut only on narrow screens).
        let width = (display_width(&question) + 1 + display_width(rest) + 2) as u16;
        let area = centered(frame.area(), width, 3);
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw(question),
                Span::styled(
                    "y",
                    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(rest),
            ]))
            .block(frame_block(" leave ".to_string())),
            area,
        );
    }
}

/// A paste of several lines: Enter sends it as one message, `e` edits it first.
#[derive(Debug, Clone, PartialEq)]
pub struct PasteConfirm {
    pub text: String,
}

impl PasteConfirm {
    pub(crate) fn handle(self, action: Action) -> Outcome {
        match action {
            Action::Submit => Outcome::SendPaste(self.text),
            Action::Insert('e') => Outcome::EditPaste(self.text),
            Action::Cancel | Action::Interrupt => Outcome::Close,
            _ => Outcome::Show(Overlay::PasteConfirm(self)),
        }
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        let line_count = self.text.lines().count();
        let area = centered(frame.area(), 70, (line_count as u16 + 2).clamp(4, 16));
        let safe = sanitize(&self.text);
        let inner_width = usize::from(area.width.saturating_sub(2));
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(wrapped_lines(&safe, inner_width)).block(frame_block(format!(
                " paste {line_count} lines · Enter sends · e edits · Esc cancels "
            ))),
            area,
        );
    }
}
