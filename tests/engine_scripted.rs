//! The client engine against a scripted server: drops, recovery, refused recovery, acks that
//! come late, never, twice or with errors, and the outbox. The rest (handshakes, dead links,
//! limits, replays, shutdown) is in `engine_scripted_links.rs`.

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
use wpchat::protocol::{AckErrorName, ClientMessage, Payload, Subprotocol};

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
