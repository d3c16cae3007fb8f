//! What `listen` and `send` print for raw frames of a simple connection (`--protocol none`)
//! and for the replies `send` waits for: one JSON line each, or one readable text line.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::client::{Event, OpError, OpId};
use crate::protocol::{InvokeResponse, MessageSource, Payload};
use crate::text::sanitize_line;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FrameLine<'a> {
    ts: &'a str,
    data_type: &'static str,
    data: std::borrow::Cow<'a, str>,
}

/// Appends one received frame as a JSON line (with its `\n`): `ts`, `dataType` text|binary
/// and `data`, the text as a string or the bytes in standard base64.
pub(crate) fn write_frame_line(out: &mut Vec<u8>, payload: &Payload, ts: &str) {
    let (data_type, data) = match payload {
        Payload::Text(text) => ("text", text.as_str().into()),
        Payload::Json(raw) => ("text", raw.get().into()),
        Payload::Binary(bytes) | Payload::Protobuf(bytes) => {
            ("binary", BASE64.encode(bytes).into())
        }
    };
    let line = FrameLine {
        ts,
        data_type,
        data,
    };
    // Plain strings into memory: serializing cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

/// One received frame as a readable line: `TIME (frame): text`, escaped like every other
/// network text; binary as its size and base64.
pub(crate) fn frame_text_line(payload: &Payload, received: DateTime<Utc>) -> String {
    let time = received.format("%H:%M:%S");
    let body = match payload {
        Payload::Text(text) => sanitize_line(text),
        Payload::Json(raw) => sanitize_line(raw.get()),
        Payload::Binary(bytes) | Payload::Protobuf(bytes) => {
            format!("<binary, {} bytes> {}", bytes.len(), BASE64.encode(bytes))
        }
    };
    format!("{time} (frame): {body}\n")
}

/// The replies `send` prints: frames on a simple connection, messages from the server (an
/// event handler's answer) otherwise; counted against `--expect-reply`.
pub(crate) struct Replies {
    expected: Option<u64>,
    received: u64,
    line: Vec<u8>,
}

impl Replies {
    pub(crate) fn new(expected: Option<u64>) -> Self {
        Replies {
            expected,
            received: 0,
            line: Vec::new(),
        }
    }

    /// Prints `event` as a JSON line on stdout when it is a reply; false when it is not.
    pub(crate) fn print(&mut self, event: &Event) -> bool {
        let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        self.line.clear();
        match event {
            Event::Frame(payload) => write_frame_line(&mut self.line, payload, &ts),
            Event::Message(message) if message.source == MessageSource::Server => {
                // A server message names no group or sender.
                let mut names = super::WrittenNames::default();
                super::write_json_line(&mut self.line, message, &ts, &mut names)
            }
            _ => return false,
        }
        self.received += 1;
        let mut out = std::io::stdout().lock();
        // stdout closed (`| head`): the reply still counts.
        let _ = out.write_all(&self.line).and_then(|()| out.flush());
        true
    }

    /// Every expected reply came (or none was asked for).
    pub(crate) fn complete(&self) -> bool {
        self.expected.is_none_or(|n| self.received >= n)
    }

    /// How many expected replies did not come, if any.
    pub(crate) fn missing(&self) -> Option<u64> {
        let missing = self.expected?.saturating_sub(self.received);
        (missing > 0).then_some(missing)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvokeLine<'a> {
    ts: &'a str,
    invocation_id: &'a str,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

/// Prints an invocation's response as a JSON line on stdout, or why none came on stderr;
/// true when it succeeded.
pub(crate) fn print_invoke_result(op: OpId, outcome: Result<InvokeResponse, OpError>) -> bool {
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            super::note(&format!(
                "invocation {op} failed: {}",
                sanitize_line(&error.summary())
            ));
            return false;
        }
    };
    let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let data = response.data.as_ref().map(|payload| match payload {
        Payload::Text(text) => serde_json::Value::String(text.clone()),
        Payload::Json(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        Payload::Binary(bytes) | Payload::Protobuf(bytes) => BASE64.encode(bytes).into(),
    });
    let line = InvokeLine {
        ts: &ts,
        invocation_id: &response.invocation_id,
        success: response.success,
        data_type: response.data.as_ref().map(|d| d.data_type().as_str()),
        data,
        error: response
            .error
            .as_ref()
            .map(|e| serde_json::json!({"name": e.name.as_str(), "message": e.message})),
    };
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &line);
    let _ = out.write_all(b"\n").and_then(|()| out.flush());
    response.success
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(payload: &Payload) -> serde_json::Value {
        let mut out = Vec::new();
        write_frame_line(&mut out, payload, "2026-01-01T00:00:00.000Z");
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).expect("one JSON line")
    }

    #[test]
    fn text_frames_are_strings_and_binary_frames_base64() {
        let text = line(&Payload::Text("echo: hello".into()));
        assert_eq!(text["dataType"], "text");
        assert_eq!(text["data"], "echo: hello");
        assert_eq!(text["ts"], "2026-01-01T00:00:00.000Z");
        let binary = line(&Payload::Binary(vec![0, 1, 255]));
        assert_eq!(binary["dataType"], "binary");
        assert_eq!(binary["data"], "AAH/");
    }

    #[test]
    fn text_lines_are_inert() {
        let shown = frame_text_line(&Payload::Text("a\u{1b}]0;x\u{7}b".into()), Utc::now());
        assert!(!shown.trim_end().chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("(frame): a"));
    }
}
