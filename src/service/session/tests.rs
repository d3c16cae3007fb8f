//! Unit tests of a connection's queue, reliable buffer and lifecycle.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::protocol::{MessageSource, Payload};

const LIMITS: Limits = Limits {
    queue_frames: 4,
    queue_bytes: 1 << 20,
    reliable_messages: 3,
    reliable_bytes: 1 << 20,
    ack_grace: Duration::from_secs(1),
    backpressure: Duration::ZERO,
};

fn connection(kind: ClientKind) -> (Connection, Arc<Attachment>) {
    connection_with(kind, LIMITS)
}

fn connection_with(kind: ClientKind, limits: Limits) -> (Connection, Arc<Attachment>) {
    let attachment = Attachment::new(1);
    let connection = Connection::new(
        Arc::from("c1"),
        None,
        kind,
        Permissions::default(),
        limits,
        attachment.clone(),
    );
    (connection, attachment)
}

/// Delivers as many messages as the queue holds (`LIMITS.queue_frames`), each queued.
fn fill_queue(connection: &Connection) {
    for _ in 0..LIMITS.queue_frames {
        assert_eq!(connection.deliver(&text_delivery("x")), Delivered::Queued);
    }
}

fn text_delivery(text: &str) -> Delivery {
    Delivery::new(&MessageSource::Server, Payload::Text(text.into()))
}

fn queued_texts(connection: &Connection, attachment: &Attachment) -> Vec<String> {
    let mut batch = VecDeque::new();
    assert!(matches!(
        connection.take_queued(attachment, &mut batch),
        Drain::Taken { .. }
    ));
    batch
        .into_iter()
        .map(|frame| match frame {
            Outbound::Text(text)
            | Outbound::Sequenced {
                body: Body::Text(text),
                ..
            } => text.to_string(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn reliable_messages_get_sequence_ids_and_replay_after_reattach() {
    let (connection, attachment) = connection(ClientKind::JsonReliable);
    for text in ["a", "b", "c"] {
        assert_eq!(connection.deliver(&text_delivery(text)), Delivered::Queued);
    }
    let sent = queued_texts(&connection, &attachment);
    assert!(sent[0].starts_with(r#"{"sequenceId":1,"#), "{}", sent[0]);
    assert!(sent[2].starts_with(r#"{"sequenceId":3,"#), "{}", sent[2]);
    connection.ack_sequence(2);
    assert!(connection.detach(1));
    let next = Attachment::new(2);
    assert!(connection.reattach(next.clone()));
    let replayed = queued_texts(&connection, &next);
    assert_eq!(replayed.len(), 1);
    assert!(replayed[0].contains(r#""data":"c""#));
    // The stale attachment no longer drains this connection.
    assert_eq!(
        connection.take_queued(&attachment, &mut VecDeque::new()),
        Drain::Stale
    );
}

#[test]
fn only_written_messages_count_against_the_reliable_cap() {
    let (reliable, attachment) = connection(ClientKind::JsonReliable);
    // Four queued (the queue limit) exceed the in-flight cap of three: still fine.
    fill_queue(&reliable);
    let mut batch = VecDeque::new();
    assert_eq!(
        reliable.take_queued(&attachment, &mut batch),
        Drain::Taken {
            awaiting_acks: true
        }
    );
    assert_eq!(batch.len(), 3, "the writer stops at the in-flight cap");
    batch.clear();
    // An ack of two lets two more go; the replay buffer keeps the rest in order.
    assert_eq!(reliable.deliver(&text_delivery("y")), Delivered::Queued);
    reliable.ack_sequence(2);
    assert_eq!(reliable.unacked_len(), 3);
    let sent = queued_texts(&reliable, &attachment);
    assert_eq!(sent.len(), 2);
    assert!(sent[0].starts_with(r#"{"sequenceId":4,"#), "{}", sent[0]);
    assert!(sent[1].starts_with(r#"{"sequenceId":5,"#), "{}", sent[1]);
    // A stale or repeated ack changes nothing; an ack past the end is clamped.
    reliable.ack_sequence(1);
    assert_eq!(reliable.unacked_len(), 3);
    reliable.ack_sequence(99);
    assert_eq!(reliable.unacked_len(), 0);
    assert_eq!(reliable.deliver(&text_delivery("z")), Delivered::Queued);
    let sent = queued_texts(&reliable, &attachment);
    assert!(sent[0].starts_with(r#"{"sequenceId":6,"#), "{}", sent[0]);
}

#[test]
fn reliable_queue_overflow_is_a_slow_client_and_a_detached_overflow_is_buffer_full() {
    let (reliable, _) = connection(ClientKind::JsonReliable);
    fill_queue(&reliable);
    assert_eq!(reliable.deliver(&text_delivery("x")), Delivered::SlowClient);

    let (detached, _) = connection(ClientKind::JsonReliable);
    assert!(detached.detach(1));
    fill_queue(&detached);
    assert_eq!(detached.deliver(&text_delivery("x")), Delivered::BufferFull);
}

#[test]
fn a_queue_past_half_its_bound_holds_the_publisher_back_until_drained() {
    let limits = Limits {
        backpressure: Duration::from_secs(60),
        ..LIMITS
    };
    let (connection, attachment) = connection_with(ClientKind::Json, limits);
    assert_eq!(connection.deliver(&text_delivery("a")), Delivered::Queued);
    assert!(connection.has_room());
    assert_eq!(
        connection.deliver(&text_delivery("b")),
        Delivered::Backlogged
    );
    assert!(!connection.has_room());
    assert_eq!(queued_texts(&connection, &attachment).len(), 2);
    assert!(connection.has_room());
}

#[test]
fn slow_client_cap() {
    let (plain, _) = connection(ClientKind::Json);
    fill_queue(&plain);
    assert_eq!(plain.deliver(&text_delivery("x")), Delivered::SlowClient);
}

#[test]
fn close_queues_disconnected_then_close_and_ends_the_session() {
    let (connection, attachment) = connection(ClientKind::Json);
    assert!(connection.close(&CloseCause {
        code: 1008,
        reason: "bye".into(),
        discard_queued: false,
    }));
    let mut batch = VecDeque::new();
    assert!(matches!(
        connection.take_queued(&attachment, &mut batch),
        Drain::Taken { .. }
    ));
    assert!(matches!(&batch[0], Outbound::Text(t) if t.contains("disconnected")));
    assert!(matches!(&batch[1], Outbound::Close { code: 1008, .. }));
    assert_eq!(connection.deliver(&text_delivery("late")), Delivered::Gone);
    assert!(!connection.reattach(Attachment::new(2)));
}

#[test]
fn duplicate_ack_ids_are_remembered_per_session() {
    let (connection, _) = connection(ClientKind::JsonReliable);
    assert!(!connection.is_duplicate(7));
    connection.remember_ack(7);
    assert!(connection.is_duplicate(7));
    assert!(!connection.is_duplicate(8));
}

/// The frames queued for `connection`, drained.
fn drained(connection: &Connection, attachment: &Attachment) -> Vec<Outbound> {
    let mut batch = VecDeque::new();
    assert!(matches!(
        connection.take_queued(attachment, &mut batch),
        Drain::Taken { .. }
    ));
    batch.into_iter().collect()
}

#[test]
fn a_delivery_is_serialized_once_per_protocol_whatever_the_recipients() {
    let delivery = text_delivery("shared");
    let frames: Vec<Outbound> = [ClientKind::Protobuf, ClientKind::Protobuf]
        .into_iter()
        .flat_map(|kind| {
            let (connection, attachment) = connection(kind);
            connection.deliver(&delivery);
            drained(&connection, &attachment)
        })
        .collect();
    match &frames[..] {
        [Outbound::Binary(first), Outbound::Binary(second)] => {
            assert_eq!(first.as_ptr(), second.as_ptr(), "one buffer, shared");
        }
        other => panic!("expected two binary frames, got {other:?}"),
    }
}

#[test]
fn protobuf_reliable_messages_are_binary_sequenced_and_replayed_as_such() {
    let (connection, attachment) = connection(ClientKind::ProtobufReliable);
    for text in ["a", "b"] {
        assert_eq!(connection.deliver(&text_delivery(text)), Delivered::Queued);
    }
    let decoded = |frames: Vec<Outbound>| -> Vec<Option<u64>> {
        frames
            .into_iter()
            .map(|frame| match frame {
                Outbound::Sequenced {
                    body: Body::Binary(bytes),
                    ..
                } => match crate::protocol::protobuf::decode_service(&bytes) {
                    Ok(ServiceMessage::Message(message)) => message.sequence_id,
                    other => panic!("not a data message: {other:?}"),
                },
                other => panic!("expected a binary sequenced frame, got {other:?}"),
            })
            .collect()
    };
    assert_eq!(
        decoded(drained(&connection, &attachment)),
        [Some(1), Some(2)]
    );
    connection.ack_sequence(1);
    assert!(connection.detach(1));
    let next = Attachment::new(2);
    assert!(connection.reattach(next.clone()));
    assert_eq!(decoded(drained(&connection, &next)), [Some(2)]);
}
