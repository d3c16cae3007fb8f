//! How `listen` writes a received message: a JSON line or a readable text line, appended to a
//! buffer the caller reuses, so that printing a message allocates nothing on the heap (strings
//! with nothing to escape or sanitize are copied as they are).

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::protocol::protobuf::unpack_any;
use crate::protocol::{DataMessage, MessageSource, Payload};
use crate::text::sanitize_line_into;

/// Appends `s` as a JSON string literal, byte for byte as `serde_json` writes it. A string
/// with no quote, backslash or control character (almost every chat message) is copied as
/// it is; only the others go through `serde_json`'s escaper. The check has no early exit, so
/// the compiler does it sixteen bytes at a time.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let plain = !s.bytes().fold(false, |escape, b| {
        escape | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a string into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// The group and the sender of the last message written, each with the form it was written in
/// (escaped for JSON or sanitized for text). A flood repeats both message after message;
/// knowing them by their shared pointer spares escaping them again, and above all it keeps the
/// printer off the memory that holds their text and reference counts, which the engine's
/// thread writes for every message: reading it from another core pulled that cache line back
/// and forth (measured: the engine's CPU per message rose when its reader read the names).
#[derive(Debug, Default)]
pub struct WrittenNames {
    json: NamePair,
    text: NamePair,
}

/// A group and a sender, as written in one form.
#[derive(Debug, Default)]
struct NamePair {
    group: WrittenName,
    user: WrittenName,
}

#[derive(Debug, Default)]
struct WrittenName {
    name: Option<Arc<str>>,
    form: String,
}

impl WrittenName {
    /// Appends `name` as `write` writes it: the kept form when it is the same shared name,
    /// else written now and kept (in the same string, so no allocation once it is large
    /// enough).
    fn write_json(&mut self, out: &mut Vec<u8>, name: &Arc<str>) {
        if self
            .name
            .as_ref()
            .is_some_and(|kept| Arc::ptr_eq(kept, name))
        {
            out.extend_from_slice(self.form.as_bytes());
            return;
        }
        let start = out.len();
        write_json_string(out, name);
        self.keep(name, std::str::from_utf8(&out[start..]).unwrap_or_default());
    }

    fn write_text(&mut self, out: &mut String, name: &Arc<str>) {
        if self
            .name
            .as_ref()
            .is_some_and(|kept| Arc::ptr_eq(kept, name))
        {
            out.push_str(&self.form);
            return;
        }
        let start = out.len();
        sanitize_line_into(name, out);
        self.keep(name, &out[start..]);
    }

    fn keep(&mut self, name: &Arc<str>, form: &str) {
        self.name = Some(name.clone());
        self.form.clear();
        self.form.push_str(form);
    }
}

/// Appends standard padded base64 of `bytes` as a JSON string (base64 needs no escaping).
fn write_base64_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let written = BASE64.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// Appends the `data` value of a JSON line: text as a string, JSON as the value itself (made
/// compact when it spans lines), binary and protobuf as standard base64.
fn write_json_data(out: &mut Vec<u8>, payload: &Payload) {
    match payload {
        Payload::Text(text) => write_json_string(out, text),
        Payload::Json(raw) if !raw.get().contains(['\n', '\r']) => {
            out.extend_from_slice(raw.get().as_bytes())
        }
        // Pretty-printed JSON is rare: a parse and a compact rewrite keep the line whole.
        Payload::Json(raw) => match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Ok(value) => {
                let _ = serde_json::to_writer(&mut *out, &value);
            }
            Err(_) => write_json_string(out, raw.get()),
        },
        Payload::Binary(bytes) | Payload::Protobuf(bytes) => write_base64_string(out, bytes),
    }
}

/// Appends one received message as a JSON line (with its `\n`) to `out`: `ts`, `from`,
/// `group`, `fromUserId`, `dataType`, `data`, a protobuf message's `typeUrl`, `sequenceId`;
/// `ts` is the RFC 3339 time it was received. `names` remembers the last group and sender
/// written (keep one per output).
pub fn write_json_line(
    out: &mut Vec<u8>,
    message: &DataMessage,
    ts: &str,
    names: &mut WrittenNames,
) {
    out.extend_from_slice(b"{\"ts\":");
    write_json_string(out, ts);
    match &message.source {
        MessageSource::Group {
            group,
            from_user_id,
        } => {
            out.extend_from_slice(b",\"from\":\"group\",\"group\":");
            names.json.group.write_json(out, group);
            out.extend_from_slice(b",\"fromUserId\":");
            match from_user_id {
                Some(user) => names.json.user.write_json(out, user),
                None => out.extend_from_slice(b"null"),
            }
        }
        MessageSource::Server => {
            out.extend_from_slice(b",\"from\":\"server\",\"group\":null,\"fromUserId\":null")
        }
    }
    out.extend_from_slice(b",\"dataType\":\"");
    out.extend_from_slice(message.payload.data_type().as_str().as_bytes());
    out.extend_from_slice(b"\",\"data\":");
    write_json_data(out, &message.payload);
    if let Payload::Protobuf(any) = &message.payload
        && let Some((type_url, _)) = unpack_any(any)
    {
        out.extend_from_slice(b",\"typeUrl\":");
        write_json_string(out, &type_url);
    }
    out.extend_from_slice(b",\"sequenceId\":");
    match message.sequence_id {
        // Writing into memory cannot fail.
        Some(id) => {
            let _ = write!(out, "{id}");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}\n");
}

/// Appends one received message as a readable line to `out`: `TIME [group] user: text`, with
/// `time` already formatted (`HH:MM:SS`). Everything that came from the network is escaped, so
/// the line cannot move the cursor or set a title. With `unknown_sender` (protobuf) a missing
/// user id is "(unknown sender)", not "(anonymous)". `names` as for `write_json_line`.
pub fn write_text_line(
    out: &mut String,
    message: &DataMessage,
    time: &str,
    unknown_sender: bool,
    names: &mut WrittenNames,
) {
    out.push_str(time);
    out.push(' ');
    match &message.source {
        MessageSource::Group {
            group,
            from_user_id,
        } => {
            out.push('[');
            names.text.group.write_text(out, group);
            out.push_str("] ");
            match from_user_id {
                Some(user) => names.text.user.write_text(out, user),
                None if unknown_sender => out.push_str("(unknown sender)"),
                None => out.push_str("(anonymous)"),
            }
        }
        MessageSource::Server => out.push_str("(server)"),
    }
    out.push_str(": ");
    match &message.payload {
        Payload::Text(text) => sanitize_line_into(text, out),
        Payload::Json(raw) => sanitize_line_into(raw.get(), out),
        Payload::Binary(bytes) => {
            push_binary_header(out, "<binary", bytes.len());
            BASE64.encode_string(bytes, out);
        }
        Payload::Protobuf(any) => match unpack_any(any) {
            Some((type_url, value)) => {
                out.push_str("<protobuf ");
                sanitize_line_into(&type_url, out);
                push_binary_header(out, ",", value.len());
                BASE64.encode_string(value, out);
            }
            None => {
                push_binary_header(out, "<protobuf,", any.len());
                BASE64.encode_string(any, out);
            }
        },
    }
    out.push('\n');
}

/// `{prefix} {len} bytes> `.
fn push_binary_header(out: &mut String, prefix: &str, len: usize) {
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = write!(out, "{prefix} {len} bytes> ");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn from(group: &Arc<str>, user: &Arc<str>, text: &str) -> DataMessage {
        DataMessage {
            source: MessageSource::Group {
                group: group.clone(),
                from_user_id: Some(user.clone()),
            },
            sequence_id: None,
            payload: Payload::Text(text.into()),
        }
    }

    #[test]
    fn remembered_names_are_written_as_they_were_and_new_ones_as_they_are() {
        let mut names = WrittenNames::default();
        let (dev, ops): (Arc<str>, Arc<str>) = ("dev".into(), "o\"ps\u{1b}".into());
        let (alice, bob): (Arc<str>, Arc<str>) = ("alice".into(), "bob".into());
        let mut text_lines = Vec::new();
        let mut json_lines = Vec::new();
        for message in [
            from(&dev, &alice, "1"),
            from(&dev, &alice, "2"),
            from(&ops, &alice, "3"),
            from(&ops, &bob, "4"),
            // The same text in a different shared name is written from the name, not kept.
            from(&"dev".into(), &bob, "5"),
        ] {
            let mut text = String::new();
            write_text_line(&mut text, &message, "12:00:00", false, &mut names);
            text_lines.push(text);
            let mut json = Vec::new();
            write_json_line(&mut json, &message, "t", &mut WrittenNames::default());
            let mut remembered = Vec::new();
            write_json_line(&mut remembered, &message, "t", &mut names);
            assert_eq!(remembered, json);
            json_lines.push(String::from_utf8(json).unwrap());
        }
        assert_eq!(
            text_lines,
            [
                "12:00:00 [dev] alice: 1\n",
                "12:00:00 [dev] alice: 2\n",
                "12:00:00 [o\"ps␛] alice: 3\n",
                "12:00:00 [o\"ps␛] bob: 4\n",
                "12:00:00 [dev] bob: 5\n",
            ]
        );
        assert!(
            json_lines[2].contains(r#""group":"o\"ps\u001b""#),
            "{}",
            json_lines[2]
        );
    }

    proptest! {
        #[test]
        fn json_strings_are_written_as_serde_json_writes_them(s in any::<String>()) {
            let mut out = Vec::new();
            write_json_string(&mut out, &s);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn control_heavy_strings_too(s in "[\\x00-\\x1f\"\\\\a-z\u{7f}\u{80}-\u{9f}é]{0,40}") {
            let mut out = Vec::new();
            write_json_string(&mut out, &s);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn json_lines_are_one_line_of_the_fields_sent(
            group in any::<String>(),
            user in proptest::option::of(any::<String>()),
            text in any::<String>(),
            sequence_id in proptest::option::of(any::<u64>()),
        ) {
            let message = DataMessage {
                source: MessageSource::Group {
                    group: group.as_str().into(),
                    from_user_id: user.as_deref().map(Into::into),
                },
                sequence_id,
                payload: Payload::Text(text.clone()),
            };
            let mut out = Vec::new();
            let mut names = WrittenNames::default();
            write_json_line(&mut out, &message, "2026-11-27T18:00:05.000Z", &mut names);
            let line = String::from_utf8(out.clone()).unwrap();
            // Again with the names remembered: the same line.
            out.clear();
            write_json_line(&mut out, &message, "2026-11-27T18:00:05.000Z", &mut names);
            prop_assert_eq!(&String::from_utf8(out).unwrap(), &line);
            prop_assert_eq!(line.matches('\n').count(), 1);
            prop_assert!(line.ends_with('\n'));
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(value, serde_json::json!({
                "ts": "2026-11-27T18:00:05.000Z",
                "from": "group",
                "group": group,
                "fromUserId": user,
                "dataType": "text",
                "data": text,
                "sequenceId": sequence_id,
            }));
        }

        #[test]
        fn base64_data_is_what_the_engine_encodes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            write_base64_string(&mut out, &bytes);
            prop_assert_eq!(String::from_utf8(out).unwrap(), format!("\"{}\"", BASE64.encode(&bytes)));
        }
    }
}
