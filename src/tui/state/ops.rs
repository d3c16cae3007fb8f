//! Operations sent to the engine and waiting for an outcome, and failed sends kept for retry.

use std::collections::{HashMap, HashSet};

use crate::client::OpId;
use crate::protocol::Payload;

/// An operation waiting for its outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingOp {
    Send {
        group: String,
        seq: u64,
        payload: Payload,
    },
    Join {
        group: String,
    },
    Leave {
        group: String,
    },
    /// A user event; the reply and the ack show in the buffer `shown_in` (kind, name).
    Event {
        name: String,
        shown_in: (super::BufferKind, String),
        /// The handler's reply already arrived.
        replied: bool,
    },
    /// An invocation; its response shows in the buffer `shown_in` (kind, name).
    Invoke {
        name: String,
        shown_in: (super::BufferKind, String),
    },
}

/// A send that failed, kept for the retry key.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedSend {
    pub group: String,
    pub seq: u64,
    pub payload: Payload,
}

/// The operations in flight and the failed sends.
#[derive(Debug, Clone)]
pub struct Ops {
    pub pending: HashMap<OpId, PendingOp>,
    /// Sends the engine queued while offline (quitting would lose them).
    pub queued: HashSet<OpId>,
    pub failed: Vec<FailedSend>,
    next: OpId,
}

impl Ops {
    /// Moves the line numbers of `group`'s sends after lines were put in or taken out of its
    /// log (see `Buffer::insert`).
    pub(crate) fn renumber(&mut self, group: &str, moved: impl Fn(u64) -> u64) {
        for op in self.pending.values_mut() {
            if let PendingOp::Send { group: g, seq, .. } = op
                && g == group
            {
                *seq = moved(*seq);
            }
        }
        for failed in &mut self.failed {
            if failed.group == group {
                failed.seq = moved(failed.seq);
            }
        }
    }

    /// The line of `group`'s oldest send still waiting for its outcome.
    pub(crate) fn first_pending_send(&self, group: &str) -> Option<u64> {
        let sends = self.pending.values().filter_map(|op| match op {
            PendingOp::Send { group: g, seq, .. } if g == group => Some(*seq),
            _ => None,
        });
        sends.min()
    }
}

impl Default for Ops {
    fn default() -> Self {
        Ops {
            pending: HashMap::new(),
            queued: HashSet::new(),
            failed: Vec::new(),
            next: 1,
        }
    }
}

impl Ops {
    /// Records an operation as waiting for its outcome; returns its fresh id.
    pub(crate) fn start(&mut self, pending: PendingOp) -> OpId {
        let op = self.next;
        self.next += 1;
        self.pending.insert(op, pending);
        op
    }
}
