//! The client engine against a scripted server: the handshake, dead links, size and name
//! limits, unrecognized and replayed frames, the event channel, reconnect limits and shutdown.
//! Drops, recovery and acks are in `engine_scripted.rs`.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/scripted.rs"]
mod scripted;
#[path = "support/scripted_engine.rs"]
mod scripted_engine;

use std::time::Duration;

use engine::{WAIT, next_event, wait_for};
use scripted::{AckPlan, CountingProvider, ScriptedServer};
use scripted_engine::*;
use wpchat::client::{self, Command, ConnState, Direction, Event, OpError, OpOutcome};
use wpchat::protocol::{
    ClientMessage, DataMessage, MAX_CLIENT_MESSAGE_BYTES, MessageSource, Payload, ServiceMessage,
    Subprotocol, encode_service,
};

#[tokio::test]
async fn a_401_handshake_shows_the_reason() {
    let server = ScriptedServer::start().await;
    server.set_reject_handshake(Some((401, "the token expired at 12:00")));
    let provider = CountingProvider::new(server.url());
    let handle = client::spawn(config(provider.clone()));
    let state = handle.state.clone();
    until("a 401 error in the state", || {
        matches!(&*state.borrow(), ConnState::Reconnecting { last_error, .. }
            if last_error.contains("401") && last_error.contains("the token expired at 12:00"))
    })
    .await;
    until("a second attempt", || provider.calls() >= 2).await;
}

#[tokio::test]
async fn a_dead_link_is_detected_and_recovered() {
    let (server, provider, mut handle) = start_with(|c| {
        c.keepalive_interval = Duration::from_millis(100);
        c.keepalive_timeout = Duration::from_millis(400);
    })
    .await;
    wait_for(&mut handle, |e| matches!(e, Event::Lag(_))).await;
    server.go_dead();
    wait_for(&mut handle, |e| matches!(e, Event::Recovered { .. })).await;
    server.publish("after the dead link");
    let event = wait_for(&mut handle, |e| text_of(e).is_some()).await;
    assert_eq!(text_of(&event).as_deref(), Some("after the dead link"));
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn oversized_messages_and_bad_names_never_reach_the_socket() {
    let (server, _, mut handle) = start().await;
    let huge = "x".repeat(MAX_CLIENT_MESSAGE_BYTES);
    command(&handle, send(1, &huge)).await;
    command(
        &handle,
        Command::Join {
            op: 2,
            group: " ".into(),
        },
    )
    .await;
    command(
        &handle,
        Command::SendEvent {
            op: 3,
            event: "1bad".into(),
            payload: Payload::Text("x".into()),
            fire_and_forget: false,
        },
    )
    .await;
    for op in 1..=3 {
        let result = outcome(&mut handle, op).await;
        assert!(
            matches!(&result, OpOutcome::Failed(OpError::Invalid(_))),
            "op {op}: {result:?}"
        );
    }
    command(&handle, send(4, "small")).await;
    assert!(done(false)(&outcome(&mut handle, 4).await));
    let requests: Vec<ClientMessage> = server
        .seen()
        .into_iter()
        .map(|s| s.request)
        .filter(|r| !matches!(r, ClientMessage::SequenceAck { .. } | ClientMessage::Ping))
        .collect();
    assert_eq!(requests.len(), 1, "{requests:?}");
}

#[tokio::test]
async fn shutdown_closes_with_1000_and_fails_pending_ops() {
    let (server, _, mut handle) = start().await;
    server.plan_acks([AckPlan::Never]);
    command(&handle, send(1, "pending")).await;
    until("the request at the server", || {
        !ack_ids_for(&server, "pending").is_empty()
    })
    .await;
    command(&handle, Command::Shutdown).await;
    assert_eq!(
        outcome(&mut handle, 1).await,
        OpOutcome::Failed(OpError::Stopped)
    );
    // The task ends: the event channel closes.
    let end = tokio::time::timeout(WAIT, async {
        while handle.events.recv().await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the engine kept running");
    assert!(matches!(&*handle.state.borrow(), ConnState::Stopped { .. }));
    until("the close frame", || {
        server.close_codes() == vec![Some(1000)]
    })
    .await;
}

#[tokio::test]
async fn dropping_the_handle_closes_with_1000() {
    let (server, _, handle) = start().await;
    drop(handle);
    until("the close frame", || {
        server.close_codes() == vec![Some(1000)]
    })
    .await;
}

#[tokio::test]
async fn token_in_header_and_subprotocol_in_the_handshake() {
    let (server, _, _handle) = start_with(|c| c.token_in_header = true).await;
    let handshake = server.handshakes()[0].clone();
    assert_eq!(handshake.authorization.as_deref(), Some("Bearer TESTTOKEN"));
    assert!(!handshake.uri.contains("access_token"), "{}", handshake.uri);
    assert_eq!(
        handshake.protocol.as_deref(),
        Some("json.reliable.webpubsub.azure.v1")
    );
}

#[tokio::test]
async fn the_frame_inspector_never_shows_the_reconnection_token() {
    let server = ScriptedServer::start().await;
    let provider = CountingProvider::new(server.url());
    let mut handle = client::spawn(config(provider));
    command(&handle, Command::InspectFrames(true)).await;
    let frame = wait_for(&mut handle, |e| {
        matches!(e, Event::RawFrame { direction: Direction::In, text } if text.contains("connected"))
    })
    .await;
    let Event::RawFrame { text, .. } = frame else {
        unreachable!()
    };
    assert!(!text.contains("rt-1"), "{text}");
    assert!(text.contains("conn-1"), "{text}");
}

#[tokio::test]
async fn unrecognized_frames_are_reported_and_the_link_stays() {
    let (server, _, mut handle) = start().await;
    server.send_raw("not json at all");
    server.send_raw(r#"{"type":"somethingNew","x":1}"#);
    server.send_binary(&[0, 159, 146, 150]);
    let mut errors = Vec::new();
    while errors.len() < 3 {
        if let Event::Unrecognized { error, .. } = next_event(&mut handle).await {
            errors.push(error);
        }
    }
    assert!(errors[1].contains("somethingNew"), "{errors:?}");
    assert!(errors[2].contains("binary"), "{errors:?}");
    server.publish("still here");
    let event = wait_for(&mut handle, |e| text_of(e).is_some()).await;
    assert_eq!(text_of(&event).as_deref(), Some("still here"));
}

#[tokio::test]
async fn replayed_sequence_ids_are_dropped_and_acked() {
    let (server, _, mut handle) = start().await;
    let frame = |id: u64| {
        encode_service(&ServiceMessage::Message(DataMessage {
            source: MessageSource::Group {
                group: "g".into(),
                from_user_id: Some("alice".into()),
            },
            sequence_id: Some(id),
            payload: Payload::Text(format!("s{id}")),
        }))
    };
    for id in [1, 2, 3, 2, 3, 1, 4] {
        server.send_raw(&frame(id));
    }
    let mut texts = Vec::new();
    while texts.len() < 4 {
        if let Some(text) = text_of(&next_event(&mut handle).await) {
            texts.push(text);
        }
    }
    assert_eq!(texts, vec!["s1", "s2", "s3", "s4"]);
    until("a sequenceAck of 4", || server.sequence_acks().contains(&4)).await;
}

#[tokio::test]
async fn a_non_reliable_drop_starts_a_fresh_session() {
    let (server, provider, mut handle) = start_with(|c| c.protocol = Subprotocol::Json).await;
    command(
        &handle,
        Command::Join {
            op: 1,
            group: "a".into(),
        },
    )
    .await;
    assert!(done(false)(&outcome(&mut handle, 1).await));
    server.drop_connection();
    wait_for(&mut handle, |e| matches!(e, Event::SessionLost { .. })).await;
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    until("group a rejoined", || server.groups().contains("a")).await;
    assert_eq!(provider.calls(), 2);
    assert!(
        server.handshakes().iter().all(|h| !h.uri.contains("awps_")),
        "no recovery on a non-reliable protocol"
    );
}

#[tokio::test]
async fn fire_and_forget_completes_when_written() {
    let (server, _, mut handle) = start().await;
    command(
        &handle,
        Command::SendToGroup {
            op: 1,
            group: "room".into(),
            payload: Payload::Binary(vec![0, 255, 1]),
            no_echo: true,
            fire_and_forget: true,
        },
    )
    .await;
    assert_eq!(
        outcome(&mut handle, 1).await,
        OpOutcome::Done {
            duplicate: false,
            round_trip: None
        }
    );
    until("the message at the server", || {
        server.seen().iter().any(|s| {
            matches!(&s.request, ClientMessage::SendToGroup { ack_id: None, no_echo: true, data: Payload::Binary(b), .. } if b == &[0, 255, 1])
        })
    })
    .await;
}

#[tokio::test]
async fn a_full_event_channel_pauses_reading_but_not_sending() {
    let (server, _, mut handle) = start_with(|c| c.event_buffer = 4).await;
    let total = 300;
    for n in 0..total {
        server.publish(&format!("flood-{n}"));
    }
    // Nobody reads events now; a send must still reach the service.
    command(&handle, send(1, "while-flooded")).await;
    until("the send at the server", || {
        !ack_ids_for(&server, "while-flooded").is_empty()
    })
    .await;
    let mut texts = Vec::new();
    let mut acked = false;
    while texts.len() < total || !acked {
        let event = next_event(&mut handle).await;
        if let Some(text) = text_of(&event) {
            texts.push(text);
        }
        if matches!(event, Event::OpResult { op: 1, .. }) {
            acked = true;
        }
    }
    let expected: Vec<String> = (0..total).map(|n| format!("flood-{n}")).collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn a_reconnect_limit_stops_the_engine_with_the_last_error() {
    let server = ScriptedServer::start().await;
    server.set_reject_handshake(Some((401, "bad signature")));
    let provider = CountingProvider::new(server.url());
    let mut config = config(provider.clone());
    config.reconnect.max_attempts = Some(3);
    let mut handle = client::spawn(config);
    command(&handle, send(1, "never sent")).await;
    assert_eq!(
        outcome(&mut handle, 1).await,
        OpOutcome::Failed(OpError::Stopped)
    );
    let state = handle.state.borrow().clone();
    assert!(
        matches!(&state, ConnState::Stopped { reason } if reason.contains("401") && reason.contains("bad signature")),
        "{state:?}"
    );
    assert_eq!(provider.calls(), 3);
}

#[tokio::test]
async fn a_requested_reconnect_starts_a_fresh_session() {
    let (server, provider, mut handle) = start().await;
    command(&handle, Command::Reconnect).await;
    wait_for(&mut handle, |e| matches!(e, Event::SessionLost { .. })).await;
    let connected = wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    assert!(
        matches!(&connected, Event::Connected { connection_id, .. } if connection_id == "conn-2"),
        "{connected:?}"
    );
    assert_eq!(provider.calls(), 2);
    until("the normal close of the old socket", || {
        server.close_codes() == vec![Some(1000)]
    })
    .await;
}

#[tokio::test]
async fn a_pending_op_is_resent_with_a_new_ack_id_on_a_fresh_session() {
    let (server, _, mut handle) = start().await;
    server.plan_acks([AckPlan::Never]);
    command(&handle, send(1, "pending-across-sessions")).await;
    until("the first attempt at the server", || {
        !ack_ids_for(&server, "pending-across-sessions").is_empty()
    })
    .await;
    server.set_refuse_recovery(true);
    server.drop_connection();
    assert!(done(false)(&outcome(&mut handle, 1).await));
    let attempts: Vec<(String, u64)> = server
        .seen()
        .into_iter()
        .filter_map(|s| match s.request {
            ClientMessage::SendToGroup {
                ack_id: Some(id),
                data: Payload::Text(t),
                ..
            } if t == "pending-across-sessions" => Some((s.connection_id, id)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].0, "conn-1");
    assert_eq!(
        attempts[1].0, "conn-2",
        "nothing was written on the refused recovery"
    );
    assert_ne!(
        attempts[0].1, attempts[1].1,
        "a new session gets a new ack id"
    );
}
