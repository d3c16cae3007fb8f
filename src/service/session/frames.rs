//! What passes through a connection: the frames its socket writer sends, a data message
//! prepared once for every recipient of a fan-out, what delivery did, and why the service
//! ends a session.

use std::cell::OnceCell;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

use super::ClientKind;
use crate::protocol::{Frame, GroupFrame, MessageSource, Payload, protobuf};

/// A frame for the socket writer.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    Text(Utf8Bytes),
    /// A reliable data message; its sequence id tells the writer what goes in flight.
    Sequenced {
        id: u64,
        body: Body,
    },
    Binary(Bytes),
    Close {
        code: u16,
        reason: String,
    },
}

/// A reliable data message as written (and replayed): text for JSON, binary for protobuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Body {
    pub(crate) fn len(&self) -> usize {
        match self {
            Body::Text(text) => text.len(),
            Body::Binary(bytes) => bytes.len(),
        }
    }
}

impl Outbound {
    pub(super) fn len(&self) -> usize {
        match self {
            Outbound::Text(t) => t.len(),
            Outbound::Sequenced { body, .. } => body.len(),
            Outbound::Binary(b) => b.len(),
            Outbound::Close { reason, .. } => reason.len() + 2,
        }
    }
}

impl From<Frame> for Outbound {
    fn from(frame: Frame) -> Self {
        match frame {
            Frame::Text(text) => Outbound::Text(Utf8Bytes::from(text)),
            Frame::Binary(bytes) => Outbound::Binary(Bytes::from(bytes)),
        }
    }
}

/// What happened to a data message handed to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    Queued,
    /// Queued, but the queue is past half its bound: the publisher should wait for room.
    Backlogged,
    /// The connection is over; nothing was queued.
    Gone,
    /// The outbound queue is full: close the connection as a slow client.
    SlowClient,
    /// A detached reliable session's buffer passed its cap: close the session.
    BufferFull,
}

/// Why the service ends a session, with the close code and the text the client sees.
#[derive(Debug, Clone)]
pub(crate) struct CloseCause {
    pub(crate) code: u16,
    pub(crate) reason: String,
    /// Drop queued frames first (the client is not reading them anyway).
    pub(crate) discard_queued: bool,
}

impl CloseCause {
    /// The outbound queue overflowed (the cloud service's `SlowClient`).
    pub(crate) fn slow_client() -> Self {
        CloseCause {
            code: crate::protocol::close_code::POLICY_VIOLATION,
            reason: "SlowClient: the connection did not read its messages fast enough.".into(),
            discard_queued: true,
        }
    }

    /// The reliable buffer is full and the client does not ack (as the emulator words it).
    pub(crate) fn buffer_full() -> Self {
        CloseCause {
            code: crate::protocol::close_code::POLICY_VIOLATION,
            reason: "The reliable message buffer is full.".into(),
            discard_queued: true,
        }
    }
}

/// What the writer got from `take_queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// The attachment no longer serves this connection.
    Stale,
    /// Frames (maybe none) were moved to the batch; `awaiting_acks` when reliable data frames
    /// stay queued because the in-flight cap is reached.
    Taken { awaiting_acks: bool },
}

/// A data message prepared once for every recipient of a fan-out: each form (JSON, protobuf,
/// raw) is serialized at most once, on first use, whatever the number of recipients.
pub(crate) struct Delivery {
    source: MessageSource,
    payload: Payload,
    json: OnceCell<GroupFrame>,
    json_text: OnceCell<Utf8Bytes>,
    protobuf: OnceCell<protobuf::GroupFrame>,
    protobuf_bytes: OnceCell<Bytes>,
    raw: OnceCell<Outbound>,
}

impl Delivery {
    pub(crate) fn new(source: &MessageSource, payload: Payload) -> Self {
        Delivery {
            source: source.clone(),
            payload,
            json: OnceCell::new(),
            json_text: OnceCell::new(),
            protobuf: OnceCell::new(),
            protobuf_bytes: OnceCell::new(),
            raw: OnceCell::new(),
        }
    }

    fn json_frame(&self) -> &GroupFrame {
        self.json
            .get_or_init(|| GroupFrame::new(&self.source, &self.payload))
    }

    fn protobuf_frame(&self) -> &protobuf::GroupFrame {
        self.protobuf
            .get_or_init(|| protobuf::GroupFrame::new(&self.source, &self.payload))
    }

    /// The frame for a non-reliable recipient of `kind`.
    pub(super) fn frame_for(&self, kind: ClientKind) -> Outbound {
        match kind {
            ClientKind::Simple => self.raw(),
            ClientKind::Protobuf | ClientKind::ProtobufReliable => Outbound::Binary(
                self.protobuf_bytes
                    .get_or_init(|| Bytes::from(self.protobuf_frame().frame()))
                    .clone(),
            ),
            ClientKind::Json | ClientKind::JsonReliable => Outbound::Text(
                self.json_text
                    .get_or_init(|| Utf8Bytes::from(self.json_frame().text()))
                    .clone(),
            ),
        }
    }

    /// The frame for a reliable recipient of `kind`, with its own sequence id.
    pub(super) fn sequenced(&self, kind: ClientKind, sequence_id: u64) -> Body {
        if kind == ClientKind::ProtobufReliable {
            Body::Binary(Bytes::from(
                self.protobuf_frame().with_sequence(sequence_id),
            ))
        } else {
            Body::Text(Utf8Bytes::from(
                self.json_frame().with_sequence(sequence_id),
            ))
        }
    }

    /// What a simple client receives: the payload alone, text or binary.
    fn raw(&self) -> Outbound {
        self.raw
            .get_or_init(|| match &self.payload {
                Payload::Text(text) => Outbound::Text(Utf8Bytes::from(text.as_str())),
                Payload::Json(raw) => Outbound::Text(Utf8Bytes::from(raw.get())),
                Payload::Binary(bytes) | Payload::Protobuf(bytes) => {
                    Outbound::Binary(Bytes::copy_from_slice(bytes))
                }
            })
            .clone()
    }
}
