//! The event channel: the engine hands over everything one read burst produced as one batch,
//! so a flood costs one channel send and one wake-up per burst instead of per message. The
//! receiving side still reads one event at a time (`recv`) or many (`recv_many`); emptied
//! batch buffers go back to the engine for reuse.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

use super::Event;

/// The events a batch holds in a flood (one read burst): `ClientConfig::event_buffer`
/// events make `event_buffer / BATCH_EVENTS` batches of channel room.
pub(crate) const BATCH_EVENTS: usize = 256;
/// Emptied batch buffers kept for reuse; more than this are freed.
const SPARE_BATCHES: usize = 32;

/// Buffers that travel back from the receiver to the sender.
type Spares = Arc<Mutex<Vec<Vec<Event>>>>;

/// A channel of event batches holding at most `batches` batches (at least 1). The engine
/// holds back what does not fit: a slow reader slows the socket.
pub fn event_channel(batches: usize) -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::channel(batches.max(1));
    let spares = Spares::default();
    (
        EventSender {
            tx,
            spares: spares.clone(),
        },
        EventReceiver {
            rx,
            current: VecDeque::new(),
            spares,
        },
    )
}

/// The engine's side of the event channel.
#[derive(Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Vec<Event>>,
    spares: Spares,
}

impl EventSender {
    /// Sends one event as a batch of its own, waiting for room; gives it back when nobody
    /// reads.
    pub async fn send(&self, event: Event) -> Result<(), SendError<Event>> {
        let mut batch = self.empty_batch();
        batch.push(event);
        self.tx.send(batch).await.map_err(|SendError(mut batch)| {
            SendError(batch.pop().expect("the batch holds the event"))
        })
    }

    /// Sends every event of `queue` as one batch if there is room now. `false` when the
    /// channel is full (the queue is left as it was).
    pub(crate) fn try_send_all(&self, queue: &mut VecDeque<Event>) -> bool {
        if queue.is_empty() {
            return true;
        }
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(self.batch_of(queue));
                true
            }
            Err(TrySendError::Full(())) => false,
            Err(TrySendError::Closed(())) => {
                queue.clear();
                true
            }
        }
    }

    /// Waits for room, then sends every event of `queue` as one batch; `false` when nobody
    /// reads (the queue is cleared: nobody will).
    pub(crate) async fn send_all(&self, queue: &mut VecDeque<Event>) -> bool {
        if queue.is_empty() {
            return true;
        }
        match self.tx.reserve().await {
            Ok(permit) => {
                permit.send(self.batch_of(queue));
                true
            }
            Err(_) => {
                queue.clear();
                false
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    fn batch_of(&self, queue: &mut VecDeque<Event>) -> Vec<Event> {
        let mut batch = self.empty_batch();
        batch.extend(queue.drain(..));
        batch
    }

    fn empty_batch(&self) -> Vec<Event> {
        self.spares
            .lock()
            .ok()
            .and_then(|mut spares| spares.pop())
            .unwrap_or_default()
    }
}

/// The caller's side of the event channel: events in the order the engine emitted them.
pub struct EventReceiver {
    rx: mpsc::Receiver<Vec<Event>>,
    /// What is left of the batch being read.
    current: VecDeque<Event>,
    spares: Spares,
}

impl EventReceiver {
    /// The next event; `None` once the engine has ended and every event was read.
    /// Cancel safe: no event is lost when the future is dropped.
    pub async fn recv(&mut self) -> Option<Event> {
        if self.current.is_empty() {
            let batch = self.rx.recv().await?;
            self.take(batch);
        }
        self.current.pop_front()
    }

    /// Appends up to `limit` events to `buffer`, waiting for at least one; 0 once the engine
    /// has ended (or for a `limit` of 0). Cancel safe.
    pub async fn recv_many(&mut self, buffer: &mut Vec<Event>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        if self.current.is_empty() {
            match self.rx.recv().await {
                Some(batch) => self.take(batch),
                None => return 0,
            }
        }
        let mut added = 0;
        loop {
            let n = self.current.len().min(limit - added);
            buffer.extend(self.current.drain(..n));
            added += n;
            if added == limit {
                break;
            }
            match self.rx.try_recv() {
                Ok(batch) => self.take(batch),
                Err(_) => break,
            }
        }
        added
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        if self.current.is_empty() {
            let batch = self.rx.try_recv()?;
            self.take(batch);
        }
        self.current.pop_front().ok_or(TryRecvError::Empty)
    }

    /// Makes `batch` the one being read, and gives the emptied buffer back for reuse.
    fn take(&mut self, batch: Vec<Event>) {
        let emptied = std::mem::replace(&mut self.current, VecDeque::from(batch));
        let emptied = Vec::from(emptied);
        if emptied.capacity() > 0
            && let Ok(mut spares) = self.spares.lock()
            && spares.len() < SPARE_BATCHES
        {
            spares.push(emptied);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(ms: u64) -> Event {
        Event::Lag(std::time::Duration::from_millis(ms))
    }

    #[tokio::test]
    async fn batches_read_back_one_event_at_a_time_in_order() {
        let (tx, mut rx) = event_channel(2);
        let mut queue: VecDeque<Event> = (1..=3).map(lag).collect();
        assert!(tx.try_send_all(&mut queue));
        assert!(queue.is_empty());
        tx.send(lag(4)).await.unwrap();
        for ms in 1..=4 {
            assert_eq!(rx.recv().await, Some(lag(ms)));
        }
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    }

    #[tokio::test]
    async fn recv_many_spans_batches_up_to_its_limit() {
        let (tx, mut rx) = event_channel(4);
        for ms in 1..=3 {
            let mut queue: VecDeque<Event> = [lag(ms), lag(ms * 10)].into();
            assert!(tx.try_send_all(&mut queue));
        }
        let mut buffer = Vec::new();
        assert_eq!(rx.recv_many(&mut buffer, 5).await, 5);
        assert_eq!(buffer, vec![lag(1), lag(10), lag(2), lag(20), lag(3)]);
        buffer.clear();
        drop(tx);
        assert_eq!(rx.recv_many(&mut buffer, 5).await, 1);
        assert_eq!(buffer, vec![lag(30)]);
        assert_eq!(rx.recv_many(&mut buffer, 5).await, 0);
    }

    #[tokio::test]
    async fn a_full_channel_keeps_the_queue() {
        let (tx, _rx) = event_channel(1);
        let mut queue: VecDeque<Event> = [lag(1)].into();
        assert!(tx.try_send_all(&mut queue));
        queue.push_back(lag(2));
        assert!(!tx.try_send_all(&mut queue));
        assert_eq!(queue.len(), 1);
    }
}
