//! The log pane: only the visible messages are wrapped and drawn, walking back from the
//! newest visible line, so a frame costs the same with ten or a million lines of history.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ratatui::buffer::Buffer as Cells;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::text::{display_width, truncate, wrap_ranges};
use crate::tui::state::{
    Buffer, BufferKind, Delivery, LineKind, LogLine, NO_SENDER, Overlay, State,
};

const PALETTE: [Color; 12] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Red,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightRed,
];

/// A stable colour per user id (FNV-1a of the name).
pub fn sender_color(name: &str) -> Color {
    let mut hash: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    PALETTE[(hash % PALETTE.len() as u32) as usize]
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// A protobuf line (the base64 of a whole `Any`): its type URL, then the value as
/// [`binary_preview`] shows bytes.
pub fn protobuf_preview(base64: &str, max_bytes: usize) -> String {
    let any = BASE64.decode(base64.as_bytes()).unwrap_or_default();
    match crate::protocol::protobuf::unpack_any(&any) {
        Some((type_url, value)) => format!(
            "{} · {}",
            crate::text::sanitize_line(&type_url),
            binary_preview(&BASE64.encode(value), max_bytes)
        ),
        None => binary_preview(base64, max_bytes),
    }
}

/// "12 B  48 65 6c …  He…" from base64 text: the size, the first bytes in hex, and the same
/// bytes as text (`·` for bytes that are not printable ASCII).
pub fn binary_preview(base64: &str, max_bytes: usize) -> String {
    let padding = base64.bytes().rev().take_while(|b| *b == b'=').count();
    let size = (base64.len() / 4 * 3).saturating_sub(padding);
    // Decode only a prefix: a multiple of 4 base64 characters.
    let prefix_chars = (max_bytes.div_ceil(3) * 4).min(base64.len());
    let bytes = BASE64
        .decode(&base64.as_bytes()[..prefix_chars - prefix_chars % 4])
        .unwrap_or_default();
    let shown = &bytes[..bytes.len().min(max_bytes)];
    let mut out = format!("{}  ", human_size(size));
    for b in shown {
        out.push_str(&format!("{b:02x} "));
    }
    let more = size > max_bytes;
    if more {
        out.push_str("… ");
    }
    if !shown.is_empty() {
        out.push(' ');
        out.extend(shown.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '·'
            }
        }));
        if more {
            out.push('…');
        }
    }
    out.trim_end().to_string()
}

fn human_size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// "<1 ms", "38 ms", "1.2 s".
pub fn round_trip_label(ms: u128) -> String {
    match ms {
        0 => "<1 ms".to_string(),
        1..=999 => format!("{ms} ms"),
        _ => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// The data type of a line, for the tag ("" for text and notices).
fn kind_label(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Json => "json",
        LineKind::Binary => "bin",
        LineKind::Protobuf => "protobuf",
        _ => "",
    }
}

/// The right-hand tag of a line: delivery of own messages, data type of others.
fn gutter<'a>(state: &'a State, line: &LogLine) -> Option<Span<'a>> {
    let kind = kind_label(line.kind);
    let with_kind = |text: String| {
        if kind.is_empty() {
            text
        } else {
            format!("{kind} {text}")
        }
    };
    match line.delivery {
        Delivery::Pending => Some(Span::styled(with_kind("◌".to_string()), dim())),
        Delivery::Queued => Some(Span::styled(
            with_kind("◌ queued".to_string()),
            Style::new().fg(Color::Yellow),
        )),
        Delivery::Acked(u32::MAX) => Some(Span::styled(
            with_kind("✓".to_string()),
            Style::new().fg(Color::Green),
        )),
        Delivery::Acked(ms) => Some(Span::styled(
            with_kind(format!("✓ {}", round_trip_label(u128::from(ms)))),
            Style::new().fg(Color::Green),
        )),
        Delivery::Failed(name) => Some(Span::styled(
            with_kind(format!("✗ {}", state.names.name(name))),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )),
        Delivery::None if !kind.is_empty() => Some(Span::styled(kind, dim())),
        Delivery::None => None,
    }
}

fn separator<'a>(text: String, width: usize, style: Style) -> Line<'a> {
    let text = truncate(&text, width.saturating_sub(6));
    let used = display_width(&text) + 4;
    let fill = "─".repeat(width.saturating_sub(used).max(1));
    Line::from(vec![Span::styled(format!("── {text} {fill}"), style)])
}

fn needs_day_separator(state: &State, buffer: &Buffer, index: usize) -> bool {
    let Some(line) = buffer.lines.get(index) else {
        return false;
    };
    match index.checked_sub(1).and_then(|i| buffer.lines.get(i)) {
        None => true,
        Some(previous) => state.clock.day_of(previous.time_ms) != state.clock.day_of(line.time_ms),
    }
}

/// Whether someone else's text or JSON line names our user id (as the unread count does).
fn mentions_me(state: &State, line: &LogLine) -> bool {
    matches!(line.kind, LineKind::Text | LineKind::Json)
        && state
            .user_id
            .as_deref()
            .is_some_and(|user| user.len() >= 2 && crate::tui::app::mentions(&line.body, user))
}

/// Rows of one message at `width` (day separator included), capped at the configured
/// number of lines.
pub fn message_rows<'a>(
    state: &'a State,
    buffer: &'a Buffer,
    index: usize,
    width: usize,
) -> Vec<Line<'a>> {
    let mut rows = Vec::new();
    let Some(line) = buffer.lines.get(index) else {
        return rows;
    };
    if width == 0 {
        return rows;
    }
    if needs_day_separator(state, buffer, index) {
        let day = state
            .clock
            .local(line.time_ms)
            .format("%A %-d %B")
            .to_string();
        rows.push(separator(day, width, dim()));
    }
    // The read marker: where the unread messages began when this buffer was switched to
    // (not above the first line: then everything is new).
    if index > 0 && buffer.first_unread == Some(buffer.first_seq + index as u64) {
        rows.push(separator(
            "new".to_string(),
            width,
            Style::new().fg(Color::LightRed),
        ));
    }
    if line.kind == LineKind::Gap {
        rows.push(separator(
            line.body.to_string(),
            width,
            Style::new().fg(Color::Yellow),
        ));
        return rows;
    }
    let mut time = String::new();
    {
        use std::fmt::Write;
        let _ = write!(
            time,
            "{}",
            state
                .clock
                .local(line.time_ms)
                .format(&state.settings.time_format)
        );
    }
    let time = truncate(&time, width / 3);
    let time_width = display_width(&time) + 1;
    let nick_width = usize::from(state.settings.nick_width).min(width / 4).max(3);
    let (nick, nick_style) = match line.kind {
        LineKind::Notice => ("*".to_string(), dim()),
        LineKind::FrameIn => ("←".to_string(), Style::new().fg(Color::Cyan)),
        LineKind::FrameOut => ("→".to_string(), Style::new().fg(Color::Magenta)),
        LineKind::Error => (
            "!".to_string(),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        _ if line.sender == NO_SENDER => (String::new(), dim()),
        _ => {
            let name = state.sender_name(line.sender);
            let mut style = Style::new().fg(sender_color(name));
            if line.sender == state.me {
                style = style.add_modifier(Modifier::BOLD);
            } else if mentions_me(state, line) {
                // A highlight, as WeeChat marks the prefix of a line that names you.
                style = Style::new()
                    .fg(Color::Black)
                    .bg(Color::Magenta)
                    .add_modifier(Modifier::BOLD);
            }
            (truncate(name, nick_width), style)
        }
    };
    let nick_pad = nick_width.saturating_sub(display_width(&nick));
    let prefix_width = time_width + nick_width + 1;
    let tag = gutter(state, line);
    let tag_width = tag
        .as_ref()
        .map_or(0, |t| (display_width(&t.content) + 1).min(width / 3));
    let body_width = width.saturating_sub(prefix_width + tag_width).max(4);
    let text_style = match line.kind {
        LineKind::Notice => dim(),
        LineKind::Error => Style::new().fg(Color::Red),
        _ => Style::new(),
    };
    let preview;
    let body: &str = match line.kind {
        LineKind::Binary => {
            preview = binary_preview(&line.body, 16);
            &preview
        }
        LineKind::Protobuf => {
            preview = protobuf_preview(&line.body, 16);
            &preview
        }
        _ => &line.body,
    };
    let max_lines = state.settings.max_message_lines.max(1);
    let mut ranges = wrap_ranges(body, body_width, max_lines + 1);
    let cut = ranges.len() > max_lines;
    if cut {
        ranges.truncate(max_lines.saturating_sub(1).max(1));
    }
    for (i, range) in ranges.iter().enumerate() {
        let row_text = body[range.clone()].trim_end_matches('\n');
        let mut spans = Vec::with_capacity(5);
        if i == 0 {
            spans.push(Span::styled(format!("{time} "), dim()));
            spans.push(Span::styled(
                format!("{nick}{} ", " ".repeat(nick_pad)),
                nick_style,
            ));
        } else {
            spans.push(Span::raw(" ".repeat(prefix_width)));
        }
        spans.push(Span::styled(row_text.to_string(), text_style));
        if i == 0
            && let Some(tag) = &tag
        {
            let used = prefix_width + display_width(row_text);
            let pad = width.saturating_sub(used + display_width(&tag.content));
            spans.push(Span::raw(" ".repeat(pad)));
            spans.push(tag.clone());
        }
        rows.push(Line::from(spans));
    }
    if cut {
        let hint = state
            .help
            .iter()
            .find(|r| r.description.starts_with("view the newest"))
            .map_or("", |r| r.keys.as_str());
        rows.push(Line::from(vec![
            Span::raw(" ".repeat(prefix_width)),
            Span::styled(format!("… more · {hint} shows all"), dim()),
        ]));
    }
    rows
}

/// Height of one message in rows (for paging).
pub fn message_height(state: &State, buffer: &Buffer, index: usize, width: usize) -> usize {
    message_rows(state, buffer, index, width).len()
}

/// Draws the visible window of the current buffer, newest at the bottom.
pub fn draw_log(state: &State, area: Rect, cells: &mut Cells) {
    let buffer = state.current_buffer();
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    if width == 0 || height == 0 {
        return;
    }
    if buffer.lines.is_empty() {
        let hint = match buffer.kind {
            BufferKind::Group => "no messages yet",
            BufferKind::Server => "messages sent by the server appear here",
            BufferKind::System => "connection events and errors appear here",
            BufferKind::Frames => "raw frames appear here while /raw is on",
        };
        cells.set_stringn(area.x, area.y, hint, width, dim());
        return;
    }
    let found = match &state.overlay {
        Overlay::Search { found, .. } => *found,
        _ => None,
    };
    let end = buffer.view_end();
    let mut rows: Vec<Line<'_>> = Vec::with_capacity(height + 8);
    let mut index = end;
    while index > 0 && rows.len() < height {
        index -= 1;
        let mut message = message_rows(state, buffer, index, width);
        if Some(buffer.first_seq + index as u64) == found {
            for row in &mut message {
                row.style = Style::new().add_modifier(Modifier::REVERSED);
            }
        }
        rows.extend(message.into_iter().rev());
    }
    for (k, row) in rows.iter().take(height).enumerate() {
        let y = area.y + area.height - 1 - k as u16;
        cells.set_style(Rect::new(area.x, y, area.width, 1), row.style);
        cells.set_line(area.x, y, row, area.width);
    }
    let below = buffer.below_view();
    if below > 0 {
        let label = format!(" {below} new ↓ ");
        let w = display_width(&label) as u16;
        let x = area.x + area.width.saturating_sub(w);
        cells.set_stringn(
            x,
            area.y + area.height - 1,
            &label,
            usize::from(area.width),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        );
    }
}
