//! The protobuf subprotocols (`protobuf.webpubsub.azure.v1` and its reliable twin): the same
//! typed messages as the JSON pair, encoded as one proto3 `Up` (client → service) or `Down`
//! (service → client) per binary frame. No I/O happens here.

mod wire;

use prost::Message as _;

use super::{
    AckError, AckErrorName, ClientMessage, DataMessage, DecodeError, MessageSource, Payload,
    PayloadError, ServiceMessage, validate_event_name, validate_group_name,
};
use wire::{DataKind, DownKind, SystemKind, UpKind};

/// `Up` members for later protocol versions: invoke, cancelInvocation, streams, group state.
const RESERVED_UP_MEMBERS: std::ops::RangeInclusive<u32> = 10..=17;
/// Largest `ttlSeconds` a client may ask for on a group send.
const MAX_TTL_SECONDS: u32 = 300;
/// `Down.data` is member 2; a data message's sequence id is its member 4.
const DOWN_DATA_TAG: u32 = 2;
const DATA_SEQUENCE_ID_TAG: u32 = 4;

/// Encodes a client message as one binary frame.
pub fn encode_client(message: &ClientMessage) -> Vec<u8> {
    let kind = match message {
        ClientMessage::JoinGroup { group, ack_id } => UpKind::JoinGroup(wire::GroupRequest {
            group: group.clone(),
            ack_id: *ack_id,
        }),
        ClientMessage::LeaveGroup { group, ack_id } => UpKind::LeaveGroup(wire::GroupRequest {
            group: group.clone(),
            ack_id: *ack_id,
        }),
        ClientMessage::SendToGroup {
            group,
            ack_id,
            no_echo,
            data,
        } => UpKind::SendToGroup(wire::SendToGroup {
            group: group.clone(),
            ack_id: *ack_id,
            data: Some(to_wire(data)),
            no_echo: Some(*no_echo),
            ttl_seconds: None,
        }),
        ClientMessage::Event {
            event,
            ack_id,
            data,
        } => UpKind::Event(wire::Event {
            event: event.clone(),
            data: Some(to_wire(data)),
            ack_id: *ack_id,
        }),
        ClientMessage::SequenceAck { sequence_id } => UpKind::SequenceAck(wire::SequenceAck {
            sequence_id: *sequence_id,
        }),
        ClientMessage::Ping => UpKind::Ping(wire::Empty {}),
        // Reserved in protobuf (members 10 and 11, no layout yet): the engine invokes only over
        // JSON, so this empty `Up` is never sent.
        ClientMessage::Invoke(_) | ClientMessage::CancelInvocation { .. } => {
            return wire::Up { kind: None }.encode_to_vec();
        }
    };
    wire::Up { kind: Some(kind) }.encode_to_vec()
}

/// Decodes a client frame (used by the local service). A frame that is not an `Up`, an `Up`
/// with no member wpchat knows (including the reserved 10–17), a bad name or a payload with no
/// member set is an error: the service declines it (1007).
pub fn decode_client(frame: &[u8]) -> Result<ClientMessage, DecodeError> {
    let up = wire::Up::decode(frame).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    // prost skips the reserved members; one next to a known member must not slip through.
    if up.kind.is_some()
        && let Some(member) = reserved_member(frame)
    {
        return Err(DecodeError::UnknownType(format!(
            "Up member {member} (invoke, streaming or group state), which wpchat does not support"
        )));
    }
    match up.kind {
        Some(UpKind::JoinGroup(request)) => {
            validate_group_name(&request.group)?;
            Ok(ClientMessage::JoinGroup {
                group: request.group,
                ack_id: request.ack_id,
            })
        }
        Some(UpKind::LeaveGroup(request)) => {
            validate_group_name(&request.group)?;
            Ok(ClientMessage::LeaveGroup {
                group: request.group,
                ack_id: request.ack_id,
            })
        }
        Some(UpKind::SendToGroup(send)) => {
            validate_group_name(&send.group)?;
            if let Some(ttl) = send.ttl_seconds.filter(|ttl| *ttl > MAX_TTL_SECONDS) {
                return Err(DecodeError::Protobuf(format!(
                    "ttlSeconds is {ttl}; at most {MAX_TTL_SECONDS} is allowed"
                )));
            }
            Ok(ClientMessage::SendToGroup {
                group: send.group,
                ack_id: send.ack_id,
                no_echo: send.no_echo.unwrap_or(false),
                data: from_wire(send.data)?,
            })
        }
        Some(UpKind::Event(event)) => {
            validate_event_name(&event.event).map_err(DecodeError::EventName)?;
            Ok(ClientMessage::Event {
                event: event.event,
                ack_id: event.ack_id,
                data: from_wire(event.data)?,
            })
        }
        Some(UpKind::SequenceAck(ack)) => Ok(ClientMessage::SequenceAck {
            sequence_id: ack.sequence_id,
        }),
        Some(UpKind::Ping(_)) => Ok(ClientMessage::Ping),
        None => Err(DecodeError::UnknownType(
            "an Up message with no member wpchat knows".into(),
        )),
    }
}

/// The first top-level member 10–17 of an `Up` (reserved for invoke, streams and group
/// state), if the frame has one. The frame already decoded, so its fields are well formed.
fn reserved_member(mut frame: &[u8]) -> Option<u32> {
    use prost::encoding::{DecodeContext, decode_key, skip_field};
    while !frame.is_empty() {
        let (tag, wire_type) = decode_key(&mut frame).ok()?;
        if RESERVED_UP_MEMBERS.contains(&tag) {
            return Some(tag);
        }
        skip_field(wire_type, tag, &mut frame, DecodeContext::default()).ok()?;
    }
    None
}

/// Encodes a service message as one binary frame (used by the local service and tests).
/// `ServiceMessage::Unknown` has no protobuf form and encodes as an empty `Down`.
pub fn encode_service(message: &ServiceMessage) -> Vec<u8> {
    let kind = match message {
        ServiceMessage::Ack {
            ack_id,
            success,
            error,
        } => Some(DownKind::Ack(wire::Ack {
            ack_id: *ack_id,
            success: *success,
            error: error.as_ref().map(|error| wire::AckError {
                name: error.name.as_str().to_string(),
                message: error.message.clone(),
            }),
        })),
        ServiceMessage::Message(message) => Some(DownKind::Data(data_to_wire(
            &message.source,
            &message.payload,
            message.sequence_id,
        ))),
        ServiceMessage::Connected {
            connection_id,
            user_id,
            reconnection_token,
        } => Some(system(SystemKind::Connected(wire::Connected {
            connection_id: connection_id.clone(),
            user_id: user_id.clone().unwrap_or_default(),
            reconnection_token: reconnection_token.clone(),
        }))),
        ServiceMessage::Disconnected { message } => {
            Some(system(SystemKind::Disconnected(wire::Disconnected {
                reason: message.clone().unwrap_or_default(),
            })))
        }
        ServiceMessage::Pong => Some(DownKind::Pong(wire::Empty {})),
        // Reserved in protobuf (member 5): protobuf clients cannot invoke.
        ServiceMessage::InvokeResponse(_) | ServiceMessage::Unknown { .. } => None,
    };
    wire::Down { kind }.encode_to_vec()
}

/// Decodes one service frame. A `Down` with a member wpchat does not know is `Unknown` (kept,
/// never fatal); bytes that are not a `Down` at all are an error.
pub fn decode_service(frame: &[u8]) -> Result<ServiceMessage, DecodeError> {
    let down = wire::Down::decode(frame).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    match down.kind {
        Some(DownKind::Ack(ack)) => Ok(ServiceMessage::Ack {
            ack_id: ack.ack_id,
            success: ack.success,
            error: ack.error.map(|error| AckError {
                name: AckErrorName::from_name(&error.name),
                message: error.message,
            }),
        }),
        Some(DownKind::Data(data)) => data_from_wire(data),
        Some(DownKind::System(wire::System {
            kind: Some(SystemKind::Connected(connected)),
        })) => {
            if connected.connection_id.is_empty() {
                return Err(DecodeError::MissingField {
                    kind: "connected",
                    field: "connectionId",
                });
            }
            Ok(ServiceMessage::Connected {
                connection_id: connected.connection_id,
                // An empty user id means an anonymous connection.
                user_id: Some(connected.user_id).filter(|user| !user.is_empty()),
                reconnection_token: connected.reconnection_token.filter(|t| !t.is_empty()),
            })
        }
        Some(DownKind::System(wire::System {
            kind: Some(SystemKind::Disconnected(disconnected)),
        })) => Ok(ServiceMessage::Disconnected {
            message: Some(disconnected.reason).filter(|reason| !reason.is_empty()),
        }),
        Some(DownKind::System(wire::System { kind: None })) => Ok(ServiceMessage::Unknown {
            kind: "system/(unknown protobuf member)".into(),
        }),
        Some(DownKind::Pong(_)) => Ok(ServiceMessage::Pong),
        None => Ok(ServiceMessage::Unknown {
            kind: "(unknown protobuf member)".into(),
        }),
    }
}

/// The serialized `google.protobuf.Any` that a protobuf payload carries, from its parts.
pub fn pack_any(type_url: &str, value: &[u8]) -> Payload {
    Payload::Protobuf(
        wire::Any {
            type_url: type_url.to_string(),
            value: value.to_vec(),
        }
        .encode_to_vec(),
    )
}

/// The type URL and value of a serialized `google.protobuf.Any`; `None` when the bytes are
/// not one.
pub fn unpack_any(any: &[u8]) -> Option<(String, Vec<u8>)> {
    let any = wire::Any::decode(any).ok()?;
    Some((any.type_url, any.value))
}

fn system(kind: SystemKind) -> DownKind {
    DownKind::System(wire::System { kind: Some(kind) })
}

/// A data message serialized once for fan-out: the `Down.data` body without a sequence id.
/// A reliable recipient's frame appends member 4 to that body and frames it again, so the
/// payload is never re-encoded per recipient (field order does not matter in protobuf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupFrame {
    body: Vec<u8>,
}

impl GroupFrame {
    /// The sender's user id is not part of it: protobuf data messages carry no sender.
    pub(crate) fn new(source: &MessageSource, payload: &Payload) -> Self {
        GroupFrame {
            body: data_to_wire(source, payload, None).encode_to_vec(),
        }
    }

    /// The frame for a non-reliable recipient.
    pub(crate) fn frame(&self) -> Vec<u8> {
        self.framed(None)
    }

    /// The frame for a reliable recipient, with its own sequence id.
    pub(crate) fn with_sequence(&self, sequence_id: u64) -> Vec<u8> {
        self.framed(Some(sequence_id))
    }

    fn framed(&self, sequence_id: Option<u64>) -> Vec<u8> {
        use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
        let sequence_len = sequence_id.map_or(0, |id| 1 + encoded_len_varint(id));
        let inner_len = self.body.len() + sequence_len;
        let mut out = Vec::with_capacity(inner_len + 12);
        encode_key(DOWN_DATA_TAG, WireType::LengthDelimited, &mut out);
        encode_varint(inner_len as u64, &mut out);
        out.extend_from_slice(&self.body);
        if let Some(id) = sequence_id {
            encode_key(DATA_SEQUENCE_ID_TAG, WireType::Varint, &mut out);
            encode_varint(id, &mut out);
        }
        out
    }
}

fn data_to_wire(source: &MessageSource, payload: &Payload, sequence_id: Option<u64>) -> wire::Data {
    let (from, group) = match source {
        MessageSource::Group { group, .. } => ("group", Some(group.to_string())),
        MessageSource::Server => ("server", None),
    };
    wire::Data {
        from: from.to_string(),
        group,
        data: Some(to_wire(payload)),
        sequence_id,
    }
}

fn data_from_wire(data: wire::Data) -> Result<ServiceMessage, DecodeError> {
    let source = match data.from.as_str() {
        "group" => MessageSource::Group {
            group: data
                .group
                .ok_or(DecodeError::MissingField {
                    kind: "data",
                    field: "group",
                })?
                .into(),
            // Protobuf data messages carry no sender.
            from_user_id: None,
        },
        "server" => MessageSource::Server,
        other => {
            return Ok(ServiceMessage::Unknown {
                kind: format!("message from {other}"),
            });
        }
    };
    Ok(ServiceMessage::Message(DataMessage {
        source,
        sequence_id: data.sequence_id,
        payload: from_wire(data.data)?,
    }))
}

fn to_wire(payload: &Payload) -> wire::MessageData {
    let kind = match payload {
        Payload::Text(text) => DataKind::Text(text.clone()),
        Payload::Json(raw) => DataKind::Json(raw.get().to_string()),
        Payload::Binary(bytes) => DataKind::Binary(bytes.clone()),
        // Bytes that are not an Any (never made by wpchat) travel as an Any's value.
        Payload::Protobuf(any) => {
            DataKind::Protobuf(wire::Any::decode(any.as_slice()).unwrap_or(wire::Any {
                type_url: String::new(),
                value: any.clone(),
            }))
        }
    };
    wire::MessageData { kind: Some(kind) }
}

fn from_wire(data: Option<wire::MessageData>) -> Result<Payload, DecodeError> {
    match data.and_then(|data| data.kind) {
        Some(DataKind::Text(text)) => Ok(Payload::Text(text)),
        Some(DataKind::Binary(bytes)) => Ok(Payload::Binary(bytes)),
        Some(DataKind::Protobuf(any)) => Ok(Payload::Protobuf(any.encode_to_vec())),
        Some(DataKind::Json(text)) => Ok(Payload::json(&text)?),
        None => Err(PayloadError::Missing.into()),
    }
}

#[cfg(test)]
mod tests;
