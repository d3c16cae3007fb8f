//! The client engine against a scripted server: drops, recovery, refused recovery, acks that
//! come late, never, twice or with errors, replays, dead links, the outbox, limits, shutdown.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/scripted.rs"]
mod scripted;

use std::sync::Arc;
use std::time::Duration;

use engine::{WAIT, fast_timers, next_event, wait_for};
use scripted::{AckPlan, CountingProvider, ScriptedServer};
use wpchat::client::{
    self, ClientConfig, ClientHandle, Command, ConnState, Direction, Event, OpError, OpId,
    OpOutcome,
};
use wpchat::protocol::{
    AckErrorName, ClientMessage, DataMessage, MAX_CLIENT_MESSAGE_BYTES, MessageSource, Payload,
    ServiceMessage, Subprotocol, encode_service,
};

fn config(provider: Arc<CountingProvider>) -> ClientConfig {
    let mut config = fast_timers(ClientConfig::new(provider));
    config.ack_timeout = Duration::from_secs(2);
    config
}

async fn start() -> (ScriptedServer, Arc<CountingProvider>, ClientHandle) {
    start_with(|_| {}).await
}

async fn start_with(
    tweak: impl FnOnce(&mut ClientConfig),
) -> (ScriptedServer, Arc<CountingProvider>, ClientHandle) {
    let server = ScriptedServer::start().await;
    let provider = CountingProvider::new(server.url());
    let mut config = config(provider.clone());
    tweak(&mut config);
    let mut handle = client::spawn(config);
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    (server, provider, handle)
}

async fn outcome(handle: &mut ClientHandle, op: OpId) -> OpOutcome {
    match wait_for(
        handle,
        |e| matches!(e, Event::OpResult { op: o, .. } if *o == op),
    )
    .await
    {
        Event::OpResult { outcome, .. } => outcome,
        _ => unreachable!(),
    }
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn command(handle: &ClientHandle, command: Command) {
    handle.commands.send(command).await.expect("engine running");
}

fn send(op: OpId, text: &str) -> Command {
    Command::SendToGroup {
        op,
        group: "room".into(),
        payload: Payload::Text(text.into()),
        no_echo: false,
        fire_and_forget: false,
    }
}

fn text_of(event: &Event) -> Option<String> {
    match event {
        Event::Message(DataMessage {
            payload: Payload::Text(text),
            ..
        }) => Some(text.clone()),
        _ => None,
    }
}

/// Ack ids the server saw on `sendToGroup` requests carrying `text`.
fn ack_ids_for(server: &ScriptedServer, text: &str) -> Vec<u64> {
    server
        .seen()
        .into_iter()
        .filter_map(|seen| match seen.request {
            ClientMessage::SendToGroup {
                ack_id,
                data: Payload::Text(t),
                ..
            } if t == text => ack_id,
            _ => None,
        })
        .collect()
}

fn done(duplicate: bool) -> impl Fn(&OpOutcome) -> bool {
    move |o| matches!(o, OpOutcome::Done { duplicate: d, .. } if *d == duplicate)
}

#[tokio::test]
async fn twenty_drops_in_reliable_mode_lose_and_repeat_nothing() {
    let (server, provider, mut handle) = start().await;
    let rounds = 20;
    let per_round = 10;
    let driver = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut next = 0;
            for _ in 0..rounds {
                until("a live socket", || server.is_live()).await;
                let attached = server.attachments();
                for _ in 0..per_round {
                    server.publish(&format!("m{next}"));
                    next += 1;
                }
                server.drop_connection();
                // Published while the client is away: kept and replayed on recovery.
                for _ in 0..3 {
                    server.publish(&format!("m{next}"));
                    next += 1;
                }
                until("the recovered socket", || server.attachments() > attached).await;
            }
            until("a live socket", || server.is_live()).await;
            server.publish("end");
            next
        })
    };
    let mut received = Vec::new();
    let mut recovered = 0;
    let mut lost = 0;
    loop {
        let event = next_event(&mut handle).await;
        match &event {
            Event::Recovered { .. } => recovered += 1,
            Event::SessionLost { .. } => lost += 1,
            _ => {}
        }
        if let Some(text) = text_of(&event) {
            if text == "end" {
                break;
            }
            received.push(text);
        }
    }
    let published = tokio::time::timeout(WAIT, driver)
        .await
        .expect("driver finished")
        .expect("driver ok");
    let expected: Vec<String> = (0..published).map(|n| format!("m{n}")).collect();
    assert_eq!(received, expected, "every message once, in order");
    assert_eq!(recovered, rounds);
    assert_eq!(lost, 0);
    assert_eq!(provider.calls(), 1, "recovery never asks the provider");
    let recoveries = server
        .handshakes()
        .iter()
        .filter(|h| h.uri.contains("awps_connection_id=conn-1"))
        .count();
    assert!(recoveries >= rounds, "{recoveries} recovery handshakes");
    assert!(
        server
            .handshakes()
            .iter()
            .all(|h| h.uri.contains("access_token=TESTTOKEN")),
        "recovery keeps the original query"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_with_the_same_ack_id() {
    let (server, _, mut handle) = start().await;
    server.plan_acks([
        AckPlan::Error("InternalServerError".into()),
        AckPlan::Error("InternalServerError".into()),
        AckPlan::Normal,
    ]);
    command(&handle, send(1, "retried")).await;
    assert!(done(false)(&outcome(&mut handle, 1).await));
    let ids = ack_ids_for(&server, "retried");
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");

    // Applied, then the link dropped before the ack: after recovery the same ack id comes
    // back, the service says Duplicate, and that is a success.
    server.plan_acks([AckPlan::ApplyThenDrop]);
    command(&handle, send(2, "applied-then-dropped")).await;
    assert!(done(true)(&outcome(&mut handle, 2).await));
    let ids = ack_ids_for(&server, "applied-then-dropped");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1]);
    let connections: Vec<String> = server
        .seen()
        .into_iter()
        .filter(|s| matches!(&s.request, ClientMessage::SendToGroup { ack_id, .. } if *ack_id == Some(ids[0])))
        .map(|s| s.connection_id)
        .collect();
    assert_eq!(
        connections,
        vec!["conn-1", "conn-1"],
        "same recovered session"
    );

    // Too many transient failures: the op fails with the last error.
    server.plan_acks(vec![AckPlan::Error("InternalServerError".into()); 4]);
    command(&handle, send(3, "always-failing")).await;
    assert!(matches!(
        outcome(&mut handle, 3).await,
        OpOutcome::Failed(OpError::Refused {
            name: AckErrorName::InternalServerError,
            ..
        })
    ));
    assert_eq!(
        ack_ids_for(&server, "always-failing").len(),
        4,
        "1 + 3 retries"
    );
}

#[tokio::test]
async fn forbidden_is_not_retried_and_duplicate_is_success() {
    let (server, _, mut handle) = start().await;
    server.plan_acks([AckPlan::Error("Duplicate".into())]);
    command(&handle, send(1, "duplicate")).await;
    assert!(done(true)(&outcome(&mut handle, 1).await));

    // Were Forbidden retried, the retry would meet the Normal plan and succeed.
    server.plan_acks([AckPlan::Error("Forbidden".into()), AckPlan::Normal]);
    command(&handle, send(2, "forbidden")).await;
    let result = outcome(&mut handle, 2).await;
    assert!(
        matches!(
            &result,
            OpOutcome::Failed(OpError::Refused {
                name: AckErrorName::Forbidden,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(ack_ids_for(&server, "forbidden").len(), 1);
}

#[tokio::test]
async fn acks_that_come_late_never_or_twice() {
    let (server, _, mut handle) = start_with(|c| c.ack_timeout = Duration::from_millis(800)).await;
    command(&handle, Command::InspectFrames(true)).await;
    server.plan_acks([
        AckPlan::Never,
        AckPlan::Late(Duration::from_millis(1200)),
        AckPlan::Twice,
        AckPlan::Normal,
    ]);
    command(&handle, send(1, "never")).await;
    assert!(matches!(
        outcome(&mut handle, 1).await,
        OpOutcome::Failed(OpError::Timeout(_))
    ));
    command(&handle, send(2, "late")).await;
    assert!(matches!(
        outcome(&mut handle, 2).await,
        OpOutcome::Failed(OpError::Timeout(_))
    ));
    let late_id = ack_ids_for(&server, "late")[0];
    let late_ack = format!("\"ackId\":{late_id},");
    wait_for(&mut handle, |e| {
        matches!(e, Event::RawFrame { direction: Direction::In, text } if text.contains(&late_ack))
    })
    .await;
    command(&handle, send(3, "twice")).await;
    command(&handle, send(4, "normal")).await;
    let mut results = Vec::new();
    while results.len() < 2 {
        if let Event::OpResult { op, outcome } = next_event(&mut handle).await {
            results.push((op, outcome));
        }
    }
    assert_eq!(
        results[0].0, 3,
        "the late ack of op 2 was ignored: {results:?}"
    );
    assert!(done(false)(&results[0].1));
    assert_eq!(
        results[1].0, 4,
        "the second ack of op 3 was ignored: {results:?}"
    );
}

#[tokio::test]
async fn refused_recovery_means_a_fresh_session_with_groups_rejoined() {
    let (server, provider, mut handle) = start().await;
    for (op, group) in [(1, "a"), (2, "b")] {
        command(
            &handle,
            Command::Join {
                op,
                group: group.into(),
            },
        )
        .await;
        assert!(done(false)(&outcome(&mut handle, op).await));
    }
    command(
        &handle,
        Command::Leave {
            op: 3,
            group: "b".into(),
        },
    )
    .await;
    assert!(done(false)(&outcome(&mut handle, 3).await));
    server.set_refuse_recovery(true);
    server.drop_connection();
    let reason = loop {
        match next_event(&mut handle).await {
            Event::SessionLost { reason, .. } => break reason,
            Event::Recovered { .. } => panic!("a refused recovery was reported as recovered"),
            _ => {}
        }
    };
    assert!(reason.contains("1008"), "{reason}");
    let connected = next_event(&mut handle).await;
    assert!(
        matches!(&connected, Event::Connected { connection_id, protocol: Subprotocol::JsonReliable, .. } if connection_id == "conn-2"),
        "{connected:?}"
    );
    until("group a rejoined", || server.groups().contains("a")).await;
    let rejoined: Vec<String> = server
        .seen()
        .into_iter()
        .filter(|s| s.connection_id == "conn-2")
        .filter_map(|s| match s.request {
            ClientMessage::JoinGroup { group, .. } => Some(group),
            _ => None,
        })
        .collect();
    assert_eq!(rejoined, vec!["a"]);
    assert_eq!(
        provider.calls(),
        2,
        "a fresh session asks the provider again"
    );
    assert!(
        server
            .handshakes()
            .iter()
            .any(|h| h.uri.contains("awps_reconnection_token=rt-1")),
        "recovery was tried first"
    );
}

#[tokio::test]
async fn the_outbox_queues_while_offline_and_flushes_in_order() {
    let server = ScriptedServer::start().await;
    server.set_reject_handshake(Some((503, "busy")));
    let provider = CountingProvider::new(server.url());
    let mut config = config(provider.clone());
    config.outbox_capacity = 3;
    let mut handle = client::spawn(config);
    for op in 1..=4 {
        command(&handle, send(op, &format!("queued-{op}"))).await;
    }
    for op in 1..=3 {
        wait_for(
            &mut handle,
            |e| matches!(e, Event::Queued { op: o } if *o == op),
        )
        .await;
    }
    let refused = outcome(&mut handle, 4).await;
    assert!(
        matches!(&refused, OpOutcome::Failed(OpError::Invalid(why)) if why.contains("outbox is full")),
        "{refused:?}"
    );
    let state = handle.state.clone();
    until("a reconnecting state", || {
        matches!(&*state.borrow(), ConnState::Reconnecting { last_error, .. } if last_error.contains("503"))
    })
    .await;
    server.set_reject_handshake(None);
    for op in 1..=3 {
        assert!(done(false)(&outcome(&mut handle, op).await));
    }
    let order: Vec<String> = server
        .seen()
        .into_iter()
        .filter_map(|s| match s.request {
            ClientMessage::SendToGroup {
                data: Payload::Text(t),
                ..
            } => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec!["queued-1", "queued-2", "queued-3"]);
}

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
