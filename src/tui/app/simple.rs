//! The chat on a simple WebSocket connection (`--protocol none`): one buffer for the
//! connection, each line out as one frame, each frame in shown as text, JSON or hex. Group
//! keys and commands say why they do nothing here.

use super::App;
use crate::protocol::Payload;
use crate::tui::state::{Buffer, BufferKind, Delivery, LogLine, Membership, NoteLevel};

/// The one buffer of a simple connection.
pub(crate) const CONNECTION_BUFFER: &str = "connection";
/// Why join and leave do nothing.
const NO_GROUPS: &str = "a simple WebSocket connection has no groups to join or leave: each line you type is one frame (connect without --protocol none for groups)";

impl App {
    /// Makes this a simple connection's chat: the connection buffer, in view.
    pub fn start_simple(&mut self) {
        self.state.conn.simple = true;
        let mut buffer = Buffer::new(BufferKind::Group, CONNECTION_BUFFER);
        buffer.membership = Membership::Joined;
        self.state.buffers.insert(0, buffer);
        self.switch_to(0);
    }

    pub(super) fn is_simple(&self) -> bool {
        self.state.conn.simple
    }

    /// Join/leave on a simple connection: a note saying why nothing happens.
    pub(super) fn no_groups(&mut self) {
        self.note(NoteLevel::Error, NO_GROUPS);
    }

    /// A frame from the service: JSON text shown as JSON, binary as hex, all made inert.
    pub(super) fn frame_received(&mut self, payload: Payload) {
        let payload = match payload {
            Payload::Text(text) => match Payload::json(&text) {
                Ok(json) if looks_like_json(&text) => json,
                _ => Payload::Text(text),
            },
            other => other,
        };
        let (kind, body) = crate::tui::format::stored_body(&payload);
        let Some(index) = self.state.group_index(CONNECTION_BUFFER) else {
            return;
        };
        let sender = self.state.names.intern("server");
        let line = LogLine {
            time_ms: self.state.clock.wall_ms,
            sender,
            kind,
            delivery: Delivery::None,
            body: body.into_boxed_str(),
        };
        let cap = self.state.settings.scrollback;
        let current = self.state.current;
        let buffer = &mut self.state.buffers[index];
        let seq = buffer.push(line, cap);
        if index == current {
            self.dirty = true;
        } else {
            buffer.unread += 1;
            buffer.first_unread.get_or_insert(seq);
            self.background_dirty = true;
        }
    }
}

/// Objects and arrays only: a bare `42` or `"x"` in a text frame is text to a person.
fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{' | '['))
}
