//! Messages a client sends to the service: joinGroup, leaveGroup, sendToGroup, event,
//! sequenceAck, ping, invoke and cancelInvocation, encoded the way the official SDKs put them on the wire.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::borrowed::WireStr;
use super::invoke::InvokeWire;
use super::payload::{push_u64, write_json_string};
use super::{
    DataType, DecodeError, Payload, PayloadError, validate_event_name, validate_group_name,
};

/// A client → service request.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    JoinGroup {
        group: String,
        ack_id: Option<u64>,
    },
    LeaveGroup {
        group: String,
        ack_id: Option<u64>,
    },
    SendToGroup {
        group: String,
        ack_id: Option<u64>,
        no_echo: bool,
        data: Payload,
    },
    Event {
        event: String,
        ack_id: Option<u64>,
        data: Payload,
    },
    /// Ask the handler of a user event and wait for its `invokeResponse` (JSON only).
    Invoke(super::Invoke),
    /// Stop waiting for an invocation.
    CancelInvocation {
        invocation_id: String,
    },
    /// Reliable subprotocols only: every sequence id up to this one was received.
    SequenceAck {
        sequence_id: u64,
    },
    Ping,
}

impl ClientMessage {
    /// The ack id the request carries, if any.
    pub fn ack_id(&self) -> Option<u64> {
        match self {
            ClientMessage::JoinGroup { ack_id, .. }
            | ClientMessage::LeaveGroup { ack_id, .. }
            | ClientMessage::SendToGroup { ack_id, .. }
            | ClientMessage::Event { ack_id, .. } => *ack_id,
            ClientMessage::SequenceAck { .. }
            | ClientMessage::Ping
            | ClientMessage::Invoke(_)
            | ClientMessage::CancelInvocation { .. } => None,
        }
    }
}

/// Encodes a client message as one JSON text frame.
pub fn encode_client(message: &ClientMessage) -> String {
    let mut out = String::with_capacity(64 + payload_hint(message));
    match message {
        ClientMessage::JoinGroup { group, ack_id } => {
            open(&mut out, "joinGroup");
            field_str(&mut out, "group", group);
            field_ack(&mut out, *ack_id);
        }
        ClientMessage::LeaveGroup { group, ack_id } => {
            open(&mut out, "leaveGroup");
            field_str(&mut out, "group", group);
            field_ack(&mut out, *ack_id);
        }
        ClientMessage::SendToGroup {
            group,
            ack_id,
            no_echo,
            data,
        } => {
            open(&mut out, "sendToGroup");
            field_str(&mut out, "group", group);
            field_ack(&mut out, *ack_id);
            // The SDKs always send noEcho, false by default.
            out.push_str(if *no_echo {
                ",\"noEcho\":true"
            } else {
                ",\"noEcho\":false"
            });
            field_data(&mut out, data);
        }
        ClientMessage::Event {
            event,
            ack_id,
            data,
        } => {
            open(&mut out, "event");
            field_str(&mut out, "event", event);
            field_ack(&mut out, *ack_id);
            field_data(&mut out, data);
        }
        ClientMessage::SequenceAck { sequence_id } => {
            open(&mut out, "sequenceAck");
            out.push_str(",\"sequenceId\":");
            push_u64(&mut out, *sequence_id);
        }
        ClientMessage::Ping => open(&mut out, "ping"),
        ClientMessage::Invoke(invoke) => super::invoke::write_invoke(&mut out, invoke),
        ClientMessage::CancelInvocation { invocation_id } => {
            super::invoke::write_cancel(&mut out, invocation_id)
        }
    }
    out.push('}');
    out
}

fn payload_hint(message: &ClientMessage) -> usize {
    match message {
        ClientMessage::SendToGroup { data, .. }
        | ClientMessage::Event { data, .. }
        | ClientMessage::Invoke(super::Invoke { data, .. }) => data.len() * 4 / 3 + 8,
        _ => 0,
    }
}

fn open(out: &mut String, kind: &str) {
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push('"');
}

fn field_str(out: &mut String, name: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    write_json_string(out, value);
}

fn field_ack(out: &mut String, ack_id: Option<u64>) {
    if let Some(id) = ack_id {
        out.push_str(",\"ackId\":");
        push_u64(out, id);
    }
}

fn field_data(out: &mut String, data: &Payload) {
    out.push_str(",\"dataType\":\"");
    out.push_str(data.data_type().as_str());
    out.push_str("\",\"data\":");
    data.write_wire(out);
}

/// `sequenceId` in a `sequenceAck`: the docs show a string, the SDKs send a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString<'a> {
    Number(u64),
    #[serde(borrow)]
    String(Cow<'a, str>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    group: Option<WireStr<'a>>,
    #[serde(borrow)]
    event: Option<WireStr<'a>>,
    ack_id: Option<u64>,
    no_echo: Option<bool>,
    #[serde(borrow)]
    data_type: Option<WireStr<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    sequence_id: Option<NumberOrString<'a>>,
    #[serde(borrow)]
    invocation_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    target: Option<Cow<'a, str>>,
}

/// Decodes a client frame (used by the local service). Unknown types and invalid fields are
/// errors: the service treats them as a protocol violation.
pub fn decode_client(frame: &str) -> Result<ClientMessage, DecodeError> {
    let wire: ClientWire<'_> =
        serde_json::from_str(frame).map_err(|e| DecodeError::Json(e.to_string()))?;
    match wire.kind.as_ref() {
        "joinGroup" => Ok(ClientMessage::JoinGroup {
            group: wire.group("joinGroup")?,
            ack_id: wire.ack_id,
        }),
        "leaveGroup" => Ok(ClientMessage::LeaveGroup {
            group: wire.group("leaveGroup")?,
            ack_id: wire.ack_id,
        }),
        "sendToGroup" => Ok(ClientMessage::SendToGroup {
            group: wire.group("sendToGroup")?,
            ack_id: wire.ack_id,
            no_echo: wire.no_echo.unwrap_or(false),
            data: wire.payload()?,
        }),
        "event" => Ok(ClientMessage::Event {
            event: wire.event_name()?,
            ack_id: wire.ack_id,
            data: wire.payload()?,
        }),
        "sequenceAck" => Ok(ClientMessage::SequenceAck {
            sequence_id: wire.sequence_id()?,
        }),
        "ping" => Ok(ClientMessage::Ping),
        "invoke" => Ok(ClientMessage::Invoke(super::invoke::invoke_from_wire(
            &InvokeWire {
                invocation_id: wire.invocation_id.clone(),
                target: wire.target.clone(),
            },
            wire.event.as_deref(),
            wire.payload()?,
        )?)),
        "cancelInvocation" => Ok(ClientMessage::CancelInvocation {
            invocation_id: super::invoke::cancel_from_wire(&InvokeWire {
                invocation_id: wire.invocation_id.clone(),
                target: None,
            })?,
        }),
        other => Err(DecodeError::UnknownType(other.to_string())),
    }
}

impl ClientWire<'_> {
    /// The `group` field a message of this `kind` must carry, validated.
    fn group(&self, kind: &'static str) -> Result<String, DecodeError> {
        let group = self.group.as_deref().ok_or(DecodeError::MissingField {
            kind,
            field: "group",
        })?;
        validate_group_name(group)?;
        Ok(group.to_string())
    }

    /// The `event` field of an `event` message, validated.
    fn event_name(&self) -> Result<String, DecodeError> {
        let event = self.event.as_deref().ok_or(DecodeError::MissingField {
            kind: "event",
            field: "event",
        })?;
        validate_event_name(event).map_err(DecodeError::EventName)?;
        Ok(event.to_string())
    }

    /// `data` read as its `dataType` says (JSON when absent); clients may not send protobuf
    /// over the JSON subprotocols.
    fn payload(&self) -> Result<Payload, DecodeError> {
        let data_type = match self.data_type.as_deref() {
            None => DataType::Json,
            Some(name) => match DataType::from_name(name) {
                Some(DataType::Protobuf) | None => {
                    return Err(PayloadError::UnknownDataType(name.to_string()).into());
                }
                Some(t) => t,
            },
        };
        let raw = self.data.ok_or(PayloadError::Missing)?;
        Ok(Payload::from_wire(data_type, raw)?)
    }

    fn sequence_id(&self) -> Result<u64, DecodeError> {
        match &self.sequence_id {
            Some(NumberOrString::Number(n)) => Ok(*n),
            Some(NumberOrString::String(s)) => s
                .parse()
                .map_err(|_| DecodeError::Json(format!("sequenceId '{s}' is not a number"))),
            None => Err(DecodeError::MissingField {
                kind: "sequenceAck",
                field: "sequenceId",
            }),
        }
    }
}
