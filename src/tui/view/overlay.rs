//! Overlays: help (from the live key map), switcher, join prompt, leave and paste
//! confirmations, log search and the full-message viewer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::Areas;
use crate::text::{display_width, sanitize, truncate, wrap_ranges};
use crate::tui::app::{SwitchTarget, switcher_items};
use crate::tui::commands::COMMANDS;
use crate::tui::state::{Overlay, State};

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

/// Wraps text to `width` into owned lines.
fn wrapped_lines(text: &str, width: usize) -> Vec<Line<'static>> {
    wrap_ranges(text, width, 10_000)
        .into_iter()
        .map(|r| Line::from(text[r].trim_end_matches('\n').to_string()))
        .collect()
}

pub fn draw_overlay(frame: &mut Frame<'_>, state: &State, areas: Areas) {
    let screen = frame.area();
    match &state.overlay {
        Overlay::None => {}
        Overlay::Help { scroll, topic } => {
            let mut area = centered(screen, 72, screen.height.saturating_sub(2));
            let inner_width = usize::from(area.width.saturating_sub(2));
            let mut lines: Vec<Line<'static>> = Vec::new();
            match topic {
                Some(topic) => {
                    for (_, usage, description) in COMMANDS.iter().filter(|(n, _, _)| n == topic) {
                        lines.push(Line::from(Span::styled(
                            usage.to_string(),
                            Style::new().fg(Color::Cyan),
                        )));
                        lines.push(Line::from(format!("  {description}")));
                    }
                    // One command's help is a few lines: a small box, not the whole screen.
                    let height = (lines.len() as u16 + 2).max(4);
                    area = centered(screen, 72, height);
                }
                None => {
                    let keys_width = state
                        .help
                        .iter()
                        .map(|r| display_width(&r.keys))
                        .max()
                        .unwrap_or(0)
                        .min(inner_width / 2);
                    lines.push(Line::from(Span::styled(
                        "Keys",
                        Style::new().add_modifier(Modifier::BOLD),
                    )));
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
                    lines.push(Line::from(Span::styled(
                        "Commands",
                        Style::new().add_modifier(Modifier::BOLD),
                    )));
                    for (_, usage, description) in COMMANDS {
                        lines.push(Line::from(vec![
                            Span::styled(format!(" {usage}  "), Style::new().fg(Color::Cyan)),
                            Span::raw(description.to_string()),
                        ]));
                    }
                }
            }
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0))
                    .block(frame_block(" help · ↑↓ scroll · Esc closes ".to_string())),
                area,
            );
        }
        Overlay::Switcher { query, selected } => {
            let items = switcher_items(state, query);
            let height = (items.len() as u16 + 3).clamp(5, 16);
            let area = centered(screen, 50, height);
            let inner_width = usize::from(area.width.saturating_sub(2));
            let visible = usize::from(area.height.saturating_sub(3));
            let first = (selected + 1).saturating_sub(visible);
            let mut lines = vec![Line::from(vec![
                Span::styled("› ", Style::new().fg(Color::Cyan)),
                Span::raw(crate::text::sanitize_line(query)),
            ])];
            for (i, (label, target)) in items.iter().enumerate().skip(first).take(visible) {
                let mut style = match target {
                    SwitchTarget::Join(_) => Style::new().fg(Color::Green),
                    SwitchTarget::Buffer(_) => Style::new(),
                };
                if i == *selected {
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
            let cursor_x = area.x + 3 + display_width(query) as u16;
            frame.set_cursor_position((cursor_x.min(area.right().saturating_sub(2)), area.y + 1));
        }
        Overlay::JoinPrompt { input } => {
            let area = centered(screen, 50, 3);
            frame.render_widget(Clear, area);
            let text = crate::text::sanitize_line(input.text());
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("› ", Style::new().fg(Color::Cyan)),
                    Span::raw(text),
                ]))
                .block(frame_block(
                    " join group · Tab completes · Enter ".to_string(),
                )),
                area,
            );
            let column = display_width(&input.text()[..input.cursor()]) as u16;
            frame.set_cursor_position((
                (area.x + 3 + column).min(area.right().saturating_sub(2)),
                area.y + 1,
            ));
        }
        Overlay::LeaveConfirm { group } => {
            let name = truncate(&crate::text::sanitize_line(group), 30);
            let question = format!("leave #{name}? ");
            let rest = " or Enter leaves · any other key stays";
            // Wide enough for the whole question (the box is cut only on narrow screens).
            let width = (display_width(&question) + 1 + display_width(rest) + 2) as u16;
            let area = centered(screen, width, 3);
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
        Overlay::PasteConfirm { text } => {
            let line_count = text.lines().count();
            let area = centered(screen, 70, (line_count as u16 + 2).clamp(4, 16));
            let safe = sanitize(text);
            let inner_width = usize::from(area.width.saturating_sub(2));
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(wrapped_lines(&safe, inner_width)).block(frame_block(format!(
                    " paste {line_count} lines · Enter sends · e edits · Esc cancels "
                ))),
                area,
            );
        }
        Overlay::Search { query, found } => {
            let log = areas.log;
            let area = Rect::new(
                log.x + 1,
                log.y + 1,
                log.width.saturating_sub(2),
                3.min(log.height.saturating_sub(1)),
            );
            let status = match (query.is_empty(), found) {
                (true, _) => String::new(),
                (false, Some(_)) => "  ↵ older · ↓ newer".to_string(),
                (false, None) => "  no match".to_string(),
            };
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("› ", Style::new().fg(Color::Cyan)),
                    Span::raw(crate::text::sanitize_line(query)),
                    Span::styled(status, dim()),
                ]))
                .block(frame_block(format!(
                    " search #{} · Esc ",
                    truncate(&state.current_buffer().display, 20)
                ))),
                area,
            );
        }
        Overlay::Viewer {
            title,
            text,
            scroll,
        } => {
            let area = centered(
                screen,
                screen.width.saturating_sub(4),
                screen.height.saturating_sub(2),
            );
            let inner_width = usize::from(area.width.saturating_sub(2));
            frame.render_widget(Clear, area);
            frame.render_widget(
                Paragraph::new(wrapped_lines(text, inner_width))
                    .scroll((*scroll, 0))
                    .block(frame_block(format!(
                        " {} · Esc ",
                        truncate(title, inner_width.saturating_sub(8))
                    ))),
                area,
            );
        }
    }
}
