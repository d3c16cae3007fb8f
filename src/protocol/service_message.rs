//! Messages the service sends to a client: ack, data messages from a group or the server,
//! system connected/disconnected, and pong. Decoding tolerates unknown types, fields and error
//! names; encoding (used by the local service) serializes a fan-out message once.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::borrowed::WireStr;
use super::decode_cache::DecodeCache;
use super::message_scan::{PlainData, PlainMessage, PlainSource, plain_data_message};
use super::payload::{base64_bytes, push_u64, reused_text, write_json_string};
use super::{DataType, DecodeError, Payload, PayloadError};

/// A service → client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceMessage {
    Ack {
        ack_id: u64,
        success: bool,
        error: Option<AckError>,
    },
    Message(DataMessage),
    Connected {
        connection_id: String,
        user_id: Option<String>,
        reconnection_token: Option<String>,
    },
    Disconnected {
        message: Option<String>,
    },
    Pong,
    /// The answer to an `invoke` (JSON only).
    InvokeResponse(super::InvokeResponse),
    /// A type (or system event) this client does not know; kept so it can be shown, never fatal.
    Unknown {
        kind: String,
    },
}

/// A data message: from a group or from the server, with its sequence id on reliable
/// subprotocols.
#[derive(Debug, Clone, PartialEq)]
pub struct DataMessage {
    pub source: MessageSource,
    pub sequence_id: Option<u64>,
    pub payload: Payload,
}

/// Where a data message came from. Group names and user ids are shared (`Arc<str>`): a
/// flood from one group by a few users costs no allocation for them per message (see
/// [`DecodeCache`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageSource {
    /// Published to a group; `from_user_id` is absent for anonymous senders and REST sends.
    Group {
        group: Arc<str>,
        from_user_id: Option<Arc<str>>,
    },
    /// Sent by the server (REST or an event handler's reply).
    Server,
}

/// The error of a failed ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    pub name: AckErrorName,
    pub message: String,
}

/// Ack error names; unknown names are kept as they came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AckErrorName {
    Forbidden,
    InternalServerError,
    Duplicate,
    BadRequest,
    InvocationFailed,
    Other(String),
}

impl AckErrorName {
    pub fn from_name(name: &str) -> Self {
        match name {
            "Forbidden" => AckErrorName::Forbidden,
            "InternalServerError" => AckErrorName::InternalServerError,
            "Duplicate" => AckErrorName::Duplicate,
            "BadRequest" => AckErrorName::BadRequest,
            "InvocationFailed" => AckErrorName::InvocationFailed,
            other => AckErrorName::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AckErrorName::Forbidden => "Forbidden",
            AckErrorName::InternalServerError => "InternalServerError",
            AckErrorName::Duplicate => "Duplicate",
            AckErrorName::BadRequest => "BadRequest",
            AckErrorName::InvocationFailed => "InvocationFailed",
            AckErrorName::Other(name) => name,
        }
    }

    /// Transient failures are worth retrying with the same ack id; the rest are final.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, AckErrorName::InternalServerError)
    }
}

impl std::fmt::Display for AckErrorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Deserialize)]
struct AckErrorWire<'a> {
    #[serde(borrow)]
    name: Option<WireStr<'a>>,
    #[serde(borrow)]
    message: Option<WireStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    event: Option<WireStr<'a>>,
    ack_id: Option<u64>,
    success: Option<bool>,
    #[serde(borrow)]
    error: Option<AckErrorWire<'a>>,
    #[serde(borrow)]
    from: Option<WireStr<'a>>,
    #[serde(borrow)]
    group: Option<WireStr<'a>>,
    #[serde(borrow)]
    from_user_id: Option<WireStr<'a>>,
    #[serde(borrow)]
    data_type: Option<WireStr<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    sequence_id: Option<u64>,
    connection_id: Option<String>,
    user_id: Option<String>,
    reconnection_token: Option<String>,
    message: Option<String>,
    #[serde(borrow)]
    invocation_id: Option<Cow<'a, str>>,
}

/// The fields of a data message only. A flood is nearly all data messages, and a struct of
/// seven fields parses about a third faster than `ServiceWire`'s twenty (fewer names to match,
/// a fraction of the bytes to move), so `decode` tries this first.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    from: Option<WireStr<'a>>,
    #[serde(borrow)]
    group: Option<WireStr<'a>>,
    #[serde(borrow)]
    from_user_id: Option<WireStr<'a>>,
    #[serde(borrow)]
    data_type: Option<WireStr<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    sequence_id: Option<u64>,
}

impl<'a> From<ServiceWire<'a>> for MessageWire<'a> {
    fn from(wire: ServiceWire<'a>) -> Self {
        MessageWire {
            kind: wire.kind,
            from: wire.from,
            group: wire.group,
            from_user_id: wire.from_user_id,
            data_type: wire.data_type,
            data: wire.data,
            sequence_id: wire.sequence_id,
        }
    }
}

/// Decodes one service frame. Malformed frames are errors; unknown types are `Unknown`.
pub fn decode_service(frame: &str) -> Result<ServiceMessage, DecodeError> {
    decode(frame, None)
}

/// [`decode_service`], sharing group names and user ids through `cache` and writing text
/// payloads into the strings it holds for reuse.
pub fn decode_service_with(
    frame: &str,
    cache: &mut DecodeCache,
) -> Result<ServiceMessage, DecodeError> {
    decode(frame, Some(cache))
}

/// A name shared through `cache`, or a copy of its own without one.
fn shared_name(cache: &mut Option<&mut DecodeCache>, name: &str) -> Arc<str> {
    match cache {
        Some(cache) => cache.name(name),
        None => Arc::from(name),
    }
}

/// [`decode_service`] by serde alone, without the hand-written reader of plain data messages:
/// what tests and the fuzz target compare that reader against.
#[doc(hidden)]
pub fn decode_service_by_serde(frame: &str) -> Result<ServiceMessage, DecodeError> {
    decode_by_serde(frame, None)
}

fn decode(frame: &str, mut cache: Option<&mut DecodeCache>) -> Result<ServiceMessage, DecodeError> {
    if let Some(plain) = plain_data_message(frame)
        && let Some(message) = message_from_plain(plain, &mut cache)
    {
        return Ok(message);
    }
    decode_by_serde(frame, cache)
}

/// A plain data message as the engine takes it; None when its payload is not valid (bad
/// base64), so that serde's path gives the error.
fn message_from_plain(
    plain: PlainMessage<'_>,
    cache: &mut Option<&mut DecodeCache>,
) -> Option<ServiceMessage> {
    let payload = match plain.data {
        PlainData::Text(text) => {
            let spare = cache.as_mut().and_then(|cache| cache.spare_text());
            Payload::Text(reused_text(spare, text))
        }
        PlainData::Binary(base64) => Payload::Binary(base64_bytes(base64).ok()?),
        PlainData::Protobuf(base64) => Payload::Protobuf(base64_bytes(base64).ok()?),
    };
    let source = match plain.source {
        PlainSource::Group {
            group,
            from_user_id,
        } => group_source(cache, group, from_user_id),
        PlainSource::Server => MessageSource::Server,
    };
    Some(ServiceMessage::Message(DataMessage {
        source,
        sequence_id: plain.sequence_id,
        payload,
    }))
}

fn group_source(
    cache: &mut Option<&mut DecodeCache>,
    group: &str,
    from_user_id: Option<&str>,
) -> MessageSource {
    MessageSource::Group {
        group: shared_name(cache, group),
        from_user_id: from_user_id.map(|user| shared_name(cache, user)),
    }
}

fn decode_by_serde(
    frame: &str,
    cache: Option<&mut DecodeCache>,
) -> Result<ServiceMessage, DecodeError> {
    // Every field of `MessageWire` is in `ServiceWire` with the same type, so a data message
    // that fails here fails the full parse too, and that parse gives the error.
    if let Ok(wire) = serde_json::from_str::<MessageWire<'_>>(frame)
        && wire.kind == "message"
    {
        return message_from_wire(wire, cache);
    }
    let wire: ServiceWire<'_> =
        serde_json::from_str(frame).map_err(|e| DecodeError::Json(e.to_string()))?;
    match wire.kind.as_ref() {
        "ack" => ack_from_wire(wire),
        "message" => message_from_wire(wire.into(), cache),
        "system" => system_from_wire(wire),
        "pong" => Ok(ServiceMessage::Pong),
        "invokeResponse" => {
            let error = wire.error.map(|e| AckError {
                name: AckErrorName::from_name(e.name.as_deref().unwrap_or("Unknown")),
                message: e.message.map(|m| m.0.into_owned()).unwrap_or_default(),
            });
            Ok(ServiceMessage::InvokeResponse(
                super::invoke::response_from_wire(
                    &super::invoke::InvokeWire {
                        invocation_id: wire.invocation_id,
                        target: None,
                    },
                    wire.success,
                    wire.data_type.as_deref(),
                    wire.data,
                    error,
                )?,
            ))
        }
        other => Ok(ServiceMessage::Unknown {
            kind: other.to_string(),
        }),
    }
}

fn ack_from_wire(wire: ServiceWire<'_>) -> Result<ServiceMessage, DecodeError> {
    let ack_id = wire.ack_id.ok_or(DecodeError::MissingField {
        kind: "ack",
        field: "ackId",
    })?;
    let success = wire.success.unwrap_or(false);
    let error = wire.error.map(|e| AckError {
        name: AckErrorName::from_name(e.name.as_deref().unwrap_or("Unknown")),
        message: e.message.map(|m| m.0.into_owned()).unwrap_or_default(),
    });
    Ok(ServiceMessage::Ack {
        ack_id,
        success,
        error,
    })
}

fn message_from_wire(
    wire: MessageWire<'_>,
    mut cache: Option<&mut DecodeCache>,
) -> Result<ServiceMessage, DecodeError> {
    let source = match wire.from.as_deref() {
        Some("group") => group_source(
            &mut cache,
            &wire.group.ok_or(DecodeError::MissingField {
                kind: "message",
                field: "group",
            })?,
            wire.from_user_id.as_deref(),
        ),
        Some("server") => MessageSource::Server,
        Some(other) => {
            return Ok(ServiceMessage::Unknown {
                kind: format!("message from {other}"),
            });
        }
        None => {
            return Err(DecodeError::MissingField {
                kind: "message",
                field: "from",
            });
        }
    };
    let data_type = match wire.data_type.as_deref() {
        None => DataType::Json,
        Some(name) => DataType::from_name(name)
            .ok_or_else(|| PayloadError::UnknownDataType(name.to_string()))?,
    };
    let raw = wire.data.ok_or(PayloadError::Missing)?;
    let spare = match data_type {
        DataType::Text => cache.as_mut().and_then(|cache| cache.spare_text()),
        _ => None,
    };
    let payload = Payload::from_wire_reusing(data_type, raw, spare)?;
    Ok(ServiceMessage::Message(DataMessage {
        source,
        sequence_id: wire.sequence_id,
        payload,
    }))
}

fn system_from_wire(wire: ServiceWire<'_>) -> Result<ServiceMessage, DecodeError> {
    match wire.event.as_deref() {
        Some("connected") => Ok(ServiceMessage::Connected {
            connection_id: wire.connection_id.filter(|id| !id.is_empty()).ok_or(
                DecodeError::MissingField {
                    kind: "connected",
                    field: "connectionId",
                },
            )?,
            user_id: wire.user_id,
            reconnection_token: wire.reconnection_token.filter(|t| !t.is_empty()),
        }),
        Some("disconnected") => Ok(ServiceMessage::Disconnected {
            message: wire.message,
        }),
        Some(other) => Ok(ServiceMessage::Unknown {
            kind: format!("system/{other}"),
        }),
        None => Err(DecodeError::MissingField {
            kind: "system",
            field: "event",
        }),
    }
}

/// Encodes a service message as one JSON text frame (used by the local service and tests).
pub fn encode_service(message: &ServiceMessage) -> String {
    let mut out = String::with_capacity(96);
    match message {
        ServiceMessage::Ack {
            ack_id,
            success,
            error,
        } => {
            out.push_str("{\"type\":\"ack\",\"ackId\":");
            push_u64(&mut out, *ack_id);
            out.push_str(if *success {
                ",\"success\":true"
            } else {
                ",\"success\":false"
            });
            if let Some(error) = error {
                out.push_str(",\"error\":{\"name\":");
                write_json_string(&mut out, error.name.as_str());
                out.push_str(",\"message\":");
                write_json_string(&mut out, &error.message);
                out.push('}');
            }
            out.push('}');
        }
        ServiceMessage::Message(message) => {
            let frame = GroupFrame::new(&message.source, &message.payload);
            out = match message.sequence_id {
                Some(seq) => frame.with_sequence(seq),
                None => frame.into_text(),
            };
        }
        ServiceMessage::Connected {
            connection_id,
            user_id,
            reconnection_token,
        } => {
            out.push_str("{\"type\":\"system\",\"event\":\"connected\",\"userId\":");
            match user_id {
                Some(user) => write_json_string(&mut out, user),
                None => out.push_str("null"),
            }
            out.push_str(",\"connectionId\":");
            write_json_string(&mut out, connection_id);
            if let Some(token) = reconnection_token {
                out.push_str(",\"reconnectionToken\":");
                write_json_string(&mut out, token);
            }
            out.push('}');
        }
        ServiceMessage::Disconnected { message } => {
            out.push_str("{\"type\":\"system\",\"event\":\"disconnected\"");
            if let Some(text) = message {
                out.push_str(",\"message\":");
                write_json_string(&mut out, text);
            }
            out.push('}');
        }
        ServiceMessage::Pong => out.push_str("{\"type\":\"pong\"}"),
        ServiceMessage::InvokeResponse(response) => {
            super::invoke::write_response(&mut out, response)
        }
        ServiceMessage::Unknown { kind } => {
            out.push_str("{\"type\":");
            write_json_string(&mut out, kind);
            out.push('}');
        }
    }
    out
}

/// A data message serialized once for fan-out. Non-reliable recipients share the same text;
/// reliable recipients get `{"sequenceId":N,` put in front of the shared body, so the payload
/// is never re-encoded per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupFrame {
    /// The whole frame without a sequence id; starts with `{`.
    text: String,
}

impl GroupFrame {
    pub fn new(source: &MessageSource, payload: &Payload) -> Self {
        let mut text = String::with_capacity(80 + payload.len() * 4 / 3);
        text.push_str("{\"type\":\"message\"");
        match source {
            MessageSource::Group {
                group,
                from_user_id,
            } => {
                text.push_str(",\"from\":\"group\",\"group\":");
                write_json_string(&mut text, group);
                if let Some(user) = from_user_id {
                    text.push_str(",\"fromUserId\":");
                    write_json_string(&mut text, user);
                }
            }
            MessageSource::Server => text.push_str(",\"from\":\"server\""),
        }
        text.push_str(",\"dataType\":\"");
        text.push_str(payload.data_type().as_str());
        text.push_str("\",\"data\":");
        payload.write_wire(&mut text);
        text.push('}');
        GroupFrame { text }
    }

    /// The frame for a non-reliable recipient.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }

    /// The frame for a reliable recipient, with its own sequence id first.
    pub(crate) fn with_sequence(&self, sequence_id: u64) -> String {
        let mut out = String::with_capacity(self.text.len() + 24);
        out.push_str("{\"sequenceId\":");
        push_u64(&mut out, sequence_id);
        out.push(',');
        out.push_str(&self.text[1..]);
        out
    }
}
