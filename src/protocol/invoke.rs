//! Invoke (preview, protocol.md §4): a client asks the app server's handler for event E and
//! waits for one `invokeResponse` with the same `invocationId`; `cancelInvocation` gives up.
//! JSON only: the protobuf subprotocol reserves members 10, 11 and 5 for them (protobuf.md).

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::payload::write_json_string;
use super::{AckError, AckErrorName, DataType, DecodeError, Payload, PayloadError};

/// The one invoke target the SDKs send.
const TARGET_EVENT: &str = "event";

/// A client's `invoke` of user event `event`.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoke {
    pub invocation_id: String,
    pub event: String,
    pub data: Payload,
}

/// The service's answer to an `invoke`.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeResponse {
    pub invocation_id: String,
    pub success: bool,
    /// The handler's reply, when it sent one.
    pub data: Option<Payload>,
    pub error: Option<AckError>,
}

/// The invoke fields of a frame (read as plain fields of the frame's wire struct: a
/// flattened struct would make serde buffer every frame).
pub(crate) struct InvokeWire<'a> {
    pub invocation_id: Option<Cow<'a, str>>,
    pub target: Option<Cow<'a, str>>,
}

impl InvokeWire<'_> {
    fn invocation_id(&self, kind: &'static str) -> Result<String, DecodeError> {
        self.invocation_id
            .as_deref()
            .map(str::to_string)
            .ok_or(DecodeError::MissingField {
                kind,
                field: "invocationId",
            })
    }
}

/// `invoke` from its wire fields; `data` is the already decoded payload.
pub(crate) fn invoke_from_wire(
    wire: &InvokeWire<'_>,
    event: Option<&str>,
    data: Payload,
) -> Result<Invoke, DecodeError> {
    let target = wire.target.as_deref().unwrap_or(TARGET_EVENT);
    if target != TARGET_EVENT {
        return Err(DecodeError::InvokeTarget(target.chars().take(64).collect()));
    }
    let event = event.ok_or(DecodeError::MissingField {
        kind: "invoke",
        field: "event",
    })?;
    super::validate_event_name(event).map_err(DecodeError::EventName)?;
    Ok(Invoke {
        invocation_id: wire.invocation_id("invoke")?,
        event: event.to_string(),
        data,
    })
}

pub(crate) fn cancel_from_wire(wire: &InvokeWire<'_>) -> Result<String, DecodeError> {
    wire.invocation_id("cancelInvocation")
}

/// `invokeResponse` from its wire fields.
pub(crate) fn response_from_wire(
    wire: &InvokeWire<'_>,
    success: Option<bool>,
    data_type: Option<&str>,
    data: Option<&RawValue>,
    error: Option<AckError>,
) -> Result<InvokeResponse, DecodeError> {
    let data = match data {
        None => None,
        Some(raw) => {
            let data_type = match data_type {
                None => DataType::Json,
                Some(name) => DataType::from_name(name)
                    .ok_or_else(|| PayloadError::UnknownDataType(name.to_string()))?,
            };
            Some(Payload::from_wire(data_type, raw)?)
        }
    };
    Ok(InvokeResponse {
        invocation_id: wire.invocation_id("invokeResponse")?,
        success: success.unwrap_or(false),
        data,
        error,
    })
}

/// Appends `{"type":"invoke",…}`.
pub(crate) fn write_invoke(out: &mut String, invoke: &Invoke) {
    out.push_str("{\"type\":\"invoke\",\"invocationId\":");
    write_json_string(out, &invoke.invocation_id);
    out.push_str(",\"target\":\"event\",\"event\":");
    write_json_string(out, &invoke.event);
    out.push_str(",\"dataType\":\"");
    out.push_str(invoke.data.data_type().as_str());
    out.push_str("\",\"data\":");
    invoke.data.write_wire(out);
}

/// Appends `{"type":"cancelInvocation",…}`.
pub(crate) fn write_cancel(out: &mut String, invocation_id: &str) {
    out.push_str("{\"type\":\"cancelInvocation\",\"invocationId\":");
    write_json_string(out, invocation_id);
}

/// Appends `{"type":"invokeResponse",…}` (closed).
pub(crate) fn write_response(out: &mut String, response: &InvokeResponse) {
    out.push_str("{\"type\":\"invokeResponse\",\"invocationId\":");
    write_json_string(out, &response.invocation_id);
    out.push_str(if response.success {
        ",\"success\":true"
    } else {
        ",\"success\":false"
    });
    if let Some(data) = &response.data {
        out.push_str(",\"dataType\":\"");
        out.push_str(data.data_type().as_str());
        out.push_str("\",\"data\":");
        data.write_wire(out);
    }
    if let Some(error) = &response.error {
        out.push_str(",\"error\":{\"name\":");
        write_json_string(out, error.name.as_str());
        out.push_str(",\"message\":");
        write_json_string(out, &error.message);
        out.push('}');
    }
    out.push('}');
}

/// A failed invocation's response, as the service sends it.
pub(crate) fn failed_response(invocation_id: String, message: &str) -> InvokeResponse {
    InvokeResponse {
        invocation_id,
        success: false,
        data: None,
        error: Some(AckError {
            name: AckErrorName::InternalServerError,
            message: message.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        ClientMessage, ServiceMessage, decode_client, decode_service, encode_client, encode_service,
    };

    /// protocol.md §4's example frames.
    const INVOKE: &str = r#"{"type":"invoke","invocationId":"1","target":"event","event":"chat.login","dataType":"text","data":""}"#;
    const CANCEL: &str = r#"{"type":"cancelInvocation","invocationId":"1"}"#;
    const RESPONSE_OK: &str = r#"{"type":"invokeResponse","invocationId":"1","success":true,"dataType":"json","data":{"userId":"alice"}}"#;
    const RESPONSE_FAILED: &str = r#"{"type":"invokeResponse","invocationId":"1","success":false,"error":{"name":"Forbidden","message":"…"}}"#;

    #[test]
    fn the_documented_client_frames_round_trip() {
        for frame in [INVOKE, CANCEL] {
            let message = decode_client(frame).expect(frame);
            assert_eq!(encode_client(&message), frame);
        }
        assert_eq!(
            decode_client(INVOKE),
            Ok(ClientMessage::Invoke(Invoke {
                invocation_id: "1".into(),
                event: "chat.login".into(),
                data: Payload::Text(String::new()),
            }))
        );
    }

    #[test]
    fn the_documented_responses_round_trip() {
        for frame in [RESPONSE_OK, RESPONSE_FAILED] {
            let message = decode_service(frame).expect(frame);
            assert_eq!(encode_service(&message), frame);
        }
        let Ok(ServiceMessage::InvokeResponse(failed)) = decode_service(RESPONSE_FAILED) else {
            panic!("not a response");
        };
        assert!(!failed.success);
        assert_eq!(failed.error.unwrap().name, AckErrorName::Forbidden);
    }

    #[test]
    fn bad_invokes_are_refused_with_what_is_wrong() {
        let other_target = r#"{"type":"invoke","invocationId":"1","target":"stream","event":"e","dataType":"text","data":""}"#;
        assert_eq!(
            decode_client(other_target),
            Err(DecodeError::InvokeTarget("stream".into()))
        );
        let no_id = r#"{"type":"invoke","event":"e","dataType":"text","data":""}"#;
        assert_eq!(
            decode_client(no_id),
            Err(DecodeError::MissingField {
                kind: "invoke",
                field: "invocationId"
            })
        );
    }
}
