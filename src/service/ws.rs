//! The client endpoint (`/client/hubs/{hub}`, `/client/?hub={hub}`): token checks before the
//! upgrade, subprotocol choice, recovery of reliable sessions, and the per-socket read and
//! write loops.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;

use super::hub::{Hub, Registry};
use super::permissions::Permissions;
use super::session::{Attachment, ClientKind, CloseCause, Connection, Delivery, Drain, Outbound};
use crate::auth::token::{self, Claims, TokenError};
use crate::protocol::{
    AckError, AckErrorName, ClientMessage, MAX_CLIENT_MESSAGE_BYTES, MessageSource, Payload,
    ServiceMessage, Subprotocol, close_code, decode_client, encode_service, validate_group_name,
};

/// Keepalive intervals without any inbound frame after which a socket counts as dropped.
const SILENT_PINGS: u32 = 6;
/// Clock skew allowed on `exp`/`nbf`.
const TOKEN_SKEW_SECS: i64 = 300;
/// Reconnection tokens live about a week (as the emulator's).
const RECONNECTION_TOKEN_SECS: i64 = 7 * 24 * 3600;
/// How long a socket the service closes may take to send its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Per-socket read buffer: small, so a thousand idle connections stay cheap.
const READ_BUFFER_BYTES: usize = 8 * 1024;
const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// How often a held-back publisher looks whether its recipients have room again.
const BACKPRESSURE_POLL: Duration = Duration::from_millis(1);

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// `GET /client/hubs/{hub}`
pub(crate) async fn client_hub_path(
    State(registry): State<Arc<Registry>>,
    Path(hub): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    client_endpoint(registry, Some(hub), query, headers, upgrade)
}

/// `GET /client/?hub={hub}`
pub(crate) async fn client_hub_query(
    State(registry): State<Arc<Registry>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    client_endpoint(registry, None, query, headers, upgrade)
}

/// The query parameters a client URL may carry.
#[derive(Debug, Default)]
struct ClientQuery {
    access_token: Option<String>,
    hub: Option<String>,
    connection_id: Option<String>,
    reconnection_token: Option<String>,
    mode: Option<String>,
    groups: Vec<String>,
    no_echo: bool,
}

fn parse_query(query: Option<&str>) -> ClientQuery {
    let mut parsed = ClientQuery::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "access_token" => parsed.access_token = Some(value),
            "hub" => parsed.hub = Some(value),
            "awps_connection_id" => parsed.connection_id = Some(value),
            "awps_reconnection_token" => parsed.reconnection_token = Some(value),
            "webpubsub_mode" => parsed.mode = Some(value),
            "group" => parsed.groups.push(value),
            "noEcho" => parsed.no_echo = value.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    parsed
}

/// Hub names: a letter, then up to 127 of letters, digits and `` _`,.[] `` (server SDK rule).
pub(crate) fn is_valid_hub(hub: &str) -> bool {
    let mut chars = hub.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && hub.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_`,.[]".contains(c))
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut response = (status, text.into()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{secs} (unix seconds)"))
}

/// A short, secret-free sentence saying why a token was refused.
pub(crate) fn describe_token_error(error: &TokenError) -> String {
    match error {
        TokenError::Malformed => {
            "the access token is not a JWT (three base64url parts separated by '.')".into()
        }
        TokenError::Algorithm(alg) => {
            format!("the access token uses algorithm '{alg}'; only HS256 is accepted")
        }
        TokenError::Signature => {
            "the access token's signature does not match the access key".into()
        }
        TokenError::Claims(detail) => format!("the access token's claims are not valid: {detail}"),
        TokenError::Expired(exp) => format!("the access token expired at {}", format_time(*exp)),
        TokenError::NotYetValid(nbf) => {
            format!("the access token is not valid before {}", format_time(*nbf))
        }
        TokenError::Audience { token, expected } => {
            format!("the access token's audience '{token}' does not match '{expected}'")
        }
    }
}

fn verify_client_token(
    registry: &Registry,
    token: &str,
    host: &str,
    hub: &str,
) -> Result<Claims, String> {
    let key = &registry.shared.access_key;
    let now = unix_now();
    let http = format!("http://{host}/client/hubs/{hub}");
    match token::verify(token, key, &http, now, TOKEN_SKEW_SECS) {
        Ok(claims) => Ok(claims),
        Err(TokenError::Audience { .. }) => {
            let https = format!("https://{host}/client/hubs/{hub}");
            token::verify(token, key, &https, now, TOKEN_SKEW_SECS).map_err(|e| match e {
                TokenError::Audience { token, .. } => describe_token_error(&TokenError::Audience {
                    token,
                    expected: http,
                }),
                other => describe_token_error(&other),
            })
        }
        Err(other) => Err(describe_token_error(&other)),
    }
}

fn choose_subprotocol(headers: &HeaderMap) -> Option<Subprotocol> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(Subprotocol::from_name)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// What a simple client's frames do.
#[derive(Debug, Clone)]
enum SimpleMode {
    /// Each frame is the user event `message`; there is no upstream here, so the first one
    /// closes the connection.
    SendEvent,
    SendToGroup {
        group: String,
        no_echo: bool,
    },
}

fn client_endpoint(
    registry: Arc<Registry>,
    path_hub: Option<String>,
    raw_query: Option<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let query = parse_query(raw_query.as_deref());
    let Some(hub_name) = path_hub.or_else(|| query.hub.clone()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "no hub given: connect to /client/hubs/{hub} or /client/?hub={hub}",
        );
    };
    if !is_valid_hub(&hub_name) {
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "hub name '{hub_name}' is not valid: start with a letter, then letters, digits or _ (128 at most)"
            ),
        );
    }
    let mut upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("expected a WebSocket upgrade request: {rejection}"),
            );
        }
    };
    let subprotocol = choose_subprotocol(&headers);
    if let Some(subprotocol) = subprotocol {
        upgrade.set_selected_protocol(HeaderValue::from_static(subprotocol.name()));
    }
    let kind = match subprotocol {
        Some(Subprotocol::Json) => ClientKind::Json,
        Some(Subprotocol::JsonReliable) => ClientKind::JsonReliable,
        None => ClientKind::Simple,
    };
    let upgrade = upgrade
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES);
    let hub = registry.hub(&hub_name);

    if let Some(connection_id) = query.connection_id.clone() {
        let token = query.reconnection_token.clone().unwrap_or_default();
        return upgrade
            .on_upgrade(move |socket| recover(socket, registry, hub, kind, connection_id, token));
    }

    let token = query.access_token.clone().or_else(|| bearer(&headers));
    let claims = match token {
        Some(token) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            match verify_client_token(&registry, &token, host, &hub_name) {
                Ok(claims) => claims,
                Err(reason) => {
                    tracing::info!(hub = %hub.name, %reason, "refused a client connection");
                    return plain(StatusCode::UNAUTHORIZED, reason);
                }
            }
        }
        None if registry.shared.allow_anonymous => Claims::default(),
        None => {
            return plain(
                StatusCode::UNAUTHORIZED,
                "no access token: pass access_token in the query or an Authorization: Bearer header",
            );
        }
    };
    for group in &claims.groups {
        if let Err(error) = validate_group_name(group) {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("the token's webpubsub.group claim holds an invalid group name: {error}"),
            );
        }
    }
    let mode = match (kind, query.mode.as_deref()) {
        (ClientKind::Simple, None | Some("sendEvent")) => SimpleMode::SendEvent,
        (ClientKind::Simple, Some("sendToGroup")) => {
            let [group] = query.groups.as_slice() else {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "webpubsub_mode=sendToGroup needs exactly one group=<name> parameter",
                );
            };
            if let Err(error) = validate_group_name(group) {
                return plain(StatusCode::BAD_REQUEST, format!("invalid group: {error}"));
            }
            SimpleMode::SendToGroup {
                group: group.clone(),
                no_echo: query.no_echo,
            }
        }
        (ClientKind::Simple, Some(other)) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("webpubsub_mode '{other}' is not one of sendEvent, sendToGroup"),
            );
        }
        _ => SimpleMode::SendEvent,
    };
    upgrade.on_upgrade(move |socket| open_connection(socket, registry, hub, kind, claims, mode))
}

fn new_connection_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn open_connection(
    socket: WebSocket,
    registry: Arc<Registry>,
    hub: Arc<Hub>,
    kind: ClientKind,
    claims: Claims,
    mode: SimpleMode,
) {
    let shared = &registry.shared;
    let id: Arc<str> = Arc::from(new_connection_id());
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
        let reconnection_token = (kind == ClientKind::JsonReliable).then(|| {
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
    hub.add(connection.clone(), &claims.groups);
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

async fn recover(
    socket: WebSocket,
    registry: Arc<Registry>,
    hub: Arc<Hub>,
    kind: ClientKind,
    connection_id: String,
    reconnection_token: String,
) {
    let shared = &registry.shared;
    let refused = |reason: &str| CloseCause {
        code: close_code::POLICY_VIOLATION,
        reason: reason.to_string(),
        discard_queued: true,
    };
    let outcome = if kind != ClientKind::JsonReliable {
        Err(refused(
            "Recovery needs the json.reliable.webpubsub.azure.v1 subprotocol.",
        ))
    } else if token::verify(
        &reconnection_token,
        &shared.reconnection_secret,
        &connection_id,
        unix_now(),
        0,
    )
    .is_err()
    {
        Err(refused(
            "The reconnection token is not valid for this connection.",
        ))
    } else {
        match hub.get(&connection_id) {
            Some(connection) if connection.is_reliable() => {
                let attachment = Attachment::new(shared.next_epoch());
                if connection.reattach(attachment.clone()) {
                    Ok((connection, attachment))
                } else {
                    Err(refused("The connection has ended and cannot be recovered."))
                }
            }
            Some(_) => Err(refused(
                "The connection is not reliable and cannot be recovered.",
            )),
            None => Err(refused(
                "The connection does not exist or its recovery window has passed.",
            )),
        }
    };
    match outcome {
        Ok((connection, attachment)) => {
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
        Err(cause) => {
            tracing::info!(hub = %hub.name, %connection_id, reason = %cause.reason, "refused a recovery");
            let _guard = registry.shared.track_socket();
            let (mut sink, mut stream) = socket.split();
            if kind != ClientKind::Simple {
                let text = encode_service(&ServiceMessage::Disconnected {
                    message: Some(cause.reason.clone()),
                });
                let _ = sink.feed(Message::Text(Utf8Bytes::from(text))).await;
            }
            let _ = sink.send(close_message(cause.code, &cause.reason)).await;
            linger(&mut stream).await;
        }
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    // A close frame's reason must fit in 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

/// After a close frame went out, reads (and drops) what the client still sends for a moment,
/// so the socket is not reset with unread data and the close frame reaches the client.
async fn linger(stream: &mut Stream) {
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// How a socket's read side ended.
enum ReadEnd {
    /// The client sent a close frame; `normal` when its code was 1000 or absent.
    ClientClosed {
        normal: bool,
    },
    /// A protocol violation: the service closes the connection.
    Violation(CloseCause),
    /// The socket failed or ended without a close frame.
    Dropped,
    WriterStopped,
    /// The service closed the session, or a recovery moved it to a newer socket.
    Cancelled,
}

struct SocketContext {
    registry: Arc<Registry>,
    hub: Arc<Hub>,
    connection: Arc<Connection>,
    mode: SimpleMode,
    /// Recipients of this socket's last publish whose queue is backlogged.
    backlogged: std::sync::Mutex<Vec<Arc<Connection>>>,
}

async fn run_socket(
    socket: WebSocket,
    registry: Arc<Registry>,
    hub: Arc<Hub>,
    connection: Arc<Connection>,
    attachment: Arc<Attachment>,
    mode: SimpleMode,
) {
    let _guard = registry.shared.track_socket();
    let (sink, mut stream) = socket.split();
    let keepalive = registry.shared.keepalive_interval;
    let mut writer = tokio::spawn(write_loop(
        sink,
        hub.clone(),
        connection.clone(),
        attachment.clone(),
        Timing {
            keepalive,
            ack_grace: registry.shared.limits.ack_grace,
        },
    ));
    let context = SocketContext {
        registry,
        hub,
        connection,
        mode,
        backlogged: std::sync::Mutex::new(Vec::new()),
    };
    let mut writer_done = false;
    let end = tokio::select! {
        end = read_loop(&mut stream, &context, keepalive * SILENT_PINGS) => end,
        _ = &mut writer => { writer_done = true; ReadEnd::WriterStopped }
        () = attachment.cancel.notified() => ReadEnd::Cancelled,
    };
    let SocketContext {
        registry,
        hub,
        connection,
        ..
    } = context;
    let id = connection.id.clone();
    let closed_abnormally_by_client = matches!(end, ReadEnd::ClientClosed { normal: false });
    match end {
        ReadEnd::ClientClosed { normal: true } => {
            hub.remove(&id);
            connection.finish();
            writer.abort();
            // Reading once more flushes tungstenite's queued close reply.
            linger(&mut stream).await;
            tracing::info!(hub = %hub.name, connection_id = %id, "client closed the connection");
        }
        ReadEnd::Violation(cause) => {
            tracing::info!(hub = %hub.name, connection_id = %id, code = cause.code, reason = %cause.reason, "closing a client for a protocol violation");
            hub.close_connection(&id, &cause);
            drain_writer(&mut writer, writer_done, &mut stream).await;
        }
        ReadEnd::Cancelled if connection.is_closed() => {
            drain_writer(&mut writer, writer_done, &mut stream).await;
        }
        ReadEnd::Cancelled => {
            // A recovery took the session over; this socket is stale.
            writer.abort();
        }
        ReadEnd::ClientClosed { normal: false } | ReadEnd::Dropped | ReadEnd::WriterStopped => {
            if connection.is_closed() {
                drain_writer(&mut writer, writer_done, &mut stream).await;
            } else if connection.is_reliable() {
                writer.abort();
                if connection.detach(attachment.epoch) {
                    tracing::info!(hub = %hub.name, connection_id = %id, "client dropped; session kept for recovery");
                    schedule_expiry(&registry, hub, connection, attachment.epoch);
                }
            } else {
                writer.abort();
                hub.remove(&id);
                connection.finish();
                tracing::info!(hub = %hub.name, connection_id = %id, "client disconnected");
            }
        }
    }
    if closed_abnormally_by_client {
        // Reading once more flushes tungstenite's queued close reply.
        linger(&mut stream).await;
    }
}

/// Lets the writer send the last frames (disconnected, close), within a grace period.
async fn drain_writer(writer: &mut JoinHandle<()>, writer_done: bool, stream: &mut Stream) {
    if !writer_done
        && tokio::time::timeout(CLOSE_GRACE, &mut *writer)
            .await
            .is_err()
    {
        writer.abort();
        return;
    }
    linger(stream).await;
}

fn schedule_expiry(registry: &Registry, hub: Arc<Hub>, connection: Arc<Connection>, epoch: u64) {
    let window = registry.shared.recovery_window;
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        if connection.expire(epoch) {
            hub.remove(&connection.id);
            tracing::info!(hub = %hub.name, connection_id = %connection.id, "recovery window passed; session ended");
        }
    });
}

/// The writer's clocks.
struct Timing {
    keepalive: Duration,
    ack_grace: Duration,
}

async fn write_loop(
    mut sink: Sink,
    hub: Arc<Hub>,
    connection: Arc<Connection>,
    attachment: Arc<Attachment>,
    timing: Timing,
) {
    let mut batch = VecDeque::new();
    let mut next_ping = tokio::time::Instant::now() + timing.keepalive;
    // Since when reliable data has been held back by the in-flight cap without any ack.
    let mut stalled_since: Option<tokio::time::Instant> = None;
    loop {
        let awaiting_acks = match connection.take_queued(&attachment, &mut batch) {
            Drain::Stale => return,
            Drain::Taken { awaiting_acks } => awaiting_acks,
        };
        if batch.is_empty() {
            let give_up = if awaiting_acks {
                *stalled_since.get_or_insert_with(tokio::time::Instant::now) + timing.ack_grace
            } else {
                stalled_since = None;
                next_ping
            };
            // Acks and new frames both wake the writer; nothing else makes it loop.
            tokio::select! {
                () = attachment.wake.notified() => {}
                () = tokio::time::sleep_until(next_ping) => {
                    // Keepalive: the client's pong (or anything else) proves it is there.
                    next_ping = tokio::time::Instant::now() + timing.keepalive;
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(give_up), if awaiting_acks => {
                    tracing::info!(hub = %hub.name, connection_id = %connection.id, "reliable buffer full and no ack within {:?}; closing", timing.ack_grace);
                    stalled_since = None;
                    // Queues disconnected + close, which this loop then sends.
                    hub.close_connection(&connection.id, &CloseCause::buffer_full());
                }
            }
            continue;
        }
        // Feed the whole batch, then flush once: one write for many small frames.
        for frame in batch.drain(..) {
            let message = match frame {
                Outbound::Text(text) => Message::Text(text),
                Outbound::Sequenced { text, .. } => {
                    stalled_since = None;
                    Message::Text(text)
                }
                Outbound::Binary(bytes) => Message::Binary(bytes),
                Outbound::Close { code, reason } => {
                    let _ = sink.send(close_message(code, &reason)).await;
                    return;
                }
            };
            if sink.feed(message).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

fn is_too_big(error: axum::Error) -> bool {
    let inner = error.into_inner();
    matches!(
        inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
        Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
    )
}

async fn read_loop(stream: &mut Stream, context: &SocketContext, silence: Duration) -> ReadEnd {
    loop {
        let Ok(next) = tokio::time::timeout(silence, stream.next()).await else {
            tracing::info!(connection_id = %context.connection.id, "no frame (not even a pong) for {silence:?}; treating the socket as dropped");
            return ReadEnd::Dropped;
        };
        let Some(next) = next else {
            return ReadEnd::Dropped;
        };
        let message = match next {
            Ok(message) => message,
            Err(error) => {
                return if is_too_big(error) {
                    ReadEnd::Violation(CloseCause {
                        code: close_code::MESSAGE_TOO_BIG,
                        reason: "The client message is too large.".into(),
                        discard_queued: false,
                    })
                } else {
                    ReadEnd::Dropped
                };
            }
        };
        let handled = match message {
            Message::Text(text) => context.on_text(&text),
            Message::Binary(bytes) => context.on_binary(bytes),
            Message::Close(frame) => {
                // No status code counts as normal: it is what the JS SDK's stop() sends.
                return ReadEnd::ClientClosed {
                    normal: frame.is_none_or(|f| f.code == close_code::NORMAL),
                };
            }
            Message::Ping(_) | Message::Pong(_) => Ok(()),
        };
        if let Err(cause) = handled {
            return ReadEnd::Violation(cause);
        }
        context.wait_for_room().await;
    }
}

fn violation(code: u16, reason: impl Into<String>) -> CloseCause {
    CloseCause {
        code,
        reason: reason.into(),
        discard_queued: false,
    }
}

fn ack_error(name: AckErrorName, message: impl Into<String>) -> AckError {
    AckError {
        name,
        message: message.into(),
    }
}

impl SocketContext {
    fn on_text(&self, text: &str) -> Result<(), CloseCause> {
        match self.connection.kind {
            ClientKind::Simple => self.on_simple_frame(Payload::Text(text.to_string())),
            ClientKind::Json | ClientKind::JsonReliable => match decode_client(text) {
                Ok(message) => self.on_message(message),
                Err(error) => Err(violation(
                    close_code::INVALID_PAYLOAD,
                    format!("The client message is not valid: {error}"),
                )),
            },
        }
    }

    fn on_binary(&self, bytes: Bytes) -> Result<(), CloseCause> {
        match self.connection.kind {
            ClientKind::Simple => self.on_simple_frame(Payload::Binary(bytes.to_vec())),
            ClientKind::Json | ClientKind::JsonReliable => Err(violation(
                close_code::UNSUPPORTED_DATA,
                "Binary frames are not supported on JSON subprotocols; send text frames.",
            )),
        }
    }

    fn on_simple_frame(&self, payload: Payload) -> Result<(), CloseCause> {
        match &self.mode {
            SimpleMode::SendEvent => Err(violation(
                close_code::INTERNAL_ERROR,
                "No event handler is configured on the local service.",
            )),
            SimpleMode::SendToGroup { group, no_echo } => {
                if !self.connection.can_send(group) {
                    return Err(violation(
                        close_code::POLICY_VIOLATION,
                        format!("The client does not have permission to send to group '{group}'."),
                    ));
                }
                self.publish(group, payload, *no_echo);
                Ok(())
            }
        }
    }

    fn publish(&self, group: &str, payload: Payload, no_echo: bool) {
        let Some(members) = self.hub.group_members(group) else {
            return;
        };
        let source = MessageSource::Group {
            group: group.to_string(),
            from_user_id: self.connection.user_id.as_deref().map(str::to_string),
        };
        let delivery = Delivery::new(&source, payload);
        let sender = &self.connection.id;
        let backlogged = self
            .hub
            .fan_out(members.iter(), &delivery, |c| no_echo && c.id == *sender);
        if !backlogged.is_empty() {
            self.backlogged
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(backlogged);
        }
    }

    /// Stops reading this socket until every backlogged recipient has room (each one holds
    /// it back for at most the backpressure allowance).
    async fn wait_for_room(&self) {
        let mut waiting =
            std::mem::take(&mut *self.backlogged.lock().unwrap_or_else(|e| e.into_inner()));
        loop {
            waiting.retain(|c| !c.has_room());
            if waiting.is_empty() {
                return;
            }
            tokio::time::sleep(BACKPRESSURE_POLL).await;
        }
    }

    fn send(&self, message: &ServiceMessage) -> Result<(), CloseCause> {
        if self.connection.send_control(message) {
            Ok(())
        } else {
            Err(CloseCause::slow_client())
        }
    }

    /// Runs a request that may carry an ackId: repeated successful ids are not re-executed,
    /// and an ack goes back only when an id was given.
    fn acked(
        &self,
        ack_id: Option<u64>,
        operation: impl FnOnce() -> Result<(), AckError>,
    ) -> Result<(), CloseCause> {
        let Some(ack_id) = ack_id else {
            let _ = operation();
            return Ok(());
        };
        if self.connection.is_duplicate(ack_id) {
            return self.send(&ServiceMessage::Ack {
                ack_id,
                success: false,
                error: Some(ack_error(
                    AckErrorName::Duplicate,
                    format!("Message with ack-id: {ack_id} has been processed"),
                )),
            });
        }
        let result = operation();
        if result.is_ok() {
            self.connection.remember_ack(ack_id);
        }
        self.send(&ServiceMessage::Ack {
            ack_id,
            success: result.is_ok(),
            error: result.err(),
        })
    }

    fn on_message(&self, message: ClientMessage) -> Result<(), CloseCause> {
        let connection = &self.connection;
        match message {
            ClientMessage::JoinGroup { group, ack_id } => self.acked(ack_id, || {
                if !connection.can_join_leave(&group) {
                    return Err(ack_error(
                        AckErrorName::Forbidden,
                        format!("The client does not have permission to join group '{group}'."),
                    ));
                }
                self.hub.join(&connection.id, &group);
                tracing::info!(hub = %self.hub.name, connection_id = %connection.id, %group, "joined group");
                Ok(())
            }),
            ClientMessage::LeaveGroup { group, ack_id } => self.acked(ack_id, || {
                if !connection.can_join_leave(&group) {
                    return Err(ack_error(
                        AckErrorName::Forbidden,
                        format!("The client does not have permission to leave group '{group}'."),
                    ));
                }
                self.hub.leave(&connection.id, &group);
                tracing::info!(hub = %self.hub.name, connection_id = %connection.id, %group, "left group");
                Ok(())
            }),
            ClientMessage::SendToGroup {
                group,
                ack_id,
                no_echo,
                data,
            } => self.acked(ack_id, || {
                if !connection.can_send(&group) {
                    return Err(ack_error(
                        AckErrorName::Forbidden,
                        format!("The client does not have permission to send to group '{group}'."),
                    ));
                }
                self.publish(&group, data, no_echo);
                Ok(())
            }),
            ClientMessage::Event { ack_id, .. } => self.acked(ack_id, || {
                Err(ack_error(
                    AckErrorName::InternalServerError,
                    "no event handler is configured on the local service",
                ))
            }),
            ClientMessage::SequenceAck { sequence_id } => {
                if connection.is_reliable() {
                    connection.ack_sequence(sequence_id);
                }
                Ok(())
            }
            ClientMessage::Ping => self.send(&ServiceMessage::Pong),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_follow_the_sdk_rule() {
        assert!(is_valid_hub("chat"));
        assert!(is_valid_hub("Chat_1.[x]"));
        assert!(!is_valid_hub("1chat"));
        assert!(!is_valid_hub(""));
        assert!(!is_valid_hub("a/b"));
        assert!(!is_valid_hub(&"a".repeat(129)));
    }

    #[test]
    fn query_keeps_every_group_and_the_recovery_params() {
        let q = parse_query(Some(
            "hub=Chat&group=a&group=b&awps_connection_id=c1&awps_reconnection_token=t&noEcho=true",
        ));
        assert_eq!(q.hub.as_deref(), Some("Chat"));
        assert_eq!(q.groups, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(q.connection_id.as_deref(), Some("c1"));
        assert_eq!(q.reconnection_token.as_deref(), Some("t"));
        assert!(q.no_echo);
    }

    #[test]
    fn the_first_supported_subprotocol_offered_wins() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(
                "protobuf.webpubsub.azure.v1, json.reliable.webpubsub.azure.v1, json.webpubsub.azure.v1",
            ),
        );
        assert_eq!(
            choose_subprotocol(&headers),
            Some(Subprotocol::JsonReliable)
        );
        assert_eq!(choose_subprotocol(&HeaderMap::new()), None);
    }
}
