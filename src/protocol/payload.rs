//! Message payloads and their `dataType`: text, JSON, binary (standard padded base64 on the
//! wire) and the receive-only protobuf form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

/// The `dataType` field of a data-carrying message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Text,
    /// The default when a client omits `dataType`.
    #[default]
    Json,
    Binary,
    /// Only ever received: a protobuf client's message seen by a JSON client.
    Protobuf,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Json => "json",
            DataType::Binary => "binary",
            DataType::Protobuf => "protobuf",
        }
    }

    /// Parses the wire name; `None` for an unknown data type.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "text" => Some(DataType::Text),
            "json" => Some(DataType::Json),
            "binary" => Some(DataType::Binary),
            "protobuf" => Some(DataType::Protobuf),
            _ => None,
        }
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded payload. JSON is kept as its raw text so that it is forwarded and displayed
/// exactly as sent, without a parse-and-reserialize round trip.
#[derive(Debug, Clone)]
pub enum Payload {
    Text(String),
    Json(Box<RawValue>),
    Binary(Vec<u8>),
    Protobuf(Vec<u8>),
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Payload::Text(a), Payload::Text(b)) => a == b,
            (Payload::Json(a), Payload::Json(b)) => a.get() == b.get(),
            (Payload::Binary(a), Payload::Binary(b)) => a == b,
            (Payload::Protobuf(a), Payload::Protobuf(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a payload is not acceptable.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum PayloadError {
    #[error("'data' is missing")]
    Missing,
    #[error("dataType '{0}' is not one of text, json, binary")]
    UnknownDataType(String),
    #[error("dataType text needs 'data' to be a JSON string")]
    TextNotString,
    #[error("dataType {0} needs 'data' to be a base64 string")]
    NotBase64String(DataType),
    #[error("'data' is not valid base64: {0}")]
    BadBase64(String),
    #[error("dataType json needs 'data' to be a JSON value other than null")]
    JsonNull,
    #[error("not valid JSON: {0}")]
    BadJson(String),
}

impl Payload {
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Payload::Text(_) => DataType::Text,
            Payload::Json(_) => DataType::Json,
            Payload::Binary(_) => DataType::Binary,
            Payload::Protobuf(_) => DataType::Protobuf,
        }
    }

    /// A JSON payload from JSON text, validated (and refused when it is `null`).
    pub fn json(text: &str) -> Result<Self, PayloadError> {
        let raw: Box<RawValue> =
            serde_json::from_str(text).map_err(|e| PayloadError::BadJson(e.to_string()))?;
        if raw.get() == "null" {
            return Err(PayloadError::JsonNull);
        }
        Ok(Payload::Json(raw))
    }

    /// The payload's size in bytes as the user thinks of it (decoded bytes, text bytes).
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(s) => s.len(),
            Payload::Json(raw) => raw.get().len(),
            Payload::Binary(b) | Payload::Protobuf(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes the wire `data` value for a given data type.
    pub(crate) fn from_wire(data_type: DataType, data: &RawValue) -> Result<Self, PayloadError> {
        Self::from_wire_reusing(data_type, data, None)
    }

    /// `from_wire`, writing a text payload into `spare` (a string a read message gave back)
    /// rather than a new allocation when one is given.
    pub(crate) fn from_wire_reusing(
        data_type: DataType,
        data: &RawValue,
        spare: Option<String>,
    ) -> Result<Self, PayloadError> {
        match data_type {
            DataType::Text => text_from_wire(data.get(), spare)
                .map(Payload::Text)
                .ok_or(PayloadError::TextNotString),
            DataType::Json => {
                if data.get().trim() == "null" {
                    Err(PayloadError::JsonNull)
                } else {
                    Ok(Payload::Json(data.to_owned()))
                }
            }
            DataType::Binary | DataType::Protobuf => {
                let text = serde_json::from_str::<std::borrow::Cow<'_, str>>(data.get())
                    .map_err(|_| PayloadError::NotBase64String(data_type))?;
                let bytes = base64_bytes(&text)?;
                Ok(if data_type == DataType::Binary {
                    Payload::Binary(bytes)
                } else {
                    Payload::Protobuf(bytes)
                })
            }
        }
    }

    /// Appends the wire form of `data` (a JSON value) to `out`.
    pub(crate) fn write_wire(&self, out: &mut String) {
        match self {
            Payload::Text(s) => write_json_string(out, s),
            Payload::Json(raw) => out.push_str(raw.get()),
            Payload::Binary(b) | Payload::Protobuf(b) => {
                out.push('"');
                BASE64.encode_string(b, out);
                out.push('"');
            }
        }
    }
}

/// The string a JSON string literal stands for. `raw` was already validated by the parser, so a
/// literal with no backslash is its own content between the quotes (JSON forbids raw control
/// characters in strings); only escaped ones need a second parse.
fn text_from_wire(raw: &str, spare: Option<String>) -> Option<String> {
    let raw = raw.trim();
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        return serde_json::from_str::<String>(raw).ok();
    }
    Some(reused_text(spare, inner))
}

/// The bytes standard padded base64 `content` stands for.
pub(crate) fn base64_bytes(content: &str) -> Result<Vec<u8>, PayloadError> {
    BASE64
        .decode(content.as_bytes())
        .map_err(|e| PayloadError::BadBase64(e.to_string()))
}

/// `content` as an owned string, written into `spare` when there is one.
pub(crate) fn reused_text(spare: Option<String>, content: &str) -> String {
    match spare {
        Some(mut text) => {
            text.clear();
            text.push_str(content);
            text
        }
        None => content.to_string(),
    }
}

/// Appends a number in decimal, without an intermediate allocation (sequence ids are written
/// once per reliable recipient of every fan-out message).
pub(crate) fn push_u64(out: &mut String, n: u64) {
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = write!(out, "{n}");
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    // serde_json's escaping is correct and fast; writing into a String cannot fail.
    let quoted = serde_json::to_string(s).unwrap_or_default();
    out.push_str(&quoted);
}

/// Tracks whether a walk through JSON text is inside a string (escapes included), so that
/// the formatters below touch only what is outside strings.
#[derive(Default)]
pub(crate) struct JsonStrings {
    in_string: bool,
    escaped: bool,
}

impl JsonStrings {
    /// Takes the next character; true when it belongs to a string (quotes included).
    pub(crate) fn inside(&mut self, c: char) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == '"' {
                self.in_string = false;
            }
            true
        } else {
            self.in_string = c == '"';
            self.in_string
        }
    }
}

/// JSON text without whitespace outside strings (the text is valid JSON from the decoder).
pub(crate) fn compact_json(raw: &str) -> String {
    let mut strings = JsonStrings::default();
    raw.chars()
        .filter(|&c| strings.inside(c) || !c.is_whitespace())
        .collect()
}
