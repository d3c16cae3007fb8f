//! Extractors for the REST handlers: each checks one part of a request (the hub and group
//! names in the path, the connection a permission request names, the query's `excluded` and
//! `reason`, the body's data type) and answers a `RestError` the caller can act on.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use super::super::admission::check_hub_name;
use super::super::hub::{Hub, Registry};
use super::super::permissions::Permission;
use super::super::session::{CloseCause, Connection};
use super::RestError;
use crate::protocol::{Payload, close_code, validate_group_name};

type Registered = Arc<Registry>;

/// The value of the path parameter `name` (the router guarantees the routes that use an
/// extractor have it).
async fn path_param(parts: &mut Parts, name: &str) -> Result<String, RestError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|rejection| RestError::bad_request(rejection.body_text()))?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
        .ok_or_else(|| RestError::not_found(format!("this route has no {{{name}}} in its path")))
}

pub(super) fn query_values(query: Option<&str>, name: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .collect()
}

pub(super) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query_values(query, name).into_iter().next()
}

pub(super) fn check_group(group: &str) -> Result<(), RestError> {
    validate_group_name(group).map_err(|e| RestError::bad_request(format!("invalid group: {e}")))
}

/// The `{hub}` of `/api/hubs/{hub}/…`, its name checked. Reading or removing through a hub
/// nothing uses finds nothing and keeps nothing: `hub` is then a vacant one the registry does
/// not hold, and `registry.fill` is how a handler adds state that must be kept.
pub(crate) struct ApiHub {
    /// As the caller wrote it.
    pub(crate) name: String,
    pub(crate) hub: Arc<Hub>,
    pub(crate) registry: Registered,
}

impl FromRequestParts<Registered> for ApiHub {
    type Rejection = RestError;

    async fn from_request_parts(
        parts: &mut Parts,
        registry: &Registered,
    ) -> Result<Self, Self::Rejection> {
        let name = path_param(parts, "hub").await?;
        check_hub_name(&name).map_err(RestError::bad_request)?;
        Ok(ApiHub {
            hub: registry.find_or_vacant(&name),
            name,
            registry: registry.clone(),
        })
    }
}

/// The `{group}` of the path, its name checked.
pub(crate) struct Group(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Group {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let group = path_param(parts, "group").await?;
        check_group(&group)?;
        Ok(Group(group))
    }
}

/// The `{user}` of the path.
pub(crate) struct User(pub String);

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user = path_param(parts, "user").await?;
        check_user(&user)?;
        Ok(User(user))
    }
}

/// The longest user id a REST path may name (as a group name's limit).
const MAX_USER_ID_CHARS: usize = 1024;

/// A user id in a path: 1 to 1024 characters, no control characters (nothing a token could
/// carry as `sub` and a terminal should not show).
fn check_user(user: &str) -> Result<(), RestError> {
    if user.is_empty() || user.chars().count() > MAX_USER_ID_CHARS {
        return Err(RestError::bad_request(format!(
            "invalid user: a user id has 1 to {MAX_USER_ID_CHARS} characters"
        )));
    }
    if user.chars().any(char::is_control) {
        return Err(RestError::bad_request(
            "invalid user: a user id must not contain control characters",
        ));
    }
    Ok(())
}

/// The `{connection_id}` of the path.
pub(crate) struct ConnectionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ConnectionId {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        path_param(parts, "connection_id").await.map(ConnectionId)
    }
}

/// The connection ids in `?excluded=…` (repeatable).
pub(crate) struct Excluded(HashSet<String>);

impl Excluded {
    pub(crate) fn contains(&self, connection: &Connection) -> bool {
        self.0.contains(&*connection.id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Excluded {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Excluded(
            query_values(parts.uri.query(), "excluded")
                .into_iter()
                .collect(),
        ))
    }
}

/// How a REST close ends a connection: `system/disconnected` with `?reason=` (default
/// `ClosedByAppServer`), then close 1008.
pub(crate) struct CloseReason(pub CloseCause);

impl<S: Send + Sync> FromRequestParts<S> for CloseReason {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let reason = query_value(parts.uri.query(), "reason")
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "ClosedByAppServer".into());
        Ok(CloseReason(CloseCause {
            code: close_code::POLICY_VIOLATION,
            reason,
            discard_queued: false,
        }))
    }
}

/// A permission request: the permission of the path, the connection it names and the
/// optional `?targetName=` group (none: every group).
pub(crate) struct PermissionRequest {
    pub(crate) permission: Permission,
    connection_id: String,
    pub(crate) target: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PermissionRequest {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let name = path_param(parts, "permission").await?;
        let permission = Permission::from_name(&name).ok_or_else(|| {
            RestError::bad_request(format!(
                "permission '{name}' is not one of joinLeaveGroup, sendToGroup"
            ))
        })?;
        let target = query_value(parts.uri.query(), "targetName");
        if let Some(group) = &target {
            check_group(group)?;
        }
        let ConnectionId(connection_id) = ConnectionId::from_request_parts(parts, state).await?;
        Ok(PermissionRequest {
            permission,
            connection_id,
            target,
        })
    }
}

impl PermissionRequest {
    /// The live connection the request names, in `hub`.
    pub(crate) fn connection(&self, hub: &Hub) -> Result<Arc<Connection>, RestError> {
        let id = &self.connection_id;
        hub.get(id)
            .filter(|c| !c.is_closed())
            .ok_or_else(|| RestError::not_found(format!("connection '{id}' not found")))
    }

    pub(crate) fn log(&self, what: &str) {
        let group = self.target.as_deref().unwrap_or("(all)");
        let permission = self.permission;
        tracing::info!(connection_id = %self.connection_id, ?permission, group, "{what}");
    }
}

/// How a REST close ends connections: `?reason=` (see `CloseReason`) and the connection ids
/// in `?excluded=…` it spares.
pub(crate) struct CloseRequest {
    cause: CloseCause,
    excluded: Excluded,
}

impl<S: Send + Sync> FromRequestParts<S> for CloseRequest {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CloseReason(cause) = CloseReason::from_request_parts(parts, state).await?;
        let excluded = Excluded::from_request_parts(parts, state).await?;
        Ok(CloseRequest { cause, excluded })
    }
}

impl CloseRequest {
    /// Closes each of `connections` not excluded; returns how many were closed.
    pub(crate) fn close(&self, hub: &Hub, connections: &[Arc<Connection>]) -> usize {
        hub.close_connections(connections, &self.cause, |c| self.excluded.contains(c))
    }
}

/// The body as a payload, its data type from Content-Type.
pub(crate) struct Body(pub Payload);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = RestError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = content_type(request.headers());
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                // Keeps axum's status (413 for a body over the limit) with our error shape.
                let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "PayloadTooLarge"
                } else {
                    "BadRequest"
                };
                RestError::new(rejection.status(), code, rejection.body_text())
            })?;
        payload(content_type.as_deref(), body).map(Body)
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
}

pub(crate) fn payload(content_type: Option<&str>, body: Bytes) -> Result<Payload, RestError> {
    match content_type {
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
