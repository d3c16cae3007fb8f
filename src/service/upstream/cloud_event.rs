//! The wire format of event handler calls: CloudEvents binary-mode headers, the signature,
//! the connect request body, and what a handler's reply means (connect response, user-event
//! reply as a payload).

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::auth::token::Claims;
use crate::protocol::Payload;

pub(crate) const AWPS_VERSION: &str = "1.0";
pub(crate) const REQUEST_ORIGIN: &str = "webhook-request-origin";
pub(crate) const ALLOWED_ORIGIN: &str = "webhook-allowed-origin";
pub(crate) const CONNECTION_STATE: &str = "ce-connectionstate";

/// `sha256=<hex>` of the connection id for each access key, joined by `,`.
pub(crate) fn signature(access_keys: &[&str], connection_id: &str) -> String {
    access_keys
        .iter()
        .map(|key| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
            mac.update(connection_id.as_bytes());
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("sha256={hex}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Who an event is about, for its `ce-*` headers.
#[derive(Debug, Clone)]
pub(crate) struct EventSubject<'a> {
    pub(crate) hub: &'a str,
    pub(crate) connection_id: &'a str,
    pub(crate) user_id: Option<&'a str>,
    pub(crate) subprotocol: Option<&'a str>,
    pub(crate) connection_state: Option<&'a str>,
}

/// `ce-type` for a system event (`connect`) or a user event.
pub(crate) fn event_type(system: bool, event: &str) -> String {
    let kind = if system { "sys" } else { "user" };
    format!("azure.webpubsub.{kind}.{event}")
}

/// The CloudEvents binary-mode headers of one call.
pub(crate) fn headers(
    subject: &EventSubject<'_>,
    ce_type: &str,
    event_name: &str,
    ce_id: u64,
    origin: &str,
    access_key: &str,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        // Values come from validated names and ids; one that is not a valid header value
        // (a user id with a newline, say) is left out rather than failing the call.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("ce-specversion", "1.0");
    put("ce-awpsversion", AWPS_VERSION);
    put("ce-type", ce_type);
    put(
        "ce-source",
        &format!("/hubs/{}/client/{}", subject.hub, subject.connection_id),
    );
    put("ce-id", &ce_id.to_string());
    put(
        "ce-time",
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    put("ce-hub", subject.hub);
    put("ce-connectionid", subject.connection_id);
    put("ce-eventname", event_name);
    put(
        "ce-signature",
        &signature(&[access_key], subject.connection_id),
    );
    put(REQUEST_ORIGIN, origin);
    if let Some(user_id) = subject.user_id {
        put("ce-userid", user_id);
    }
    if let Some(subprotocol) = subject.subprotocol {
        put("ce-subprotocol", subprotocol);
    }
    if let Some(state) = subject.connection_state {
        put(CONNECTION_STATE, state);
    }
    headers
}

/// The body of a `connect` call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectRequest {
    pub(crate) claims: BTreeMap<String, Vec<String>>,
    pub(crate) query: BTreeMap<String, Vec<String>>,
    pub(crate) headers: BTreeMap<String, Vec<String>>,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) client_certificates: Vec<serde_json::Value>,
}

impl ConnectRequest {
    /// From the admitted token and the upgrade request; the token itself is left out.
    pub(crate) fn new(
        claims: &Claims,
        query: Option<&str>,
        request_headers: &axum::http::HeaderMap,
    ) -> Self {
        let mut claim_map = BTreeMap::new();
        let mut claim = |name: &str, values: Vec<String>| {
            if !values.is_empty() {
                claim_map.insert(name.to_string(), values);
            }
        };
        claim("aud", vec![claims.aud.clone()]);
        claim("exp", vec![claims.exp.to_string()]);
        claim(
            "iat",
            claims.iat.map(|v| v.to_string()).into_iter().collect(),
        );
        claim(
            "nbf",
            claims.nbf.map(|v| v.to_string()).into_iter().collect(),
        );
        claim("sub", claims.sub.clone().into_iter().collect());
        claim("role", claims.roles.clone());
        claim("webpubsub.group", claims.groups.clone());
        let mut query_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if key != "access_token" {
                query_map
                    .entry(key.into_owned())
                    .or_default()
                    .push(value.into_owned());
            }
        }
        let mut header_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in request_headers {
            if name == axum::http::header::AUTHORIZATION {
                continue;
            }
            if let Ok(value) = value.to_str() {
                header_map
                    .entry(name.as_str().to_string())
                    .or_default()
                    .push(value.to_string());
            }
        }
        ConnectRequest {
            claims: claim_map,
            query: query_map,
            headers: header_map,
            subprotocols: offered_subprotocols(request_headers),
            client_certificates: Vec::new(),
        }
    }
}

/// Every subprotocol the client offered, in order.
fn offered_subprotocols(headers: &axum::http::HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// What a handler's `connect` reply may change; absent fields change nothing.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectResponse {
    pub(crate) user_id: Option<String>,
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) subprotocol: Option<String>,
}

impl ConnectResponse {
    /// An empty body or `null` is no change; else a JSON object.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ConnectResponse::default());
        }
        let parsed: Option<ConnectResponse> = serde_json::from_slice(body)
            .map_err(|error| format!("the connect reply is not a valid JSON object: {error}"))?;
        Ok(parsed.unwrap_or_default())
    }
}

/// The content type of a reply, without parameters, lowercased.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// A user-event reply as the payload to deliver, `None` when there is nothing to deliver.
pub(crate) fn reply_payload(
    media_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Option<Payload>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    match media_type {
        None | Some("application/octet-stream") => Ok(Some(Payload::Binary(body))),
        Some("text/plain") => String::from_utf8(body)
            .map(|text| Some(Payload::Text(text)))
            .map_err(|_| "the handler's text/plain reply is not valid UTF-8".to_string()),
        Some("application/json") => {
            let text = String::from_utf8(body)
                .map_err(|_| "the handler's JSON reply is not valid UTF-8".to_string())?;
            Payload::json(&text)
                .map(Some)
                .map_err(|error| format!("the handler's JSON reply is not usable: {error}"))
        }
        Some(other) => Err(format!(
            "the handler replied with content type '{other}'; use text/plain, application/json or application/octet-stream"
        )),
    }
}

/// A user event's data as an HTTP body and its content type.
pub(crate) fn event_body(payload: &Payload) -> (&'static str, Vec<u8>) {
    match payload {
        Payload::Text(text) => ("text/plain", text.as_bytes().to_vec()),
        Payload::Json(raw) => ("application/json", raw.get().as_bytes().to_vec()),
        Payload::Binary(bytes) => ("application/octet-stream", bytes.clone()),
        Payload::Protobuf(bytes) => ("application/x-protobuf", bytes.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_connection_id_per_key() {
        // Computed independently: HMAC-SHA256(key = "key", message = "conn").
        let one = signature(&["key"], "conn");
        assert!(one.starts_with("sha256=") && one.len() == 7 + 64, "{one}");
        let two = signature(&["key", "other"], "conn");
        assert_eq!(two.split(',').next(), Some(one.as_str()));
        assert_eq!(two.split(',').count(), 2);
    }

    #[test]
    fn connect_replies_may_be_empty_null_or_an_object() {
        assert_eq!(
            ConnectResponse::parse(b"").unwrap(),
            ConnectResponse::default()
        );
        assert_eq!(
            ConnectResponse::parse(b"null").unwrap(),
            ConnectResponse::default()
        );
        let set = ConnectResponse::parse(br#"{"userId":"","roles":[],"extra":1}"#).unwrap();
        assert_eq!(set.user_id.as_deref(), Some(""));
        assert_eq!(set.roles, Some(vec![]));
        let error = ConnectResponse::parse(b"{oops").unwrap_err();
        assert!(error.contains("not a valid JSON object"), "{error}");
    }

    #[test]
    fn reply_content_types_map_to_payloads() {
        assert_eq!(reply_payload(Some("text/plain"), Vec::new()).unwrap(), None);
        assert_eq!(
            reply_payload(Some("text/plain"), b"hi".to_vec()).unwrap(),
            Some(Payload::Text("hi".into()))
        );
        assert_eq!(
            reply_payload(None, vec![1, 2]).unwrap(),
            Some(Payload::Binary(vec![1, 2]))
        );
        assert!(
            reply_payload(Some("application/json"), b"{\"a\":1}".to_vec())
                .unwrap()
                .is_some()
        );
        let error = reply_payload(Some("image/png"), vec![1]).unwrap_err();
        assert!(error.contains("image/png"), "{error}");
    }
}
