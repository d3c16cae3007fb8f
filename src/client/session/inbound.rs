//! Inbound frames (JSON text or protobuf binary, as the session's subprotocol says): acks,
//! data messages (deduplicated by sequence id on reliable sessions),
//! system messages, pongs, and frames this client does not understand.

use std::time::Instant;

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::{End, Engine, SEQUENCE_ACK_DELAY};
use crate::client::{Direction, Event, frames, limits};
use crate::protocol::{
    DataMessage, ServiceMessage, decode_service, decode_service_with, encode_service, protobuf,
};

impl Engine {
    /// Handles one inbound WebSocket frame.
    pub(super) async fn frame(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        now: Instant,
    ) -> Option<End> {
        let message = match frame {
            None => {
                return Some(End::Dropped {
                    code: None,
                    reason: "the service closed the TCP connection".into(),
                });
            }
            Some(Err(error)) => {
                return Some(End::Dropped {
                    code: None,
                    reason: format!("the connection failed: {error}"),
                });
            }
            Some(Ok(message)) => message,
        };
        let mut proven = false;
        if let Some(link) = self.link.as_mut() {
            link.last_inbound = now;
            // A refused recovery may say `system/disconnected` before it closes with 1008:
            // that frame proves nothing.
            if link.proving_recovery
                && (message.is_text() || message.is_binary())
                && !is_disconnected(&message)
            {
                link.proving_recovery = false;
                proven = true;
            }
        }
        if proven {
            self.link_ready(false).await;
        }
        match message {
            Message::Text(text) if self.protocol().is_protobuf() => Some(End::Dropped {
                code: None,
                reason: format!(
                    "the service sent a text frame ({} bytes) on a protobuf subprotocol",
                    text.len()
                ),
            }),
            Message::Text(text) => self.text_frame(text.as_str(), now).await,
            Message::Binary(bytes) if self.protocol().is_protobuf() => {
                self.protobuf_frame(&bytes, now).await
            }
            Message::Binary(bytes) => {
                let shown = format!("<binary frame, {} bytes>", bytes.len());
                if self.inspect {
                    self.emit(Event::RawFrame {
                        direction: Direction::In,
                        text: shown.clone(),
                    });
                }
                self.emit(Event::Unrecognized {
                    frame: shown,
                    error: "a binary frame on a JSON subprotocol".into(),
                });
                None
            }
            Message::Close(close) => Some(self.closed(close)),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
        }
    }

    /// The service's close frame, with the reason its `system/disconnected` gave if any.
    fn closed(&mut self, close: Option<CloseFrame>) -> End {
        let service_reason = self.link.as_mut().and_then(|l| l.service_reason.take());
        let (code, text) = match close {
            Some(frame) => (Some(u16::from(frame.code)), frame.reason.to_string()),
            None => (None, String::new()),
        };
        let detail = match (text.is_empty(), service_reason) {
            (false, _) => text,
            (true, Some(reason)) => reason,
            (true, None) => String::new(),
        };
        let reason = match (code, detail.is_empty()) {
            (Some(code), true) => format!("the service closed the connection ({code})"),
            (Some(code), false) => {
                format!("the service closed the connection ({code}: {detail})")
            }
            (None, _) => "the service closed the connection".to_string(),
        };
        End::Dropped { code, reason }
    }

    pub(super) async fn text_frame(&mut self, text: &str, now: Instant) -> Option<End> {
        if self.inspect {
            self.emit(Event::RawFrame {
                direction: Direction::In,
                text: frames::shown(text),
            });
        }
        match decode_service_with(text, &mut self.decode_cache) {
            // A flood's path, kept out of `service_message`'s future: moving each message into
            // an async state cost more than handling it.
            Ok(ServiceMessage::Message(message)) => {
                self.data_message(message, || frames::shown(text), now);
                if self.sequence.urgent() {
                    self.send_sequence_ack().await;
                }
                None
            }
            Ok(message) => {
                self.service_message(message, || frames::shown(text), now)
                    .await
            }
            Err(error) => {
                self.emit(Event::Unrecognized {
                    frame: frames::shown(text),
                    error: error.to_string(),
                });
                None
            }
        }
    }

    /// One binary frame of a protobuf subprotocol; the inspector and `Unrecognized` show it
    /// in its JSON form.
    async fn protobuf_frame(&mut self, bytes: &[u8], now: Instant) -> Option<End> {
        let decoded = protobuf::decode_service(bytes);
        if self.inspect {
            let json = decoded.as_ref().ok().map(encode_service);
            self.emit(Event::RawFrame {
                direction: Direction::In,
                text: frames::shown_protobuf(bytes.len(), json.as_deref()),
            });
        }
        // An unknown member has no JSON form worth showing: its size says what there is.
        let shown = || frames::shown_protobuf(bytes.len(), None);
        match decoded {
            Ok(message) => self.service_message(message, shown, now).await,
            Err(error) => {
                self.emit(Event::Unrecognized {
                    frame: shown(),
                    error: error.to_string(),
                });
                None
            }
        }
    }

    /// A data message: counted for the `sequenceAck` on reliable sessions (the caller sends it
    /// when it is due at once), dropped when seen before, else passed on within the limits.
    fn data_message(&mut self, message: DataMessage, shown: impl FnOnce() -> String, now: Instant) {
        let reliable = self
            .session
            .as_ref()
            .is_some_and(|s| s.protocol.is_reliable());
        if let (true, Some(sequence_id)) = (reliable, message.sequence_id) {
            let new = self.sequence.receive(sequence_id);
            if let Some(link) = self.link.as_mut() {
                link.sequence_ack_at.get_or_insert(now + SEQUENCE_ACK_DELAY);
            }
            if !new {
                tracing::debug!(sequence_id, "duplicate message dropped");
                return;
            }
        }
        match limits::bounded(message) {
            Ok(message) => self.emit(Event::Message(message)),
            Err(error) => self.emit(Event::Unrecognized {
                frame: shown(),
                error,
            }),
        }
    }

    /// A decoded service message, whatever its subprotocol; `shown` renders the frame for an
    /// `Unrecognized` event.
    async fn service_message(
        &mut self,
        message: ServiceMessage,
        shown: impl FnOnce() -> String,
        now: Instant,
    ) -> Option<End> {
        match message {
            ServiceMessage::Ack {
                ack_id,
                success,
                error,
            } => match self.acks.on_ack(ack_id, success, error, now) {
                Some(settled) => self.settle(settled),
                None => tracing::debug!(ack_id, "ack for no waiting operation ignored"),
            },
            ServiceMessage::Message(message) => {
                self.data_message(message, shown, now);
                if self.sequence.urgent() {
                    self.send_sequence_ack().await;
                }
            }
            ServiceMessage::Connected {
                connection_id,
                user_id,
                reconnection_token,
            } => {
                if let Some(session) = self.session.as_mut() {
                    session.connection_id = Some(connection_id);
                    session.user_id = user_id;
                    if reconnection_token.is_some() {
                        session.reconnection_token = reconnection_token;
                    }
                }
                if self.link.as_ref().is_some_and(|l| !l.ready) {
                    self.link_ready(true).await;
                }
            }
            ServiceMessage::Disconnected { message } => {
                if let (Some(link), Some(text)) = (self.link.as_mut(), message.as_ref()) {
                    link.service_reason = Some(text.clone());
                }
                self.emit(Event::ServiceDisconnected { message });
            }
            ServiceMessage::Pong => {
                if let Some(at) = self.link.as_mut().and_then(|l| l.ping_sent.take()) {
                    self.emit(Event::Lag(now.saturating_duration_since(at)));
                }
            }
            ServiceMessage::InvokeResponse(response) => self.invoke_response(response),
            ServiceMessage::Unknown { kind } => self.emit(Event::Unrecognized {
                frame: shown(),
                error: format!("unknown message type '{kind}'"),
            }),
        }
        None
    }
}

/// Whether the frame is the service's `system/disconnected` message, in either encoding.
fn is_disconnected(message: &Message) -> bool {
    let decoded = match message {
        Message::Text(text) => decode_service(text.as_str()),
        Message::Binary(bytes) => protobuf::decode_service(bytes),
        _ => return false,
    };
    matches!(decoded, Ok(ServiceMessage::Disconnected { .. }))
}
