//! One client connection and, on the reliable subprotocol, its session: the bounded outbound
//! queue the socket writer drains, the buffer of un-acked data messages kept for recovery,
//! and the ackIds already processed (for `Duplicate`).
//!
//! Reliable accounting: every data message not yet acked stays in the replay buffer, in
//! order, whether it still waits in the outbound queue or was already written. Only the
//! written part ("in flight") counts against the reliable cap; the writer holds further data
//! frames back while the cap is reached, and the session is closed as buffer-full only when
//! the client then sends no ack for `Limits::ack_grace`. Frames waiting in the queue are
//! bounded by the queue limits (SlowClient).
//!
//! Here: the connection, its queue and delivery; `frames` holds what passes through it,
//! `lifecycle` acks, recovery and the end of a session.

mod frames;
mod lifecycle;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub(crate) use frames::{Body, CloseCause, Delivered, Delivery, Drain, Outbound};

use super::permissions::{Permission, Permissions};
use crate::protocol::{ServiceMessage, Subprotocol};

/// How many successful ackIds a session remembers; older ones are forgotten first.
const REMEMBERED_ACK_IDS: usize = 65_536;

/// What a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// No (or an unsupported) subprotocol: raw frames, no envelopes.
    Simple,
    /// `json.webpubsub.azure.v1`
    Json,
    /// `json.reliable.webpubsub.azure.v1`
    JsonReliable,
    /// `protobuf.webpubsub.azure.v1`
    Protobuf,
    /// `protobuf.reliable.webpubsub.azure.v1`
    ProtobufReliable,
}

impl ClientKind {
    /// What a connection that picked `subprotocol` (or none) speaks.
    pub(crate) fn from_subprotocol(subprotocol: Option<Subprotocol>) -> Self {
        match subprotocol {
            None => ClientKind::Simple,
            Some(Subprotocol::Json) => ClientKind::Json,
            Some(Subprotocol::JsonReliable) => ClientKind::JsonReliable,
            Some(Subprotocol::Protobuf) => ClientKind::Protobuf,
            Some(Subprotocol::ProtobufReliable) => ClientKind::ProtobufReliable,
        }
    }

    /// The subprotocol; `None` for a simple client.
    pub(crate) fn subprotocol(self) -> Option<Subprotocol> {
        match self {
            ClientKind::Simple => None,
            ClientKind::Json => Some(Subprotocol::Json),
            ClientKind::JsonReliable => Some(Subprotocol::JsonReliable),
            ClientKind::Protobuf => Some(Subprotocol::Protobuf),
            ClientKind::ProtobufReliable => Some(Subprotocol::ProtobufReliable),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.subprotocol().map_or("simple", Subprotocol::name)
    }

    /// Reliable: sequence ids, sequence acks and recovery.
    pub(crate) fn is_reliable(self) -> bool {
        self.subprotocol().is_some_and(Subprotocol::is_reliable)
    }

    /// A service message in this connection's framing; `None` for a simple client, which
    /// gets no envelopes.
    pub(crate) fn encode(self, message: &ServiceMessage) -> Option<Outbound> {
        Some(Outbound::from(self.subprotocol()?.encode_service(message)))
    }
}

/// Queue and buffer bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Frames waiting for the socket writer before a connection counts as slow.
    pub(crate) queue_frames: usize,
    /// Bytes waiting for the socket writer before a connection counts as slow.
    pub(crate) queue_bytes: usize,
    /// Written but un-acked data messages a reliable session may have in flight.
    pub(crate) reliable_messages: usize,
    /// Written but un-acked bytes a reliable session may have in flight.
    pub(crate) reliable_bytes: usize,
    /// How long the writer waits for an ack while the in-flight cap holds data back before
    /// it closes the session as buffer-full.
    pub(crate) ack_grace: Duration,
    /// How long a publisher may be held back, per episode, while a recipient's queue is past
    /// half its bound; after that the recipient is left to overflow.
    pub(crate) backpressure: Duration,
}

/// One socket serving a connection. A reliable session gets a new attachment on recovery.
#[derive(Debug)]
pub(crate) struct Attachment {
    pub(crate) epoch: u64,
    /// Wakes the socket writer when the queue goes from empty to non-empty.
    pub(crate) wake: Notify,
    /// Tells the socket task to stop: the session was closed by the service or moved to a
    /// newer socket.
    pub(crate) cancel: Notify,
}

impl Attachment {
    pub(crate) fn new(epoch: u64) -> Arc<Self> {
        Arc::new(Attachment {
            epoch,
            wake: Notify::new(),
            cancel: Notify::new(),
        })
    }
}

#[derive(Debug)]
enum Phase {
    Attached(Arc<Attachment>),
    /// A reliable session whose socket dropped; it waits for recovery.
    Detached {
        epoch: u64,
    },
    /// The session is over; the attachment (if any) still drains its last frames.
    Closed(Option<Arc<Attachment>>),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    queue: VecDeque<Outbound>,
    queue_bytes: usize,
    last_sequence_id: u64,
    /// Every data message not yet acked, queued or in flight, in sequence order.
    unacked: VecDeque<(u64, Body)>,
    unacked_bytes: usize,
    /// The highest sequence id the client acked (cumulative).
    acked_through: u64,
    /// The highest sequence id the current socket's writer took.
    written_through: u64,
    /// Bytes of written, un-acked messages.
    inflight_bytes: usize,
    /// Since when the queue has been past half its bound (publishers wait meanwhile).
    backlogged_since: Option<Instant>,
    ack_ids: HashSet<u64>,
    ack_id_order: VecDeque<u64>,
}

/// A client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: Arc<str>,
    pub(crate) user_id: Option<Arc<str>>,
    pub(crate) kind: ClientKind,
    /// From the token's roles; the REST permission API changes them at runtime.
    permissions: RwLock<Permissions>,
    limits: Limits,
    state: Mutex<State>,
    /// The event handler side; it sends `disconnected` once the connection is dropped.
    pub(crate) upstream: std::sync::OnceLock<Arc<super::upstream::Link>>,
}

impl Connection {
    pub(crate) fn new(
        id: Arc<str>,
        user_id: Option<Arc<str>>,
        kind: ClientKind,
        permissions: Permissions,
        limits: Limits,
        attachment: Arc<Attachment>,
    ) -> Self {
        Connection {
            id,
            user_id,
            kind,
            permissions: RwLock::new(permissions),
            limits,
            state: Mutex::new(State {
                phase: Phase::Attached(attachment),
                queue: VecDeque::new(),
                queue_bytes: 0,
                last_sequence_id: 0,
                unacked: VecDeque::new(),
                unacked_bytes: 0,
                acked_through: 0,
                written_through: 0,
                inflight_bytes: 0,
                backlogged_since: None,
                ack_ids: HashSet::new(),
                ack_id_order: VecDeque::new(),
            }),
            upstream: std::sync::OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent data behind (plain pushes and
        // pops), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn permissions(&self) -> std::sync::RwLockReadGuard<'_, Permissions> {
        // Grants are single assignments, consistent even after a panic elsewhere.
        self.permissions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn permissions_mut(&self) -> std::sync::RwLockWriteGuard<'_, Permissions> {
        self.permissions.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn can_join_leave(&self, group: &str) -> bool {
        self.permissions().can_join_leave(group)
    }

    pub(crate) fn can_send(&self, group: &str) -> bool {
        self.permissions().can_send(group)
    }

    /// Grants `permission` for one group (`Some`) or every group (`None`).
    pub(crate) fn grant(&self, permission: Permission, target: Option<&str>) {
        self.permissions_mut().grant(permission, target);
    }

    /// Revokes `permission` for one group (`Some`) or entirely (`None`).
    pub(crate) fn revoke(&self, permission: Permission, target: Option<&str>) {
        self.permissions_mut().revoke(permission, target);
    }

    /// Whether `permission` holds for one group (`Some`) or every group (`None`).
    pub(crate) fn has_permission(&self, permission: Permission, target: Option<&str>) -> bool {
        self.permissions().has(permission, target)
    }

    pub(crate) fn is_reliable(&self) -> bool {
        self.kind.is_reliable()
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.lock().phase, Phase::Closed(_))
    }

    /// Queues a control frame (connected, ack, pong). Returns false if the queue overflowed.
    pub(crate) fn send_control(&self, message: &ServiceMessage) -> bool {
        let Some(frame) = self.kind.encode(message) else {
            return true;
        };
        let mut state = self.lock();
        let Phase::Attached(attachment) = &state.phase else {
            return true;
        };
        let attachment = attachment.clone();
        // Reliable data frames are bounded by the session caps; control frames get their own
        // allowance on top.
        let cap = self.limits.queue_frames
            + if self.is_reliable() {
                self.limits.reliable_messages
            } else {
                0
            };
        if state.queue.len() >= cap || state.queue_bytes > self.limits.queue_bytes * 2 {
            return false;
        }
        push(&mut state, &attachment, frame);
        true
    }

    /// Hands a data message to this connection.
    pub(crate) fn deliver(&self, delivery: &Delivery) -> Delivered {
        let mut state = self.lock();
        let attachment = match &state.phase {
            Phase::Closed(_) => return Delivered::Gone,
            Phase::Attached(a) => Some(a.clone()),
            Phase::Detached { .. } => None,
        };
        match self.kind {
            ClientKind::JsonReliable | ClientKind::ProtobufReliable => {
                match &attachment {
                    Some(_) if self.queue_full(&state) => return Delivered::SlowClient,
                    // A detached session keeps what it will replay within the queue limits.
                    None if state.unacked.len() >= self.limits.queue_frames
                        || state.unacked_bytes > self.limits.queue_bytes =>
                    {
                        return Delivered::BufferFull;
                    }
                    _ => {}
                }
                state.last_sequence_id += 1;
                let id = state.last_sequence_id;
                let body = delivery.sequenced(self.kind, id);
                state.unacked_bytes += body.len();
                state.unacked.push_back((id, body.clone()));
                if let Some(attachment) = attachment {
                    push(&mut state, &attachment, Outbound::Sequenced { id, body });
                    return self.backlog(&mut state);
                }
                Delivered::Queued
            }
            ClientKind::Json | ClientKind::Protobuf | ClientKind::Simple => {
                let Some(attachment) = attachment else {
                    return Delivered::Gone;
                };
                if self.queue_full(&state) {
                    return Delivered::SlowClient;
                }
                let frame = delivery.frame_for(self.kind);
                push(&mut state, &attachment, frame);
                self.backlog(&mut state)
            }
        }
    }

    /// `Backlogged` while the queue is past half its bound and the publisher has not yet
    /// waited the whole backpressure allowance for this episode.
    fn backlog(&self, state: &mut State) -> Delivered {
        if state.queue.len() < self.limits.queue_frames / 2
            && state.queue_bytes < self.limits.queue_bytes / 2
        {
            return Delivered::Queued;
        }
        let since = *state.backlogged_since.get_or_insert_with(Instant::now);
        if since.elapsed() < self.limits.backpressure {
            Delivered::Backlogged
        } else {
            Delivered::Queued
        }
    }

    /// Whether a publisher held back by this connection may go on: its queue drained to a
    /// quarter of the bound, it is over, or the backpressure allowance ran out.
    pub(crate) fn has_room(&self) -> bool {
        let state = self.lock();
        match state.backlogged_since {
            _ if matches!(state.phase, Phase::Closed(_) | Phase::Detached { .. }) => true,
            None => true,
            Some(since) => since.elapsed() >= self.limits.backpressure,
        }
    }

    fn queue_full(&self, state: &State) -> bool {
        state.queue.len() >= self.limits.queue_frames || state.queue_bytes > self.limits.queue_bytes
    }

    /// Moves queued frames into `batch` for the writer of `attachment`: all of them, except
    /// that reliable data frames stop at the in-flight cap (later frames wait behind them).
    pub(crate) fn take_queued(
        &self,
        attachment: &Attachment,
        batch: &mut VecDeque<Outbound>,
    ) -> Drain {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (current, closed) = match &state.phase {
            Phase::Attached(a) => (a.epoch == attachment.epoch, false),
            Phase::Closed(Some(a)) => (a.epoch == attachment.epoch, true),
            _ => (false, false),
        };
        if !current {
            return Drain::Stale;
        }
        if closed || !self.is_reliable() {
            if batch.is_empty() {
                std::mem::swap(&mut state.queue, batch);
            } else {
                batch.append(&mut state.queue);
            }
            state.queue_bytes = 0;
            state.backlogged_since = None;
            return Drain::Taken {
                awaiting_acks: false,
            };
        }
        while let Some(frame) = state.queue.front() {
            if let Outbound::Sequenced { id, body: text } = frame {
                let id = *id;
                if id > state.acked_through {
                    let in_flight = state.written_through.saturating_sub(state.acked_through);
                    let full = in_flight as usize >= self.limits.reliable_messages
                        || (in_flight > 0
                            && state.inflight_bytes + text.len() > self.limits.reliable_bytes);
                    if full {
                        // Down to a quarter of the bound: the backpressure episode is over.
                        if state.queue.len() <= self.limits.queue_frames / 4
                            && state.queue_bytes <= self.limits.queue_bytes / 4
                        {
                            state.backlogged_since = None;
                        }
                        return Drain::Taken {
                            awaiting_acks: true,
                        };
                    }
                    state.inflight_bytes += text.len();
                }
                state.written_through = state.written_through.max(id);
            }
            if let Some(frame) = state.queue.pop_front() {
                state.queue_bytes -= frame.len();
                batch.push_back(frame);
            }
        }
        state.backlogged_since = None;
        Drain::Taken {
            awaiting_acks: false,
        }
    }
}

fn push(state: &mut State, attachment: &Attachment, frame: Outbound) {
    let was_empty = state.queue.is_empty();
    state.queue_bytes += frame.len();
    state.queue.push_back(frame);
    if was_empty {
        attachment.wake.notify_one();
    }
}

/// A new (or no) socket: everything un-acked is to be written again.
fn nothing_in_flight(state: &mut State) {
    state.written_through = state.acked_through;
    state.inflight_bytes = 0;
}

/// Frees the session's buffers once it is over.
fn release(state: &mut State) {
    state.unacked = VecDeque::new();
    state.unacked_bytes = 0;
    state.inflight_bytes = 0;
    state.ack_ids = HashSet::new();
    state.ack_id_order = VecDeque::new();
}

#[cfg(test)]
mod tests;
