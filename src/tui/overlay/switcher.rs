//! The switcher (Ctrl+K): find a buffer by a fuzzy query, switch to it, leave it, or join a
//! group by name.

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{LeaveConfirm, Outcome, Overlay, centered, frame_block, prompt_line};
use crate::protocol::validate_group_name;
use crate::text::{display_width, sanitize_line, truncate};
use crate::tui::keymap::Action;
use crate::tui::state::State;

/// The query typed and the row selected.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Switcher {
    pub query: String,
    pub selected: usize,
}

/// A row of the switcher.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchTarget {
    Buffer(usize),
    Join(String),
}

impl Switcher {
    pub(crate) fn handle(mut self, action: Action, state: &State) -> Outcome {
        let items = switcher_items(state, &self.query);
        match action {
            Action::Cancel | Action::Switcher | Action::Interrupt => return Outcome::Close,
            Action::Insert(c) => {
                self.query.push(c);
                self.selected = 0;
            }
            Action::Backspace => {
                self.query.pop();
                self.selected = 0;
            }
            Action::Up | Action::PrevGroup | Action::CompleteBack => {
                self.selected = self.selected.saturating_sub(1)
            }
            Action::Down | Action::NextGroup | Action::Complete => {
                self.selected = (self.selected + 1).min(items.len().saturating_sub(1))
            }
            Action::Delete => {
                if let Some((_, SwitchTarget::Buffer(index))) = items.get(self.selected)
                    && let Some(buffer) = state.buffers.get(*index)
                    && buffer.is_group()
                {
                    let group = buffer.name.clone();
                    return Outcome::Show(Overlay::LeaveConfirm(LeaveConfirm { group }));
                }
            }
            Action::Submit => {
                return match items.into_iter().nth(self.selected) {
                    Some((_, SwitchTarget::Buffer(index))) => Outcome::SwitchTo(index),
                    Some((_, SwitchTarget::Join(group))) => Outcome::Join(group),
                    None => Outcome::Close,
                };
            }
            _ => {}
        }
        Outcome::Show(Overlay::Switcher(self))
    }

    pub(crate) fn draw(&self, frame: &mut Frame<'_>, state: &State) {
        let items = switcher_items(state, &self.query);
        let height = (items.len() as u16 + 3).clamp(5, 16);
        let area = centered(frame.area(), 50, height);
        let inner_width = usize::from(area.width.saturating_sub(2));
        let visible = usize::from(area.height.saturating_sub(3));
        let first = (self.selected + 1).saturating_sub(visible);
        let mut lines = vec![prompt_line(sanitize_line(&self.query))];
        for (i, (label, target)) in items.iter().enumerate().skip(first).take(visible) {
            let mut style = match target {
                SwitchTarget::Join(_) => Style::new().fg(Color::Green),
                SwitchTarget::Buffer(_) => Style::new(),
            };
            if i == self.selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let text = truncate(label, inner_width.saturating_sub(2));
            let pad = inner_width.saturating_sub(display_width(&text) + 2);
            lines.push(Line::from(Span::styled(
                format!("  {text}{}", " ".repeat(pad)),
                style,
            )));
        }
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines).block(frame_block(
                " switch · Enter go/join · Ctrl+D leave ".to_string(),
            )),
            area,
        );
        let cursor_x = area.x + 3 + display_width(&self.query) as u16;
        frame.set_cursor_position((cursor_x.min(area.right().saturating_sub(2)), area.y + 1));
    }
}

/// The switcher's rows for a query: buffers matching it (fuzzy), then "join <query>" when the
/// query names a group we are not in.
pub(crate) fn switcher_items(state: &State, query: &str) -> Vec<(String, SwitchTarget)> {
    let mut scored: Vec<(usize, String, SwitchTarget)> = state
        .buffers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            fuzzy_score(&b.name, query).map(|s| (s, b.display.clone(), SwitchTarget::Buffer(i)))
        })
        .chain(state.known_groups.iter().filter_map(|g| {
            fuzzy_score(g, query).map(|s| {
                (
                    s + 1000,
                    format!("join {}", sanitize_line(g)),
                    SwitchTarget::Join(g.clone()),
                )
            })
        }))
        .collect();
    scored.sort_by_key(|(score, _, _)| *score);
    let mut items: Vec<(String, SwitchTarget)> = scored
        .into_iter()
        .map(|(_, label, target)| (label, target))
        .collect();
    let query = query.trim();
    if !query.is_empty()
        && state.group_index(query).is_none()
        && !state.known_groups.iter().any(|g| g == query)
        && validate_group_name(query).is_ok()
    {
        items.push((
            format!("join {}", sanitize_line(query)),
            SwitchTarget::Join(query.to_string()),
        ));
    }
    items
}

/// Subsequence match, case-insensitive; lower scores are better (earlier, tighter matches).
fn fuzzy_score(name: &str, query: &str) -> Option<usize> {
    if query.is_empty() {
        return Some(0);
    }
    let name_lower = name.to_lowercase();
    if let Some(at) = name_lower.find(&query.to_lowercase()) {
        return Some(at);
    }
    let mut chars = name_lower.char_indices();
    let mut first = None;
    let mut last = 0;
    for q in query.to_lowercase().chars() {
        let (i, _) = chars.find(|(_, c)| *c == q)?;
        first.get_or_insert(i);
        last = i;
    }
    Some(100 + last - first.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_matching_prefers_substrings() {
        assert_eq!(fuzzy_score("alerts", "ale"), Some(0));
        assert!(fuzzy_score("alerts", "ats").is_some());
        assert_eq!(fuzzy_score("ops", "x"), None);
    }
}
