//! The REST operations. Extractors (see `extract`) have already checked the hub, group,
//! permission and payload, so each handler says only what the operation does.

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;

use super::extract::{
    ApiHub, Body, CloseReason, CloseRequest, ConnectionId, Excluded, Group, PermissionRequest,
    User, check_group, query_value, query_values,
};
use super::{RestError, RestResult};
use crate::auth::token::{self, Claims, unix_now};
use crate::protocol::MessageSource;
use crate::service::admission::host;
use crate::service::session::{Connection, Delivery};

fn status(status: StatusCode) -> RestResult {
    Ok(status.into_response())
}

/// 200 if found, else 404 (the `HEAD …` checks).
fn exists(found: bool) -> RestResult {
    status(if found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    })
}

fn connection_not_found(connection_id: &str) -> RestError {
    RestError::not_found(format!("connection '{connection_id}' not found"))
}

/// `POST /api/hubs/{hub}/:send?excluded=…`
pub(crate) async fn send_to_all(
    ApiHub { hub, .. }: ApiHub,
    excluded: Excluded,
    Body(payload): Body,
) -> RestResult {
    let delivery = Delivery::new(&MessageSource::Server, payload);
    hub.fan_out(hub.connections().iter(), &delivery, |c| {
        excluded.contains(c)
    });
    status(StatusCode::ACCEPTED)
}

/// `POST /api/hubs/{hub}/groups/{group}/:send?excluded=…` — members get a group message
/// with no `fromUserId`.
pub(crate) async fn send_to_group(
    ApiHub { hub, .. }: ApiHub,
    Group(group): Group,
    excluded: Excluded,
    Body(payload): Body,
) -> RestResult {
    let source = MessageSource::Group {
        group: group.as_str().into(),
        from_user_id: None,
    };
    let delivery = Delivery::new(&source, payload);
    if let Some(members) = hub.group_members(&group) {
        hub.fan_out(members.iter(), &delivery, |c| excluded.contains(c));
    }
    status(StatusCode::ACCEPTED)
}

/// `POST /api/hubs/{hub}/users/{user}/:send`
pub(crate) async fn send_to_user(
    ApiHub { hub, .. }: ApiHub,
    User(user): User,
    Body(payload): Body,
) -> RestResult {
    let delivery = Delivery::new(&MessageSource::Server, payload);
    hub.fan_out(hub.user_connections(&user).iter(), &delivery, |_| false);
    status(StatusCode::ACCEPTED)
}

/// `POST /api/hubs/{hub}/connections/{id}/:send`
pub(crate) async fn send_to_connection(
    ApiHub { hub, .. }: ApiHub,
    ConnectionId(connection_id): ConnectionId,
    Body(payload): Body,
) -> RestResult {
    let delivery = Delivery::new(&MessageSource::Server, payload);
    let connection = hub
        .get(&connection_id)
        .ok_or_else(|| connection_not_found(&connection_id))?;
    hub.fan_out([&connection], &delivery, |_| false);
    status(StatusCode::ACCEPTED)
}

/// `PUT /api/hubs/{hub}/groups/{group}/connections/{id}`
pub(crate) async fn add_connection_to_group(
    ApiHub { hub, .. }: ApiHub,
    Group(group): Group,
    ConnectionId(connection_id): ConnectionId,
) -> RestResult {
    if !hub.join(&connection_id, &group) {
        return Err(connection_not_found(&connection_id));
    }
    tracing::info!(hub = %hub.name, %connection_id, %group, "joined group (REST)");
    status(StatusCode::OK)
}

/// `DELETE /api/hubs/{hub}/groups/{group}/connections/{id}`
pub(crate) async fn remove_connection_from_group(
    ApiHub { hub, .. }: ApiHub,
    Group(group): Group,
    ConnectionId(connection_id): ConnectionId,
) -> RestResult {
    hub.leave(&connection_id, &group);
    status(StatusCode::NO_CONTENT)
}

/// `PUT /api/hubs/{hub}/users/{user}/groups/{group}` (the user's current connections, and
/// remembered for the user's later ones: this keeps the hub)
pub(crate) async fn add_user_to_group(
    ApiHub { name, registry, .. }: ApiHub,
    User(user): User,
    Group(group): Group,
) -> RestResult {
    let (hub, joined) = registry.fill(&name, |hub| hub.join_user(&user, &group));
    tracing::info!(hub = %hub.name, user_id = %user, %group, connections = joined, "user joined group (REST)");
    status(StatusCode::OK)
}

/// `DELETE /api/hubs/{hub}/users/{user}/groups/{group}`
pub(crate) async fn remove_user_from_group(
    ApiHub { hub, .. }: ApiHub,
    User(user): User,
    Group(group): Group,
) -> RestResult {
    hub.leave_user(&user, &group);
    status(StatusCode::NO_CONTENT)
}

/// `DELETE /api/hubs/{hub}/connections/{id}?reason=…`
pub(crate) async fn close_connection(
    ApiHub { hub, .. }: ApiHub,
    ConnectionId(connection_id): ConnectionId,
    CloseReason(cause): CloseReason,
) -> RestResult {
    hub.close_connection(&connection_id, &cause);
    status(StatusCode::NO_CONTENT)
}

/// `POST /api/hubs/{hub}/:closeConnections?reason=…&excluded=…`
pub(crate) async fn close_all_connections(
    ApiHub { hub, .. }: ApiHub,
    close: CloseRequest,
) -> RestResult {
    let closed = close.close(&hub, &hub.connections());
    tracing::info!(hub = %hub.name, closed, "closed all connections (REST)");
    status(StatusCode::NO_CONTENT)
}

/// `POST /api/hubs/{hub}/groups/{group}/:closeConnections?reason=…&excluded=…`
pub(crate) async fn close_group_connections(
    ApiHub { hub, .. }: ApiHub,
    Group(group): Group,
    close: CloseRequest,
) -> RestResult {
    let members: Vec<Arc<Connection>> = hub
        .group_members(&group)
        .map(|m| m.to_vec())
        .unwrap_or_default();
    let closed = close.close(&hub, &members);
    tracing::info!(hub = %hub.name, %group, closed, "closed a group's connections (REST)");
    status(StatusCode::NO_CONTENT)
}

/// `POST /api/hubs/{hub}/users/{user}/:closeConnections?reason=…&excluded=…`
pub(crate) async fn close_user_connections(
    ApiHub { hub, .. }: ApiHub,
    User(user): User,
    close: CloseRequest,
) -> RestResult {
    let closed = close.close(&hub, &hub.user_connections(&user));
    tracing::info!(hub = %hub.name, user_id = %user, closed, "closed a user's connections (REST)");
    status(StatusCode::NO_CONTENT)
}

/// `DELETE /api/hubs/{hub}/connections/{id}/groups`
pub(crate) async fn remove_connection_from_all_groups(
    ApiHub { hub, .. }: ApiHub,
    ConnectionId(connection_id): ConnectionId,
) -> RestResult {
    hub.leave_all(&connection_id);
    status(StatusCode::NO_CONTENT)
}

/// `DELETE /api/hubs/{hub}/users/{user}/groups` (also forgets remembered memberships)
pub(crate) async fn remove_user_from_all_groups(
    ApiHub { hub, .. }: ApiHub,
    User(user): User,
) -> RestResult {
    hub.leave_user_all(&user);
    status(StatusCode::NO_CONTENT)
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
    ApiHub { hub, .. }: ApiHub,
    Group(group): Group,
    RawQuery(query): RawQuery,
) -> RestResult {
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
    let page = GroupMemberPage {
        value,
        next_link: None,
    };
    Ok(axum::Json(page).into_response())
}

/// `PUT /api/hubs/{hub}/permissions/{permission}/connections/{id}?targetName=…` (no
/// targetName: every group)
pub(crate) async fn grant_permission(
    ApiHub { hub, .. }: ApiHub,
    request: PermissionRequest,
) -> RestResult {
    let target = request.target.as_deref();
    request.connection(&hub)?.grant(request.permission, target);
    request.log("granted permission (REST)");
    status(StatusCode::OK)
}

/// `DELETE /api/hubs/{hub}/permissions/{permission}/connections/{id}?targetName=…` (no
/// targetName: revoked entirely, token roles included)
pub(crate) async fn revoke_permission(
    ApiHub { hub, .. }: ApiHub,
    request: PermissionRequest,
) -> RestResult {
    let target = request.target.as_deref();
    request.connection(&hub)?.revoke(request.permission, target);
    request.log("revoked permission (REST)");
    status(StatusCode::NO_CONTENT)
}

/// `HEAD /api/hubs/{hub}/permissions/{permission}/connections/{id}?targetName=…` — 200 if
/// held (for that group, or with no targetName for every group), else 404.
pub(crate) async fn check_permission(
    ApiHub { hub, .. }: ApiHub,
    request: PermissionRequest,
) -> RestResult {
    let target = request.target.as_deref();
    exists(
        request
            .connection(&hub)?
            .has_permission(request.permission, target),
    )
}

/// `HEAD /api/hubs/{hub}/connections/{id}`
pub(crate) async fn connection_exists(
    ApiHub { hub, .. }: ApiHub,
    ConnectionId(connection_id): ConnectionId,
) -> RestResult {
    exists(hub.get(&connection_id).is_some_and(|c| !c.is_closed()))
}

/// `HEAD /api/hubs/{hub}/groups/{group}`
pub(crate) async fn group_exists(ApiHub { hub, .. }: ApiHub, Group(group): Group) -> RestResult {
    exists(hub.group_exists(&group))
}

/// `HEAD /api/hubs/{hub}/users/{user}`
pub(crate) async fn user_exists(ApiHub { hub, .. }: ApiHub, User(user): User) -> RestResult {
    exists(hub.user_exists(&user))
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
}

/// `POST /api/hubs/{hub}/:generateToken?userId=&role=&group=&minutesToExpire=`
pub(crate) async fn generate_token(
    ApiHub { name, registry, .. }: ApiHub,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
) -> RestResult {
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
        aud: format!("http://{}/client/hubs/{name}", host(&headers)),
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
