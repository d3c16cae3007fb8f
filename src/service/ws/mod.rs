//! The client endpoint (`/client/hubs/{hub}`, `/client/?hub={hub}`): admission first (see
//! `admission`), then the upgrade, a new connection or the recovery of a reliable session.
//! `socket` runs a socket's read and write loops; `inbound` is what a client's frames do.

mod inbound;
mod socket;
mod user_events;

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::admission::{self, Admitted, Gate, Purpose, Rejection, SimpleMode, UpgradeRequest};
use super::hub::Registry;
use super::permissions::Permissions;
use super::session::{Attachment, ClientKind, Connection};
use super::upstream::{self, Opening};
use crate::auth::token::{self, Claims, unix_now};
use crate::protocol::{MAX_CLIENT_MESSAGE_BYTES, ServiceMessage, Subprotocol};
use socket::{refuse_recovery, run_socket};

/// Reconnection tokens live about a week (as the emulator's).
const RECONNECTION_TOKEN_SECS: i64 = 7 * 24 * 3600;
/// Per-socket read buffer: small, so a thousand idle connections stay cheap.
const READ_BUFFER_BYTES: usize = 8 * 1024;
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// `GET /client/hubs/{hub}`
pub(crate) async fn client_hub_path(
    State(registry): State<Arc<Registry>>,
    Path(hub): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    client_endpoint(registry, Some(&hub), query.as_deref(), &headers, upgrade).await
}

/// `GET /client/?hub={hub}`
pub(crate) async fn client_hub_query(
    State(registry): State<Arc<Registry>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    client_endpoint(registry, None, query.as_deref(), &headers, upgrade).await
}

async fn client_endpoint(
    registry: Arc<Registry>,
    path_hub: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let not_upgrade = upgrade.as_ref().err().map(ToString::to_string);
    let request = UpgradeRequest {
        path_hub,
        query,
        headers,
        not_upgrade: not_upgrade.as_deref(),
    };
    let shared = &registry.shared;
    let gate = Gate {
        access_key: &shared.access_key,
        allow_anonymous: shared.allow_anonymous,
        reconnection_secret: &shared.reconnection_secret,
        now: unix_now(),
    };
    let (admitted, upgrade) = match (admission::admit(&request, &gate), upgrade) {
        (Ok(admitted), Ok(upgrade)) => (admitted, upgrade),
        (Err(rejection), _) => {
            tracing::info!(hub = path_hub.unwrap_or("(query)"), status = %rejection.status, reason = %rejection.reason, "refused a client connection");
            return rejection.into_response();
        }
        // Admission refuses a request that is not an upgrade; this arm only keeps it total.
        (Ok(_), Err(rejection)) => {
            return Rejection::not_upgrade(&rejection.to_string()).into_response();
        }
    };
    let mut admitted = admitted;
    let opened = upstream::connect(
        registry.shared.upstream.as_ref(),
        &mut admitted,
        new_connection_id(),
        query,
        headers,
    )
    .await;
    // Echo the name as the client spelled it (the handler may have picked it): names compare
    // without regard to case, and a client checks that the service picked one of its own.
    let echoed = admitted
        .subprotocol
        .and_then(|picked| offered_name(headers, picked));
    match opened {
        Ok(opening) => upgrade_admitted(registry, admitted, echoed, opening, upgrade),
        Err(refused) => (refused.status, refused.reason).into_response(),
    }
}

/// The client's own spelling of the subprotocol the service picked.
fn offered_name(headers: &HeaderMap, picked: Subprotocol) -> Option<HeaderValue> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|name| name.eq_ignore_ascii_case(picked.name()))
        .and_then(|name| HeaderValue::from_str(name).ok())
}

/// Upgrades an admitted request; state is allocated only once the socket is open.
fn upgrade_admitted(
    registry: Arc<Registry>,
    admitted: Admitted,
    echoed: Option<HeaderValue>,
    opening: Opening,
    mut upgrade: WebSocketUpgrade,
) -> Response {
    let Admitted {
        hub,
        subprotocol,
        kind,
        purpose,
    } = admitted;
    if let Some(subprotocol) = subprotocol {
        upgrade.set_selected_protocol(
            echoed.unwrap_or_else(|| HeaderValue::from_static(subprotocol.name())),
        );
    } else if let Some(custom) = &opening.custom_subprotocol
        && let Ok(value) = HeaderValue::from_str(custom)
    {
        upgrade.set_selected_protocol(value);
    }
    let upgrade = upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES);
    match purpose {
        Purpose::Open { claims, mode } => upgrade.on_upgrade(move |socket| {
            open_connection(socket, registry, hub, kind, claims, mode, opening)
        }),
        Purpose::Recover { connection_id } => {
            upgrade.on_upgrade(move |socket| recover(socket, registry, hub, kind, connection_id))
        }
        Purpose::RefuseRecovery { reason } => upgrade.on_upgrade(move |socket| async move {
            tracing::info!(%hub, %reason, "refused a recovery");
            refuse_recovery(socket, &registry, kind, reason).await;
        }),
    }
}

fn new_connection_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn open_connection(
    socket: WebSocket,
    registry: Arc<Registry>,
    hub_name: String,
    kind: ClientKind,
    claims: Claims,
    mode: SimpleMode,
    opening: Opening,
) {
    let shared = &registry.shared;
    let id: Arc<str> = Arc::from(opening.connection_id);
    let attachment = Attachment::new(shared.next_epoch());
    let connection = Arc::new(Connection::new(
        id.clone(),
        claims.sub.clone().map(Arc::from),
        kind,
        Permissions::from_roles(&claims.roles),
        shared.limits,
        attachment.clone(),
    ));
    if kind != ClientKind::Simple {
        let reconnection_token = kind.is_reliable().then(|| {
            let now = unix_now();
            token::mint(
                &Claims {
                    aud: id.to_string(),
                    iat: Some(now),
                    exp: now + RECONNECTION_TOKEN_SECS,
                    ..Claims::default()
                },
                &shared.reconnection_secret,
            )
        });
        connection.send_control(&ServiceMessage::Connected {
            connection_id: id.to_string(),
            user_id: claims.sub.clone(),
            reconnection_token,
        });
    }
    let (hub, ()) = registry.fill(&hub_name, |hub| hub.add(connection.clone(), &claims.groups));
    if let Some(link) = opening.link {
        link.connected();
        let _ = connection.upstream.set(link);
    }
    tracing::info!(
        hub = %hub.name,
        connection_id = %id,
        user_id = claims.sub.as_deref().unwrap_or("(anonymous)"),
        subprotocol = kind.name(),
        groups = claims.groups.len(),
        "client connected"
    );
    run_socket(socket, registry, hub, connection, attachment, mode).await;
}

/// Moves a reliable session that still waits for recovery to this socket, or refuses.
async fn recover(
    socket: WebSocket,
    registry: Arc<Registry>,
    hub_name: String,
    kind: ClientKind,
    connection_id: String,
) {
    let found = registry
        .find(&hub_name)
        .and_then(|hub| Some((hub.get(&connection_id)?, hub)));
    let outcome = match found {
        Some((connection, _)) if connection.is_reliable() && connection.kind != kind => {
            Err("Recover the connection with the subprotocol it was opened with.")
        }
        Some((connection, hub)) if connection.is_reliable() => {
            let attachment = Attachment::new(registry.shared.next_epoch());
            if connection.reattach(attachment.clone()) {
                Ok((hub, connection, attachment))
            } else {
                Err("The connection has ended and cannot be recovered.")
            }
        }
        Some(_) => Err("The connection is not reliable and cannot be recovered."),
        None => Err("The connection does not exist or its recovery window has passed."),
    };
    match outcome {
        Ok((hub, connection, attachment)) => {
            tracing::info!(hub = %hub.name, %connection_id, replayed = connection.unacked_len(), "client recovered");
            run_socket(
                socket,
                registry,
                hub,
                connection,
                attachment,
                SimpleMode::SendEvent,
            )
            .await;
        }
        Err(reason) => {
            tracing::info!(hub = %hub_name, %connection_id, %reason, "refused a recovery");
            refuse_recovery(socket, &registry, kind, reason).await;
        }
    }
}
