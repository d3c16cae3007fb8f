//! The Web PubSub subprotocols (the JSON pair here, the protobuf pair in `protobuf`): typed
//! messages in both directions, payload encoding, frames per subprotocol and the protocol's
//! limits. No I/O happens here; both the client engine and the local service use these types.

mod borrowed;
mod client_message;
mod decode_cache;
mod invoke;
mod message_scan;
mod payload;
pub mod protobuf;
mod service_message;

pub use borrowed::WireStr;
pub use client_message::{ClientMessage, decode_client, encode_client};
pub use decode_cache::DecodeCache;
pub(crate) use invoke::failed_response;
pub use invoke::{Invoke, InvokeResponse};
pub(crate) use payload::PayloadError;
pub use payload::{DataType, Payload};
pub(crate) use payload::{JsonStrings, compact_json};
pub(crate) use service_message::GroupFrame;
pub use service_message::{
    AckError, AckErrorName, DataMessage, MessageSource, ServiceMessage, decode_service,
    decode_service_by_serde, decode_service_with, encode_service,
};

use thiserror::Error;

/// The non-reliable JSON subprotocol.
pub(crate) const JSON_V1: &str = "json.webpubsub.azure.v1";
/// The reliable JSON subprotocol: sequence ids, `sequenceAck` and connection recovery.
pub const JSON_RELIABLE_V1: &str = "json.reliable.webpubsub.azure.v1";

/// Largest message a client may send to the service (protocol.md §6: 1 MB; the emulator uses
/// 1 MiB and closes with 1009 above it).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 1024 * 1024;
/// Longest group name, in characters (protocol.md §6).
pub(crate) const MAX_GROUP_NAME_CHARS: usize = 1024;

/// WebSocket close codes with a meaning in Web PubSub (protocol.md §6).
pub mod close_code {
    /// Normal close: ends a reliable session, no recovery.
    pub(crate) const NORMAL: u16 = 1000;
    /// Frame of the wrong kind (binary frame on a JSON subprotocol).
    pub(crate) const UNSUPPORTED_DATA: u16 = 1003;
    /// Invalid JSON or an invalid protocol message.
    pub(crate) const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation: the session is gone and cannot be recovered.
    pub(crate) const POLICY_VIOLATION: u16 = 1008;
    /// Client message too large.
    pub(crate) const MESSAGE_TOO_BIG: u16 = 1009;
    /// Server error, e.g. a simple client's event with no handler.
    pub(crate) const INTERNAL_ERROR: u16 = 1011;
}

/// The non-reliable protobuf subprotocol.
pub(crate) const PROTOBUF_V1: &str = "protobuf.webpubsub.azure.v1";
/// The reliable protobuf subprotocol.
pub(crate) const PROTOBUF_RELIABLE_V1: &str = "protobuf.reliable.webpubsub.azure.v1";

/// Which subprotocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subprotocol {
    /// `json.webpubsub.azure.v1`
    Json,
    /// `json.reliable.webpubsub.azure.v1`
    #[default]
    JsonReliable,
    /// `protobuf.webpubsub.azure.v1`
    Protobuf,
    /// `protobuf.reliable.webpubsub.azure.v1`
    ProtobufReliable,
}

/// One WebSocket message as a subprotocol writes it: JSON travels in text frames, protobuf
/// in binary frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl Frame {
    /// Bytes on the wire (before WebSocket framing).
    pub(crate) fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }
}

impl Subprotocol {
    const ALL: [Subprotocol; 4] = [
        Subprotocol::Json,
        Subprotocol::JsonReliable,
        Subprotocol::Protobuf,
        Subprotocol::ProtobufReliable,
    ];

    /// The name sent in `Sec-WebSocket-Protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Subprotocol::Json => JSON_V1,
            Subprotocol::JsonReliable => JSON_RELIABLE_V1,
            Subprotocol::Protobuf => PROTOBUF_V1,
            Subprotocol::ProtobufReliable => PROTOBUF_RELIABLE_V1,
        }
    }

    /// Parses a `Sec-WebSocket-Protocol` value, without regard to case (the service compares
    /// names that way); custom subprotocols are `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|known| known.name().eq_ignore_ascii_case(name))
    }

    /// Parses a short name (`json`, `json.reliable`, `protobuf`, `protobuf.reliable`), without
    /// regard to case.
    pub(crate) fn from_short_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|known| known.short_name().eq_ignore_ascii_case(name))
    }

    /// A short name for status bars and flags: `json`, `protobuf`, or either with `.reliable`.
    pub(crate) fn short_name(self) -> &'static str {
        match self {
            Subprotocol::Json => "json",
            Subprotocol::JsonReliable => "json.reliable",
            Subprotocol::Protobuf => "protobuf",
            Subprotocol::ProtobufReliable => "protobuf.reliable",
        }
    }

    pub fn is_reliable(self) -> bool {
        matches!(
            self,
            Subprotocol::JsonReliable | Subprotocol::ProtobufReliable
        )
    }

    /// Whether messages travel as protobuf in binary frames (else JSON in text frames).
    pub fn is_protobuf(self) -> bool {
        matches!(self, Subprotocol::Protobuf | Subprotocol::ProtobufReliable)
    }

    /// A client message as this subprotocol's frame.
    pub(crate) fn encode_client(self, message: &ClientMessage) -> Frame {
        if self.is_protobuf() {
            Frame::Binary(protobuf::encode_client(&with_compact_json(message)))
        } else {
            Frame::Text(encode_client(message))
        }
    }

    /// A service message as this subprotocol's frame.
    pub(crate) fn encode_service(self, message: &ServiceMessage) -> Frame {
        if self.is_protobuf() {
            Frame::Binary(protobuf::encode_service(message))
        } else {
            Frame::Text(encode_service(message))
        }
    }
}

/// `message` with a JSON payload written compactly (protobuf.md P23: a client puts compact JSON
/// text in member 4); other messages as they are.
fn with_compact_json(message: &ClientMessage) -> std::borrow::Cow<'_, ClientMessage> {
    let compacted = |data: &Payload| match data {
        Payload::Json(raw) => serde_json::value::RawValue::from_string(compact_json(raw.get()))
            .ok()
            .map(Payload::Json),
        _ => None,
    };
    match message {
        ClientMessage::SendToGroup {
            group,
            ack_id,
            no_echo,
            data,
        } => match compacted(data) {
            Some(data) => std::borrow::Cow::Owned(ClientMessage::SendToGroup {
                group: group.clone(),
                ack_id: *ack_id,
                no_echo: *no_echo,
                data,
            }),
            None => std::borrow::Cow::Borrowed(message),
        },
        ClientMessage::Event {
            event,
            ack_id,
            data,
        } => match compacted(data) {
            Some(data) => std::borrow::Cow::Owned(ClientMessage::Event {
                event: event.clone(),
                ack_id: *ack_id,
                data,
            }),
            None => std::borrow::Cow::Borrowed(message),
        },
        _ => std::borrow::Cow::Borrowed(message),
    }
}

/// Why a frame could not be decoded into a message.
#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    #[error("frame is not valid JSON: {0}")]
    Json(String),
    #[error("frame is not a valid protobuf message: {0}")]
    Protobuf(String),
    #[error("unknown message type '{0}'")]
    UnknownType(String),
    #[error("message of type '{kind}' is missing field '{field}'")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
    #[error("invalid payload: {0}")]
    Payload(#[from] PayloadError),
    #[error("invalid group name: {0}")]
    GroupName(#[from] NameError),
    #[error("invalid event name: {0}")]
    EventName(NameError),
    #[error("invoke target '{0}' is not 'event', the only target there is")]
    InvokeTarget(String),
}

/// Why a group or event name is not acceptable.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name is only whitespace")]
    Whitespace,
    #[error("the name has {0} characters; at most {MAX_GROUP_NAME_CHARS} are allowed")]
    TooLong(usize),
    #[error(
        "'{0}' must start with a letter and hold only letters, digits, '_', '.' and '-' (128 at most)"
    )]
    BadEventName(String),
}

/// Checks a group name against the service's rule: 1–1024 characters, not whitespace only.
pub(crate) fn validate_group_name(group: &str) -> Result<(), NameError> {
    if group.is_empty() {
        return Err(NameError::Empty);
    }
    // No more bytes than the limit means no more characters: the count is skipped for the
    // names of every message a flood brings.
    if group.len() > MAX_GROUP_NAME_CHARS {
        let chars = group.chars().count();
        if chars > MAX_GROUP_NAME_CHARS {
            return Err(NameError::TooLong(chars));
        }
    }
    if group.chars().all(char::is_whitespace) {
        return Err(NameError::Whitespace);
    }
    Ok(())
}

/// Checks a user event name: `^[A-Za-z][A-Za-z0-9_.-]{0,127}$` (the emulator's rule).
pub(crate) fn validate_event_name(event: &str) -> Result<(), NameError> {
    let mut chars = event.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && event.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if event.is_empty() {
        Err(NameError::Empty)
    } else if ok {
        Ok(())
    } else {
        Err(NameError::BadEventName(event.to_string()))
    }
}

#[cfg(test)]
mod tests;
