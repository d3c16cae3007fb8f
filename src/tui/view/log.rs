//! The log pane: only the visible messages are wrapped and drawn, walking back from the
//! newest visible line, so a frame costs the same with ten or a million lines of history.

use std::ops::Range;

use ratatui::buffer::Buffer as Cells;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::hyperlinks::Hyperlink;
use crate::text::{display_width, truncate};
use crate::tui::format::compact_count;
use crate::tui::layout::{MessageBody, MessageColumns, needs_day_separator, needs_read_marker};
use crate::tui::links;
use crate::tui::state::{
    Buffer, BufferKind, Delivery, Hyperlinks, LineKind, LineRef, NO_SENDER, Overlay, State,
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
pub(crate) fn sender_color(name: &str) -> Color {
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

/// The style of a line's tag: delivery state for own messages, dim for a data type.
fn tag_style(line: &LineRef<'_>) -> Style {
    match line.delivery {
        Delivery::Pending | Delivery::None => dim(),
        Delivery::Queued => Style::new().fg(Color::Yellow),
        Delivery::Acked(_) => Style::new().fg(Color::Green),
        Delivery::Failed(_) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

fn separator<'a>(text: String, width: usize, style: Style) -> Line<'a> {
    let text = truncate(&text, width.saturating_sub(6));
    let used = display_width(&text) + 4;
    let fill = "─".repeat(width.saturating_sub(used).max(1));
    Line::from(vec![Span::styled(format!("── {text} {fill}"), style)])
}

/// The nick column of a line and its style.
fn nick(state: &State, line: &LineRef<'_>, nick_width: usize) -> (String, Style) {
    match line.kind {
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
            } else if matches!(line.kind, LineKind::Text | LineKind::Json)
                && state.mentions_me(line.body)
            {
                // A highlight, as WeeChat marks the prefix of a line that names you.
                style = Style::new()
                    .fg(Color::Black)
                    .bg(Color::Magenta)
                    .add_modifier(Modifier::BOLD);
            }
            (truncate(name, nick_width), style)
        }
    }
}

/// Rows of one message at `width` (day separator included), capped at the configured
/// number of lines.
pub fn message_rows<'a>(
    state: &'a State,
    buffer: &'a Buffer,
    index: usize,
    width: usize,
) -> Vec<Line<'a>> {
    linked_message_rows(state, buffer, index, width, None)
}

/// A piece of a link drawn in one row of a message: the row (within the message), its first
/// column and width, and the whole link's URL (already [safe](links::is_safe_hyperlink)).
struct LinkPiece {
    row: usize,
    column: usize,
    width: usize,
    url: String,
}

/// [`message_rows`], also noting where its links are drawn when `pieces` is given.
fn linked_message_rows<'a>(
    state: &'a State,
    buffer: &'a Buffer,
    index: usize,
    width: usize,
    pieces: Option<&mut Vec<LinkPiece>>,
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
    if needs_read_marker(buffer, index) {
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
    let columns = MessageColumns::of(state, &line, width);
    body_rows(state, &line, &columns, width, &mut rows, pieces);
    rows
}

/// The rows of a message's body: time and nick on the first, the tag at its right, and a
/// "… more" row when the body was cut.
fn body_rows(
    state: &State,
    line: &LineRef<'_>,
    columns: &MessageColumns,
    width: usize,
    rows: &mut Vec<Line<'_>>,
    mut pieces: Option<&mut Vec<LinkPiece>>,
) {
    let (nick, nick_style) = nick(state, line, columns.nick_width);
    let nick_pad = columns.nick_width.saturating_sub(display_width(&nick));
    let prefix_width = columns.prefix_width;
    let text_style = match line.kind {
        LineKind::Notice => dim(),
        LineKind::Error => Style::new().fg(Color::Red),
        _ => Style::new(),
    };
    let body = MessageBody::of(state, line, columns.body_width);
    let links = links::link_ranges(&body.text);
    for (i, range) in body.rows.iter().enumerate() {
        let row_text = body.text[range.clone()].trim_end_matches('\n');
        let mut spans = Vec::with_capacity(5);
        if i == 0 {
            spans.push(Span::styled(format!("{} ", columns.time), dim()));
            spans.push(Span::styled(
                format!("{nick}{} ", " ".repeat(nick_pad)),
                nick_style,
            ));
        } else {
            spans.push(Span::raw(" ".repeat(prefix_width)));
        }
        let first_link_span = spans.len();
        link_spans(row_text, range.start, &links, text_style, &mut spans);
        if let Some(pieces) = pieces.as_deref_mut() {
            note_link_pieces(
                &body.text,
                &links,
                range.start,
                &spans,
                first_link_span,
                rows.len(),
                pieces,
            );
        }
        if i == 0
            && let Some(tag) = &columns.tag
        {
            let used = prefix_width + display_width(row_text);
            let pad = width.saturating_sub(used + display_width(tag));
            spans.push(Span::raw(" ".repeat(pad)));
            spans.push(Span::styled(tag.clone(), tag_style(line)));
        }
        rows.push(Line::from(spans));
    }
    if body.cut {
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
}

/// A row's text as spans, the parts inside a link (byte ranges of the whole body, which may
/// wrap over rows) underlined.
fn link_spans(
    row_text: &str,
    row_start: usize,
    links: &[Range<usize>],
    style: Style,
    spans: &mut Vec<Span<'_>>,
) {
    let row_end = row_start + row_text.len();
    let mut at = row_start;
    for link in links {
        let (start, end) = (link.start.max(at), link.end.min(row_end));
        if start >= end {
            continue;
        }
        if start > at {
            spans.push(Span::styled(
                row_text[at - row_start..start - row_start].to_string(),
                style,
            ));
        }
        let link_style = style.fg(Color::Blue).add_modifier(Modifier::UNDERLINED);
        spans.push(Span::styled(
            row_text[start - row_start..end - row_start].to_string(),
            link_style,
        ));
        at = end;
    }
    if at < row_end || spans.is_empty() {
        spans.push(Span::styled(row_text[at - row_start..].to_string(), style));
    }
}

/// Notes the link pieces among a row's spans (from `first` on, as [`link_spans`] made them):
/// each span that is part of a safe link, with its column.
fn note_link_pieces(
    body: &str,
    links: &[Range<usize>],
    row_start: usize,
    spans: &[Span<'_>],
    first: usize,
    row: usize,
    pieces: &mut Vec<LinkPiece>,
) {
    let mut column: usize = spans[..first]
        .iter()
        .map(|s| display_width(&s.content))
        .sum();
    let mut at = row_start;
    for span in &spans[first..] {
        let end = at + span.content.len();
        let link = links
            .iter()
            .find(|link| link.start <= at && end <= link.end);
        if let Some(link) = link.filter(|_| end > at)
            && links::is_safe_hyperlink(&body[link.clone()])
        {
            pieces.push(LinkPiece {
                row,
                column,
                width: span.content.len(),
                url: body[link.clone()].to_string(),
            });
        }
        column += display_width(&span.content);
        at = end;
    }
}

/// Draws the visible window of the current buffer, newest at the bottom; returns where links
/// were drawn when the settings make them hyperlinks (for [`super::hyperlinks`]).
pub(crate) fn draw_log(state: &State, area: Rect, cells: &mut Cells) -> Vec<Hyperlink> {
    let buffer = state.current_buffer();
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    if width == 0 || height == 0 {
        return Vec::new();
    }
    if buffer.lines.is_empty() {
        let hint = match buffer.kind {
            BufferKind::Group => "no messages yet",
            BufferKind::Server => "messages sent by the server appear here",
            BufferKind::System => "connection events and errors appear here",
            BufferKind::Frames => "raw frames appear here while /raw is on",
        };
        cells.set_stringn(area.x, area.y, hint, width, dim());
        return Vec::new();
    }
    let found = match &state.overlay {
        Overlay::Search(search) => search.found,
        _ => None,
    };
    let end = buffer.view_end();
    let mut rows: Vec<Line<'_>> = Vec::with_capacity(height + 8);
    let mut index = end;
    let want_links = state.settings.hyperlinks == Hyperlinks::On;
    let mut pieces = Vec::new();
    let mut hyperlinks = Vec::new();
    while index > 0 && rows.len() < height {
        index -= 1;
        let noted = want_links.then_some(&mut pieces);
        let mut message = linked_message_rows(state, buffer, index, width, noted);
        // Rows go in bottom up: row `r` of an `n`-row message lands `n - 1 - r` above `base`.
        let (base, n) = (rows.len(), message.len());
        for piece in pieces.drain(..) {
            let from_bottom = base + n - 1 - piece.row;
            if from_bottom < height {
                hyperlinks.push(Hyperlink {
                    x: area.x + piece.column as u16,
                    y: area.y + area.height - 1 - from_bottom as u16,
                    width: piece.width as u16,
                    url: piece.url,
                });
            }
        }
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
        // Only what arrived since the view left live is new; the badge sits on the log's
        // bottom border, so that it covers no delivery mark.
        let label = match buffer.new_below_view() {
            0 => format!(" {} more ↓ ", compact_count(saturating_u32(below))),
            new => format!(" {} new ↓ ", compact_count(saturating_u32(new))),
        };
        let w = display_width(&label) as u16;
        let x = area.x + area.width.saturating_sub(w);
        let border = (area.y + area.height).min(cells.area.bottom().saturating_sub(1));
        cells.set_stringn(
            x,
            border,
            &label,
            usize::from(area.width),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        );
    }
    hyperlinks
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::tui::layout::message_height;
    use crate::tui::state::{Clock, LogLine, UiSettings};

    fn line(time_ms: i64, kind: LineKind, delivery: Delivery, body: &str) -> LogLine {
        LogLine {
            time_ms,
            sender: NO_SENDER,
            kind,
            delivery,
            body: body.into(),
        }
    }

    #[test]
    fn rows_counted_by_the_layout_are_the_rows_drawn() {
        let day = 86_400_000;
        let mut state = State::new(
            UiSettings::default(),
            Clock::fixed(3 * day, Instant::now()),
            Vec::new(),
            String::new(),
        );
        let bob = state.names.intern("bob");
        let mut buffer = Buffer::new(BufferKind::Group, "lobby");
        let long = "a long message that wraps over several rows ".repeat(12);
        let lines = [
            line(day, LineKind::Notice, Delivery::None, "joined lobby"),
            line(day + 1, LineKind::Text, Delivery::Acked(38), "short"),
            line(day + 2, LineKind::Text, Delivery::None, &long),
            line(
                2 * day,
                LineKind::Gap,
                Delivery::None,
                "offline · recovered",
            ),
            line(
                2 * day,
                LineKind::Binary,
                Delivery::Pending,
                "AAECAwQFBgcICQoLDA0ODxA=",
            ),
            line(
                2 * day,
                LineKind::Json,
                Delivery::Failed(bob),
                "{\"a\":[1,2]}",
            ),
            line(
                2 * day,
                LineKind::Text,
                Delivery::None,
                "line one\nline two",
            ),
        ];
        for mut line in lines {
            line.sender = bob;
            buffer.push(line, 100);
        }
        buffer.first_unread = Some(buffer.first_seq + 5);
        for width in [0, 1, 8, 20, 40, 78, 158] {
            for index in 0..buffer.lines.len() + 1 {
                assert_eq!(
                    message_height(&state, &buffer, index, width),
                    message_rows(&state, &buffer, index, width).len(),
                    "line {index} at width {width}"
                );
            }
        }
    }
}
