//! Pure rendering of `&State` into a ratatui `Frame`: group pane, log, input, status bar and
//! overlays. Nothing here changes state or reads a clock.

mod hyperlinks;
mod log;

pub use log::message_rows;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_segmentation::UnicodeSegmentation;

use super::format::{compact_count, round_trip_label};
use super::layout::{group_pane_rows, layout_in};
use super::state::{BufferKind, ConnStatus, Membership, NoteLevel, Overlay, State};
use crate::protocol::DataType;
use crate::text::{display_width, grapheme_width, terminal_fallback, truncate, truncate_middle};

/// The input line's prompt.
const PROMPT: &str = " › ";

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, state: &State) {
    let area = frame.area();
    // The frame's size wins over the last resize event.
    let areas = layout_in(state, (area.width, area.height));
    if area.width < 10 || area.height < 4 {
        frame.render_widget(Paragraph::new("window too small"), area);
        return;
    }
    if let Some(groups) = areas.groups {
        draw_groups(frame, state, groups);
    }
    draw_log_block(frame, state, areas.log);
    let links = log::draw_log(state, areas.log_inner, frame.buffer_mut());
    draw_input(frame, state, areas.input);
    draw_status(frame, state, areas.status);
    state.overlay.draw(frame, state, areas);
    draw_safely_for_terminals(frame.buffer_mut());
    // Last: the hyperlink cells must not be measured or replaced by the pass above.
    hyperlinks::draw_hyperlinks(frame.buffer_mut(), &links);
}

/// Replaces every cell whose grapheme terminals may draw wider or narrower than ratatui
/// measured (flags, ZWJ sequences, …) by [`terminal_fallback`], padded with spaces over the
/// cells ratatui had reserved, so that what reaches the terminal advances its cursor exactly
/// as far as ratatui's layout assumed.
pub fn draw_safely_for_terminals(buffer: &mut Buffer) {
    let area = buffer.area;
    for y in area.top()..area.bottom() {
        let mut x = area.left();
        while x < area.right() {
            let symbol = buffer[(x, y)].symbol();
            // Measured only when replaced: the cells a wide character covers hold a blank,
            // which needs no fallback either.
            let Some(fallback) = terminal_fallback(symbol) else {
                x += 1;
                continue;
            };
            let width = grapheme_width(symbol).max(1) as u16;
            let end = x.saturating_add(width).min(area.right());
            let mut column = x;
            for part in fallback.graphemes(true) {
                if column >= end {
                    break;
                }
                buffer[(column, y)].set_symbol(part);
                column += grapheme_width(part).max(1) as u16;
            }
            for blank in column..end {
                buffer[(blank, y)].set_symbol(" ");
            }
            x = end.max(x + 1);
        }
    }
}

fn badge(unread: u32, mentions: u32) -> Option<(String, Style)> {
    if mentions > 0 {
        Some((
            format!("[{}]!", compact_count(mentions)),
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        ))
    } else if unread > 0 {
        Some((
            format!("({})", compact_count(unread)),
            Style::new().fg(Color::Yellow),
        ))
    } else {
        None
    }
}

fn draw_groups(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let block = Block::bordered()
        .title(" groups ")
        .border_style(Style::new().fg(Color::DarkGray));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let cells = frame.buffer_mut();
    for (row, entry) in group_pane_rows(state).iter().enumerate() {
        if row >= usize::from(inner.height) {
            break;
        }
        let y = inner.y + row as u16;
        let Some(index) = entry else {
            cells.set_stringn(
                inner.x,
                y,
                "─".repeat(width),
                width,
                Style::new().fg(Color::DarkGray),
            );
            continue;
        };
        let buffer = &state.buffers[*index];
        let number = match buffer.kind {
            BufferKind::Group if *index < 9 => format!("{} ", index + 1),
            BufferKind::Group if *index == 9 => "0 ".to_string(),
            BufferKind::Group => "  ".to_string(),
            _ => String::new(),
        };
        let badge = badge(buffer.unread, buffer.mentions);
        let badge_width = badge.as_ref().map_or(0, |(b, _)| display_width(b) + 1);
        let name_width = width.saturating_sub(display_width(&number) + badge_width);
        let name = truncate(&buffer.display, name_width);
        let mut style = match (buffer.kind, buffer.membership) {
            (BufferKind::Group, Membership::Joined) => Style::new(),
            (BufferKind::Group, _) => Style::new()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::ITALIC),
            _ => Style::new().fg(Color::Gray),
        };
        if buffer.mentions > 0 {
            style = style.fg(Color::Magenta).add_modifier(Modifier::BOLD);
        } else if buffer.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if *index == state.current {
            style = style.add_modifier(Modifier::REVERSED);
            cells.set_style(Rect::new(inner.x, y, inner.width, 1), style);
        }
        let used = display_width(&number) + display_width(&name);
        let mut spans = vec![Span::styled(number, style), Span::styled(name, style)];
        if let Some((text, badge_style)) = badge {
            let pad = width.saturating_sub(used + display_width(&text));
            spans.push(Span::styled(" ".repeat(pad), style));
            spans.push(Span::styled(text, badge_style));
        }
        cells.set_line(inner.x, y, &Line::from(spans), inner.width);
    }
}

fn draw_log_block(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let buffer = state.current_buffer();
    let title = match (buffer.kind, buffer.membership) {
        (BufferKind::Group, Membership::Joining) => format!(" #{} (joining…) ", buffer.display),
        (BufferKind::Group, Membership::Leaving) => format!(" #{} (leaving…) ", buffer.display),
        (BufferKind::Group, _) => format!(" #{} ", buffer.display),
        _ => format!(" {} ", buffer.display),
    };
    let title = truncate(&title, usize::from(area.width.saturating_sub(4)));
    let mut block = Block::bordered()
        .title(Span::styled(
            title,
            Style::new().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::new().fg(Color::DarkGray));
    let seen = buffer.members_seen.len();
    if buffer.is_group() && seen > 0 && area.width > 40 {
        let label = if seen == 1 { "member" } else { "members" };
        block = block.title_top(Line::from(format!(" {seen} {label} seen ")).right_aligned());
    }
    frame.render_widget(block, area);
}

fn draw_input(frame: &mut Frame<'_>, state: &State, area: Rect) {
    if area.height == 0 {
        return;
    }
    let editor = &state.editor;
    let width = usize::from(area.width);
    let prompt = PROMPT;
    let prompt_width = display_width(prompt);
    let cells = frame.buffer_mut();
    if let Some(search) = &editor.search {
        let found = search
            .found
            .and_then(|i| editor.history().get(i))
            .map_or("", |s| s.as_str());
        let text = format!(
            " (history search) {}: {}",
            search.query,
            found.replace('\n', "↵")
        );
        cells.set_stringn(area.x, area.y, &text, width, Style::new().fg(Color::Cyan));
        return;
    }
    if editor.is_empty() {
        return draw_placeholder(frame, state, area);
    }
    let text = editor.text();
    let (cursor_line, lines) = editor.line_position();
    let rows = usize::from(area.height);
    // Keep the cursor's line in view.
    let first = (cursor_line + 1)
        .saturating_sub(rows)
        .min(lines.saturating_sub(1));
    let available = width.saturating_sub(prompt_width + 1);
    let line_start = text[..editor.cursor()].rfind('\n').map_or(0, |i| i + 1);
    // Measure what is drawn: the sanitised text (a pasted ESC shows as a 1-cell glyph).
    let cursor_column = display_width(&crate::text::sanitize_line(
        &text[line_start..editor.cursor()],
    ));
    // Scroll horizontally so the cursor stays visible on long lines.
    let skip_columns = cursor_column.saturating_sub(available);
    let mut cursor = None;
    for (row, line) in text.split('\n').enumerate().skip(first).take(rows) {
        let y = area.y + (row - first) as u16;
        let lead = if row == 0 { prompt } else { "   " };
        cells.set_stringn(area.x, y, lead, width, Style::new().fg(Color::Cyan));
        let safe = crate::text::sanitize_line(line);
        let visible = if row == cursor_line && skip_columns > 0 {
            skip_width(&safe, skip_columns)
        } else {
            safe.as_str()
        };
        cells.set_stringn(
            area.x + prompt_width as u16,
            y,
            visible,
            available,
            Style::new(),
        );
        if row == cursor_line {
            cursor = Some((
                area.x + (prompt_width + cursor_column - skip_columns) as u16,
                y,
            ));
        }
    }
    if state.overlay == Overlay::None
        && let Some(position) = cursor
    {
        frame.set_cursor_position(position);
    }
}

/// The empty input: the prompt and a hint at what typing does here.
fn draw_placeholder(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let width = usize::from(area.width);
    let prompt_width = display_width(PROMPT);
    let buffer = state.current_buffer();
    let placeholder = if buffer.is_group() {
        format!(
            "message #{} ({})",
            buffer.display,
            data_type_label(state.settings.data_type)
        )
    } else {
        "/join <group>, Alt+J or Ctrl+K to pick a group".to_string()
    };
    let cells = frame.buffer_mut();
    cells.set_stringn(area.x, area.y, PROMPT, width, Style::new().fg(Color::Cyan));
    cells.set_stringn(
        area.x + prompt_width as u16,
        area.y,
        &placeholder,
        width.saturating_sub(prompt_width),
        Style::new().fg(Color::DarkGray),
    );
    if state.overlay == Overlay::None {
        frame.set_cursor_position((area.x + prompt_width as u16, area.y));
    }
}

fn skip_width(text: &str, columns: usize) -> &str {
    use unicode_segmentation::UnicodeSegmentation;
    let mut skipped = 0;
    for (i, g) in text.grapheme_indices(true) {
        if skipped >= columns {
            return &text[i..];
        }
        skipped += crate::text::grapheme_width(g);
    }
    ""
}

fn data_type_label(data_type: DataType) -> &'static str {
    data_type.as_str()
}

/// The connection state as the status bar words it.
fn conn_label(state: &State) -> (String, Style) {
    let now = state.clock.mono;
    match &state.conn.status {
        ConnStatus::Connecting { attempt } if *attempt <= 1 => {
            ("◌ connecting".to_string(), Style::new().fg(Color::Yellow))
        }
        ConnStatus::Connecting { attempt } => (
            format!("◌ connecting (attempt {attempt})"),
            Style::new().fg(Color::Yellow),
        ),
        ConnStatus::Connected => ("● connected".to_string(), Style::new().fg(Color::Green)),
        ConnStatus::Recovering { since } => (
            format!(
                "◌ recovering {} s",
                now.saturating_duration_since(*since).as_secs()
            ),
            Style::new().fg(Color::Yellow),
        ),
        ConnStatus::Reconnecting { retry_at, .. } => {
            let left = retry_at.saturating_duration_since(now);
            let secs = left.as_millis().div_ceil(1000);
            (
                format!("○ reconnecting in {secs} s"),
                Style::new().fg(Color::Red),
            )
        }
        ConnStatus::Offline { reason } => {
            (format!("○ offline: {reason}"), Style::new().fg(Color::Red))
        }
    }
}

/// Buffers with unread messages, for the status bar: "2,5!,system" (numbers are Alt+digit).
pub fn activity_list(state: &State) -> Option<String> {
    let items: Vec<String> = state
        .buffers
        .iter()
        .enumerate()
        .filter(|(i, b)| *i != state.current && (b.unread > 0 || b.mentions > 0))
        .map(|(i, b)| {
            let name = if b.is_group() {
                (i + 1).to_string()
            } else {
                b.display.clone()
            };
            if b.mentions > 0 {
                format!("{name}!")
            } else {
                name
            }
        })
        .collect();
    (!items.is_empty()).then(|| items.join(","))
}

/// The status-bar warning about a token that cannot be renewed, from 5 minutes before expiry.
pub fn token_warning(state: &State) -> Option<String> {
    let expiry = state.conn.token_expiry?;
    let now = state.clock.wall_ms;
    if !expiry.warning_at(now) {
        return None;
    }
    let left_ms = expiry.expires_ms - now;
    let when = if left_ms <= 0 {
        "expired".to_string()
    } else if left_ms < 60_000 {
        format!("expires in {} s", (left_ms + 999).div_euclid(1000))
    } else {
        format!("expires in {} min", (left_ms + 59_999).div_euclid(60_000))
    };
    Some(format!("⚠ token {when}; new connects may be refused"))
}

fn draw_status(frame: &mut Frame<'_>, state: &State, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let hint = state.help_hint.clone();
    let hint_width = display_width(&hint);
    let mut spans = status_alerts(state, area.width);
    match &state.note {
        Some(note) => {
            let style = match note.level {
                NoteLevel::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                NoteLevel::Info => Style::new().fg(Color::Cyan),
            };
            // Cut in the middle to leave room for the help hint: a note's end says what
            // went wrong.
            let used = spans.iter().map(|s| s.width()).sum::<usize>() + 2;
            let room = width.saturating_sub(used + hint_width + 1);
            spans.push(Span::raw("  "));
            spans.push(Span::styled(truncate_middle(&note.text, room), style));
        }
        None => {
            // Drop the least useful details first so that the help hint stays visible.
            let fixed = spans.iter().map(|s| s.width()).sum::<usize>() + hint_width + 1;
            let mut parts = status_details(state);
            while !parts.is_empty()
                && fixed + parts.iter().map(|p| display_width(p) + 2).sum::<usize>() > width
            {
                parts.pop();
            }
            if !parts.is_empty() {
                spans.push(Span::styled(
                    format!("  {}", parts.join("  ")),
                    Style::new().fg(Color::Gray),
                ));
            }
        }
    }
    let line = Line::from(spans);
    let used = line.width();
    let cells = frame.buffer_mut();
    cells.set_style(area, Style::new().bg(Color::Black));
    cells.set_line(area.x, area.y, &line, area.width);
    if used + hint_width < width {
        cells.set_stringn(
            area.x + (width - hint_width) as u16,
            area.y,
            &hint,
            hint_width,
            Style::new().fg(Color::DarkGray),
        );
    }
}

/// The start of the status bar: the connection, why it is down, activity elsewhere (when
/// the group pane is hidden) and the token warning.
fn status_alerts(state: &State, width: u16) -> Vec<Span<'static>> {
    let (label, label_style) = conn_label(state);
    let mut spans = vec![Span::raw(" "), Span::styled(label, label_style)];
    if let ConnStatus::Reconnecting { last_error, .. } = &state.conn.status
        && !last_error.is_empty()
        && state.note.is_none()
    {
        // Why we are not connected, kept short: the system buffer has the whole text.
        spans.push(Span::styled(
            format!(
                ": {}",
                truncate(last_error, (usize::from(width) / 3).max(10))
            ),
            Style::new().fg(Color::Red),
        ));
    }
    // With the group pane hidden (F7, or a narrow terminal) the status bar carries the
    // activity list instead, as WeeChat's hotlist: group numbers, `!` for mentions.
    if layout_in(state, (width, state.size.1)).groups.is_none()
        && let Some(activity) = activity_list(state)
    {
        let mentioned = state.buffers.iter().any(|b| b.mentions > 0);
        let style = if mentioned {
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Yellow)
        };
        spans.push(Span::raw("  "));
        spans.push(Span::styled(format!("[{activity}]"), style));
    }
    if let Some(warning) = token_warning(state) {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            warning,
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    spans
}

/// Who and where we are, most useful first: user@hub, connection, protocol, sequence, lag.
fn status_details(state: &State) -> Vec<String> {
    let user = state.user_id.as_ref().map_or_else(
        || "?".to_string(),
        |_| state.names.name(state.me).to_string(),
    );
    let mut parts = vec![if state.hub.is_empty() {
        user
    } else {
        format!("{user}@{}", state.hub)
    }];
    if let Some(id) = &state.conn.connection_id {
        let short: String = id.chars().take(3).collect();
        let dots = if id.chars().count() > 3 { "…" } else { "" };
        parts.push(format!("conn {short}{dots}"));
    }
    if state.conn.simple {
        parts.push(crate::tui::state::SIMPLE_STATUS.to_string());
    } else if let Some(protocol) = state.conn.protocol {
        parts.push(protocol.short_name().to_string());
    }
    if let Some(seq) = state.conn.last_seq {
        parts.push(format!("seq {seq}"));
    }
    // A lag measured before the link dropped says nothing about now.
    if let (Some(lag), ConnStatus::Connected) = (state.conn.lag, &state.conn.status) {
        parts.push(format!("lag {}", round_trip_label(lag.as_millis())));
    }
    parts
}
