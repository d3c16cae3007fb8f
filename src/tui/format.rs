//! How values are written for people: JSON compact and pretty, hex dumps and binary previews,
//! sizes, durations and round trips, and the tag beside a log line. Pure text, no styles.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::state::{Delivery, Interner, LineKind, LineRef};
pub(crate) use crate::protocol::compact_json;
use crate::protocol::protobuf::unpack_any;
use crate::protocol::{JsonStrings, Payload};
use crate::text::{sanitize_line, sanitize_text_into};

/// Indented JSON for the viewer, from compact JSON text (keys keep their order).
pub(crate) fn pretty_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut strings = JsonStrings::default();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if strings.inside(c) {
            out.push(c);
            continue;
        }
        match c {
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

/// Hex dump with offsets and a printable column, for the viewer.
pub(crate) fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", row * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| printable(b, '.')));
        out.push('\n');
    }
    out
}

/// A byte as itself when it is printable ASCII, else `replacement`.
fn printable(byte: u8, replacement: char) -> char {
    if byte.is_ascii_graphic() || byte == b' ' {
        byte as char
    } else {
        replacement
    }
}

/// "41 s", "3 min 2 s".
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// "12 B  48 65 6c …  He…" from base64 text: the size, the first bytes in hex, and the same
/// bytes as text (`·` for bytes that are not printable ASCII).
pub(crate) fn binary_preview(base64: &str, max_bytes: usize) -> String {
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
        out.extend(shown.iter().map(|&b| printable(b, '·')));
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
pub(crate) fn round_trip_label(ms: u128) -> String {
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
pub(crate) fn line_tag(names: &Interner, line: &LineRef<'_>) -> Option<String> {
    let kind = kind_label(line.kind);
    let with_kind = |text: String| {
        if kind.is_empty() {
            text
        } else {
            format!("{kind} {text}")
        }
    };
    match line.delivery {
        Delivery::Pending => Some(with_kind("◌".to_string())),
        Delivery::Queued => Some(with_kind("◌ queued".to_string())),
        Delivery::Acked(u32::MAX) => Some(with_kind("✓".to_string())),
        Delivery::Acked(ms) => Some(with_kind(format!("✓ {}", round_trip_label(u128::from(ms))))),
        Delivery::Failed(name) => Some(with_kind(format!("✗ {}", names.name(name)))),
        Delivery::None if !kind.is_empty() => Some(kind.to_string()),
        Delivery::None => None,
    }
}

/// The text a line shows: binary data as a short preview, a protobuf `Any` as its type URL and
/// a preview of its value, anything else as stored.
pub(crate) fn line_body<'a>(line: &LineRef<'a>) -> std::borrow::Cow<'a, str> {
    match line.kind {
        LineKind::Binary => binary_preview(line.body, 16).into(),
        LineKind::Protobuf => protobuf_preview(line.body, 16).into(),
        _ => line.body.into(),
    }
}

/// A protobuf line (the base64 of a whole `Any`): "TYPE-URL · " and the value's
/// [`binary_preview`]; bytes that are not an `Any` are previewed as they are.
fn protobuf_preview(base64: &str, max_bytes: usize) -> String {
    let any = BASE64.decode(base64.as_bytes()).unwrap_or_default();
    match unpack_any(&any) {
        Some((type_url, value)) => format!(
            "{} · {}",
            sanitize_line(&type_url),
            binary_preview(&BASE64.encode(value), max_bytes)
        ),
        None => binary_preview(base64, max_bytes),
    }
}

/// The viewer's text for a protobuf line: the type URL, the value's size and hex dump, and the
/// whole `Any` in base64. The value is never decoded: its type is unknown here.
pub(crate) fn protobuf_view(base64: &str) -> String {
    let any = BASE64.decode(base64.as_bytes()).unwrap_or_default();
    match unpack_any(&any) {
        Some((type_url, value)) => format!(
            "type URL: {}\nvalue: {} bytes\n\n{}\n\nAny, base64:\n{base64}",
            sanitize_line(&type_url),
            value.len(),
            hex_dump(&value).trim_end()
        ),
        None => format!(
            "not a google.protobuf.Any ({} bytes)\n\n{}",
            any.len(),
            hex_dump(&any).trim_end()
        ),
    }
}

/// The bytes of a binary line (stored as base64), for the viewer.
pub(crate) fn line_bytes(line: &LineRef<'_>) -> Vec<u8> {
    BASE64.decode(line.body.as_bytes()).unwrap_or_default()
}

/// How a payload is stored for display: sanitised text, compact JSON, or base64 bytes.
pub(crate) fn stored_body(payload: &Payload) -> (LineKind, String) {
    let mut body = String::new();
    let kind = stored_body_into(payload, &mut body);
    (kind, body)
}

/// [`stored_body`] written into `body` (cleared first), so that a flood's messages reuse one
/// string instead of allocating one each.
pub(crate) fn stored_body_into(payload: &Payload, body: &mut String) -> LineKind {
    body.clear();
    match payload {
        Payload::Text(text) => {
            sanitize_text_into(text, body);
            LineKind::Text
        }
        Payload::Json(raw) => {
            sanitize_text_into(&compact_json(raw.get()), body);
            LineKind::Json
        }
        Payload::Binary(bytes) => {
            BASE64.encode_string(bytes, body);
            LineKind::Binary
        }
        Payload::Protobuf(bytes) => {
            BASE64.encode_string(bytes, body);
            LineKind::Protobuf
        }
    }
}

/// A count in at most four cells, for badges: `999`, `1.5k`, `12k`, `1.5M`.
pub(crate) fn compact_count(n: u32) -> String {
    let n = f64::from(n);
    match n {
        n if n < 1_000.0 => format!("{n}"),
        n if n < 10_000.0 => format!("{:.1}k", (n / 100.0).floor() / 10.0),
        n if n < 1_000_000.0 => format!("{}k", (n / 1_000.0).floor()),
        n if n < 10_000_000.0 => format!("{:.1}M", (n / 100_000.0).floor() / 10.0),
        n => format!("{}M", (n / 1_000_000.0).floor()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_counts_fit_a_badge() {
        let shown: Vec<String> = [7, 999, 1_000, 1_549, 12_345, 999_999, 1_500_000, 25_000_000]
            .into_iter()
            .map(compact_count)
            .collect();
        assert_eq!(
            shown,
            ["7", "999", "1.0k", "1.5k", "12k", "999k", "1.5M", "25M"]
        );
    }

    #[test]
    fn json_compaction_and_pretty_printing() {
        assert_eq!(
            compact_json("{ \"a\" : [1, 2],\n \"b c\": \"x y\" }"),
            "{\"a\":[1,2],\"b c\":\"x y\"}"
        );
        assert_eq!(
            pretty_json("{\"a\":[1,{}],\"b\":\"x,y\"}"),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"x,y\"\n}"
        );
    }

    #[test]
    fn strings_keep_their_spaces_and_escaped_quotes() {
        let raw = "{ \"a b\" : \"x \\\" , y\" }";
        assert_eq!(compact_json(raw), "{\"a b\":\"x \\\" , y\"}");
        assert_eq!(
            pretty_json(&compact_json(raw)),
            "{\n  \"a b\": \"x \\\" , y\"\n}"
        );
    }

    #[test]
    fn hex_dump_and_preview_show_printable_bytes() {
        assert_eq!(
            hex_dump(b"hi\x01"),
            format!("00000000  68 69 01 {} hi.\n", "   ".repeat(13))
        );
        assert_eq!(binary_preview("aGkB", 16), "3 B  68 69 01  hi·");
    }
}
