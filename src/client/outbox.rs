//! The offline outbox: operations issued while there is no usable connection, kept in order
//! and bounded, then flushed once a connection is ready.

use std::collections::VecDeque;

use super::OpId;
use crate::protocol::ClientMessage;

/// One queued operation: the request as it will be written (its ack id, if any, already
/// allocated).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueuedOp {
    pub op: OpId,
    pub request: ClientMessage,
}

/// A bounded FIFO of queued operations.
#[derive(Debug)]
pub(crate) struct Outbox {
    items: VecDeque<QueuedOp>,
    capacity: usize,
}

/// The outbox already holds `capacity` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutboxFull {
    pub capacity: usize,
}

impl std::fmt::Display for OutboxFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the offline outbox is full ({} operations wait for the connection); try again once connected",
            self.capacity
        )
    }
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox {
            items: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, item: QueuedOp) -> Result<(), OutboxFull> {
        if self.items.len() >= self.capacity {
            return Err(OutboxFull {
                capacity: self.capacity,
            });
        }
        self.items.push_back(item);
        Ok(())
    }

    /// Everything queued, oldest first; the outbox is left empty.
    pub(crate) fn take_all(&mut self) -> VecDeque<QueuedOp> {
        std::mem::take(&mut self.items)
    }

    /// Puts operations back at the front (a flush that stopped half way), keeping their order.
    pub(crate) fn requeue_front(&mut self, mut rest: VecDeque<QueuedOp>) {
        rest.append(&mut self.items);
        self.items = rest;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(op: OpId) -> QueuedOp {
        QueuedOp {
            op,
            request: ClientMessage::JoinGroup {
                group: format!("g{op}"),
                ack_id: Some(op),
            },
        }
    }

    #[test]
    fn keeps_order_and_refuses_when_full() {
        let mut outbox = Outbox::new(2);
        assert!(outbox.push(item(1)).is_ok());
        assert!(outbox.push(item(2)).is_ok());
        let full = outbox.push(item(3)).unwrap_err();
        assert!(full.to_string().contains("full"));
        let ops: Vec<OpId> = outbox.take_all().into_iter().map(|q| q.op).collect();
        assert_eq!(ops, vec![1, 2]);
        assert!(outbox.is_empty());
    }

    #[test]
    fn requeue_goes_before_newer_items() {
        let mut outbox = Outbox::new(10);
        outbox.push(item(1)).unwrap();
        outbox.push(item(2)).unwrap();
        let mut taken = outbox.take_all();
        let first = taken.pop_front().unwrap();
        assert_eq!(first.op, 1);
        outbox.push(item(3)).unwrap();
        outbox.requeue_front(taken);
        let ops: Vec<OpId> = outbox.take_all().into_iter().map(|q| q.op).collect();
        assert_eq!(ops, vec![2, 3]);
        assert_eq!(outbox.len(), 0);
    }
}
