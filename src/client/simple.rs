//! The engine for a simple WebSocket connection (`--protocol none`): no subprotocol, so no
//! acks, groups or sequence ids. Each `SendFrame` is one text or binary frame; each frame in
//! becomes `Event::Frame`. Reconnect with backoff still works: the link is just a socket.

use std::collections::VecDeque;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::connect::{self, Socket, url_failure};
use super::events::EventSender;
use super::{
    ClientConfig, Command, ConnState, Event, FailureKind, OpError, OpId, OpOutcome, backoff, frames,
};
use crate::auth::ProviderError;
use crate::client::Direction;
use crate::protocol::{MAX_CLIENT_MESSAGE_BYTES, Payload};

/// Why a simple connection refuses a subprotocol command.
pub(crate) const NOT_ON_SIMPLE: &str = "a simple WebSocket connection (--protocol none) has no groups, events or acks: every line is sent as one frame";

/// Why a connection ended, and whether the engine goes on.
enum End {
    Stop(String),
    Reconnect { wait: bool, reason: String },
}

pub(crate) struct SimpleEngine {
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
    events: EventSender,
    state: watch::Sender<ConnState>,
    inspect: bool,
    /// Frames sent while no socket was open, written once one is (bounded by the outbox
    /// capacity): a script's first line must not race the connection.
    waiting: VecDeque<(OpId, Payload)>,
}

impl SimpleEngine {
    pub(crate) fn new(
        config: ClientConfig,
        commands: mpsc::Receiver<Command>,
        events: EventSender,
        state: watch::Sender<ConnState>,
    ) -> Self {
        SimpleEngine {
            config,
            commands,
            events,
            state,
            inspect: false,
            waiting: VecDeque::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let (mut attempt, mut wait, mut last_error) = (1u32, false, String::new());
        let reason = loop {
            if backoff::exhausted(&self.config.reconnect, attempt) {
                break format!(
                    "gave up after {} connection attempts: {last_error}",
                    attempt - 1
                );
            }
            if wait && let Err(reason) = self.pause(attempt, &last_error).await {
                break reason;
            }
            let socket = match self.open(attempt).await {
                Ok(Ok(socket)) => socket,
                Ok(Err(error)) => {
                    (attempt, wait, last_error) = (attempt + 1, true, error);
                    continue;
                }
                Err(End::Stop(reason)) => break reason,
                Err(End::Reconnect { .. }) => {
                    (attempt, wait) = (1, false);
                    continue;
                }
            };
            match self.connection(socket).await {
                End::Stop(reason) => break reason,
                End::Reconnect {
                    wait: then_wait,
                    reason,
                } => (attempt, wait, last_error) = (1, then_wait, reason),
            }
        };
        tracing::info!(%reason, "simple connection stopped");
        for (op, _) in std::mem::take(&mut self.waiting) {
            self.failed(op, OpError::Stopped).await;
        }
        self.state.send_replace(ConnState::Stopped { reason });
    }

    /// Waits out the backoff before `attempt`, still answering commands.
    async fn pause(&mut self, attempt: u32, last_error: &str) -> Result<(), String> {
        let delay = backoff::random_delay(&self.config.reconnect, attempt);
        self.state.send_replace(ConnState::Reconnecting {
            retry_at: Instant::now() + delay,
            attempt,
            last_error: last_error.to_string(),
        });
        match self.offline(tokio::time::sleep(delay)).await {
            Ok(()) | Err(End::Reconnect { .. }) => Ok(()),
            Err(End::Stop(reason)) => Err(reason),
        }
    }

    /// One attempt to open the socket: `Ok(Err)` is a failure to retry after a pause. Each
    /// failure is reported as the reliable engine reports it (`ConnectFailed` with its kind),
    /// so a script gives up at once on a refused key and exits with the same code.
    async fn open(&mut self, attempt: u32) -> Result<Result<Socket, String>, End> {
        self.state.send_replace(ConnState::Connecting { attempt });
        let url = match self.offline(self.config.url_provider.client_url()).await? {
            Ok(url) => url,
            Err(error) => {
                let why = format!("cannot get a client URL: {error}");
                self.connect_failed(attempt, url_failure(&error), &why)
                    .await;
                return match error {
                    ProviderError::Transient(_) => Ok(Err(why)),
                    ProviderError::Permanent(_) | ProviderError::Refused(_) => Err(End::Stop(why)),
                };
            }
        };
        let dial = connect::dial(
            url,
            None,
            self.config.token_in_header,
            None,
            self.config.max_incoming_message,
            self.config.handshake_timeout,
            self.config.proxy.clone(),
        );
        Ok(match self.offline(dial).await? {
            Ok((socket, _)) => Ok(socket),
            Err(error) => {
                tracing::info!(%error, attempt, "simple connection attempt failed");
                let why = error.to_string();
                self.connect_failed(attempt, error.kind(), &why).await;
                Err(why)
            }
        })
    }

    async fn connect_failed(&mut self, attempt: u32, kind: FailureKind, error: &str) {
        self.emit(Event::ConnectFailed {
            attempt,
            kind,
            error: error.to_string(),
        })
        .await;
    }

    /// Runs `work` while no socket is open: sends fail at once (nothing is queued), a
    /// shutdown or reconnect cuts the wait short.
    async fn offline<T>(&mut self, work: impl std::future::Future<Output = T>) -> Result<T, End> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return Ok(done),
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => return Err(End::Stop("shut down".into())),
                    Some(Command::Reconnect) => {
                        return Err(End::Reconnect { wait: false, reason: String::new() })
                    }
                    Some(command) => self.while_offline(command).await,
                },
            }
        }
    }

    /// A command while no socket is open: frames wait for the next one (bounded).
    async fn while_offline(&mut self, command: Command) {
        match command {
            Command::SendFrame { op, .. } if self.waiting.len() >= self.config.outbox_capacity => {
                let why = format!(
                    "not connected and {} frames already wait: this one was not sent",
                    self.waiting.len()
                );
                self.failed(op, OpError::Invalid(why)).await;
            }
            Command::SendFrame { op, payload } => {
                self.waiting.push_back((op, payload));
                self.emit(Event::Queued { op }).await;
            }
            other => self.refuse(other).await,
        }
    }

    /// Answers a command a simple connection cannot carry out.
    async fn refuse(&mut self, command: Command) {
        match command {
            Command::Join { op, .. }
            | Command::Leave { op, .. }
            | Command::SendToGroup { op, .. }
            | Command::SendEvent { op, .. } => {
                self.failed(op, OpError::Invalid(NOT_ON_SIMPLE.into()))
                    .await
            }
            Command::Invoke { op, .. } => {
                let outcome = Err(OpError::Invalid(NOT_ON_SIMPLE.into()));
                self.emit(Event::InvokeResult { op, outcome }).await
            }
            Command::InspectFrames(on) => self.inspect = on,
            Command::CancelInvocation { .. }
            | Command::SendFrame { .. }
            | Command::Reconnect
            | Command::Shutdown => {}
        }
    }

    async fn failed(&mut self, op: OpId, error: OpError) {
        self.emit(Event::OpResult {
            op,
            outcome: OpOutcome::Failed(error),
        })
        .await;
    }

    /// Hands an event over, waiting for room: a reader that falls behind slows the socket.
    async fn emit(&mut self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// Runs one open socket until it ends.
    async fn connection(&mut self, socket: Socket) -> End {
        let protocol = self.config.protocol;
        self.state.send_replace(ConnState::Connected {
            connection_id: String::new(),
            user_id: None,
            protocol,
        });
        self.emit(Event::Connected {
            connection_id: String::new(),
            user_id: None,
            protocol,
        })
        .await;
        let (mut sink, mut stream) = socket.split();
        while let Some((op, payload)) = self.waiting.pop_front() {
            if let Err(reason) = self.send_frame(&mut sink, op, payload).await {
                return self.dropped_link(reason).await;
            }
        }
        let mut last_inbound = Instant::now();
        let mut ping = tokio::time::interval(self.config.keepalive_interval);
        ping.reset();
        let end = loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => break End::Stop("shut down".into()),
                    Some(Command::Reconnect) => {
                        break End::Reconnect { wait: false, reason: String::new() }
                    }
                    Some(Command::SendFrame { op, payload }) => {
                        if let Err(reason) = self.send_frame(&mut sink, op, payload).await {
                            break End::Reconnect { wait: true, reason };
                        }
                    }
                    Some(other) => self.refuse(other).await,
                },
                frame = stream.next() => {
                    last_inbound = Instant::now();
                    if let Some(end) = self.inbound(frame).await {
                        break end;
                    }
                }
                _ = ping.tick() => {
                    if last_inbound.elapsed() > self.config.keepalive_timeout {
                        break End::Reconnect { wait: true, reason: "the service stopped answering".into() };
                    }
                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break End::Reconnect { wait: true, reason: "the keepalive ping failed".into() };
                    }
                }
            }
        };
        match &end {
            End::Stop(_) | End::Reconnect { wait: false, .. } => {
                let close = Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }));
                let _ = tokio::time::timeout(std::time::Duration::from_millis(500), async {
                    let _ = sink.send(close).await;
                })
                .await;
            }
            End::Reconnect { reason, .. } => return self.dropped_link(reason.clone()).await,
        }
        end
    }

    /// The link dropped: say so; a fresh connection follows after a pause.
    async fn dropped_link(&mut self, reason: String) -> End {
        tracing::info!(%reason, "simple connection dropped");
        self.emit(Event::Disconnected {
            reason: reason.clone(),
        })
        .await;
        dropped(reason)
    }

    /// Writes one frame; `Err` when the link failed.
    async fn send_frame(
        &mut self,
        sink: &mut futures_util::stream::SplitSink<Socket, Message>,
        op: OpId,
        payload: Payload,
    ) -> Result<(), String> {
        let message = match payload {
            Payload::Text(text) => Message::Text(text.into()),
            Payload::Json(raw) => Message::Text(raw.get().to_string().into()),
            Payload::Binary(bytes) | Payload::Protobuf(bytes) => Message::Binary(bytes.into()),
        };
        if message.len() > MAX_CLIENT_MESSAGE_BYTES {
            let why = format!(
                "the frame is {} bytes; the service takes at most {MAX_CLIENT_MESSAGE_BYTES}",
                message.len()
            );
            self.failed(op, OpError::Invalid(why)).await;
            return Ok(());
        }
        if self.inspect {
            let text = raw_text(&message);
            self.emit(Event::RawFrame {
                direction: Direction::Out,
                text,
            })
            .await;
        }
        let sent = Instant::now();
        if let Err(error) = sink.send(message).await {
            self.failed(op, OpError::ConnectionLost { attempts: 1 })
                .await;
            return Err(format!("writing to the service failed: {error}"));
        }
        let outcome = OpOutcome::Done {
            duplicate: false,
            round_trip: Some(sent.elapsed()),
        };
        self.emit(Event::OpResult { op, outcome }).await;
        Ok(())
    }

    /// Handles one frame read from the socket; `Some` when the link ended.
    async fn inbound(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Option<End> {
        let payload = match frame {
            None => return Some(dropped("the service closed the connection".into())),
            Some(Err(error)) => return Some(dropped(format!("the connection failed: {error}"))),
            Some(Ok(Message::Close(close))) => {
                let reason = match close {
                    Some(frame) => format!(
                        "the service closed the connection ({}{}{})",
                        u16::from(frame.code),
                        if frame.reason.is_empty() { "" } else { ": " },
                        frame.reason
                    ),
                    None => "the service closed the connection".into(),
                };
                return Some(dropped(reason));
            }
            Some(Ok(Message::Text(text))) => Payload::Text(text.to_string()),
            Some(Ok(Message::Binary(bytes))) => Payload::Binary(bytes.to_vec()),
            Some(Ok(_)) => return None,
        };
        if self.inspect {
            let text = match &payload {
                Payload::Text(text) => frames::shown(text),
                other => format!("[binary, {} bytes]", other.len()),
            };
            self.emit(Event::RawFrame {
                direction: Direction::In,
                text,
            })
            .await;
        }
        self.emit(Event::Frame(payload)).await;
        None
    }
}

fn dropped(reason: String) -> End {
    End::Reconnect { wait: true, reason }
}

/// An outgoing frame as the inspector shows it.
fn raw_text(message: &Message) -> String {
    match message {
        Message::Text(text) => frames::shown(text),
        other => format!("[binary, {} bytes]", other.len()),
    }
}
