//! A session's life after it opened: sequence acks and ackId de-duplication, detaching when
//! a reliable socket drops, expiry, recovery onto a new socket, and the end.

use std::sync::Arc;

use super::{
    Attachment, CloseCause, Connection, Outbound, Phase, REMEMBERED_ACK_IDS, nothing_in_flight,
    push, release,
};
use crate::protocol::ServiceMessage;

impl Connection {
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
            .map(|(id, body)| Outbound::Sequenced {
                id: *id,
                body: body.clone(),
            })
            .collect();
        state.phase = Phase::Attached(attachment.clone());
        for frame in replay {
            push(&mut state, &attachment, frame);
        }
        attachment.wake.notify_one();
        true
    }

    /// Ends the session from the service side: a client with a subprotocol gets `system/disconnected`
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
            let disconnected = ServiceMessage::Disconnected {
                message: Some(cause.reason.clone()),
            };
            if let Some(frame) = self.kind.encode(&disconnected) {
                push(&mut state, &attachment, frame);
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
