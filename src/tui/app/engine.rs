//! The only reader of the connection engine's output: connection states, client Events and
//! operation outcomes become lines, badges, delivery marks and status-bar notes.

use std::time::Duration;

use super::sending::echo_hash;
use super::{App, Effect};
use crate::client::{Command, ConnState, Direction, Event, OpError, OpId, OpOutcome};
use crate::protocol::{DataMessage, MessageSource};
use crate::text::{sanitize, sanitize_line};
use crate::tui::format::{human_duration, stored_body_into};
use crate::tui::state::{
    Buffer, BufferKind, ConnStatus, Delivery, FailedSend, LineKind, LineRef, LogLine, Membership,
    NO_SENDER, NoteLevel, Notify, PendingOp, TokenExpiry,
};

/// Failed sends kept for the retry key.
const FAILED_MEMORY: usize = 100;
/// A session loss this soon after a recovery means the recovery was refused.
const RECOVERY_REFUSAL_MS: i64 = 3_000;
/// The shortest time between two bells or desktop notifications.
const HIGHLIGHT_GAP_MS: i64 = 2_000;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl App {
    /// Sets when the token of a fixed client URL expires (`None`: tokens renew, or no expiry),
    /// so that the status bar warns ahead of it.
    pub fn set_token_expiry(&mut self, expires_ms: Option<i64>) {
        self.state.conn.token_expiry = expires_ms.map(|expires_ms| TokenExpiry {
            expires_ms,
            warned: false,
        });
        self.check_token_expiry();
    }

    /// Once inside the warning window: one system line, and a status bar that counts down.
    pub(super) fn check_token_expiry(&mut self) {
        let now = self.state.clock.wall_ms;
        let Some(expiry) = &mut self.state.conn.token_expiry else {
            return;
        };
        if !expiry.warning_at(now) {
            return;
        }
        self.dirty = true;
        if std::mem::replace(&mut expiry.warned, true) {
            return;
        }
        let expires_ms = expiry.expires_ms;
        let at = self.state.clock.local(expires_ms).format("%H:%M:%S");
        let when = if now >= expires_ms {
            "expired"
        } else {
            "expires"
        };
        self.system(
            LineKind::Error,
            &format!(
                "the client URL's token {when} at {at} and cannot be renewed: this connection \
                 keeps working, but once the token has expired a service may refuse a new \
                 connection with it (Azure does; the local service allows 5 minutes of clock \
                 skew). For fresh tokens, connect with --connection-string or --negotiate (or a \
                 profile with one)"
            ),
        );
    }

    pub(super) fn on_conn_state(&mut self, conn: ConnState) {
        let wall_ms = self.state.clock.wall_ms;
        self.state.conn.status = match conn {
            ConnState::Connecting { attempt } => ConnStatus::Connecting { attempt },
            ConnState::Connected { .. } if self.state.conn.simple => {
                self.state.conn.last_error = None;
                ConnStatus::Connected
            }
            ConnState::Connected {
                connection_id,
                user_id,
                protocol,
            } => {
                let conn = &mut self.state.conn;
                conn.new_connection(sanitize_line(&connection_id));
                conn.protocol = Some(protocol);
                conn.last_error = None;
                if let Some(user) = user_id {
                    self.set_user(&user);
                }
                ConnStatus::Connected
            }
            ConnState::Recovering { since, .. } => {
                self.state.conn.offline_since.get_or_insert(wall_ms);
                ConnStatus::Recovering { since }
            }
            ConnState::Reconnecting {
                retry_at,
                last_error,
                ..
            } => {
                self.state.conn.offline_since.get_or_insert(wall_ms);
                let last_error = sanitize_line(&last_error);
                // Say why in the system buffer, once per distinct error (not every retry).
                if !last_error.is_empty()
                    && self.state.conn.last_error.as_deref() != Some(last_error.as_str())
                {
                    let text = format!("cannot connect: {last_error}; retrying");
                    self.system(LineKind::Error, &text);
                    self.state.conn.last_error = Some(last_error.clone());
                }
                ConnStatus::Reconnecting {
                    retry_at,
                    last_error,
                }
            }
            ConnState::Stopped { reason } => ConnStatus::Offline {
                reason: sanitize_line(&reason),
            },
        };
    }

    /// An event read in place from the engine's batch: a data message is stored from there
    /// (no copy of it is made, and it is freed on the engine's thread); the rarer others are
    /// handled as [`App::update`] does.
    pub fn engine_event(&mut self, event: &Event) -> Vec<Command> {
        match event {
            Event::Message(message) => {
                self.ingest(message);
                Vec::new()
            }
            other => self.update(other.clone()),
        }
    }

    pub(super) fn on_event(&mut self, event: Event) -> Vec<Command> {
        // A message sets the redraw flag itself: one for a background group only moves a
        // badge.
        if !matches!(event, Event::Message(_)) {
            self.dirty = true;
        }
        match event {
            Event::Connected { .. } if self.is_simple() => {
                self.state.conn.status = ConnStatus::Connected;
                self.state.conn.offline_since = None;
                self.system(
                    LineKind::Notice,
                    "connected · simple WebSocket (no subprotocol)",
                );
            }
            Event::Connected {
                connection_id,
                user_id,
                protocol,
            } => self.connected(&connection_id, user_id, protocol),
            Event::Frame(payload) => self.frame_received(payload),
            Event::InvokeResult { op, outcome } => self.invoke_result(op, outcome),
            Event::Recovered { offline, .. } => self.recovered(offline),
            Event::SessionLost { offline, reason } => self.session_lost(offline, &reason),
            Event::Disconnected { reason } => {
                let wall_ms = self.state.clock.wall_ms;
                self.state.conn.offline_since.get_or_insert(wall_ms);
                let text = format!("disconnected: {}", sanitize_line(&reason));
                self.system(LineKind::Notice, &text);
            }
            Event::Message(message) => self.ingest(&message),
            Event::Queued { op } => self.queued(op),
            Event::OpResult { op, outcome } => self.op_result(op, outcome),
            Event::RejoinFailed { group, error } => self.rejoin_failed(&group, &error),
            Event::ServiceDisconnected { message } => {
                let message = message.map_or_else(String::new, |m| sanitize_line(&m));
                let text = format!("the service closed the connection: {message}");
                self.system(LineKind::Notice, &text);
            }
            Event::Lag(lag) => self.state.conn.lag = Some(lag),
            Event::Unrecognized { frame, error } => {
                let frame = crate::text::truncate(&sanitize_line(&frame), 200);
                let error = sanitize_line(&error);
                let text = format!("unrecognized frame ({error}): {frame}");
                self.system(LineKind::Error, &text);
            }
            Event::RawFrame { direction, text } => self.raw_frame(direction, &text),
            // The reconnecting state that follows says why, once per distinct error.
            Event::ConnectFailed { .. } => {}
        }
        Vec::new()
    }

    fn connected(
        &mut self,
        connection_id: &str,
        user_id: Option<String>,
        protocol: crate::protocol::Subprotocol,
    ) {
        self.state.conn.status = ConnStatus::Connected;
        let connection_id = sanitize_line(connection_id);
        if let Some(user) = &user_id {
            self.set_user(user);
        }
        let user = self.state.names.name(self.state.me).to_string();
        let text = format!(
            "connected as {user} · connection {connection_id} · {}",
            protocol.short_name()
        );
        self.system(LineKind::Notice, &text);
        let conn = &mut self.state.conn;
        conn.new_connection(connection_id);
        conn.protocol = Some(protocol);
        conn.offline_since = None;
    }

    fn recovered(&mut self, offline: Duration) {
        self.state.conn.status = ConnStatus::Connected;
        self.gap_markers(offline, "recovered");
        let now = self.state.clock.wall_ms;
        self.state.conn.recovered_at = Some((now, now - millis(offline)));
        let text = format!("recovered after {} offline", human_duration(offline));
        self.system(LineKind::Notice, &text);
    }

    fn session_lost(&mut self, offline: Duration, reason: &str) {
        if std::mem::take(&mut self.state.conn.reconnect_requested) {
            // Asked for with /reconnect: a new session is what the user wanted.
            self.gap_markers(Duration::ZERO, "new session, as requested");
            self.system(
                LineKind::Notice,
                "new session after the requested reconnect",
            );
            return;
        }
        // A recovery that the service refuses right after the socket opened (it lost the
        // session, e.g. it restarted) is one outage, not "recovered" then "lost".
        let now = self.state.clock.wall_ms;
        let offline = match self.state.conn.recovered_at.take() {
            Some((at, since)) if now - at <= RECOVERY_REFUSAL_MS => {
                self.drop_recovered_markers();
                offline.max(Duration::from_millis(
                    u64::try_from(now - since).unwrap_or(0),
                ))
            }
            _ => offline,
        };
        self.gap_markers(offline, "messages may be lost");
        let text = format!(
            "session lost after {} offline ({}); messages sent meanwhile may be lost",
            human_duration(offline),
            sanitize_line(reason)
        );
        self.system(LineKind::Error, &text);
    }

    fn queued(&mut self, op: OpId) {
        if let Some(PendingOp::Send { group, seq, .. }) = self.state.ops.pending.get(&op) {
            let (group, seq) = (group.clone(), *seq);
            self.state.ops.queued.insert(op);
            self.set_own_delivery(&group, seq, Delivery::Queued);
        }
    }

    fn rejoin_failed(&mut self, group: &str, error: &OpError) {
        let why = sanitize_line(&error.to_string());
        if let Some(index) = self.state.group_index(group) {
            self.append_line(index, LineKind::Error, format!("rejoin failed: {why}"));
        }
        self.alert(&format!("rejoining {group} failed: {why}"));
    }

    fn raw_frame(&mut self, direction: Direction, text: &str) {
        if let Some(index) = self.state.buffer_of_kind(BufferKind::Frames) {
            // The direction goes in the sender column, so a long frame wraps under itself
            // instead of leaving the arrow alone on a row.
            let kind = match direction {
                Direction::In => LineKind::FrameIn,
                Direction::Out => LineKind::FrameOut,
            };
            self.append_line(index, kind, sanitize(text));
        }
    }

    /// Takes back the "recovered" gap markers just written (the recovery did not hold).
    fn drop_recovered_markers(&mut self) {
        for index in 0..self.state.group_count() {
            let buffer = &mut self.state.buffers[index];
            // The marker stands above the lines typed offline (own lines), if any.
            let Some(at) = buffer
                .lines
                .iter()
                .rposition(|l| l.delivery == Delivery::None)
            else {
                continue;
            };
            let Some(line) = buffer.lines.get(at) else {
                continue;
            };
            if line.kind == LineKind::Gap && line.body.ends_with("· recovered") {
                let seq = buffer.first_seq + at as u64;
                buffer.remove(seq);
                let group = buffer.name.clone();
                self.state
                    .ops
                    .renumber(&group, |r| if r > seq { r - 1 } else { r });
            }
        }
    }

    /// The service confirmed a join. Its notice goes above the lines typed while joining:
    /// their sends went out after the join, and the service took them in that order.
    fn joined(&mut self, group: &str) {
        let Some(index) = self.state.group_index(group) else {
            return;
        };
        let buffer = &mut self.state.buffers[index];
        buffer.membership = Membership::Joined;
        let text = format!("joined {}", buffer.display);
        match self.state.ops.first_pending_send(group) {
            Some(seq) => self.insert_line(index, seq, LineKind::Notice, text),
            None => self.append_line(index, LineKind::Notice, text),
        }
    }

    /// Puts a gap marker in a group's log above the lines typed while offline (they are sent
    /// after the gap), or at the end when there are none.
    fn gap_marker(&mut self, index: usize, text: &str) {
        let buffer = &self.state.buffers[index];
        let Some(at) = buffer
            .lines
            .iter()
            .position(|l| l.delivery == Delivery::Queued)
        else {
            self.append_line(index, LineKind::Gap, text.to_string());
            return;
        };
        let seq = buffer.first_seq + at as u64;
        self.insert_line(index, seq, LineKind::Gap, text.to_string());
    }

    /// Puts a line (text already safe) at `seq` in buffer `index`; the sends of the lines it
    /// moves down move with them.
    fn insert_line(&mut self, index: usize, seq: u64, kind: LineKind, text: String) {
        let line = LogLine {
            time_ms: self.state.clock.wall_ms,
            sender: NO_SENDER,
            kind,
            delivery: Delivery::None,
            body: text.into_boxed_str(),
        };
        let cap = self.state.settings.scrollback;
        let buffer = &mut self.state.buffers[index];
        let seq = buffer.insert(seq, line, cap);
        let group = buffer.name.clone();
        self.state
            .ops
            .renumber(&group, |r| if r >= seq { r + 1 } else { r });
    }

    /// A gap marker in every group: when the link was down and what became of the messages.
    fn gap_markers(&mut self, offline: Duration, outcome: &str) {
        let now = self.state.clock.wall_ms;
        let since = now - millis(offline);
        let clock = self.state.clock;
        let text = if offline < Duration::from_secs(1) {
            format!(
                "reconnected {} · {outcome}",
                clock.local(now).format("%H:%M:%S")
            )
        } else {
            format!(
                "offline {}–{} · {outcome}",
                clock.local(since).format("%H:%M:%S"),
                clock.local(now).format("%H:%M:%S")
            )
        };
        for index in 0..self.state.group_count() {
            self.gap_marker(index, &text);
        }
        self.state.conn.offline_since = None;
    }

    /// Shows `delivery` on an own line (in its group, or in `system` for a direct send).
    fn set_own_delivery(&mut self, group: &str, seq: u64, delivery: Delivery) {
        let index = self
            .state
            .group_index(group)
            .or_else(|| self.state.buffer_of_kind(BufferKind::System));
        if let Some(index) = index {
            self.state.buffers[index].set_delivery(seq, delivery);
        }
    }

    fn op_result(&mut self, op: OpId, outcome: OpOutcome) {
        self.state.ops.queued.remove(&op);
        let Some(pending) = self.state.ops.pending.remove(&op) else {
            return;
        };
        match (pending, outcome) {
            (PendingOp::Send { group, seq, .. }, OpOutcome::Done { round_trip, .. }) => {
                self.send_acked(&group, seq, round_trip)
            }
            (
                PendingOp::Send {
                    group,
                    seq,
                    payload,
                },
                OpOutcome::Failed(error),
            ) => self.send_failed(
                FailedSend {
                    group,
                    seq,
                    payload,
                },
                &error,
            ),
            (PendingOp::Join { group }, OpOutcome::Done { .. }) => self.joined(&group),
            (PendingOp::Join { group }, OpOutcome::Failed(error)) => {
                if let Some(index) = self.state.group_index(&group) {
                    self.remove_buffer(index);
                }
                self.alert(&format!("joining {group} failed: {error}"));
            }
            (PendingOp::Leave { group }, OpOutcome::Done { .. }) => self.left(group),
            (PendingOp::Leave { group }, OpOutcome::Failed(error)) => {
                if let Some(index) = self.state.group_index(&group) {
                    self.state.buffers[index].membership = Membership::Joined;
                }
                self.alert(&format!("leaving {group} failed: {error}"));
            }
            (
                PendingOp::Event {
                    name,
                    shown_in,
                    replied,
                },
                outcome,
            ) => {
                let error = match &outcome {
                    OpOutcome::Failed(error) => Some(error),
                    OpOutcome::Done { .. } => None,
                };
                self.event_done(&name, &shown_in, replied, error);
            }
            // Only a command that never reached the engine ends this way.
            (PendingOp::Invoke { name, shown_in }, outcome) => {
                let outcome = match outcome {
                    OpOutcome::Failed(error) => Err(error),
                    OpOutcome::Done { .. } => Err(OpError::Stopped),
                };
                self.invoke_done(&name, &shown_in, outcome);
            }
        }
    }

    fn send_acked(&mut self, group: &str, seq: u64, round_trip: Option<Duration>) {
        let ms = round_trip.map_or(u32::MAX, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX - 1)
        });
        // An ack's round trip is as good a lag sample as a keepalive's, and comes sooner.
        if let Some(round_trip) = round_trip {
            self.state.conn.lag = Some(round_trip);
        }
        self.set_own_delivery(group, seq, Delivery::Acked(ms));
    }

    fn send_failed(&mut self, failed: FailedSend, error: &OpError) {
        let name = self.state.names.intern(error.name());
        self.set_own_delivery(&failed.group, failed.seq, Delivery::Failed(name));
        let text = format!("message to {} failed: {error}", failed.group);
        let retry = self
            .keymap
            .label_of("retry")
            .map_or_else(String::new, |k| format!(" ({k} retries)"));
        self.system(LineKind::Error, &text);
        self.note(NoteLevel::Error, &format!("{text}{retry}"));
        let failed_sends = &mut self.state.ops.failed;
        failed_sends.push(failed);
        if failed_sends.len() > FAILED_MEMORY {
            failed_sends.remove(0);
        }
    }

    /// The service confirmed we left: the buffer goes, the name stays known.
    fn left(&mut self, group: String) {
        if let Some(index) = self.state.group_index(&group) {
            self.remove_buffer(index);
        }
        let text = format!("left {group}");
        if !self.state.known_groups.contains(&group) {
            self.state.known_groups.push(group);
        }
        self.system(LineKind::Notice, &text);
    }

    /// A data message from the service: sanitised once here, then stored. The body is
    /// sanitised into a string the App keeps for this, and copied from there into the
    /// buffer's scrollback: a flood allocates nothing per message here.
    fn ingest(&mut self, message: &DataMessage) {
        if let Some(seq) = message.sequence_id {
            self.state.conn.last_seq = Some(seq);
        }
        let reply = match message.source {
            MessageSource::Server => self.event_reply(),
            MessageSource::Group { .. } => None,
        };
        let (index, sender, own) = match reply {
            Some((index, sender)) => (index, sender, false),
            None => self.source_of(&message.source),
        };
        let mut body = std::mem::take(&mut self.ingest_body);
        let kind = stored_body_into(&message.payload, &mut body);
        self.store_message(index, sender, own, kind, &body);
        self.ingest_body = body;
    }

    /// Stores a received message in buffer `index`: its unread and mention badges when the
    /// buffer is not shown, and a highlight when it mentions us or its group is watched.
    fn store_message(&mut self, index: usize, sender: u32, own: bool, kind: LineKind, body: &str) {
        let mention = !own && self.state.mentions_me(body);
        let cap = self.state.settings.scrollback;
        let current = self.state.current;
        if index == current {
            self.dirty = true;
        } else {
            self.background_dirty = true;
        }
        let time_ms = self.state.clock.wall_ms;
        let buffer = &mut self.state.buffers[index];
        if own && !buffer.echo_expected.is_empty() {
            let hash = echo_hash(kind, body);
            if let Some(position) = buffer.echo_expected.iter().position(|h| *h == hash) {
                buffer.echo_expected.remove(position);
                return;
            }
        }
        let line = LineRef {
            time_ms,
            sender,
            kind,
            delivery: Delivery::None,
            body,
        };
        let seq = buffer.push_ref(line, cap);
        buffer.saw_member(sender);
        if index != current {
            buffer.unread += 1;
            if mention {
                buffer.mentions += 1;
            }
            buffer.first_unread.get_or_insert(seq);
        }
        let watched = !own && self.state.settings.notify_groups.contains(&buffer.name);
        if mention || watched {
            self.highlight(index, sender);
        }
    }

    /// Rings the bell and/or notifies the desktop about a message in `index` from `sender`,
    /// at most once per [`HIGHLIGHT_GAP_MS`] so that a busy watched group cannot flood.
    fn highlight(&mut self, index: usize, sender: u32) {
        let now = self.state.clock.wall_ms;
        if self
            .last_highlight_ms
            .is_some_and(|last| now - last < HIGHLIGHT_GAP_MS)
        {
            return;
        }
        let settings = &self.state.settings;
        if !settings.bell && settings.notify == Notify::Off {
            return;
        }
        self.last_highlight_ms = Some(now);
        let buffer = &self.state.buffers[index];
        let body = buffer.lines.back().map_or("", |line| line.body);
        let title = format!("wpchat #{}", buffer.name);
        let text = format!("{}: {body}", self.state.sender_name(sender));
        let effect = Effect::Highlight {
            bell: settings.bell,
            notify: settings.notify,
            title,
            text,
        };
        self.effects.push(effect);
    }

    /// The buffer a message goes to, its interned sender, and whether it is our own.
    fn source_of(&mut self, source: &MessageSource) -> (usize, u32, bool) {
        match source {
            MessageSource::Group {
                group,
                from_user_id,
            } => {
                let index = self.state.group_index(group).unwrap_or_else(|| {
                    // Added to a group by the server: show it like a joined one.
                    self.dirty = true;
                    let at = self.state.group_count();
                    let buffer = Buffer::new(BufferKind::Group, group);
                    self.state.buffers.insert(at, buffer);
                    if self.state.current >= at {
                        self.state.current += 1;
                    }
                    at
                });
                let own = from_user_id.is_some()
                    && from_user_id.as_deref() == self.state.user_id.as_deref();
                // Protobuf data carries no sender at all: say so rather than guess.
                let unknown = self.state.conn.protocol.is_some_and(|p| p.is_protobuf());
                let sender = match from_user_id.as_deref() {
                    Some(user) => user,
                    None if unknown => "(unknown sender)",
                    None => "anonymous",
                };
                let sender = self.state.names.intern(sender);
                (index, sender, own)
            }
            MessageSource::Server => {
                let index = self
                    .state
                    .buffer_of_kind(BufferKind::Server)
                    .unwrap_or_default();
                (index, self.state.names.intern("server"), false)
            }
        }
    }
}
