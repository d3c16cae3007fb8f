//! The REST data-plane subset the server SDKs use: send to all, a group, a user or a
//! connection; group membership of connections and users; closing and checking connections;
//! minting client tokens; and the health check. Callers authenticate with an access-key JWT
//! whose `aud` is the request URL.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::hub::{Hub, Registry};
use super::session::{CloseCause, Delivery};
use super::ws::{describe_token_error, is_valid_hub, unix_now};
use crate::auth::token::{self, Claims};
use crate::protocol::{MessageSource, Payload, close_code, validate_group_name};

/// The header that tells `probe` this is wpchat's service.
pub(crate) const SERVICE_HEADER: &str = "x-wpchat-service";

/// A REST failure: status plus `{"code", "message"}`.
#[derive(Debug)]
pub(crate) struct RestError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl RestError {
    fn bad_request(message: impl Into<String>) -> Self {
        RestError {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: message.into(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        RestError {
            status: StatusCode::UNAUTHORIZED,
            code: "Unauthorized",
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        RestError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&ErrorBody {
            code: self.code,
            message: &self.message,
        })
        .unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

type RestResult = Result<Response, RestError>;

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

/// Whether a token's `aud` names this request: scheme http or https, this host, this path
/// (compared percent-decoded and case-insensitively); the query is not compared.
fn audience_matches(aud: &str, host: &str, path: &str) -> bool {
    let aud = aud.split('?').next().unwrap_or(aud);
    let aud = decoded(aud);
    let expected = decoded(&format!("{host}{path}"));
    aud.strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
        .is_some_and(|rest| rest == expected)
}

/// Middleware: every `/api/hubs/…` request needs `Authorization: Bearer <access-key JWT>`.
pub(crate) async fn authorize(
    State(registry): State<Arc<Registry>>,
    request: Request,
    next: Next,
) -> Response {
    match check_auth(&registry, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::info!(path = %request.uri().path(), reason = %error.message, "refused a REST request");
            error.into_response()
        }
    }
}

fn check_auth(registry: &Registry, request: &Request) -> Result<(), RestError> {
    let headers = request.headers();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            RestError::unauthorized(
                "missing Authorization: Bearer <token>; sign a JWT with the access key, aud = the request URL",
            )
        })?;
    let claims = token::decode_unverified(token)
        .map_err(|e| RestError::unauthorized(describe_token_error(&e)))?;
    token::verify(
        token,
        &registry.shared.access_key,
        &claims.aud,
        unix_now(),
        300,
    )
    .map_err(|e| RestError::unauthorized(describe_token_error(&e)))?;
    let host = host(headers);
    let path = request.uri().path();
    if !audience_matches(&claims.aud, &host, path) {
        return Err(RestError::unauthorized(format!(
            "the access token's audience '{}' does not match the request URL 'http://{host}{path}'",
            claims.aud
        )));
    }
    Ok(())
}

/// `GET|HEAD /api/health`
pub(crate) async fn health() -> Response {
    (
        StatusCode::OK,
        [(SERVICE_HEADER, HeaderValue::from_static("1"))],
    )
        .into_response()
}

pub(crate) async fn not_found() -> Response {
    RestError::not_found("no such endpoint on the local Web PubSub service").into_response()
}

fn hub_of(registry: &Registry, hub: &str) -> Result<Arc<Hub>, RestError> {
    if is_valid_hub(hub) {
        Ok(registry.hub(hub))
    } else {
        Err(RestError::bad_request(format!(
            "hub name '{hub}' is not valid: start with a letter, then letters, digits or _ (128 at most)"
        )))
    }
}

fn check_group(group: &str) -> Result<(), RestError> {
    validate_group_name(group).map_err(|e| RestError::bad_request(format!("invalid group: {e}")))
}

fn query_values(query: Option<&str>, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query_values(query, name).into_iter().next()
}

/// The body as a payload, its data type from Content-Type.
fn payload(headers: &HeaderMap, body: Bytes) -> Result<Payload, RestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match content_type.as_deref() {
        Some("text/plain") => String::from_utf8(body.to_vec())
            .map(Payload::Text)
            .map_err(|_| RestError::bad_request("a text/plain body must be UTF-8")),
        Some("application/json") => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| RestError::bad_request("an application/json body must be UTF-8"))?;
            Payload::json(text).map_err(|e| RestError::bad_request(e.to_string()))
        }
        Some("application/octet-stream") => Ok(Payload::Binary(body.to_vec())),
        other => Err(RestError::bad_request(format!(
            "Content-Type {} is not one of text/plain, application/json, application/octet-stream",
            other.unwrap_or("(missing)")
        ))),
    }
}

fn accepted() -> RestResult {
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /api/hubs/{hub}/:send?excluded=…`
pub(crate) async fn send_to_all(
    State(registry): State<Arc<Registry>>,
    Path(hub): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    let delivery = Delivery::new(&MessageSource::Server, payload(&headers, body)?);
    let excluded: HashSet<String> = query_values(query.as_deref(), "excluded")
        .into_iter()
        .collect();
    let recipients = hub.connections();
    hub.fan_out(recipients.iter(), &delivery, |c| excluded.contains(&*c.id));
    accepted()
}

/// `POST /api/hubs/{hub}/groups/{group}/:send?excluded=…` — members get a group message
/// with no `fromUserId`.
pub(crate) async fn send_to_group(
    State(registry): State<Arc<Registry>>,
    Path((hub, group)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    let source = MessageSource::Group {
        group: group.clone(),
        from_user_id: None,
    };
    let delivery = Delivery::new(&source, payload(&headers, body)?);
    let excluded: HashSet<String> = query_values(query.as_deref(), "excluded")
        .into_iter()
        .collect();
    if let Some(members) = hub.group_members(&group) {
        hub.fan_out(members.iter(), &delivery, |c| excluded.contains(&*c.id));
    }
    accepted()
}

/// `POST /api/hubs/{hub}/users/{user}/:send`
pub(crate) async fn send_to_user(
    State(registry): State<Arc<Registry>>,
    Path((hub, user)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    let delivery = Delivery::new(&MessageSource::Server, payload(&headers, body)?);
    let recipients = hub.user_connections(&user);
    hub.fan_out(recipients.iter(), &delivery, |_| false);
    accepted()
}

/// `POST /api/hubs/{hub}/connections/{id}/:send`
pub(crate) async fn send_to_connection(
    State(registry): State<Arc<Registry>>,
    Path((hub, connection_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    let delivery = Delivery::new(&MessageSource::Server, payload(&headers, body)?);
    let connection = hub
        .get(&connection_id)
        .ok_or_else(|| RestError::not_found(format!("connection '{connection_id}' not found")))?;
    hub.fan_out([&connection], &delivery, |_| false);
    accepted()
}

/// `PUT /api/hubs/{hub}/groups/{group}/connections/{id}`
pub(crate) async fn add_connection_to_group(
    State(registry): State<Arc<Registry>>,
    Path((hub, group, connection_id)): Path<(String, String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    if hub.join(&connection_id, &group) {
        tracing::info!(hub = %hub.name, %connection_id, %group, "joined group (REST)");
        Ok(StatusCode::OK.into_response())
    } else {
        Err(RestError::not_found(format!(
            "connection '{connection_id}' not found"
        )))
    }
}

/// `DELETE /api/hubs/{hub}/groups/{group}/connections/{id}`
pub(crate) async fn remove_connection_from_group(
    State(registry): State<Arc<Registry>>,
    Path((hub, group, connection_id)): Path<(String, String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    hub.leave(&connection_id, &group);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /api/hubs/{hub}/users/{user}/groups/{group}` (the user's current connections)
pub(crate) async fn add_user_to_group(
    State(registry): State<Arc<Registry>>,
    Path((hub, user, group)): Path<(String, String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    let joined = hub.join_user(&user, &group);
    tracing::info!(hub = %hub.name, user_id = %user, %group, connections = joined, "user joined group (REST)");
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/hubs/{hub}/users/{user}/groups/{group}`
pub(crate) async fn remove_user_from_group(
    State(registry): State<Arc<Registry>>,
    Path((hub, user, group)): Path<(String, String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    hub.leave_user(&user, &group);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/hubs/{hub}/connections/{id}?reason=…`
pub(crate) async fn close_connection(
    State(registry): State<Arc<Registry>>,
    Path((hub, connection_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    let reason = query_value(query.as_deref(), "reason")
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "ClosedByAppServer".into());
    hub.close_connection(
        &connection_id,
        &CloseCause {
            code: close_code::POLICY_VIOLATION,
            reason,
            discard_queued: false,
        },
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn exists(found: bool) -> RestResult {
    Ok(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
    .into_response())
}

/// `HEAD /api/hubs/{hub}/connections/{id}`
pub(crate) async fn connection_exists(
    State(registry): State<Arc<Registry>>,
    Path((hub, connection_id)): Path<(String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    exists(hub.get(&connection_id).is_some_and(|c| !c.is_closed()))
}

/// `HEAD /api/hubs/{hub}/groups/{group}`
pub(crate) async fn group_exists(
    State(registry): State<Arc<Registry>>,
    Path((hub, group)): Path<(String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    exists(hub.group_exists(&group))
}

/// `HEAD /api/hubs/{hub}/users/{user}`
pub(crate) async fn user_exists(
    State(registry): State<Arc<Registry>>,
    Path((hub, user)): Path<(String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    exists(hub.user_exists(&user))
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
}

/// `POST /api/hubs/{hub}/:generateToken?userId=&role=&group=&minutesToExpire=`
pub(crate) async fn generate_token(
    State(registry): State<Arc<Registry>>,
    Path(hub_name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> RestResult {
    hub_of(&registry, &hub_name)?;
    let query = query.as_deref();
    let minutes = match query_value(query, "minutesToExpire") {
        None => 60,
        Some(text) => match text.parse::<i64>() {
            Ok(minutes) if (1..=60 * 24 * 365).contains(&minutes) => minutes,
            _ => {
                return Err(RestError::bad_request(format!(
                    "minutesToExpire '{text}' must be a whole number of minutes, at least 1"
                )));
            }
        },
    };
    let groups = query_values(query, "group");
    for group in &groups {
        check_group(group)?;
    }
    let now = unix_now();
    let claims = Claims {
        aud: format!("http://{}/client/hubs/{hub_name}", host(&headers)),
        iat: Some(now),
        exp: now + minutes * 60,
        sub: query_value(query, "userId").filter(|u| !u.is_empty()),
        roles: query_values(query, "role"),
        groups,
        ..Claims::default()
    };
    let token = token::mint(&claims, &registry.shared.access_key);
    Ok(axum::Json(TokenBody { token }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_the_request_url_without_query() {
        assert!(audience_matches(
            "http://127.0.0.1:8080/api/hubs/chat/:send?api-version=2024-01-01",
            "127.0.0.1:8080",
            "/api/hubs/chat/:send"
        ));
        assert!(audience_matches(
            "https://LOCALHOST:8080/api/hubs/Chat/groups/a%20b/:send",
            "localhost:8080",
            "/api/hubs/chat/groups/a%20b/:send"
        ));
        assert!(!audience_matches(
            "http://127.0.0.1:8080/api/hubs/other/:send",
            "127.0.0.1:8080",
            "/api/hubs/chat/:send"
        ));
        assert!(!audience_matches(
            "http://evil:8080/api/hubs/chat/:send",
            "127.0.0.1:8080",
            "/api/hubs/chat/:send"
        ));
    }
}
