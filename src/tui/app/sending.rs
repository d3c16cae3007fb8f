//! Sending: typed text, pastes, `/send`, `/json`, `/bin` (a file comes back from the event
//! loop as `FileLoaded`), own messages shown as pending, echoes expected, and retry.

use std::hash::{Hash, Hasher};

use super::App;
use crate::client::Command;
use crate::protocol::Payload;
use crate::text::sanitize_line;
use crate::tui::commands::{self, BinarySource};
use crate::tui::format::stored_body;
use crate::tui::state::{BufferKind, Delivery, LineKind, LogLine, NoteLevel, PendingOp};

/// Own-message echoes remembered per group.
const ECHO_MEMORY: usize = 256;

/// What an own message is recognised by when its echo comes back.
pub(super) fn echo_hash(kind: LineKind, body: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (kind as u8).hash(&mut hasher);
    body.hash(&mut hasher);
    hasher.finish()
}

impl App {
    /// Enter: a slash command, or a message to the current group.
    pub(super) fn submit(&mut self) -> Vec<Command> {
        let text = self.state.editor.text().to_string();
        if text.trim().is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') && !text.starts_with("//") {
            return match commands::parse(&text) {
                Ok(command) => {
                    // Taken before running (a command may switch groups), put back when the
                    // command said it could not be done: the README promises the text stays.
                    self.state.editor.take();
                    self.state.note = None;
                    let commands = self.run_command(command);
                    let refused = self
                        .state
                        .note
                        .as_ref()
                        .is_some_and(|note| note.level == NoteLevel::Error);
                    if refused && self.state.editor.is_empty() {
                        self.state.editor.set_text(&text);
                    }
                    commands
                }
                Err(e) => {
                    self.note(NoteLevel::Error, &e.to_string());
                    Vec::new()
                }
            };
        }
        self.send_typed(&text, false)
    }

    /// Sends typed (or pasted) text to the current group in the input's data type.
    pub(super) fn send_typed(&mut self, text: &str, pasted: bool) -> Vec<Command> {
        let text = text
            .strip_prefix('/')
            .filter(|t| t.starts_with('/'))
            .unwrap_or(text);
        let Some(group) = self.current_group("switch to a group or use /send <group> <text>")
        else {
            return Vec::new();
        };
        match commands::payload_for(text, self.state.settings.data_type) {
            Ok(payload) => {
                if !pasted {
                    self.state.editor.take();
                }
                self.state.note = None;
                self.send(&group, payload)
            }
            Err(e) => {
                if pasted {
                    self.state.editor.insert_str(text);
                }
                self.note(NoteLevel::Error, &e.to_string());
                Vec::new()
            }
        }
    }

    /// The group in view, or a note saying what to do instead (`hint`) when it is not one.
    pub(super) fn current_group(&mut self, hint: &str) -> Option<String> {
        let buffer = self.state.current_buffer();
        if buffer.is_group() {
            return Some(buffer.name.clone());
        }
        let text = format!("{} is not a group: {hint}", buffer.display);
        self.note(NoteLevel::Error, &text);
        None
    }

    pub(super) fn send_current(&mut self, payload: Payload) -> Vec<Command> {
        match self.current_group("switch to a group first") {
            Some(group) => self.send(&group, payload),
            None => Vec::new(),
        }
    }

    /// `/bin`: inline bytes go at once; a file is read by the event loop first.
    pub(super) fn send_binary(&mut self, source: BinarySource) -> Vec<Command> {
        match source {
            BinarySource::Inline(bytes) => self.send_current(Payload::Binary(bytes)),
            BinarySource::File(path) => {
                let buffer = self.state.current_buffer();
                if buffer.is_group() {
                    let group = buffer.name.clone();
                    self.effects.push(super::Effect::ReadFile { group, path });
                } else {
                    self.note(NoteLevel::Error, "switch to a group to send a file");
                }
                Vec::new()
            }
        }
    }

    /// The file of `/bin @file` was read (or could not be).
    pub(super) fn file_loaded(
        &mut self,
        group: &str,
        path: &str,
        result: Result<Vec<u8>, String>,
    ) -> Vec<Command> {
        self.dirty = true;
        match result {
            Ok(bytes) => self.send(group, Payload::Binary(bytes)),
            Err(why) => {
                self.note(NoteLevel::Error, &format!("/bin @{path}: {why}"));
                if self.state.editor.is_empty() {
                    self.state.editor.set_text(&format!("/bin @{path}"));
                }
                Vec::new()
            }
        }
    }

    /// Shows an own message as pending and asks the engine to send it.
    pub(super) fn send(&mut self, group: &str, payload: Payload) -> Vec<Command> {
        let (kind, body) = stored_body(&payload);
        let (buffer_kind, buffer_name, body) = match self.state.group_index(group) {
            Some(_) => (BufferKind::Group, group, body),
            None => (
                BufferKind::System,
                "system",
                format!("→ {}: {body}", sanitize_line(group)),
            ),
        };
        let Some(index) = self.state.find_buffer(buffer_kind, buffer_name) else {
            return Vec::new();
        };
        if buffer_kind == BufferKind::System {
            let shown = crate::text::truncate(&sanitize_line(group), commands::NAME_SHOWN);
            let text = format!(
                "sending to '{shown}', which you have not joined: its delivery shows in the system buffer"
            );
            self.note(NoteLevel::Info, &text);
        }
        let hash = echo_hash(kind, &body);
        let line = LogLine {
            time_ms: self.state.clock.wall_ms,
            sender: self.state.me,
            kind,
            delivery: Delivery::Pending,
            body: body.into_boxed_str(),
        };
        let cap = self.state.settings.scrollback;
        let no_echo = self.no_echo();
        let me = self.state.me;
        let buffer = &mut self.state.buffers[index];
        let seq = buffer.push(line, cap);
        buffer.anchor = None;
        if buffer_kind == BufferKind::Group {
            buffer.members_seen.insert(me);
            if !no_echo {
                buffer.echo_expected.push_back(hash);
                if buffer.echo_expected.len() > ECHO_MEMORY {
                    buffer.echo_expected.pop_front();
                }
            }
        }
        self.send_op(group.to_string(), seq, payload)
    }

    /// Records a send as pending and builds its command.
    fn send_op(&mut self, group: String, seq: u64, payload: Payload) -> Vec<Command> {
        let op = self.state.ops.start(PendingOp::Send {
            group: group.clone(),
            seq,
            payload: payload.clone(),
        });
        if self.is_simple() {
            return vec![Command::SendFrame { op, payload }];
        }
        vec![Command::SendToGroup {
            op,
            group,
            payload,
            no_echo: self.no_echo(),
            fire_and_forget: false,
        }]
    }

    /// Whether own messages are sent without an echo: as the user set it, and always on
    /// protobuf, whose messages carry no sender, so an echo could not be told from a message
    /// someone else sent with the same text.
    fn no_echo(&self) -> bool {
        // A simple connection gets no echo of its own frames.
        self.is_simple()
            || self.state.settings.no_echo
            || self.state.conn.protocol.is_some_and(|p| p.is_protobuf())
    }

    /// Sends the last failed message of this buffer again.
    pub(super) fn retry(&mut self) -> Vec<Command> {
        let current = self.state.current_buffer().name.clone();
        let failed = &mut self.state.ops.failed;
        let Some(position) = failed.iter().rposition(|f| f.group == current) else {
            self.note(NoteLevel::Info, "no failed message to retry here");
            return Vec::new();
        };
        let failed = failed.remove(position);
        if let Some(index) = self.state.group_index(&failed.group) {
            self.state.buffers[index].set_delivery(failed.seq, Delivery::Pending);
        }
        self.send_op(failed.group, failed.seq, failed.payload)
    }
}
