//! The event channel: the engine hands over everything one read burst produced as one batch,
//! so a flood costs one channel send and one wake-up per burst instead of per message. The
//! receiving side reads one event at a time (`recv`), many (`recv_many`) or a whole batch
//! (`recv_batch`). Batch buffers go back to the engine for reuse, and a batch read whole goes
//! back with its events still in it: the engine drops them when it reuses the buffer, on the
//! thread that made them, so their memory and the shared names' reference counts do not
//! bounce between cores.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

use super::Event;
use crate::protocol::{DataMessage, DecodeCache, Payload};

/// The events a batch holds in a flood (one read burst): `ClientConfig::event_buffer`
/// events make `event_buffer / BATCH_EVENTS` batches of channel room.
pub(crate) const BATCH_EVENTS: usize = 256;
/// Emptied batch buffers kept for reuse; more than this are freed.
const SPARE_BATCHES: usize = 32;
/// A batch goes back for reuse with only as many of its events as hold this many bytes of
/// payloads and frame texts (the reader drops the rest), so spares hold on to at most
/// `SPARE_BATCHES` × this much of read messages' memory (2 MB).
const FULL_SPARE_BYTES: usize = 64 * 1024;

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

/// Gives a batch buffer back for reuse, with as many of its events still in it as hold
/// `FULL_SPARE_BYTES` of text; the rest are dropped here.
fn recycle(spares: &Spares, mut batch: Vec<Event>) {
    if batch.capacity() == 0 {
        return;
    }
    let mut held = 0;
    let fits = batch.iter().position(|event| {
        held += held_bytes(event);
        held > FULL_SPARE_BYTES
    });
    if let Some(fits) = fits {
        batch.truncate(fits);
    }
    if let Ok(mut spares) = spares.lock()
        && spares.len() < SPARE_BATCHES
    {
        spares.push(batch);
    }
}

/// The bytes of text an event holds on to.
fn held_bytes(event: &Event) -> usize {
    match event {
        Event::Message(message) => message.payload.len(),
        Event::RawFrame { text, .. } => text.len(),
        Event::Unrecognized { frame, error } => frame.len() + error.len(),
        _ => 0,
    }
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
        let mut batch = self.empty_batch(None);
        batch.push(event);
        self.tx.send(batch).await.map_err(|SendError(mut batch)| {
            SendError(batch.pop().expect("the batch holds the event"))
        })
    }

    /// Sends `queue` as one batch if there is room now, leaving an empty buffer in its place
    /// (the text payloads of the events it held go back to `cache`). `false` when the channel
    /// is full (the queue is left as it was).
    pub(crate) fn try_send_all(&self, queue: &mut Vec<Event>, cache: &mut DecodeCache) -> bool {
        if queue.is_empty() {
            return true;
        }
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(std::mem::replace(queue, self.empty_batch(Some(cache))));
                true
            }
            Err(TrySendError::Full(())) => false,
            Err(TrySendError::Closed(())) => {
                queue.clear();
                true
            }
        }
    }

    /// Waits for room, then sends `queue` as one batch, like `try_send_all`; `false` when
    /// nobody reads (the queue is cleared: nobody will).
    pub(crate) async fn send_all(&self, queue: &mut Vec<Event>, cache: &mut DecodeCache) -> bool {
        if queue.is_empty() {
            return true;
        }
        match self.tx.reserve().await {
            Ok(permit) => {
                permit.send(std::mem::replace(queue, self.empty_batch(Some(cache))));
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

    /// A buffer for the next batch: a recycled one, emptied here (its old events are dropped
    /// on the engine's thread, their text payloads given to `cache` for reuse), or a new one
    /// sized for a burst.
    fn empty_batch(&self, cache: Option<&mut DecodeCache>) -> Vec<Event> {
        let spare = self.spares.lock().ok().and_then(|mut spares| spares.pop());
        let Some(mut batch) = spare else {
            return Vec::with_capacity(BATCH_EVENTS);
        };
        match cache {
            Some(cache) => {
                for event in batch.drain(..) {
                    if let Event::Message(DataMessage {
                        payload: Payload::Text(text),
                        ..
                    }) = event
                    {
                        cache.give_back(text);
                    }
                }
            }
            None => batch.clear(),
        }
        batch
    }
}

/// The caller's side of the event channel: events in the order the engine emitted them.
pub struct EventReceiver {
    rx: mpsc::Receiver<Vec<Event>>,
    /// What is left of the batch being read.
    current: VecDeque<Event>,
    spares: Spares,
}

/// Events read together (`EventReceiver::recv_batch`), in order. Dropping it gives the buffer
/// and whatever events are left in it back to the engine.
pub struct EventBatch {
    events: Vec<Event>,
    spares: Spares,
}

impl Deref for EventBatch {
    type Target = Vec<Event>;

    fn deref(&self) -> &Vec<Event> {
        &self.events
    }
}

impl DerefMut for EventBatch {
    fn deref_mut(&mut self) -> &mut Vec<Event> {
        &mut self.events
    }
}

impl Drop for EventBatch {
    fn drop(&mut self) {
        recycle(&self.spares, std::mem::take(&mut self.events));
    }
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

    /// The events the engine handed over together (or what is left of a batch partly read
    /// with `recv`), waiting for one; `None` once the engine has ended and every event was
    /// read. The cheapest way to read a flood: nothing is moved per event. Cancel safe.
    pub async fn recv_batch(&mut self) -> Option<EventBatch> {
        let events = if self.current.is_empty() {
            self.rx.recv().await?
        } else {
            Vec::from(std::mem::take(&mut self.current))
        };
        Some(EventBatch {
            events,
            spares: self.spares.clone(),
        })
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
        recycle(&self.spares, Vec::from(emptied));
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
        let mut queue: Vec<Event> = (1..=3).map(lag).collect();
        assert!(tx.try_send_all(&mut queue, &mut DecodeCache::default()));
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
            let mut queue = vec![lag(ms), lag(ms * 10)];
            assert!(tx.try_send_all(&mut queue, &mut DecodeCache::default()));
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
        let mut queue = vec![lag(1)];
        assert!(tx.try_send_all(&mut queue, &mut DecodeCache::default()));
        queue.push(lag(2));
        assert!(!tx.try_send_all(&mut queue, &mut DecodeCache::default()));
        assert_eq!(queue.len(), 1);
    }

    #[tokio::test]
    async fn a_batch_read_whole_comes_after_what_recv_left_and_its_buffer_is_reused() {
        let (tx, mut rx) = event_channel(4);
        let mut queue = vec![lag(1), lag(2), lag(3)];
        assert!(tx.try_send_all(&mut queue, &mut DecodeCache::default()));
        let mut queue = vec![lag(4)];
        assert!(tx.try_send_all(&mut queue, &mut DecodeCache::default()));
        assert_eq!(rx.recv().await, Some(lag(1)));
        let rest = rx.recv_batch().await.expect("the rest of the first batch");
        assert_eq!(*rest, vec![lag(2), lag(3)]);
        drop(rest);
        let next = rx.recv_batch().await.expect("the second batch");
        assert_eq!(*next, vec![lag(4)]);
        let returned = next.as_ptr();
        drop(next);
        // The engine's next batch goes out in a fresh queue: the buffer just returned, its
        // event dropped on the engine's side.
        let mut queue = vec![lag(5)];
        assert!(tx.try_send_all(&mut queue, &mut DecodeCache::default()));
        assert!(queue.is_empty());
        assert_eq!(queue.as_ptr(), returned);
        drop(tx);
        let last = rx.recv_batch().await.expect("the third batch");
        assert_eq!(*last, vec![lag(5)]);
        drop(last);
        assert!(rx.recv_batch().await.is_none());
    }

    #[test]
    fn a_batch_read_in_place_goes_back_with_as_many_events_as_hold_little_text() {
        let spares = Spares::default();
        let frame = |bytes: usize| Event::RawFrame {
            direction: crate::client::Direction::In,
            text: "x".repeat(bytes),
        };
        recycle(&spares, vec![frame(100), lag(1)]);
        recycle(&spares, vec![frame(FULL_SPARE_BYTES + 1)]);
        let half = FULL_SPARE_BYTES / 2;
        recycle(
            &spares,
            vec![frame(half), lag(2), frame(half), frame(1), lag(3)],
        );
        let spares = spares.lock().unwrap();
        assert_eq!(
            spares[0].len(),
            2,
            "a small batch keeps its events for the engine to drop"
        );
        assert!(
            spares[1].is_empty(),
            "an event holding much text is dropped by the reader"
        );
        assert_eq!(
            spares[2].len(),
            3,
            "a batch keeps the events up to the one that passes the limit"
        );
    }
}
