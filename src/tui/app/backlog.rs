//! Lines from the history database shown above the live ones when a group opens: they go in
//! front of the buffer with a marker between old and live, and the saved read marker brings
//! back the unread count and the `Alt+U` jump.

use serde_json::value::RawValue;

use super::App;
use crate::history::{self, StoredLine};
use crate::protocol::Payload;
use crate::tui::format::stored_body;
use crate::tui::history::BACKLOG_LINES;
use crate::tui::state::{Delivery, LineKind, LogLine, NO_SENDER};

impl App {
    /// Puts `lines` (oldest first) from disk in front of `group`'s buffer. `read_upto` is the
    /// history id of the last line the user had read; newer incoming lines count as unread.
    /// Does nothing once the buffer has evicted lines (memory already holds more than this).
    pub fn load_backlog(&mut self, group: &str, lines: &[StoredLine], read_upto: Option<i64>) {
        let Some(index) = self.state.group_index(group) else {
            return;
        };
        if lines.is_empty() || self.state.buffers[index].first_seq > 0 {
            return;
        }
        let mut old: Vec<LogLine> = lines.iter().map(|line| self.stored_line(line)).collect();
        let marker_at = lines.last().map_or(0, |line| line.ts_ms);
        old.push(LogLine {
            time_ms: marker_at,
            sender: NO_SENDER,
            kind: LineKind::Gap,
            delivery: Delivery::None,
            body: match lines.len() {
                1 => "1 earlier message from history · live below".into(),
                n => format!("{n} earlier messages from history · live below").into_boxed_str(),
            },
        });
        // Only messages from others are unread: not own lines, and not the chat's markers.
        let incoming = |line: &StoredLine| line.dir == history::Dir::In && line.kind.is_message();
        let unread_from = read_upto.and_then(|upto| {
            lines
                .iter()
                .position(|line| line.id > upto && incoming(line))
        });
        self.replace_front(index, 0, old);
        if lines.len() >= BACKLOG_LINES {
            self.history_paging
                .oldest
                .insert(group.to_string(), lines[0].id);
        }
        let current = self.state.current;
        let buffer = &mut self.state.buffers[index];
        if let Some(first) = unread_from {
            let unread = lines[first..].iter().filter(|line| incoming(line)).count();
            buffer.first_unread = Some(first as u64);
            if index != current {
                buffer.unread += unread as u32;
            }
        }
        self.dirty = true;
    }

    /// Replaces the first `removed` lines of buffer `index` with `old`; what points at its
    /// lines (the scroll anchor, the first unread line, where live was, own sends awaiting
    /// their ack or failed) moves with them, so the view stays where it was and the page is
    /// not counted as new below it.
    pub(super) fn replace_front(&mut self, index: usize, removed: usize, old: Vec<LogLine>) {
        let (added, removed) = (
            old.len() as u64,
            removed.min(self.state.buffers[index].lines.len()),
        );
        let moved = |seq: u64| (seq + added).saturating_sub(removed as u64);
        let buffer = &mut self.state.buffers[index];
        buffer.lines.drop_front(removed);
        for line in old.into_iter().rev() {
            buffer.lines.push_front(line);
        }
        buffer.renumber(moved);
        let group = buffer.name.clone();
        self.state.ops.renumber(&group, moved);
        self.dirty = true;
    }

    /// A stored line as a log line: the body made safe exactly as a live one would be.
    pub(super) fn stored_line(&mut self, line: &StoredLine) -> LogLine {
        let text = || String::from_utf8_lossy(&line.body).into_owned();
        let (kind, body) = match line.kind {
            history::Kind::Text => stored_body(&Payload::Text(text())),
            history::Kind::Json => match RawValue::from_string(text()) {
                Ok(raw) => stored_body(&Payload::Json(raw)),
                Err(_) => stored_body(&Payload::Text(text())),
            },
            history::Kind::Binary => stored_body(&Payload::Binary(line.body.clone())),
            history::Kind::Protobuf => stored_body(&Payload::Protobuf(line.body.clone())),
            history::Kind::Notice => (LineKind::Notice, crate::text::sanitize(&text())),
            history::Kind::Error => (LineKind::Error, crate::text::sanitize(&text())),
            history::Kind::Gap | history::Kind::HistoryGap => {
                (LineKind::Gap, crate::text::sanitize_line(&text()))
            }
        };
        let sender = match (&line.sender, line.dir) {
            (_, history::Dir::Out) => self.state.me,
            (Some(name), _) => self.state.names.intern(name),
            (None, _) if matches!(kind, LineKind::Gap | LineKind::Notice | LineKind::Error) => {
                NO_SENDER
            }
            (None, _) => self.state.names.intern("anonymous"),
        };
        let delivery = match (line.dir, line.delivery) {
            (history::Dir::In, _) => Delivery::None,
            (_, Some(history::Delivery::Acked)) => Delivery::Acked(u32::MAX),
            (_, Some(history::Delivery::Failed)) => {
                Delivery::Failed(self.state.names.intern("not delivered"))
            }
            // Pending when the chat quit: nobody knows now.
            (_, _) => Delivery::Failed(self.state.names.intern("unknown")),
        };
        LogLine {
            time_ms: line.ts_ms,
            sender,
            kind,
            delivery,
            body: body.into_boxed_str(),
        }
    }
}
