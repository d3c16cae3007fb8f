//! The REST data-plane subset the server SDKs use: send to all, a group, a user or a
//! connection; group membership of connections and users; listing a group's connections;
//! closing and checking connections (one, a user's, a group's, all); granting, revoking and
//! checking connection permissions; minting client tokens; and the health check. Callers
//! authenticate with an access-key JWT whose `aud` is the request URL. Other `/api/` routes
//! answer 501, so an SDK call this service lacks fails loudly instead of reading as "not found".

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::hub::{Hub, Registry};
use super::permissions::Permission;
use super::session::{CloseCause, Connection, Delivery};
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
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        RestError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", message)
    }

    fn not_supported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "NotSupported", message)
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

/// Any path no route matched: `/api/…` is an operation this service lacks (501), anything
/// else does not exist (404).
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        not_implemented(method, uri).await
    } else {
        RestError::not_found("no such endpoint on the local Web PubSub service").into_response()
    }
}

/// A known path with a method it does not serve.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        not_implemented(method, uri).await
    } else {
        RestError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            message: format!("{method} is not supported on {}", uri.path()),
        }
        .into_response()
    }
}

async fn not_implemented(method: Method, uri: Uri) -> Response {
    tracing::info!(%method, path = %uri.path(), "REST operation not implemented by the local service");
    RestError::not_implemented(format!(
        "{method} {} is not implemented by the local Web PubSub service",
        uri.path()
    ))
    .into_response()
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

/// How a REST close ends a connection: `system/disconnected` with `?reason=` (default
/// `ClosedByAppServer`), then close 1008.
fn rest_close_cause(query: Option<&str>) -> CloseCause {
    let reason = query_value(query, "reason")
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "ClosedByAppServer".into());
    CloseCause {
        code: close_code::POLICY_VIOLATION,
        reason,
        discard_queued: false,
    }
}

/// `DELETE /api/hubs/{hub}/connections/{id}?reason=…`
pub(crate) async fn close_connection(
    State(registry): State<Arc<Registry>>,
    Path((hub, connection_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    hub.close_connection(&connection_id, &rest_close_cause(query.as_deref()));
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn no_content() -> RestResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn excluded_ids(query: Option<&str>) -> HashSet<String> {
    query_values(query, "excluded").into_iter().collect()
}

/// `POST /api/hubs/{hub}/:closeConnections?reason=…&excluded=…`
pub(crate) async fn close_all_connections(
    State(registry): State<Arc<Registry>>,
    Path(hub): Path<String>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    let query = query.as_deref();
    let excluded = excluded_ids(query);
    let closed = hub.close_connections(&hub.connections(), &rest_close_cause(query), |c| {
        excluded.contains(&*c.id)
    });
    tracing::info!(hub = %hub.name, closed, "closed all connections (REST)");
    no_content()
}

/// `POST /api/hubs/{hub}/groups/{group}/:closeConnections?reason=…&excluded=…`
pub(crate) async fn close_group_connections(
    State(registry): State<Arc<Registry>>,
    Path((hub, group)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    let query = query.as_deref();
    let excluded = excluded_ids(query);
    let members: Vec<Arc<Connection>> = hub
        .group_members(&group)
        .map(|m| m.to_vec())
        .unwrap_or_default();
    let closed = hub.close_connections(&members, &rest_close_cause(query), |c| {
        excluded.contains(&*c.id)
    });
    tracing::info!(hub = %hub.name, %group, closed, "closed a group's connections (REST)");
    no_content()
}

/// `POST /api/hubs/{hub}/users/{user}/:closeConnections?reason=…&excluded=…`
pub(crate) async fn close_user_connections(
    State(registry): State<Arc<Registry>>,
    Path((hub, user)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    let query = query.as_deref();
    let excluded = excluded_ids(query);
    let closed = hub.close_connections(
        &hub.user_connections(&user),
        &rest_close_cause(query),
        |c| excluded.contains(&*c.id),
    );
    tracing::info!(hub = %hub.name, user_id = %user, closed, "closed a user's connections (REST)");
    no_content()
}

/// `DELETE /api/hubs/{hub}/connections/{id}/groups`
pub(crate) async fn remove_connection_from_all_groups(
    State(registry): State<Arc<Registry>>,
    Path((hub, connection_id)): Path<(String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    hub.leave_all(&connection_id);
    no_content()
}

/// `DELETE /api/hubs/{hub}/users/{user}/groups` (also forgets remembered memberships)
pub(crate) async fn remove_user_from_all_groups(
    State(registry): State<Arc<Registry>>,
    Path((hub, user)): Path<(String, String)>,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    hub.leave_user_all(&user);
    no_content()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupMember {
    connection_id: String,
    user_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupMemberPage {
    value: Vec<GroupMember>,
    next_link: Option<String>,
}

/// `GET /api/hubs/{hub}/groups/{group}/connections?top=…` — one page holding every member
/// (up to `top`); `maxpagesize` is accepted and ignored, so `nextLink` is always null.
pub(crate) async fn list_group_connections(
    State(registry): State<Arc<Registry>>,
    Path((hub, group)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let hub = hub_of(&registry, &hub)?;
    check_group(&group)?;
    let top = match query_value(query.as_deref(), "top") {
        None => usize::MAX,
        Some(text) => text.parse::<usize>().map_err(|_| {
            RestError::bad_request(format!("top '{text}' must be a non-negative whole number"))
        })?,
    };
    let value = hub
        .group_members(&group)
        .map(|members| {
            members
                .iter()
                .filter(|c| !c.is_closed())
                .take(top)
                .map(|c| GroupMember {
                    connection_id: c.id.to_string(),
                    user_id: c.user_id.as_deref().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(axum::Json(GroupMemberPage {
        value,
        next_link: None,
    })
    .into_response())
}

/// The permission, live connection and optional `targetName` group of a permission request.
fn permission_request(
    registry: &Registry,
    hub: &str,
    permission: &str,
    connection_id: &str,
    query: Option<&str>,
) -> Result<(Arc<Connection>, Permission, Option<String>), RestError> {
    let hub = hub_of(registry, hub)?;
    let permission = Permission::from_name(permission).ok_or_else(|| {
        RestError::bad_request(format!(
            "permission '{permission}' is not one of joinLeaveGroup, sendToGroup"
        ))
    })?;
    let target = query_value(query, "targetName");
    if let Some(group) = &target {
        check_group(group)?;
    }
    let connection = hub
        .get(connection_id)
        .filter(|c| !c.is_closed())
        .ok_or_else(|| RestError::not_found(format!("connection '{connection_id}' not found")))?;
    Ok((connection, permission, target))
}

/// `PUT /api/hubs/{hub}/permissions/{permission}/connections/{id}?targetName=…` (no
/// targetName: every group)
pub(crate) async fn grant_permission(
    State(registry): State<Arc<Registry>>,
    Path((hub, permission, connection_id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let (connection, permission, target) = permission_request(
        &registry,
        &hub,
        &permission,
        &connection_id,
        query.as_deref(),
    )?;
    connection.grant(permission, target.as_deref());
    tracing::info!(%connection_id, ?permission, group = target.as_deref().unwrap_or("(all)"), "granted permission (REST)");
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/hubs/{hub}/permissions/{permission}/connections/{id}?targetName=…` (no
/// targetName: revoked entirely, token roles included)
pub(crate) async fn revoke_permission(
    State(registry): State<Arc<Registry>>,
    Path((hub, permission, connection_id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let (connection, permission, target) = permission_request(
        &registry,
        &hub,
        &permission,
        &connection_id,
        query.as_deref(),
    )?;
    connection.revoke(permission, target.as_deref());
    tracing::info!(%connection_id, ?permission, group = target.as_deref().unwrap_or("(all)"), "revoked permission (REST)");
    no_content()
}

/// `HEAD /api/hubs/{hub}/permissions/{permission}/connections/{id}?targetName=…` — 200 if
/// held (for that group, or with no targetName for every group), else 404.
pub(crate) async fn check_permission(
    State(registry): State<Arc<Registry>>,
    Path((hub, permission, connection_id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> RestResult {
    let (connection, permission, target) = permission_request(
        &registry,
        &hub,
        &permission,
        &connection_id,
        query.as_deref(),
    )?;
    exists(connection.has_permission(permission, target.as_deref()))
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
    if let Some(client_type) = query_value(query, "clientType")
        && !client_type.eq_ignore_ascii_case("Default")
    {
        return Err(RestError::not_supported(format!(
            "clientType '{client_type}' is not supported by the local service; only Default (Web PubSub clients) is"
        )));
    }
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
