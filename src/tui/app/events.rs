//! User events sent with `/event`: the request line goes in the buffer it was typed in, and
//! the handler's reply (the server message the service sends before the event's ack) lands
//! right under it, marked as the reply to that event. `/invoke` works the same way with the
//! `invokeResponse` the engine hands back.

use super::App;
use crate::client::{Command, OpError, OpId};
use crate::protocol::{InvokeResponse, Payload};
use crate::text::sanitize_line;
use crate::tui::format::stored_body;
use crate::tui::state::{BufferKind, LineKind, NoteLevel, PendingOp};

impl App {
    /// `/event NAME [data]`: shows the request where it was typed and sends it.
    pub(super) fn send_event(&mut self, name: String, payload: Payload) -> Vec<Command> {
        let here = self.state.current;
        let buffer = &self.state.buffers[here];
        let shown_in = (buffer.kind, buffer.name.clone());
        let (_, body) = stored_body(&payload);
        let name = sanitize_line(&name);
        self.append_line(here, LineKind::Notice, format!("→ event {name}: {body}"));
        self.dirty = true;
        let op = self.state.ops.start(PendingOp::Event {
            name: name.clone(),
            shown_in,
            replied: false,
        });
        vec![Command::SendEvent {
            op,
            event: name,
            payload,
            fire_and_forget: false,
        }]
    }

    /// A server message while an event waits for its ack is that event's reply (the service
    /// delivers the reply before the ack, and handles a connection's events in order): the
    /// buffer the event was typed in and the sender label `↳ NAME`. `None` when no event waits.
    pub(super) fn event_reply(&mut self) -> Option<(usize, u32)> {
        let (name, shown_in) = self
            .state
            .ops
            .pending
            .iter_mut()
            .filter(|(_, op)| matches!(op, PendingOp::Event { replied: false, .. }))
            .min_by_key(|(op, _)| **op)
            .and_then(|(_, op)| match op {
                PendingOp::Event {
                    name,
                    shown_in,
                    replied,
                } => {
                    *replied = true;
                    Some((name.clone(), shown_in.clone()))
                }
                _ => None,
            })?;
        let index = self.buffer_or_system(&shown_in);
        Some((index, self.state.names.intern(&format!("↳ {name}"))))
    }

    /// The event's ack: a line under the request when no reply came; failures also alert.
    pub(super) fn event_done(
        &mut self,
        name: &str,
        shown_in: &(BufferKind, String),
        replied: bool,
        error: Option<&OpError>,
    ) {
        let index = self.buffer_or_system(shown_in);
        match error {
            None if replied => {}
            None => self.append_line(
                index,
                LineKind::Notice,
                format!("✓ event {name} acked; the handler sent no reply"),
            ),
            Some(error) => {
                let text = format!("event {name} failed: {}", sanitize_line(&error.to_string()));
                self.append_line(index, LineKind::Error, text.clone());
                self.note(NoteLevel::Error, &text);
            }
        }
        self.dirty = true;
    }

    /// `/invoke NAME [data]`: shows the request where it was typed and sends it.
    pub(super) fn invoke(&mut self, name: String, payload: Payload) -> Vec<Command> {
        let here = self.state.current;
        let buffer = &self.state.buffers[here];
        let shown_in = (buffer.kind, buffer.name.clone());
        let (_, body) = stored_body(&payload);
        let name = sanitize_line(&name);
        self.append_line(here, LineKind::Notice, format!("→ invoke {name}: {body}"));
        self.dirty = true;
        let op = self.state.ops.start(PendingOp::Invoke {
            name: name.clone(),
            shown_in,
        });
        vec![Command::Invoke {
            op,
            event: name,
            payload,
            timeout: None,
        }]
    }

    /// The engine's word on an invocation.
    pub(super) fn invoke_result(&mut self, op: OpId, outcome: Result<InvokeResponse, OpError>) {
        if let Some(PendingOp::Invoke { name, shown_in }) = self.state.ops.pending.remove(&op) {
            self.invoke_done(&name, &shown_in, outcome);
        }
    }

    /// The response under the request: its data as a line from `↳ NAME`, or why it failed.
    pub(super) fn invoke_done(
        &mut self,
        name: &str,
        shown_in: &(BufferKind, String),
        outcome: Result<InvokeResponse, OpError>,
    ) {
        let index = self.buffer_or_system(shown_in);
        self.dirty = true;
        let failure = match outcome {
            Ok(InvokeResponse {
                success: true,
                data: Some(data),
                ..
            }) => {
                let (kind, body) = stored_body(&data);
                let sender = self.state.names.intern(&format!("↳ {name}"));
                self.append_from(index, sender, kind, body);
                return;
            }
            Ok(InvokeResponse { success: true, .. }) => {
                let text = format!("✓ invoke {name} succeeded with no data");
                return self.append_line(index, LineKind::Notice, text);
            }
            Ok(InvokeResponse { error, .. }) => error.map_or_else(
                || "the service said it failed".to_string(),
                |e| format!("{}: {}", e.name, e.message),
            ),
            Err(error) => error.to_string(),
        };
        let text = format!("invoke {name} failed: {}", sanitize_line(&failure));
        self.append_line(index, LineKind::Error, text.clone());
        self.note(NoteLevel::Error, &text);
    }

    /// The buffer named by `(kind, name)`, or the system buffer when it is gone.
    fn buffer_or_system(&self, (kind, name): &(BufferKind, String)) -> usize {
        self.state
            .find_buffer(*kind, name)
            .or_else(|| self.state.buffer_of_kind(BufferKind::System))
            .unwrap_or_default()
    }
}
