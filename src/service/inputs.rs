//! The service's parsers of bytes from outside that no socket test can drive hard enough,
//! exposed for the fuzz targets (`fuzz/`): REST request bodies and event-handler replies.

use bytes::Bytes;

use super::rest::body_payload;
use super::upstream::{ConnectResponse, reply_payload};
use crate::protocol::Payload;

/// A REST send's body as the payload it delivers, its data type from `content_type` (as
/// the `Content-Type` header, parameters removed); `Err` is the message the caller gets.
pub fn rest_body(content_type: Option<&str>, body: &[u8]) -> Result<Payload, String> {
    body_payload(content_type, Bytes::copy_from_slice(body))
        .map_err(|error| error.message().to_string())
}

/// What an event handler's `connect` reply changes, as `(user_id, roles, groups,
/// subprotocol)`; `Err` says why the reply is unusable.
pub fn connect_reply(body: &[u8]) -> Result<ConnectChanges, String> {
    let reply = ConnectResponse::parse(body)?;
    Ok(ConnectChanges {
        user_id: reply.user_id,
        roles: reply.roles,
        groups: reply.groups,
        subprotocol: reply.subprotocol,
    })
}

/// What a `connect` reply may change; `None` changes nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConnectChanges {
    pub user_id: Option<String>,
    pub roles: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub subprotocol: Option<String>,
}

/// A user-event reply (its media type and body) as the payload delivered to the client,
/// `None` when there is nothing to deliver.
pub fn event_reply(media_type: Option<&str>, body: &[u8]) -> Result<Option<Payload>, String> {
    reply_payload(media_type, body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `rest_body` and `event_handler_reply` fuzz targets: valid JSON that
    /// `serde_json::Value` cannot hold (a number beyond f64) is passed on as written.
    #[test]
    fn json_beyond_f64_is_passed_on_exactly_as_written() {
        let body = b"3337777777777743e647\n\n";
        let Ok(Payload::Json(raw)) = rest_body(Some("application/json"), body) else {
            panic!("a valid JSON number is a JSON payload");
        };
        assert_eq!(raw.get(), "3337777777777743e647");
        let Ok(Some(Payload::Json(raw))) = event_reply(Some("application/json"), body) else {
            panic!("a valid JSON number is a JSON reply");
        };
        assert_eq!(raw.get(), "3337777777777743e647");
    }

    #[test]
    fn unusable_bodies_and_replies_say_why() {
        assert!(rest_body(Some("application/json"), b"{").is_err());
        assert!(rest_body(None, b"x").unwrap_err().contains("Content-Type"));
        assert!(connect_reply(b"[1]").unwrap_err().contains("connect reply"));
        assert_eq!(connect_reply(b"  "), Ok(ConnectChanges::default()));
        assert_eq!(event_reply(Some("text/plain"), b""), Ok(None));
    }
}
