//! The join prompt (Alt+J): a one-line editor for a group name, with Tab completion over the
//! group names seen here.

use ratatui::Frame;
use ratatui::widgets::{Clear, Paragraph};

use super::{Outcome, Overlay, centered, frame_block, prompt_line};
use crate::protocol::validate_group_name;
use crate::text::{display_width, sanitize_line};
use crate::tui::editor::Editor;
use crate::tui::keymap::Action;
use crate::tui::state::{NoteLevel, State};

/// The group name being typed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JoinPrompt {
    pub input: Editor,
}

impl JoinPrompt {
    pub(crate) fn handle(mut self, action: Action, state: &State) -> Outcome {
        match action {
            Action::Cancel | Action::Interrupt => Outcome::Close,
            Action::Submit => {
                let group = self.input.text().trim().to_string();
                if group.is_empty() {
                    return Outcome::Close;
                }
                match validate_group_name(&group) {
                    Ok(()) => Outcome::Join(group),
                    Err(e) => Outcome::ShowWithNote(
                        Overlay::JoinPrompt(self),
                        NoteLevel::Error,
                        format!("cannot join: {e}"),
                    ),
                }
            }
            Action::Complete | Action::CompleteBack => {
                let found = self.complete(action == Action::CompleteBack, state);
                let overlay = Overlay::JoinPrompt(self);
                if found {
                    Outcome::Show(overlay)
                } else {
                    // The service has no "list groups": only names seen here.
                    let hint = "no group name seen here matches; type it in full";
                    Outcome::ShowWithNote(overlay, NoteLevel::Info, hint.to_string())
                }
            }
            other => {
                edit(&mut self.input, other);
                Outcome::Show(Overlay::JoinPrompt(self))
            }
        }
    }

    /// Tab: starts or cycles completion; false when no name matches.
    fn complete(&mut self, backwards: bool, state: &State) -> bool {
        let input = &mut self.input;
        let found = if input.completing() {
            input.cycle_completion(backwards);
            true
        } else {
            let word = input.text().to_lowercase();
            let candidates = state
                .group_names()
                .into_iter()
                .filter(|g| g.to_lowercase().starts_with(&word))
                .collect();
            input.start_completion(candidates, backwards)
        };
        // No trailing space in a group name.
        let trimmed = input.text().trim_end().to_string();
        input.set_text(&trimmed);
        found
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>) {
        let area = centered(frame.area(), 50, 3);
        frame.render_widget(Clear, area);
        let text = sanitize_line(self.input.text());
        frame.render_widget(
            Paragraph::new(prompt_line(text)).block(frame_block(
                " join group · Tab completes · Enter ".to_string(),
            )),
            area,
        );
        let column = display_width(&self.input.text()[..self.input.cursor()]) as u16;
        frame.set_cursor_position((
            (area.x + 3 + column).min(area.right().saturating_sub(2)),
            area.y + 1,
        ));
    }
}

/// Applies an editing action to the prompt: a paste keeps its first line only.
fn edit(input: &mut Editor, action: Action) {
    match action {
        Action::Paste(text) => input.insert_str(text.lines().next().unwrap_or_default()),
        other => {
            input.apply(&other);
        }
    }
}
