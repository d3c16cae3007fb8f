//! Buffers (groups, `server`, `system`, `frames`) with bounded scrollback, their lines, and
//! the interned names lines refer to.

use std::collections::{HashMap, HashSet, VecDeque};

use super::lines::Lines;

/// Sender id meaning "nobody" (system lines, anonymous senders are interned as `anonymous`).
pub const NO_SENDER: u32 = u32::MAX;

/// Strings seen over and over (user ids, error names), stored once; lines keep a `u32`.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    /// Sanitised display form, by id.
    names: Vec<Box<str>>,
}

impl Interner {
    /// The id of a raw (untrusted) string, sanitising it the first time.
    pub(crate) fn intern(&mut self, raw: &str) -> u32 {
        if let Some(id) = self.ids.get(raw) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names
            .push(crate::text::sanitize_line(raw).into_boxed_str());
        self.ids.insert(raw.into(), id);
        id
    }

    /// The display form of an id ("" for `NO_SENDER`).
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }
}

/// What a log line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Text,
    Json,
    /// `body` is the data in standard base64.
    Binary,
    Protobuf,
    /// Connection events, joins, leaves.
    Notice,
    Error,
    /// "offline … · recovered" after a reconnect.
    Gap,
    /// A raw frame received (the `frames` buffer, while `/raw` is on).
    FrameIn,
    /// A raw frame sent.
    FrameOut,
}

/// Delivery of an own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not an own message.
    None,
    Pending,
    /// Sent while offline; flushed after reconnect.
    Queued,
    /// Acked, with the round trip in milliseconds (`u32::MAX` when unknown).
    Acked(u32),
    /// Failed; the interned error name.
    Failed(u32),
}

/// One message or notice, owned: what is put into a buffer (which stores it compactly, see
/// [`Lines`]) or taken out of one.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub time_ms: i64,
    pub sender: u32,
    pub kind: LineKind,
    pub delivery: Delivery,
    /// Sanitised text (JSON compact, binary as base64).
    pub body: Box<str>,
}

impl LogLine {
    /// The line, borrowed, as a buffer stores it.
    pub fn as_ref(&self) -> super::lines::LineRef<'_> {
        super::lines::LineRef {
            time_ms: self.time_ms,
            sender: self.sender,
            kind: self.kind,
            delivery: self.delivery,
            body: &self.body,
        }
    }
}

/// What a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    Group,
    Server,
    System,
    /// Raw frames, while `/raw` is on.
    Frames,
}

/// Whether we are in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Joining,
    Joined,
    Leaving,
}

/// A log: a group, or the `server` / `system` / `frames` buffers.
#[derive(Debug, Clone)]
pub struct Buffer {
    pub kind: BufferKind,
    pub membership: Membership,
    /// The raw name (what commands use).
    pub name: String,
    /// The sanitised name (what is shown).
    pub display: String,
    pub lines: Lines,
    /// Sequence number of `lines[0]`; sequence numbers survive eviction.
    pub first_seq: u64,
    pub unread: u32,
    pub mentions: u32,
    /// Sequence of the newest line shown while scrolled up; `None` follows live.
    pub anchor: Option<u64>,
    /// First line that arrived while the buffer was not in view.
    pub first_unread: Option<u64>,
    pub members_seen: HashSet<u32>,
    /// The sender last added to `members_seen`: a run of messages from one sender (a flood)
    /// hashes once.
    last_member: Option<u32>,
    /// The end of the log when the view last left live: lines from here on are "new".
    pub live_end: u64,
    /// What was typed in this buffer's input and not sent, kept while another one is shown.
    pub draft: String,
    /// Hashes of own messages whose echo should not be shown twice.
    pub echo_expected: VecDeque<u64>,
}

impl Buffer {
    pub fn new(kind: BufferKind, name: &str) -> Self {
        Buffer {
            kind,
            membership: Membership::Joined,
            name: name.to_string(),
            display: crate::text::sanitize_line(name),
            lines: Lines::default(),
            first_seq: 0,
            unread: 0,
            mentions: 0,
            anchor: None,
            first_unread: None,
            members_seen: HashSet::new(),
            last_member: None,
            draft: String::new(),
            live_end: 0,
            echo_expected: VecDeque::new(),
        }
    }

    /// Sequence number the next line will get.
    pub(crate) fn end_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }

    /// Appends a line, dropping the oldest beyond `cap`; returns its sequence number.
    pub fn push(&mut self, line: LogLine, cap: usize) -> u64 {
        self.push_ref(line.as_ref(), cap)
    }

    /// Counts `sender` among the members seen in this buffer.
    pub(crate) fn saw_member(&mut self, sender: u32) {
        if self.last_member != Some(sender) {
            self.last_member = Some(sender);
            self.members_seen.insert(sender);
        }
    }

    /// [`Buffer::push`] of a line whose body is borrowed.
    pub fn push_ref(&mut self, line: super::lines::LineRef<'_>, cap: usize) -> u64 {
        let seq = self.end_seq();
        self.lines.push_back_ref(line);
        self.evict(cap);
        seq
    }

    /// Puts `line` at sequence `seq` (within the log), moving the lines from there on one
    /// down; returns its sequence number. The buffer's own references follow the moved lines;
    /// the caller moves its others (pending sends) with the same rule: `>= seq` gains one.
    pub(crate) fn insert(&mut self, seq: u64, line: LogLine, cap: usize) -> u64 {
        let seq = seq.clamp(self.first_seq, self.end_seq());
        let index = usize::try_from(seq - self.first_seq).unwrap_or(usize::MAX);
        self.lines.insert(index, line);
        self.renumber(|r| if r >= seq { r + 1 } else { r });
        self.evict(cap);
        seq
    }

    /// Takes out the line at `seq`, moving later lines one up (the reverse of [`Self::insert`]:
    /// references `> seq` lose one).
    pub(crate) fn remove(&mut self, seq: u64) -> Option<LogLine> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        let line = self.lines.remove(index)?;
        self.renumber(|r| if r > seq { r - 1 } else { r });
        Some(line)
    }

    /// Moves the buffer's references to its lines (scroll anchor, first unread, where live was)
    /// by `moved`, after lines were put in or taken out.
    pub(crate) fn renumber(&mut self, moved: impl Fn(u64) -> u64) {
        self.anchor = self.anchor.map(&moved);
        self.first_unread = self.first_unread.map(&moved);
        self.live_end = moved(self.live_end);
    }

    /// Drops the oldest lines beyond `cap`.
    fn evict(&mut self, cap: usize) {
        let over = self.lines.len().saturating_sub(cap.max(1));
        self.lines.drop_front(over);
        self.first_seq += over as u64;
        if let Some(anchor) = self.anchor
            && anchor < self.first_seq
        {
            self.anchor = Some(self.first_seq);
        }
    }

    /// Scrolls to show `anchor` as the newest line (`None`: live), remembering where live
    /// was when the view leaves it, so that only lines after that count as new.
    pub(crate) fn scroll_to(&mut self, anchor: Option<u64>) {
        if self.anchor.is_none() && anchor.is_some() {
            self.live_end = self.end_seq();
        }
        self.anchor = anchor;
    }

    /// Lines below the view that arrived after it left live (the "n new ↓" badge).
    pub fn new_below_view(&self) -> usize {
        let view_end = self.first_seq + self.view_end() as u64;
        let new = self.end_seq() - self.live_end.max(view_end).min(self.end_seq());
        usize::try_from(new).unwrap_or(usize::MAX)
    }

    /// The index in `lines` of `seq`, if it is not older than the scrollback.
    fn index_of(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.first_seq)?).ok()
    }

    /// Changes the delivery shown for the line at `seq`, if it is still in the scrollback.
    pub(crate) fn set_delivery(&mut self, seq: u64, delivery: Delivery) {
        if let Some(index) = self.index_of(seq) {
            self.lines.set_delivery(index, delivery);
        }
    }

    /// Index one past the newest visible line.
    pub(crate) fn view_end(&self) -> usize {
        match self.anchor {
            None => self.lines.len(),
            Some(seq) => (seq.saturating_sub(self.first_seq) as usize + 1).min(self.lines.len()),
        }
    }

    /// Lines below the view while scrolled up ("n new ↓").
    pub fn below_view(&self) -> usize {
        self.lines.len() - self.view_end()
    }

    pub(crate) fn is_group(&self) -> bool {
        self.kind == BufferKind::Group
    }
}

/// True when `word` appears in `body` as a whole word, in any case (so `ALICE` mentions
/// `alice`, and `alice2` does not).
pub(crate) fn mentions(body: &str, word: &str) -> bool {
    if body.is_ascii() && word.is_ascii() && !word.is_empty() {
        return mentions_ascii(body.as_bytes(), word.as_bytes());
    }
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let (body, word) = (body.to_lowercase(), word.to_lowercase());
    body.match_indices(&word).any(|(at, _)| {
        !is_word(body[..at].chars().next_back()) && !is_word(body[at + word.len()..].chars().next())
    })
}

/// [`mentions`] for ASCII text without lowercased copies: it runs on every message of a
/// flood, and two allocations a message showed in the chat's profile. Only the places where
/// the word's first letter occurs (either case, found with `memchr2`) are compared.
fn mentions_ascii(body: &[u8], word: &[u8]) -> bool {
    let is_word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let Some(&first) = word.first() else {
        return false;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, body).any(|at| {
        body.get(at..at + word.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(word))
            && !is_word(at.checked_sub(1).and_then(|before| body.get(before)))
            && !is_word(body.get(at + word.len()))
    })
}

fn contains_ignore_ascii_case(haystack: &str, needle_lower: &str) -> bool {
    let needle = needle_lower.as_bytes();
    if needle.is_empty() {
        return true;
    }
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

impl Buffer {
    /// Finds the next line containing `query` (ASCII case-insensitive), older or newer than
    /// `from` (default: from the newest); returns its sequence number.
    pub(crate) fn search(&self, query: &str, from: Option<u64>, older: bool) -> Option<u64> {
        if query.is_empty() {
            return None;
        }
        let needle = query.to_ascii_lowercase();
        let matches = |i: usize| {
            self.lines
                .get(i)
                .is_some_and(|line| contains_ignore_ascii_case(line.body, &needle))
        };
        let len = self.lines.len();
        let start = from.map(|seq| seq.saturating_sub(self.first_seq) as usize);
        let found = if older {
            let end = start.unwrap_or(len).min(len);
            (0..end).rev().find(|&i| matches(i))
        } else {
            let begin = start.map_or(0, |s| s + 1);
            (begin..len).find(|&i| matches(i))
        };
        found.map(|i| self.first_seq + i as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("alice: disk full", "alice"));
        assert!(mentions("ping @alice!", "alice"));
        assert!(!mentions("alice2 is here", "alice"));
        assert!(!mentions("malice", "alice"));
        assert!(mentions("malice then alice", "alice"), "a later whole word");
        assert!(mentions("aaalice? no: alice", "alice"));
        assert!(!mentions("al", "alice"), "a body shorter than the word");
        assert!(!mentions("a", "alice"));
    }

    #[test]
    fn mentions_ignore_case() {
        assert!(mentions("ALICE: disk full", "alice"));
        assert!(mentions("ping @Alice", "alice"));
        assert!(mentions("ping alice", "Alice"));
        assert!(!mentions("MALICE", "alice"));
    }

    #[test]
    fn mentions_outside_ascii_still_count() {
        assert!(mentions("ÉLODIE est là", "élodie"));
        assert!(mentions("привет alice", "ALICE"));
        assert!(!mentions("élodie2", "élodie"));
    }
}
