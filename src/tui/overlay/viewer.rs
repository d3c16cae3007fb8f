//! The full-message viewer: one message pretty-printed (JSON) or hex-dumped (binary).

use ratatui::Frame;
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Overlay, clamped, frame_block, reading_area, scrolled, wrapped_lines};
use crate::text::truncate;
use crate::tui::format::{hex_dump, line_bytes, pretty_json, protobuf_view};
use crate::tui::keymap::Action;
use crate::tui::layout::{Areas, layout};
use crate::tui::state::{LineKind, State};

/// A message in full; scrolls, any other key closes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub title: String,
    pub text: String,
    pub scroll: u16,
}

impl Viewer {
    /// The newest message in view, in full; `None` when the buffer is empty.
    pub(crate) fn newest_visible(state: &State) -> Option<Self> {
        let buffer = state.current_buffer();
        let index = buffer.view_end().checked_sub(1)?;
        let line = buffer.lines.get(index)?;
        let time = state.clock.local(line.time_ms).format("%Y-%m-%d %H:%M:%S");
        let sender = state.sender_name(line.sender);
        let (kind, text) = match line.kind {
            LineKind::Json => ("json", pretty_json(line.body)),
            LineKind::Protobuf => ("protobuf", protobuf_view(line.body)),
            LineKind::Binary => {
                let dump = hex_dump(&line_bytes(&line));
                let text = format!("{}\n\nbase64:\n{}", dump.trim_end(), line.body);
                ("binary", text)
            }
            _ => ("text", line.body.to_string()),
        };
        Some(Viewer {
            title: format!("{sender} {time} · {kind}"),
            text,
            scroll: 0,
        })
    }

    pub(crate) fn handle(self, action: Action, state: &State) -> Outcome {
        match scrolled(&action, self.scroll) {
            Some(scroll) => {
                let area = reading_area(&layout(state));
                let rows = wrapped_lines(&self.text, inner_width(area)).len();
                let scroll = clamped(scroll, rows, area);
                Outcome::Show(Overlay::Viewer(Viewer { scroll, ..self }))
            }
            None => Outcome::Close,
        }
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>, areas: Areas) {
        let area = reading_area(&areas);
        let inner_width = inner_width(area);
        let lines = wrapped_lines(&self.text, inner_width);
        let scroll = clamped(self.scroll, lines.len(), area);
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines)
                .scroll((scroll, 0))
                .block(frame_block(format!(
                    " {} · Esc ",
                    truncate(&self.title, inner_width.saturating_sub(8))
                ))),
            area,
        );
    }
}

fn inner_width(area: ratatui::layout::Rect) -> usize {
    usize::from(area.width.saturating_sub(2))
}
