//! One socket's life: the read loop (frames in, with a silence limit), the write loop (the
//! connection's queue out, keepalive pings, the reliable ack grace), and how the socket
//! ends: a normal close ends the session, a drop keeps a reliable one for recovery.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;

use super::super::admission::SimpleMode;
use super::super::hub::{Hub, Registry};
use super::super::session::{
    Attachment, Body, ClientKind, CloseCause, Connection, Drain, Outbound,
};
use super::inbound::SocketContext;
use crate::protocol::{ServiceMessage, close_code};

/// Keepalive intervals without any inbound frame after which a socket counts as dropped.
const SILENT_PINGS: u32 = 6;
/// How long a socket the service closes may take to send its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// Upgraded only to say why a recovery is refused: `system/disconnected` (clients with a
/// subprotocol, in its framing), then close 1008.
pub(super) async fn refuse_recovery(
    socket: WebSocket,
    registry: &Registry,
    kind: ClientKind,
    reason: &str,
) {
    let _guard = registry.shared.track_socket();
    let (mut sink, mut stream) = socket.split();
    let disconnected = ServiceMessage::Disconnected {
        message: Some(reason.to_string()),
    };
    match kind.encode(&disconnected) {
        Some(Outbound::Text(text)) => {
            let _ = sink.feed(Message::Text(text)).await;
        }
        Some(Outbound::Binary(bytes)) => {
            let _ = sink.feed(Message::Binary(bytes)).await;
        }
        _ => {}
    }
    let _ = sink
        .send(close_message(close_code::POLICY_VIOLATION, reason))
        .await;
    linger(&mut stream).await;
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

pub(super) async fn run_socket(
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
    let context = SocketContext::new(hub, connection, mode);
    let mut writer_done = false;
    let end = tokio::select! {
        end = read_loop(&mut stream, &context, keepalive * SILENT_PINGS) => end,
        _ = &mut writer => { writer_done = true; ReadEnd::WriterStopped }
        () = attachment.cancel.notified() => ReadEnd::Cancelled,
    };
    let (hub, connection) = context.into_parts();
    let halves = Halves {
        writer,
        writer_done,
        stream,
    };
    end_socket(end, &registry, hub, connection, attachment.epoch, halves).await;
}

/// What is left of a socket once its read loop stopped.
struct Halves {
    writer: JoinHandle<()>,
    writer_done: bool,
    stream: Stream,
}

impl Halves {
    /// Lets the writer send the last frames (disconnected, close), within a grace period.
    async fn drain_writer(&mut self) {
        if !self.writer_done
            && tokio::time::timeout(CLOSE_GRACE, &mut self.writer)
                .await
                .is_err()
        {
            self.writer.abort();
            return;
        }
        linger(&mut self.stream).await;
    }
}

/// Finishes the session as the way the socket ended asks: see `ReadEnd`.
async fn end_socket(
    end: ReadEnd,
    registry: &Registry,
    hub: Arc<Hub>,
    connection: Arc<Connection>,
    epoch: u64,
    mut halves: Halves,
) {
    let id = connection.id.clone();
    let reason = disconnect_reason(&end);
    let closed_abnormally_by_client = matches!(end, ReadEnd::ClientClosed { normal: false });
    match end {
        ReadEnd::ClientClosed { normal: true } => {
            hub.remove(&id);
            connection.finish();
            halves.writer.abort();
            // Reading once more flushes tungstenite's queued close reply.
            linger(&mut halves.stream).await;
            tracing::info!(hub = %hub.name, connection_id = %id, "client closed the connection");
        }
        ReadEnd::Violation(cause) => {
            tracing::info!(hub = %hub.name, connection_id = %id, code = cause.code, reason = %cause.reason, "closing a client for a protocol violation");
            hub.close_connection(&id, &cause);
            halves.drain_writer().await;
        }
        ReadEnd::Cancelled if connection.is_closed() => halves.drain_writer().await,
        // A recovery took the session over; this socket is stale.
        ReadEnd::Cancelled => halves.writer.abort(),
        ReadEnd::ClientClosed { normal: false } | ReadEnd::Dropped | ReadEnd::WriterStopped => {
            if connection.is_closed() {
                halves.drain_writer().await;
            } else if connection.is_reliable() {
                halves.writer.abort();
                if connection.detach(epoch) {
                    tracing::info!(hub = %hub.name, connection_id = %id, "client dropped; session kept for recovery");
                    schedule_expiry(registry, hub, connection.clone(), epoch);
                }
            } else {
                halves.writer.abort();
                hub.remove(&id);
                connection.finish();
                tracing::info!(hub = %hub.name, connection_id = %id, "client disconnected");
            }
        }
    }
    if connection.is_closed()
        && let Some(link) = connection.upstream.get()
    {
        link.ended(&reason);
    }
    if closed_abnormally_by_client {
        // Reading once more flushes tungstenite's queued close reply.
        linger(&mut halves.stream).await;
    }
}

/// The `reason` an event handler's `disconnected` gets if this socket's end is final.
fn disconnect_reason(end: &ReadEnd) -> String {
    match end {
        ReadEnd::ClientClosed { .. } => "The client closed the connection.".into(),
        ReadEnd::Violation(cause) => cause.reason.clone(),
        ReadEnd::Dropped | ReadEnd::WriterStopped => "The connection dropped.".into(),
        ReadEnd::Cancelled => "The service closed the connection.".into(),
    }
}

fn schedule_expiry(registry: &Registry, hub: Arc<Hub>, connection: Arc<Connection>, epoch: u64) {
    let window = registry.shared.recovery_window;
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        if connection.expire(epoch) {
            hub.remove(&connection.id);
            tracing::info!(hub = %hub.name, connection_id = %connection.id, "recovery window passed; session ended");
        }
        if connection.is_closed()
            && let Some(link) = connection.upstream.get()
        {
            link.ended("The recovery window passed without a reconnect.");
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
    // One timer for the socket's life, re-armed when it fires: a writer woken for every
    // message of a 10 000-member fan-out must not register and cancel a timer each time.
    let keepalive = tokio::time::sleep(timing.keepalive);
    tokio::pin!(keepalive);
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
                keepalive.deadline()
            };
            // Acks and new frames both wake the writer; nothing else makes it loop.
            tokio::select! {
                () = attachment.wake.notified() => {}
                () = &mut keepalive => {
                    // Keepalive: the client's pong (or anything else) proves it is there.
                    keepalive.as_mut().reset(tokio::time::Instant::now() + timing.keepalive);
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
                Outbound::Sequenced { body, .. } => {
                    stalled_since = None;
                    match body {
                        Body::Text(text) => Message::Text(text),
                        Body::Binary(bytes) => Message::Binary(bytes),
                    }
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

/// RFC 6455's close code for a frame that breaks the WebSocket protocol itself.
const PROTOCOL_ERROR: u16 = 1002;

/// How a read error ends the socket: a client that broke the rules is told why with a close
/// code; a socket that just went away is a drop (a reliable session stays recoverable).
fn read_error_end(error: axum::Error) -> ReadEnd {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let violation = |code, reason: String| {
        ReadEnd::Violation(CloseCause {
            code,
            reason,
            discard_queued: false,
        })
    };
    let inner = error.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => violation(
            close_code::MESSAGE_TOO_BIG,
            "The client message is too large.".into(),
        ),
        Some(WsError::Utf8(_)) => violation(
            close_code::INVALID_PAYLOAD,
            "A text frame is not valid UTF-8.".into(),
        ),
        Some(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) | None => {
            ReadEnd::Dropped
        }
        Some(WsError::Protocol(violated)) => violation(
            PROTOCOL_ERROR,
            format!("WebSocket protocol error: {violated}"),
        ),
        Some(_) => ReadEnd::Dropped,
    }
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
            Err(error) => return read_error_end(error),
        };
        let handled = match message {
            Message::Text(text) => context.on_text(&text).await,
            Message::Binary(bytes) => context.on_binary(bytes).await,
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
