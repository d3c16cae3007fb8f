//! A buffer's scrollback, kept compact because it may hold a million lines: each line is a
//! 32-byte slot, and its body lives in large shared text chunks (no heap block, and no
//! allocator header, per line). Chunks are freed once no line points into them; lines are
//! usually dropped oldest first, so that is about one chunk behind the oldest line.

use std::collections::VecDeque;

use super::buffers::{Delivery, LineKind, LogLine};

/// Most bytes of bodies in one chunk; a longer body gets a chunk of its own.
const CHUNK_BYTES: usize = 64 * 1024;
/// The first chunk of a buffer: small, as most buffers hold a few lines.
const FIRST_CHUNK_BYTES: usize = 1024;

/// One line as stored: where its body is, and the rest of [`LogLine`] unpacked.
#[derive(Debug, Clone, Copy)]
struct Slot {
    time_ms: i64,
    /// Serial number of the chunk holding the body.
    chunk: u32,
    offset: u32,
    len: u32,
    sender: u32,
    /// `Acked`'s round trip or `Failed`'s error name.
    delivery_value: u32,
    kind: LineKind,
    delivery_tag: u8,
}

/// A stored line, borrowed: what [`LogLine`] holds, with the body in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineRef<'a> {
    pub time_ms: i64,
    pub sender: u32,
    pub kind: LineKind,
    pub delivery: Delivery,
    pub body: &'a str,
}

impl LineRef<'_> {
    pub fn to_owned(self) -> LogLine {
        LogLine {
            time_ms: self.time_ms,
            sender: self.sender,
            kind: self.kind,
            delivery: self.delivery,
            body: self.body.into(),
        }
    }
}

impl std::fmt::Debug for Lines {
    /// The lines themselves, not how they are packed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn pack_delivery(delivery: Delivery) -> (u8, u32) {
    match delivery {
        Delivery::None => (0, 0),
        Delivery::Pending => (1, 0),
        Delivery::Queued => (2, 0),
        Delivery::Acked(ms) => (3, ms),
        Delivery::Failed(name) => (4, name),
    }
}

fn unpack_delivery(tag: u8, value: u32) -> Delivery {
    match tag {
        1 => Delivery::Pending,
        2 => Delivery::Queued,
        3 => Delivery::Acked(value),
        4 => Delivery::Failed(value),
        _ => Delivery::None,
    }
}

/// Text bodies, appended and never moved; `live` counts the lines pointing in.
#[derive(Debug, Clone, Default)]
struct Chunk {
    text: String,
    live: u32,
}

/// The lines of a buffer, oldest first, indexed from 0 like a `VecDeque`.
#[derive(Clone, Default)]
pub struct Lines {
    slots: VecDeque<Slot>,
    chunks: VecDeque<Chunk>,
    /// Serial number of `chunks[0]`.
    first_chunk: u32,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<LineRef<'_>> {
        self.slots.get(index).map(|slot| self.view(slot))
    }

    pub fn front(&self) -> Option<LineRef<'_>> {
        self.get(0)
    }

    pub fn back(&self) -> Option<LineRef<'_>> {
        self.len().checked_sub(1).and_then(|last| self.get(last))
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = LineRef<'_>> + ExactSizeIterator {
        self.slots.iter().map(|slot| self.view(slot))
    }

    pub fn push_back(&mut self, line: LogLine) {
        self.push_back_ref(line.as_ref());
    }

    /// Appends a line whose body is borrowed (it is copied into a chunk).
    pub fn push_back_ref(&mut self, line: LineRef<'_>) {
        let slot = self.store(line);
        self.slots.push_back(slot);
    }

    pub fn push_front(&mut self, line: LogLine) {
        let slot = self.store(line.as_ref());
        self.slots.push_front(slot);
    }

    /// Puts `line` at `index` (at most the end), moving the lines from there on one down.
    pub fn insert(&mut self, index: usize, line: LogLine) {
        let slot = self.store(line.as_ref());
        self.slots.insert(index.min(self.slots.len()), slot);
    }

    /// Takes out the line at `index`, moving later lines one up.
    pub fn remove(&mut self, index: usize) -> Option<LogLine> {
        let slot = self.slots.remove(index)?;
        let line = self.view(&slot).to_owned();
        self.release(&slot);
        Some(line)
    }

    pub fn pop_front(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            self.release(&slot);
        }
    }

    /// Drops the first `count` lines.
    pub fn drop_front(&mut self, count: usize) {
        for _ in 0..count.min(self.slots.len()) {
            self.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.first_chunk = self.first_chunk.wrapping_add(self.chunks.len() as u32);
        self.chunks.clear();
    }

    pub fn set_delivery(&mut self, index: usize, delivery: Delivery) {
        if let Some(slot) = self.slots.get_mut(index) {
            (slot.delivery_tag, slot.delivery_value) = pack_delivery(delivery);
        }
    }

    fn view(&self, slot: &Slot) -> LineRef<'_> {
        let chunk = slot.chunk.wrapping_sub(self.first_chunk) as usize;
        let (start, end) = (slot.offset as usize, (slot.offset + slot.len) as usize);
        let body = self
            .chunks
            .get(chunk)
            .and_then(|chunk| chunk.text.get(start..end))
            .unwrap_or_default();
        LineRef {
            time_ms: slot.time_ms,
            sender: slot.sender,
            kind: slot.kind,
            delivery: unpack_delivery(slot.delivery_tag, slot.delivery_value),
            body,
        }
    }

    /// Copies the body into the newest chunk (a new one when it does not fit).
    fn store(&mut self, line: LineRef<'_>) -> Slot {
        let body = line.body;
        let fits = self
            .chunks
            .back()
            .is_some_and(|chunk| chunk.text.capacity() - chunk.text.len() >= body.len());
        if !fits {
            // Chunks grow with the buffer, up to CHUNK_BYTES, or the size of a long body.
            let last = self.chunks.back().map_or(0, |chunk| chunk.text.capacity());
            let capacity = (last * 2)
                .clamp(FIRST_CHUNK_BYTES, CHUNK_BYTES)
                .max(body.len());
            self.chunks.push_back(Chunk {
                text: String::with_capacity(capacity),
                live: 0,
            });
        }
        let serial = self.first_chunk.wrapping_add(self.chunks.len() as u32 - 1);
        let chunk = self.chunks.back_mut().expect("a chunk was just ensured");
        let offset = chunk.text.len() as u32;
        chunk.text.push_str(body);
        chunk.live += 1;
        let (delivery_tag, delivery_value) = pack_delivery(line.delivery);
        Slot {
            time_ms: line.time_ms,
            chunk: serial,
            offset,
            len: body.len() as u32,
            sender: line.sender,
            delivery_value,
            kind: line.kind,
            delivery_tag,
        }
    }

    /// One line less points into its chunk; chunks nobody points into are freed (the newest
    /// stays, it takes the next bodies).
    fn release(&mut self, slot: &Slot) {
        let index = slot.chunk.wrapping_sub(self.first_chunk) as usize;
        let newest = self.chunks.len().saturating_sub(1);
        let Some(chunk) = self.chunks.get_mut(index) else {
            return;
        };
        chunk.live = chunk.live.saturating_sub(1);
        if chunk.live == 0 && index != newest {
            chunk.text = String::new();
        }
        while self.chunks.len() > 1 && self.chunks.front().is_some_and(|c| c.live == 0) {
            self.chunks.pop_front();
            self.first_chunk = self.first_chunk.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(body: &str) -> LogLine {
        LogLine {
            time_ms: 7,
            sender: 3,
            kind: LineKind::Text,
            delivery: Delivery::Acked(12),
            body: body.into(),
        }
    }

    fn bodies(lines: &Lines) -> Vec<&str> {
        lines.iter().map(|l| l.body).collect()
    }

    #[test]
    fn a_slot_is_small() {
        // The scrollback may hold millions of lines: 32 bytes each besides the body's text.
        assert!(
            std::mem::size_of::<Slot>() <= 32,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn lines_keep_every_field() {
        let mut lines = Lines::default();
        lines.push_back(line("hello"));
        lines.set_delivery(0, Delivery::Failed(9));
        let stored = lines.back().unwrap();
        assert_eq!(stored.body, "hello");
        assert_eq!((stored.time_ms, stored.sender), (7, 3));
        assert_eq!(stored.delivery, Delivery::Failed(9));
    }

    #[test]
    fn dropping_the_oldest_frees_their_chunks_and_keeps_the_rest() {
        let mut lines = Lines::default();
        let body = "x".repeat(1000);
        for n in 0..1000 {
            lines.push_back(line(&format!("{n} {body}")));
        }
        lines.drop_front(990);
        assert!(
            lines.chunks.len() <= 2,
            "{} chunks kept",
            lines.chunks.len()
        );
        assert_eq!(lines.front().unwrap().body, format!("990 {body}"));
        assert_eq!(lines.back().unwrap().body, format!("999 {body}"));
    }

    #[test]
    fn inserts_and_removes_keep_order() {
        let mut lines = Lines::default();
        for body in ["a", "c", "d"] {
            lines.push_back(line(body));
        }
        lines.insert(1, line("b"));
        lines.push_front(line("0"));
        assert_eq!(bodies(&lines), ["0", "a", "b", "c", "d"]);
        assert_eq!(lines.remove(3).unwrap().body.as_ref(), "c");
        assert_eq!(bodies(&lines), ["0", "a", "b", "d"]);
        lines.clear();
        lines.push_back(line("after clear"));
        assert_eq!(bodies(&lines), ["after clear"]);
    }

    #[test]
    fn a_body_longer_than_a_chunk_is_kept_whole() {
        let mut lines = Lines::default();
        let long = "y".repeat(CHUNK_BYTES * 2 + 5);
        lines.push_back(line("short"));
        lines.push_back(line(&long));
        lines.push_back(line("after"));
        assert_eq!(bodies(&lines), ["short", long.as_str(), "after"]);
    }
}
