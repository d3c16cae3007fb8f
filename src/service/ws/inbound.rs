//! What a client's frames do: JSON or protobuf requests (join, leave, send, event, sequence ack, ping)
//! with their acks and ackId de-duplication, a simple client's raw frames, and holding a
//! publisher back while its recipients' queues are backlogged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::super::admission::SimpleMode;
use super::super::hub::Hub;
use super::super::session::{ClientKind, CloseCause, Connection, Delivery};
use crate::protocol::{
    AckError, AckErrorName, ClientMessage, DecodeError, MessageSource, Payload, ServiceMessage,
    close_code, decode_client, protobuf,
};

/// How often a held-back publisher looks whether its recipients have room again.
const BACKPRESSURE_POLL: Duration = Duration::from_millis(1);

/// What a socket's frames act on.
pub(super) struct SocketContext {
    pub(super) hub: Arc<Hub>,
    pub(super) connection: Arc<Connection>,
    mode: SimpleMode,
    /// Recipients of this socket's last publish whose queue is backlogged.
    backlogged: Mutex<Vec<Arc<Connection>>>,
}

pub(super) fn violation(code: u16, reason: impl Into<String>) -> CloseCause {
    CloseCause {
        code,
        reason: reason.into(),
        discard_queued: false,
    }
}

pub(super) fn ack_error(name: AckErrorName, message: impl Into<String>) -> AckError {
    AckError {
        name,
        message: message.into(),
    }
}

impl SocketContext {
    pub(super) fn new(hub: Arc<Hub>, connection: Arc<Connection>, mode: SimpleMode) -> Self {
        SocketContext {
            hub,
            connection,
            mode,
            backlogged: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn into_parts(self) -> (Arc<Hub>, Arc<Connection>) {
        (self.hub, self.connection)
    }

    pub(super) async fn on_text(&self, text: &str) -> Result<(), CloseCause> {
        match self.connection.kind {
            ClientKind::Simple => self.on_simple_frame(Payload::Text(text.to_string())).await,
            ClientKind::Json | ClientKind::JsonReliable => {
                self.on_decoded(decode_client(text)).await
            }
            ClientKind::Protobuf | ClientKind::ProtobufReliable => Err(violation(
                close_code::UNSUPPORTED_DATA,
                "Text frames are not supported on protobuf subprotocols; send binary frames.",
            )),
        }
    }

    pub(super) async fn on_binary(&self, bytes: Bytes) -> Result<(), CloseCause> {
        match self.connection.kind {
            ClientKind::Simple => self.on_simple_frame(Payload::Binary(bytes.to_vec())).await,
            ClientKind::Json | ClientKind::JsonReliable => Err(violation(
                close_code::UNSUPPORTED_DATA,
                "Binary frames are not supported on JSON subprotocols; send text frames.",
            )),
            ClientKind::Protobuf | ClientKind::ProtobufReliable => {
                self.on_decoded(protobuf::decode_client(&bytes)).await
            }
        }
    }

    /// Runs a decoded request; a frame that did not decode is declined (1007).
    async fn on_decoded(
        &self,
        decoded: Result<ClientMessage, DecodeError>,
    ) -> Result<(), CloseCause> {
        match decoded {
            Ok(message) => self.on_message(message).await,
            Err(error) => Err(violation(
                close_code::INVALID_PAYLOAD,
                format!("The client message is not valid: {error}"),
            )),
        }
    }

    async fn on_simple_frame(&self, payload: Payload) -> Result<(), CloseCause> {
        match &self.mode {
            SimpleMode::SendEvent if self.connection.upstream.get().is_some() => {
                self.on_simple_event(payload).await
            }
            SimpleMode::SendEvent => Err(violation(
                close_code::INTERNAL_ERROR,
                "No event handler is configured on the local service.",
            )),
            SimpleMode::SendToGroup { group, no_echo } => {
                if !self.connection.can_send(group) {
                    return Err(violation(
                        close_code::POLICY_VIOLATION,
                        format!("The client does not have permission to send to group '{group}'."),
                    ));
                }
                self.publish(group, payload, *no_echo);
                Ok(())
            }
        }
    }

    fn publish(&self, group: &str, payload: Payload, no_echo: bool) {
        let Some(members) = self.hub.group_members(group) else {
            return;
        };
        let source = MessageSource::Group {
            group: group.into(),
            from_user_id: self.connection.user_id.as_deref().map(Into::into),
        };
        let delivery = Delivery::new(&source, payload);
        let sender = &self.connection.id;
        let backlogged = self
            .hub
            .fan_out(members.iter(), &delivery, |c| no_echo && c.id == *sender);
        if !backlogged.is_empty() {
            self.backlogged
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(backlogged);
        }
    }

    /// Stops reading this socket until every backlogged recipient has room (each one holds
    /// it back for at most the backpressure allowance).
    pub(super) async fn wait_for_room(&self) {
        let mut waiting =
            std::mem::take(&mut *self.backlogged.lock().unwrap_or_else(|e| e.into_inner()));
        loop {
            waiting.retain(|c| !c.has_room());
            if waiting.is_empty() {
                return;
            }
            tokio::time::sleep(BACKPRESSURE_POLL).await;
        }
    }

    pub(super) fn send(&self, message: &ServiceMessage) -> Result<(), CloseCause> {
        if self.connection.send_control(message) {
            Ok(())
        } else {
            Err(CloseCause::slow_client())
        }
    }

    /// Answers a repeated successful ackId without running the request again.
    pub(super) fn send_duplicate(&self, ack_id: u64) -> Result<(), CloseCause> {
        self.send(&ServiceMessage::Ack {
            ack_id,
            success: false,
            error: Some(ack_error(
                AckErrorName::Duplicate,
                format!("Message with ack-id: {ack_id} has been processed"),
            )),
        })
    }

    /// Runs a request that may carry an ackId: repeated successful ids are not re-executed,
    /// and an ack goes back only when an id was given.
    fn acked(
        &self,
        ack_id: Option<u64>,
        operation: impl FnOnce() -> Result<(), AckError>,
    ) -> Result<(), CloseCause> {
        let Some(ack_id) = ack_id else {
            let _ = operation();
            return Ok(());
        };
        if self.connection.is_duplicate(ack_id) {
            return self.send_duplicate(ack_id);
        }
        let result = operation();
        if result.is_ok() {
            self.connection.remember_ack(ack_id);
        }
        self.send(&ServiceMessage::Ack {
            ack_id,
            success: result.is_ok(),
            error: result.err(),
        })
    }

    /// Joins (`join`) or leaves a group, if the connection may.
    fn change_membership(&self, group: &str, join: bool) -> Result<(), AckError> {
        let connection = &self.connection;
        let verb = if join { "join" } else { "leave" };
        if !connection.can_join_leave(group) {
            return Err(ack_error(
                AckErrorName::Forbidden,
                format!("The client does not have permission to {verb} group '{group}'."),
            ));
        }
        if join {
            self.hub.join(&connection.id, group);
        } else {
            self.hub.leave(&connection.id, group);
        }
        tracing::info!(hub = %self.hub.name, connection_id = %connection.id, %group, "{verb} group");
        Ok(())
    }

    async fn on_message(&self, message: ClientMessage) -> Result<(), CloseCause> {
        let connection = &self.connection;
        match message {
            ClientMessage::JoinGroup { group, ack_id } => {
                self.acked(ack_id, || self.change_membership(&group, true))
            }
            ClientMessage::LeaveGroup { group, ack_id } => {
                self.acked(ack_id, || self.change_membership(&group, false))
            }
            ClientMessage::SendToGroup {
                group,
                ack_id,
                no_echo,
                data,
            } => self.acked(ack_id, || {
                if !connection.can_send(&group) {
                    return Err(ack_error(
                        AckErrorName::Forbidden,
                        format!("The client does not have permission to send to group '{group}'."),
                    ));
                }
                self.publish(&group, data, no_echo);
                Ok(())
            }),
            ClientMessage::Event {
                event,
                ack_id,
                data,
            } if connection.upstream.get().is_some() => {
                self.on_user_event(&event, ack_id, data).await
            }
            ClientMessage::Event { ack_id, .. } => self.acked(ack_id, || {
                Err(ack_error(
                    AckErrorName::InternalServerError,
                    "no event handler is configured on the local service",
                ))
            }),
            ClientMessage::SequenceAck { sequence_id } => {
                if connection.is_reliable() {
                    connection.ack_sequence(sequence_id);
                }
                Ok(())
            }
            ClientMessage::Ping => self.send(&ServiceMessage::Pong),
            ClientMessage::Invoke(invoke) => self.on_invoke(invoke).await,
            // Handler calls cannot be cut short; the client stops waiting on its side.
            ClientMessage::CancelInvocation { .. } => Ok(()),
        }
    }
}
