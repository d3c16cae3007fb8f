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

use std::cell::OnceCell;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use tokio::sync::Notify;

use super::permissions::{Permission, Permissions};
use crate::protocol::{GroupFrame, MessageSource, Payload, ServiceMessage, encode_service};

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
}

impl ClientKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientKind::Simple => "simple",
            ClientKind::Json => crate::protocol::JSON_V1,
            ClientKind::JsonReliable => crate::protocol::JSON_RELIABLE_V1,
        }
    }
}

/// Queue and buffer bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Frames waiting for the socket writer before a connection counts as slow.
    pub queue_frames: usize,
    /// Bytes waiting for the socket writer before a connection counts as slow.
    pub queue_bytes: usize,
    /// Written but un-acked data messages a reliable session may have in flight.
    pub reliable_messages: usize,
    /// Written but un-acked bytes a reliable session may have in flight.
    pub reliable_bytes: usize,
    /// How long the writer waits for an ack while the in-flight cap holds data back before
    /// it closes the session as buffer-full.
    pub ack_grace: Duration,
    /// How long a publisher may be held back, per episode, while a recipient's queue is past
    /// half its bound; after that the recipient is left to overflow.
    pub backpressure: Duration,
}

/// A frame for the socket writer.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    Text(Utf8Bytes),
    /// A reliable data message; its sequence id tells the writer what goes in flight.
    Sequenced {
        id: u64,
        text: Utf8Bytes,
    },
    Binary(Bytes),
    Close {
        code: u16,
        reason: String,
    },
}

impl Outbound {
    fn len(&self) -> usize {
        match self {
            Outbound::Text(t) | Outbound::Sequenced { text: t, .. } => t.len(),
            Outbound::Binary(b) => b.len(),
            Outbound::Close { reason, .. } => reason.len() + 2,
        }
    }
}

/// One socket serving a connection. A reliable session gets a new attachment on recovery.
#[derive(Debug)]
pub(crate) struct Attachment {
    pub epoch: u64,
    /// Wakes the socket writer when the queue goes from empty to non-empty.
    pub wake: Notify,
    /// Tells the socket task to stop: the session was closed by the service or moved to a
    /// newer socket.
    pub cancel: Notify,
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
    unacked: VecDeque<(u64, Utf8Bytes)>,
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

/// What happened to a data message handed to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    Queued,
    /// Queued, but the queue is past half its bound: the publisher should wait for room.
    Backlogged,
    /// The connection is over; nothing was queued.
    Gone,
    /// The outbound queue is full: close the connection as a slow client.
    SlowClient,
    /// A detached reliable session's buffer passed its cap: close the session.
    BufferFull,
}

/// Why the service ends a session, with the close code and the text the client sees.
#[derive(Debug, Clone)]
pub(crate) struct CloseCause {
    pub code: u16,
    pub reason: String,
    /// Drop queued frames first (the client is not reading them anyway).
    pub discard_queued: bool,
}

impl CloseCause {
    /// The outbound queue overflowed (the cloud service's `SlowClient`).
    pub(crate) fn slow_client() -> Self {
        CloseCause {
            code: crate::protocol::close_code::POLICY_VIOLATION,
            reason: "SlowClient: the connection did not read its messages fast enough.".into(),
            discard_queued: true,
        }
    }

    /// The reliable buffer is full and the client does not ack (as the emulator words it).
    pub(crate) fn buffer_full() -> Self {
        CloseCause {
            code: crate::protocol::close_code::POLICY_VIOLATION,
            reason: "The reliable message buffer is full.".into(),
            discard_queued: true,
        }
    }
}

/// What the writer got from `take_queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// The attachment no longer serves this connection.
    Stale,
    /// Frames (maybe none) were moved to the batch; `awaiting_acks` when reliable data frames
    /// stay queued because the in-flight cap is reached.
    Taken { awaiting_acks: bool },
}

/// A client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub id: Arc<str>,
    pub user_id: Option<Arc<str>>,
    pub kind: ClientKind,
    /// From the token's roles; the REST permission API changes them at runtime.
    permissions: RwLock<Permissions>,
    limits: Limits,
    state: Mutex<State>,
}

/// A data message prepared once for every recipient of a fan-out.
pub(crate) struct Delivery {
    frame: GroupFrame,
    payload: Payload,
    json: OnceCell<Utf8Bytes>,
    raw: OnceCell<Outbound>,
}

impl Delivery {
    pub(crate) fn new(source: &MessageSource, payload: Payload) -> Self {
        Delivery {
            frame: GroupFrame::new(source, &payload),
            payload,
            json: OnceCell::new(),
            raw: OnceCell::new(),
        }
    }

    fn json(&self) -> Utf8Bytes {
        self.json
            .get_or_init(|| Utf8Bytes::from(self.frame.text()))
            .clone()
    }

    /// What a simple client receives: the payload alone, text or binary.
    fn raw(&self) -> Outbound {
        self.raw
            .get_or_init(|| match &self.payload {
                Payload::Text(text) => Outbound::Text(Utf8Bytes::from(text.as_str())),
                Payload::Json(raw) => Outbound::Text(Utf8Bytes::from(raw.get())),
                Payload::Binary(bytes) | Payload::Protobuf(bytes) => {
                    Outbound::Binary(Bytes::copy_from_slice(bytes))
                }
            })
            .clone()
    }
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
        self.kind == ClientKind::JsonReliable
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.lock().phase, Phase::Closed(_))
    }

    /// Queues a control frame (connected, ack, pong). Returns false if the queue overflowed.
    pub(crate) fn send_control(&self, message: &ServiceMessage) -> bool {
        let frame = Outbound::Text(Utf8Bytes::from(encode_service(message)));
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
            ClientKind::JsonReliable => {
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
                let text = Utf8Bytes::from(delivery.frame.with_sequence(id));
                state.unacked_bytes += text.len();
                state.unacked.push_back((id, text.clone()));
                if let Some(attachment) = attachment {
                    push(&mut state, &attachment, Outbound::Sequenced { id, text });
                    return self.backlog(&mut state);
                }
                Delivered::Queued
            }
            ClientKind::Json | ClientKind::Simple => {
                let Some(attachment) = attachment else {
                    return Delivered::Gone;
                };
                if self.queue_full(&state) {
                    return Delivered::SlowClient;
                }
                let frame = if self.kind == ClientKind::Json {
                    Outbound::Text(delivery.json())
                } else {
                    delivery.raw()
                };
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
            if let Outbound::Sequenced { id, text } = frame {
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

    /// Reliable sequence ack: forget every buffered message up to `sequence_id` (work in
    /// proportion to what is released), and let the writer send what the cap held back.
    pub(crate) fn ack_sequence(&self, sequence_id: u64) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let sequence_id = sequence_id.min(state.last_sequence_id);
        if sequence_id <= state.acked_through {
            return;
        }
        while let Some((id, text)) = state.unacked.front() {
            if *id > sequence_id {
                break;
            }
            let len = text.len();
            if *id <= state.written_through {
                state.inflight_bytes = state.inflight_bytes.saturating_sub(len);
            }
            state.unacked.pop_front();
            state.unacked_bytes -= len;
        }
        state.acked_through = sequence_id;
        if let Phase::Attached(attachment) = &state.phase
            && !state.queue.is_empty()
        {
            attachment.wake.notify_one();
        }
    }

    /// Whether `ack_id` already succeeded on this session.
    pub(crate) fn is_duplicate(&self, ack_id: u64) -> bool {
        self.lock().ack_ids.contains(&ack_id)
    }

    /// Remembers a successful `ack_id`.
    pub(crate) fn remember_ack(&self, ack_id: u64) {
        let mut state = self.lock();
        if state.ack_ids.insert(ack_id) {
            state.ack_id_order.push_back(ack_id);
            if state.ack_id_order.len() > REMEMBERED_ACK_IDS
                && let Some(oldest) = state.ack_id_order.pop_front()
            {
                state.ack_ids.remove(&oldest);
            }
        }
    }

    /// The socket of a reliable session dropped: keep the session for recovery. Returns false
    /// if `epoch` is no longer the current socket or the session is over.
    pub(crate) fn detach(&self, epoch: u64) -> bool {
        let mut state = self.lock();
        match &state.phase {
            Phase::Attached(a) if a.epoch == epoch => {
                state.phase = Phase::Detached { epoch };
                state.queue.clear();
                state.queue_bytes = 0;
                nothing_in_flight(&mut state);
                true
            }
            _ => false,
        }
    }

    /// Ends a detached session whose recovery window passed. Returns true if it ended now.
    pub(crate) fn expire(&self, epoch: u64) -> bool {
        let mut state = self.lock();
        match state.phase {
            Phase::Detached { epoch: detached } if detached == epoch => {
                state.phase = Phase::Closed(None);
                release(&mut state);
                true
            }
            _ => false,
        }
    }

    /// Moves a reliable session to a new socket and queues every un-acked message for
    /// replay, in order. Returns false if the session is over.
    pub(crate) fn reattach(&self, attachment: Arc<Attachment>) -> bool {
        let mut state = self.lock();
        match &state.phase {
            Phase::Closed(_) => return false,
            Phase::Attached(old) => old.cancel.notify_one(),
            Phase::Detached { .. } => {}
        }
        state.queue.clear();
        state.queue_bytes = 0;
        nothing_in_flight(&mut state);
        let replay: Vec<Outbound> = state
            .unacked
            .iter()
            .map(|(id, text)| Outbound::Sequenced {
                id: *id,
                text: text.clone(),
            })
            .collect();
        state.phase = Phase::Attached(attachment.clone());
        for frame in replay {
            push(&mut state, &attachment, frame);
        }
        attachment.wake.notify_one();
        true
    }

    /// Ends the session from the service side: a JSON client gets `system/disconnected`
    /// with the reason, then a close frame. Returns false if it was already over.
    pub(crate) fn close(&self, cause: &CloseCause) -> bool {
        let mut state = self.lock();
        let attachment = match &state.phase {
            Phase::Closed(_) => return false,
            Phase::Attached(a) => Some(a.clone()),
            Phase::Detached { .. } => None,
        };
        state.phase = Phase::Closed(attachment.clone());
        release(&mut state);
        if let Some(attachment) = attachment {
            if cause.discard_queued {
                state.queue.clear();
                state.queue_bytes = 0;
            }
            if self.kind != ClientKind::Simple {
                let text = encode_service(&ServiceMessage::Disconnected {
                    message: Some(cause.reason.clone()),
                });
                push(
                    &mut state,
                    &attachment,
                    Outbound::Text(Utf8Bytes::from(text)),
                );
            }
            push(
                &mut state,
                &attachment,
                Outbound::Close {
                    code: cause.code,
                    reason: cause.reason.clone(),
                },
            );
            attachment.wake.notify_one();
            attachment.cancel.notify_one();
        }
        true
    }

    /// Marks the session over without sending anything (the client closed it).
    pub(crate) fn finish(&self) {
        let mut state = self.lock();
        if !matches!(state.phase, Phase::Closed(_)) {
            state.phase = Phase::Closed(None);
            state.queue.clear();
            state.queue_bytes = 0;
            release(&mut state);
        }
    }

    /// Un-acked messages held (for tests and logs).
    pub(crate) fn unacked_len(&self) -> usize {
        self.lock().unacked.len()
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
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        queue_frames: 4,
        queue_bytes: 1 << 20,
        reliable_messages: 3,
        reliable_bytes: 1 << 20,
        ack_grace: Duration::from_secs(1),
        backpressure: Duration::ZERO,
    };

    fn connection(kind: ClientKind) -> (Connection, Arc<Attachment>) {
        let attachment = Attachment::new(1);
        let connection = Connection::new(
            Arc::from("c1"),
            None,
            kind,
            Permissions::default(),
            LIMITS,
            attachment.clone(),
        );
        (connection, attachment)
    }

    fn text_delivery(text: &str) -> Delivery {
        Delivery::new(&MessageSource::Server, Payload::Text(text.into()))
    }

    fn queued_texts(connection: &Connection, attachment: &Attachment) -> Vec<String> {
        let mut batch = VecDeque::new();
        assert!(matches!(
            connection.take_queued(attachment, &mut batch),
            Drain::Taken { .. }
        ));
        batch
            .into_iter()
            .map(|frame| match frame {
                Outbound::Text(text) | Outbound::Sequenced { text, .. } => text.to_string(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn reliable_messages_get_sequence_ids_and_replay_after_reattach() {
        let (connection, attachment) = connection(ClientKind::JsonReliable);
        for text in ["a", "b", "c"] {
            assert_eq!(connection.deliver(&text_delivery(text)), Delivered::Queued);
        }
        let sent = queued_texts(&connection, &attachment);
        assert!(sent[0].starts_with(r#"{"sequenceId":1,"#), "{}", sent[0]);
        assert!(sent[2].starts_with(r#"{"sequenceId":3,"#), "{}", sent[2]);
        connection.ack_sequence(2);
        assert!(connection.detach(1));
        let next = Attachment::new(2);
        assert!(connection.reattach(next.clone()));
        let replayed = queued_texts(&connection, &next);
        assert_eq!(replayed.len(), 1);
        assert!(replayed[0].contains(r#""data":"c""#));
        // The stale attachment no longer drains this connection.
        assert_eq!(
            connection.take_queued(&attachment, &mut VecDeque::new()),
            Drain::Stale
        );
    }

    #[test]
    fn only_written_messages_count_against_the_reliable_cap() {
        let (reliable, attachment) = connection(ClientKind::JsonReliable);
        // Four queued (the queue limit) exceed the in-flight cap of three: still fine.
        for _ in 0..4 {
            assert_eq!(reliable.deliver(&text_delivery("x")), Delivered::Queued);
        }
        let mut batch = VecDeque::new();
        assert_eq!(
            reliable.take_queued(&attachment, &mut batch),
            Drain::Taken {
                awaiting_acks: true
            }
        );
        assert_eq!(batch.len(), 3, "the writer stops at the in-flight cap");
        batch.clear();
        // An ack of two lets two more go; the replay buffer keeps the rest in order.
        assert_eq!(reliable.deliver(&text_delivery("y")), Delivered::Queued);
        reliable.ack_sequence(2);
        assert_eq!(reliable.unacked_len(), 3);
        let sent = queued_texts(&reliable, &attachment);
        assert_eq!(sent.len(), 2);
        assert!(sent[0].starts_with(r#"{"sequenceId":4,"#), "{}", sent[0]);
        assert!(sent[1].starts_with(r#"{"sequenceId":5,"#), "{}", sent[1]);
        // A stale or repeated ack changes nothing; an ack past the end is clamped.
        reliable.ack_sequence(1);
        assert_eq!(reliable.unacked_len(), 3);
        reliable.ack_sequence(99);
        assert_eq!(reliable.unacked_len(), 0);
        assert_eq!(reliable.deliver(&text_delivery("z")), Delivered::Queued);
        let sent = queued_texts(&reliable, &attachment);
        assert!(sent[0].starts_with(r#"{"sequenceId":6,"#), "{}", sent[0]);
    }

    #[test]
    fn reliable_queue_overflow_is_a_slow_client_and_a_detached_overflow_is_buffer_full() {
        let (reliable, _) = connection(ClientKind::JsonReliable);
        for _ in 0..4 {
            assert_eq!(reliable.deliver(&text_delivery("x")), Delivered::Queued);
        }
        assert_eq!(reliable.deliver(&text_delivery("x")), Delivered::SlowClient);

        let (detached, _) = connection(ClientKind::JsonReliable);
        assert!(detached.detach(1));
        for _ in 0..4 {
            assert_eq!(detached.deliver(&text_delivery("x")), Delivered::Queued);
        }
        assert_eq!(detached.deliver(&text_delivery("x")), Delivered::BufferFull);
    }

    #[test]
    fn a_queue_past_half_its_bound_holds_the_publisher_back_until_drained() {
        let attachment = Attachment::new(1);
        let connection = Connection::new(
            Arc::from("c1"),
            None,
            ClientKind::Json,
            Permissions::default(),
            Limits {
                backpressure: Duration::from_secs(60),
                ..LIMITS
            },
            attachment.clone(),
        );
        assert_eq!(connection.deliver(&text_delivery("a")), Delivered::Queued);
        assert!(connection.has_room());
        assert_eq!(
            connection.deliver(&text_delivery("b")),
            Delivered::Backlogged
        );
        assert!(!connection.has_room());
        assert_eq!(queued_texts(&connection, &attachment).len(), 2);
        assert!(connection.has_room());
    }

    #[test]
    fn slow_client_cap() {
        let (plain, _) = connection(ClientKind::Json);
        for _ in 0..4 {
            assert_eq!(plain.deliver(&text_delivery("x")), Delivered::Queued);
        }
        assert_eq!(plain.deliver(&text_delivery("x")), Delivered::SlowClient);
    }

    #[test]
    fn close_queues_disconnected_then_close_and_ends_the_session() {
        let (connection, attachment) = connection(ClientKind::Json);
        assert!(connection.close(&CloseCause {
            code: 1008,
            reason: "bye".into(),
            discard_queued: false,
        }));
        let mut batch = VecDeque::new();
        assert!(matches!(
            connection.take_queued(&attachment, &mut batch),
            Drain::Taken { .. }
        ));
        assert!(matches!(&batch[0], Outbound::Text(t) if t.contains("disconnected")));
        assert!(matches!(&batch[1], Outbound::Close { code: 1008, .. }));
        assert_eq!(connection.deliver(&text_delivery("late")), Delivered::Gone);
        assert!(!connection.reattach(Attachment::new(2)));
    }

    #[test]
    fn duplicate_ack_ids_are_remembered_per_session() {
        let (connection, _) = connection(ClientKind::JsonReliable);
        assert!(!connection.is_duplicate(7));
        connection.remember_ack(7);
        assert!(connection.is_duplicate(7));
        assert!(!connection.is_duplicate(8));
    }
}
