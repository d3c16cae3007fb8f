//! Outbound requests: commands validated, sized, then written or queued in the outbox;
//! frames fed to the socket; operations settled into events.

use std::time::Instant;

use futures_util::SinkExt;

use tokio_tungstenite::tungstenite::Message;

use super::{End, Engine};
use crate::client::acks::{Owner, Settled};
use crate::client::outbox::QueuedOp;
use crate::client::{Command, Direction, Event, OpError, OpId, OpOutcome, frames};
use crate::protocol::{
    ClientMessage, Frame, MAX_CLIENT_MESSAGE_BYTES, Payload, Subprotocol, encode_client,
    validate_event_name, validate_group_name,
};

impl Engine {
    /// Handles a caller's command; `Some` when it ends the connection.
    pub(super) async fn command(&mut self, command: Command) -> Option<End> {
        match command {
            Command::Join { op, group } => {
                if let Err(error) = validate_group_name(&group) {
                    self.invalid(op, format!("cannot join group '{group}': {error}"));
                } else {
                    let ack_id = Some(self.acks.allocate());
                    self.submit(op, ClientMessage::JoinGroup { group, ack_id })
                        .await;
                }
            }
            Command::Leave { op, group } => {
                if let Err(error) = validate_group_name(&group) {
                    self.invalid(op, format!("cannot leave group '{group}': {error}"));
                } else {
                    self.joined.retain(|g| *g != group);
                    let ack_id = Some(self.acks.allocate());
                    self.submit(op, ClientMessage::LeaveGroup { group, ack_id })
                        .await;
                }
            }
            Command::SendToGroup {
                op,
                group,
                payload,
                no_echo,
                fire_and_forget,
            } => {
                if let Err(error) = validate_group_name(&group) {
                    self.invalid(op, format!("cannot send to group '{group}': {error}"));
                } else if let Some(why) = unsendable(&payload, self.protocol()) {
                    self.invalid(op, why);
                } else {
                    let ack_id = (!fire_and_forget).then(|| self.acks.allocate());
                    let request = ClientMessage::SendToGroup {
                        group,
                        ack_id,
                        no_echo,
                        data: payload,
                    };
                    self.submit(op, request).await;
                }
            }
            Command::SendEvent {
                op,
                event,
                payload,
                fire_and_forget,
            } => {
                if let Err(error) = validate_event_name(&event) {
                    self.invalid(op, format!("cannot send event: {error}"));
                } else if let Some(why) = unsendable(&payload, self.protocol()) {
                    self.invalid(op, why);
                } else {
                    let ack_id = (!fire_and_forget).then(|| self.acks.allocate());
                    let request = ClientMessage::Event {
                        event,
                        ack_id,
                        data: payload,
                    };
                    self.submit(op, request).await;
                }
            }
            Command::Invoke {
                op,
                event,
                payload,
                timeout,
            } => self.invoke(op, event, payload, timeout).await,
            Command::CancelInvocation { op } => self.cancel_invocation(op).await,
            Command::SendFrame { op, .. } => self.invalid(
                op,
                "raw frames go only over a simple connection (--protocol none)".into(),
            ),
            Command::Reconnect => return Some(End::Reconnect),
            Command::InspectFrames(on) => self.inspect = on,
            Command::Shutdown => return Some(End::Shutdown("shut down".into())),
        }
        None
    }

    pub(super) fn invalid(&mut self, op: OpId, why: String) {
        self.emit(Event::OpResult {
            op,
            outcome: OpOutcome::Failed(OpError::Invalid(why)),
        });
    }

    /// Writes a request now, or queues it while there is no usable connection.
    pub(super) async fn submit(&mut self, op: OpId, request: ClientMessage) {
        // The cap applies to the encoded frame, in the subprotocol it will travel in.
        let size = self.protocol().encode_client(&request).len();
        if size > MAX_CLIENT_MESSAGE_BYTES {
            self.invalid(
                op,
                format!(
                    "the message is {size} bytes encoded; the service accepts at most {MAX_CLIENT_MESSAGE_BYTES}"
                ),
            );
            return;
        }
        if self.link_usable() {
            self.send_now(op, request).await;
            return;
        }
        match self.outbox.push(QueuedOp { op, request }) {
            Ok(()) => self.emit(Event::Queued { op }),
            Err(full) => self.invalid(op, full.to_string()),
        }
    }

    pub(super) async fn send_now(&mut self, op: OpId, request: ClientMessage) {
        self.write(&request).await;
        if request.ack_id().is_some() {
            self.acks.sent(Owner::User(op), request, Instant::now());
        } else {
            self.emit(Event::OpResult {
                op,
                outcome: OpOutcome::Done {
                    duplicate: false,
                    round_trip: None,
                },
            });
        }
    }

    /// Queues one request on the socket, in the session's subprotocol (flushed at the next
    /// turn of the connection loop).
    pub(super) async fn write(&mut self, request: &ClientMessage) {
        if self.link.as_ref().is_none_or(|l| l.failed.is_some()) {
            return;
        }
        let frame = match self.protocol().encode_client(request) {
            Frame::Text(text) => {
                if self.inspect {
                    self.emit(Event::RawFrame {
                        direction: Direction::Out,
                        text: frames::shown(&text),
                    });
                }
                Message::text(text)
            }
            Frame::Binary(bytes) => {
                if self.inspect {
                    let json = encode_client(request);
                    self.emit(Event::RawFrame {
                        direction: Direction::Out,
                        text: frames::shown_protobuf(bytes.len(), Some(&json)),
                    });
                }
                Message::binary(bytes)
            }
        };
        let timeout = self.config.keepalive_timeout;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match tokio::time::timeout(timeout, link.sink.feed(frame)).await {
            Ok(Ok(())) => link.unflushed = true,
            Ok(Err(error)) => link.failed = Some(format!("writing to the service failed: {error}")),
            Err(_) => {
                link.failed = Some(format!(
                    "writing to the service stalled for {} s",
                    timeout.as_secs_f32()
                ))
            }
        }
    }

    /// Reports an operation that ended.
    pub(super) fn settle(&mut self, settled: Settled) {
        match settled {
            Settled::Done {
                owner: Owner::User(op),
                request,
                duplicate,
                round_trip,
            } => {
                if let ClientMessage::JoinGroup { group, .. } = request
                    && !self.joined.contains(&group)
                {
                    self.joined.push(group);
                }
                self.emit(Event::OpResult {
                    op,
                    outcome: OpOutcome::Done {
                        duplicate,
                        round_trip: Some(round_trip),
                    },
                });
            }
            Settled::Done {
                owner: Owner::Rejoin,
                ..
            } => {}
            Settled::Failed {
                owner: Owner::User(op),
                error,
                ..
            } => self.emit(Event::OpResult {
                op,
                outcome: OpOutcome::Failed(error),
            }),
            Settled::Failed {
                owner: Owner::Rejoin,
                request,
                error,
            } => {
                if let ClientMessage::JoinGroup { group, .. } = request {
                    self.emit(Event::RejoinFailed { group, error });
                }
            }
        }
    }

    pub(super) async fn send_sequence_ack(&mut self) {
        if let Some(sequence_id) = self.sequence.take_ack() {
            self.write(&ClientMessage::SequenceAck { sequence_id })
                .await;
        }
    }
}

/// Why a payload cannot be sent on `protocol` at all, if so.
fn unsendable(payload: &Payload, protocol: Subprotocol) -> Option<String> {
    (matches!(payload, Payload::Protobuf(_)) && !protocol.is_protobuf()).then(|| {
        "protobuf payloads can only be received, not sent, on a JSON subprotocol; \
         connect with --protocol protobuf or protobuf.reliable to send them"
            .into()
    })
}
