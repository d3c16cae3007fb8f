//! The local service against protocol.md's conformance checklist (§13), the reliable
//! protocol's items (34–43): sequence ids, recovery, replay, sequence acks. Raw
//! tokio-tungstenite sockets; one test per item, named after it.

#[path = "support/service_client.rs"]
mod service_client;

use std::time::Duration;

use serde_json::{Value, json};
use service_client::*;
use wpchat::service::ServiceConfig;

#[tokio::test]
async fn item_34_sequence_ids_start_at_1_on_data_messages_only() {
    let service = start().await;
    let (mut client, connected) = reliable_client(&service, None, JOIN_SEND).await;
    assert!(connected.get("sequenceId").is_none());
    let ack = client.join("g", 1).await;
    assert!(ack.get("sequenceId").is_none());
    let mut sequence_ids = Vec::new();
    for i in 0..3 {
        client.send_json(send_text("g", "m", 10 + i)).await;
        let message = client.next_json().await;
        sequence_ids.push(message["sequenceId"].as_u64().unwrap());
        assert!(client.next_json().await.get("sequenceId").is_none());
    }
    assert_eq!(sequence_ids, vec![1, 2, 3]);
}

/// A reliable member of `group` plus a sender; returns (member, member's connected, sender).
async fn reliable_member(
    service: &wpchat::service::RunningService,
    group: &str,
) -> (Client, Value, Client) {
    let (mut member, connected) = reliable_client(service, Some("m"), JOIN_SEND).await;
    assert_eq!(member.join(group, 1).await, ack_ok(1));
    let (sender, _) = json_client(service, Some("s"), JOIN_SEND).await;
    (member, connected, sender)
}

#[tokio::test]
async fn item_35_recovery_keeps_id_groups_and_replays_unacked_in_order() {
    let service = start().await;
    let (mut member, connected, mut sender) = reliable_member(&service, "g").await;
    sender.publish("g", "one", 1).await;
    sender.publish("g", "two", 2).await;
    assert_eq!(member.next_json().await["data"], "one");
    assert_eq!(member.next_json().await["data"], "two");
    member.drop_abruptly();

    let mut recovered = recover(&service, &connected, RELIABLE).await;
    let first = recovered.next_json().await;
    let second = recovered.next_json().await;
    assert_eq!(
        (first["sequenceId"].clone(), first["data"].clone()),
        (json!(1), json!("one"))
    );
    assert_eq!(
        (second["sequenceId"].clone(), second["data"].clone()),
        (json!(2), json!("two"))
    );
    // Still in the group, same session: the next message continues the sequence.
    sender.publish("g", "three", 3).await;
    let third = recovered.next_json().await;
    assert_eq!(
        (third["sequenceId"].clone(), third["data"].clone()),
        (json!(3), json!("three"))
    );
    let id = connection_id(&connected);
    assert_eq!(connection_status(&service, HUB, &id).await, 200);
}

#[tokio::test]
async fn item_36_recovery_replays_only_after_the_sequence_ack() {
    let service = start().await;
    let (mut member, connected, mut sender) = reliable_member(&service, "g").await;
    for (i, data) in ["a", "b", "c"].into_iter().enumerate() {
        sender.publish("g", data, i as u64 + 1).await;
        member.next_json().await;
    }
    member
        .send_json(json!({"type": "sequenceAck", "sequenceId": 2}))
        .await;
    member.expect_nothing_queued().await;
    member.drop_abruptly();
    let mut recovered = recover(&service, &connected, RELIABLE).await;
    let replay = recovered.next_json().await;
    assert_eq!(replay["sequenceId"], 3);
    assert_eq!(replay["data"], "c");
    recovered.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_37_messages_sent_while_away_arrive_after_recovery() {
    let service = start().await;
    let (member, connected, mut sender) = reliable_member(&service, "g").await;
    member.drop_abruptly();
    tokio::time::sleep(Duration::from_millis(100)).await;
    sender.publish("g", "while away", 1).await;
    let mut recovered = recover(&service, &connected, RELIABLE).await;
    let message = recovered.next_json().await;
    assert_eq!(message["data"], "while away");
    assert_eq!(message["sequenceId"], 1);
}

#[tokio::test]
async fn item_38_late_wrong_or_unknown_recovery_is_closed_1008() {
    let service = start_with(ServiceConfig {
        recovery_window: Duration::from_millis(200),
        ..ServiceConfig::default()
    })
    .await;
    // Wrong token.
    let (member, connected) = reliable_client(&service, None, &[]).await;
    member.drop_abruptly();
    let mut wrong = connected.clone();
    wrong["reconnectionToken"] = json!("forged");
    expect_recovery_refused(&service, &wrong, RELIABLE, BAD_RECONNECTION_TOKEN).await;
    // Unknown connection id.
    let mut unknown = connected.clone();
    unknown["connectionId"] = json!("no-such-connection");
    expect_recovery_refused(&service, &unknown, RELIABLE, BAD_RECONNECTION_TOKEN).await;
    // After the window.
    tokio::time::sleep(Duration::from_millis(800)).await;
    expect_recovery_refused(&service, &connected, RELIABLE, SESSION_GONE).await;
}

#[tokio::test]
async fn item_39_non_reliable_connection_cannot_be_recovered() {
    let service = start().await;
    let (client, connected) = json_client(&service, None, &[]).await;
    client.drop_abruptly();
    // It has no reconnection token; nor is recovery possible without the reliable subprotocol.
    for (protocol, reason) in [
        (RELIABLE, BAD_RECONNECTION_TOKEN),
        (
            JSON,
            "Recovery needs the json.reliable.webpubsub.azure.v1 subprotocol.",
        ),
    ] {
        expect_recovery_refused(&service, &connected, protocol, reason).await;
    }
}

#[tokio::test]
async fn item_40_over_1000_unacked_closes_1008_and_recovery_fails() {
    let service = start().await;
    let (mut member, connected, mut sender) = reliable_member(&service, "g").await;
    for i in 0..1001u64 {
        sender.send_json(send_text("g", "flood", i + 1)).await;
    }
    let (seen, ending) = member.until_end().await;
    assert_eq!(ending, Ending::Closed(1008));
    let last = seen.last().and_then(|m| m.to_text().ok()).unwrap_or("");
    assert!(last.contains("disconnected"), "{last}");
    expect_recovery_refused(&service, &connected, RELIABLE, SESSION_GONE).await;
}

#[tokio::test]
async fn item_41_client_close_1000_ends_the_session() {
    let service = start().await;
    let (client, connected) = reliable_client(&service, None, &[]).await;
    client.close_with(1000).await;
    expect_recovery_refused(&service, &connected, RELIABLE, SESSION_GONE).await;
}

#[tokio::test]
async fn item_42_ack_id_dedupe_survives_recovery() {
    let service = start().await;
    let (mut client, connected) = reliable_client(&service, Some("p"), JOIN_SEND).await;
    client.publish("elsewhere", "x", 7).await;
    client.drop_abruptly();
    let mut recovered = recover(&service, &connected, RELIABLE).await;
    recovered.send_json(send_text("elsewhere", "x", 7)).await;
    assert_eq!(recovered.next_json().await["error"]["name"], "Duplicate");
}

#[tokio::test]
async fn item_43_new_connection_gets_new_id_and_only_token_groups() {
    let service = start().await;
    let url = hub_url(&service, Some("u"), JOIN_SEND, &["t"]);
    let (mut first, first_connected) = Client::connect(&url, RELIABLE).await;
    assert_eq!(first.join("joined", 1).await, ack_ok(1));
    first.close_with(1000).await;
    let (mut second, second_connected) = Client::connect(&url, RELIABLE).await;
    assert_ne!(
        first_connected["connectionId"],
        second_connected["connectionId"]
    );
    let (mut sender, _) = json_client(&service, None, JOIN_SEND).await;
    sender.publish("joined", "old group", 1).await;
    sender.publish("t", "token group", 2).await;
    assert_eq!(second.next_json().await["data"], "token group");
    second.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_41b_client_close_other_than_1000_keeps_the_session() {
    let service = start().await;
    let (client, connected) = reliable_client(&service, None, &[]).await;
    client.close_with(1001).await;
    let mut recovered = recover(&service, &connected, RELIABLE).await;
    recovered.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_41c_client_close_without_a_code_ends_the_session_like_1000() {
    // The JS client SDK's stop() sends a close frame with no status code.
    let service = start().await;
    let (client, connected) = reliable_client(&service, Some("stopper"), &[]).await;
    let id = connection_id(&connected);
    assert_eq!(client.close_handshake(None).await.0, Ending::Closed(1005));
    assert_eq!(connection_status(&service, HUB, &id).await, 404);
    expect_recovery_refused(&service, &connected, RELIABLE, SESSION_GONE).await;
}

#[tokio::test]
async fn item_41d_a_client_close_frame_is_answered_before_the_socket_ends() {
    let service = start().await;
    let cases = [
        (JSON, Some(1000), Ending::Closed(1000)),
        (RELIABLE, Some(1000), Ending::Closed(1000)),
        (RELIABLE, None, Ending::Closed(1005)),
        // A non-normal close keeps the session for recovery, but is still answered.
        (RELIABLE, Some(1001), Ending::Closed(1001)),
        (JSON, Some(4000), Ending::Closed(4000)),
    ];
    for (protocol, code, expected) in cases {
        let (client, _) = connect_to_hub(&service, protocol, None, &[], &[]).await;
        let (reply, clean) = client.close_handshake(code).await;
        assert_eq!(reply, expected, "{protocol} close {code:?}");
        assert!(
            clean,
            "{protocol} close {code:?}: the stream ended with an error"
        );
    }
}
