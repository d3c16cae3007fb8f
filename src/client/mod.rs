//! The connection engine: one tokio task owns the WebSocket; callers talk to it through a
//! `ClientHandle` (bounded command sender, bounded event receiver, watch of the state).
//! It acks, retries, keeps the reliable sequence, recovers, reconnects, rejoins and queues
//! sends while offline.

mod acks;
mod backoff;
mod config;
mod connect;
mod events;
mod frames;
mod limits;
mod outbox;
mod sequence;
mod session;
mod simple;
mod startup;

pub use config::{Backoff, ClientConfig, ProxyChoice};
pub use events::{EventReceiver, EventSender, event_channel};
pub use startup::{ConnectFailure, Connecting, FirstConnection, Patience, first_connection};

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::protocol::{AckErrorName, DataMessage, InvokeResponse, Payload, Subprotocol};

/// A caller-chosen id that ties a command to the event reporting its outcome.
pub type OpId = u64;

/// What a caller asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Join {
        op: OpId,
        group: String,
    },
    Leave {
        op: OpId,
        group: String,
    },
    SendToGroup {
        op: OpId,
        group: String,
        payload: Payload,
        no_echo: bool,
        fire_and_forget: bool,
    },
    SendEvent {
        op: OpId,
        event: String,
        payload: Payload,
        fire_and_forget: bool,
    },
    /// Invoke user event `event` on the app server's handler and wait for its response
    /// (preview; JSON subprotocols). Ends with `Event::InvokeResult`; `timeout` defaults to
    /// the ack timeout.
    Invoke {
        op: OpId,
        event: String,
        payload: Payload,
        timeout: Option<Duration>,
    },
    /// Stop waiting for the invocation of `op` (`cancelInvocation`).
    CancelInvocation {
        op: OpId,
    },
    /// One raw frame on a simple connection (`--protocol none`): text (JSON as its text) in a
    /// text frame, binary in a binary frame. Reported by `OpResult` once written.
    SendFrame {
        op: OpId,
        payload: Payload,
    },
    /// Drop the current connection and start a fresh one (a new URL from the provider).
    Reconnect,
    /// Report every raw frame in and out as `Event::RawFrame` (for the frame inspector).
    InspectFrames(bool),
    /// Close with 1000 and end the task.
    Shutdown,
}

/// The connection state, as a `watch` value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    Connecting {
        attempt: u32,
    },
    Connected {
        connection_id: String,
        user_id: Option<String>,
        protocol: Subprotocol,
    },
    /// A reliable connection dropped; recovering the same session since `since`.
    Recovering {
        since: Instant,
        attempt: u32,
    },
    /// Waiting before a fresh connection attempt.
    Reconnecting {
        retry_at: Instant,
        attempt: u32,
        last_error: String,
    },
    Stopped {
        reason: String,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// Acked by the service (or sent, for fire-and-forget). `duplicate` when the service said
    /// `Duplicate`: an earlier attempt already took effect.
    Done {
        duplicate: bool,
        round_trip: Option<Duration>,
    },
    Failed(OpError),
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum OpError {
    /// The service refused it with an ack error.
    Refused { name: AckErrorName, message: String },
    /// No ack arrived in time.
    Timeout(Duration),
    /// Refused before it reached the socket (too large, bad name, outbox full...).
    Invalid(String),
    /// The engine stopped before the operation ended.
    Stopped,
    /// The connection dropped before the service acked it, on every attempt allowed
    /// (`attempts` writes in all); the service may or may not have applied it.
    ConnectionLost { attempts: u32 },
}

impl OpError {
    /// The error's name, as the service (ack error) or the engine calls it.
    pub fn name(&self) -> &str {
        match self {
            OpError::Refused { name, .. } => name.as_str(),
            OpError::Timeout(_) => "Timeout",
            OpError::Invalid(_) => "Invalid",
            OpError::Stopped => "Stopped",
            OpError::ConnectionLost { .. } => "ConnectionLost",
        }
    }

    /// `Name: what happened`, the name said once (a refusal's text already starts with it).
    pub fn summary(&self) -> String {
        match self {
            OpError::Refused { .. } => self.to_string(),
            _ => format!("{}: {self}", self.name()),
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Refused { name, message } if message.is_empty() => write!(f, "{name}"),
            OpError::Refused { name, message } => write!(f, "{name}: {message}"),
            OpError::Timeout(after) => {
                write!(f, "no ack from the service after {} s", after.as_secs())
            }
            OpError::Invalid(why) => f.write_str(why),
            OpError::Stopped => f.write_str("the connection engine stopped"),
            OpError::ConnectionLost { attempts } => write!(
                f,
                "the connection dropped before the service acked it ({attempts} attempts)"
            ),
        }
    }
}

/// What a failed connection attempt says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The service refused the credentials (HTTP 401/403): a new token or key is needed.
    Unauthorized,
    /// The host name does not resolve, or nothing listens at the address.
    Unreachable,
    /// The service answers the same way every time: a TLS failure, an HTTP 4xx, an unusable
    /// client URL or negotiate answer.
    Misconfigured,
    /// Worth trying again soon: a timeout, a 5xx, a dropped socket.
    Transient,
}

/// Direction of a raw frame shown in the inspector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// What the engine reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An invocation ended: the service's response (which may say `success:false`), or why
    /// none came.
    InvokeResult {
        op: OpId,
        outcome: Result<InvokeResponse, OpError>,
    },
    /// A frame received on a simple connection (`--protocol none`): `Payload::Text` or
    /// `Payload::Binary`, as it came.
    Frame(Payload),
    /// A new session began (first connect or fresh reconnect; not a recovery). On a simple
    /// connection `connection_id` is empty (the service tells a simple client nothing).
    Connected {
        connection_id: String,
        user_id: Option<String>,
        protocol: Subprotocol,
    },
    /// A dropped reliable session was recovered; nothing was lost. `offline` is how long the
    /// link was down.
    Recovered {
        connection_id: String,
        offline: Duration,
    },
    /// The session was lost and a fresh one started: messages sent to the old session while
    /// offline may be lost. `offline` is how long the client was away.
    SessionLost { offline: Duration, reason: String },
    /// The link dropped (recovery or reconnect follows unless stopped).
    Disconnected { reason: String },
    /// A data message from a group or the server (already deduplicated on reliable sessions).
    Message(DataMessage),
    /// A send issued while offline was queued; it will be sent once connected.
    Queued { op: OpId },
    /// An operation ended.
    OpResult { op: OpId, outcome: OpOutcome },
    /// After a fresh connection, rejoining a group failed.
    RejoinFailed { group: String, error: OpError },
    /// The service sent `system/disconnected` with this message.
    ServiceDisconnected { message: Option<String> },
    /// Round trip of the last keepalive ping.
    Lag(Duration),
    /// A frame that could not be decoded, or of a type we don't know (shown, never fatal).
    Unrecognized { frame: String, error: String },
    /// A fresh connection attempt failed (`error` says why and what to fix); the engine
    /// retries, after its longest backoff when `kind` says retrying will not help soon.
    ConnectFailed {
        attempt: u32,
        kind: FailureKind,
        error: String,
    },
    /// A raw frame, only while frame inspection is on.
    RawFrame { direction: Direction, text: String },
}

/// The caller's side of a running engine.
pub struct ClientHandle {
    pub commands: mpsc::Sender<Command>,
    pub events: EventReceiver,
    pub state: watch::Receiver<ConnState>,
}

/// Starts the engine task. Must be called inside a tokio runtime.
pub fn spawn(config: ClientConfig) -> ClientHandle {
    let (commands, command_rx) = mpsc::channel(config.command_buffer);
    let (event_tx, events) = event_channel(config.event_buffer.div_ceil(events::BATCH_EVENTS));
    let (state_tx, state) = watch::channel(ConnState::Connecting { attempt: 1 });
    if config.simple {
        tokio::spawn(simple::SimpleEngine::new(config, command_rx, event_tx, state_tx).run());
    } else {
        let engine = session::Engine::new(config, command_rx, event_tx, state_tx);
        tokio::spawn(engine.run());
    }
    ClientHandle {
        commands,
        events,
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_summary_names_the_error_once() {
        let refused = OpError::Refused {
            name: AckErrorName::InternalServerError,
            message: "the handler failed".into(),
        };
        assert_eq!(refused.summary(), "InternalServerError: the handler failed");
        assert_eq!(
            OpError::Stopped.summary(),
            "Stopped: the connection engine stopped"
        );
    }
}
