//! The local service against protocol.md's conformance checklist (§13, items 1–33: connection,
//! auth, groups, acks, messages), with raw tokio-tungstenite sockets. One test per item, named
//! after it; the reliable protocol's items are in `service_conformance_reliable.rs`.

#[path = "support/service_client.rs"]
mod service_client;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use service_client::*;
use tokio_tungstenite::tungstenite::Message;
use wpchat::auth::token::{Claims, mint};

/// Mints a token from raw JSON claims (to put `role` as a plain string, for instance).
fn mint_json(claims: &Value, key: &str) -> String {
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
}

// ---- Connection and auth ----

#[tokio::test]
async fn item_01_upgrade_with_token_gets_connected_first() {
    let service = start().await;
    let (_client, connected) = json_client(&service, Some("alice"), &[]).await;
    assert!(
        !connected["connectionId"].as_str().unwrap().is_empty(),
        "{connected}"
    );
}

#[tokio::test]
async fn item_02_hub_in_query_and_bearer_header_are_accepted() {
    let service = start().await;
    let token = token_for(&service, HUB, Some("alice"), &[], &[]);
    let url = format!(
        "ws://{}/client/?hub={HUB}&access_token={token}",
        service.addr
    );
    let (_a, connected) = Client::connect(&url, JSON).await;
    assert_eq!(connected["userId"], "alice");

    let bare = format!("ws://{}/client/hubs/{HUB}", service.addr);
    let mut b = open_with_headers(
        &bare,
        &[JSON],
        &[("Authorization", format!("Bearer {token}"))],
    )
    .await
    .expect("bearer header accepted");
    assert_eq!(b.next_json().await["event"], "connected");
}

#[tokio::test]
async fn item_03_missing_bad_signature_wrong_audience_or_expired_token_is_401() {
    let service = start().await;
    let bare = format!("ws://{}/client/hubs/{HUB}", service.addr);
    let (status, body) = refused(&bare, &[JSON]).await;
    assert_eq!(status, 401);
    assert!(body.contains("no access token"), "{body}");

    let claims = |aud: String, exp: i64| Claims {
        aud,
        exp,
        ..Claims::default()
    };
    let aud = format!("http://{}/client/hubs/{HUB}", service.addr);
    let wrong_key = mint(
        &claims(aud.clone(), now() + 600),
        "another-key-that-is-long-enough-0123456789",
    );
    let (status, body) = refused(&client_url(&service, HUB, &wrong_key), &[JSON]).await;
    assert_eq!(status, 401);
    assert!(body.contains("signature"), "{body}");

    let wrong_aud = mint(
        &claims(
            format!("http://{}/client/hubs/other", service.addr),
            now() + 600,
        ),
        &service.access_key,
    );
    let (status, body) = refused(&client_url(&service, HUB, &wrong_aud), &[JSON]).await;
    assert_eq!(status, 401);
    assert!(body.contains("audience"), "{body}");

    let expired = mint(&claims(aud, now() - 3600), &service.access_key);
    let (status, body) = refused(&client_url(&service, HUB, &expired), &[JSON]).await;
    assert_eq!(status, 401);
    assert!(body.contains("expired"), "{body}");
}

#[tokio::test]
async fn item_04_whitespace_only_token_group_is_400() {
    let service = start().await;
    let token = token_for(&service, HUB, None, &[], &["   "]);
    let (status, body) = refused(&client_url(&service, HUB, &token), &[JSON]).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("the token's webpubsub.group claim holds an invalid group name"),
        "{body}"
    );
}

#[tokio::test]
async fn item_05_user_id_is_null_without_sub_and_set_with_sub() {
    let service = start().await;
    let (_a, anonymous) = json_client(&service, None, &[]).await;
    assert_eq!(anonymous["userId"], Value::Null);
    assert!(anonymous.as_object().unwrap().contains_key("userId"));
    let (_b, alice) = json_client(&service, Some("alice"), &[]).await;
    assert_eq!(alice["userId"], "alice");
}

#[tokio::test]
async fn item_06_role_as_string_and_as_array_are_honoured() {
    let service = start().await;
    let aud = format!("http://{}/client/hubs/{HUB}", service.addr);
    for role in [
        json!("webpubsub.joinLeaveGroup"),
        json!(["webpubsub.joinLeaveGroup"]),
    ] {
        let token = mint_json(
            &json!({"aud": aud, "exp": now() + 600, "role": role}),
            &service.access_key,
        );
        let (mut client, _) = Client::connect(&client_url(&service, HUB, &token), JSON).await;
        assert_eq!(client.join("room", 1).await, ack_ok(1), "role {role}");
    }
}

#[tokio::test]
async fn item_07_token_groups_are_joined_at_connect() {
    let service = start().await;
    let (mut member, _) = connect_to_hub(&service, JSON, None, &[], &["g1"]).await;
    let (mut sender, _) = json_client(&service, Some("bob"), JOIN_SEND).await;
    sender.publish("g1", "hello", 1).await;
    let message = member.next_json().await;
    assert_eq!(message["group"], "g1");
    assert_eq!(message["data"], "hello");
}

#[tokio::test]
async fn item_08_token_expiring_after_connect_keeps_the_connection() {
    let service = start().await;
    // Expired already, but inside the 5-minute skew: accepted now, past its skewed expiry
    // four seconds later.
    let token = mint(
        &Claims {
            aud: format!("http://{}/client/hubs/{HUB}", service.addr),
            exp: now() - 297,
            roles: vec!["webpubsub.joinLeaveGroup".into()],
            ..Claims::default()
        },
        &service.access_key,
    );
    let (mut client, _) = Client::connect(&client_url(&service, HUB, &token), JSON).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, body) = refused(&client_url(&service, HUB, &token), &[JSON]).await;
    assert_eq!(
        status, 401,
        "the same token is refused for a new connection: {body}"
    );
    assert!(body.contains("the access token expired at"), "{body}");
    assert_eq!(client.join("room", 1).await, ack_ok(1));
}

#[tokio::test]
async fn item_09_hub_names_are_case_insensitive() {
    let service = start().await;
    let upper = token_for(&service, "CHAT", Some("a"), JOIN_SEND, &[]);
    let (mut a, _) = Client::connect(&client_url(&service, "CHAT", &upper), JSON).await;
    let (mut b, _) = json_client(&service, Some("b"), JOIN_SEND).await;
    assert_eq!(b.join("g", 1).await, ack_ok(1));
    a.publish("g", "across", 1).await;
    assert_eq!(b.next_json().await["data"], "across");
}

#[tokio::test]
async fn item_10_reconnection_token_only_on_reliable() {
    let service = start().await;
    let (_a, plain) = json_client(&service, None, &[]).await;
    assert!(plain.get("reconnectionToken").is_none(), "{plain}");
    let (_b, reliable) = reliable_client(&service, None, &[]).await;
    assert!(
        !reliable["reconnectionToken"].as_str().unwrap().is_empty(),
        "{reliable}"
    );
}

// ---- Groups and acks ----

#[tokio::test]
async fn item_11_join_with_role_is_acked() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, &["webpubsub.joinLeaveGroup"]).await;
    assert_eq!(client.join("room1", 42).await, ack_ok(42));
}

#[tokio::test]
async fn item_12_join_without_permission_is_forbidden_and_connection_stays() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, &[]).await;
    let ack = client.join("room1", 1).await;
    assert_eq!(ack["success"], false);
    assert_eq!(ack["error"]["name"], "Forbidden");
    assert!(
        ack["error"]["message"].as_str().unwrap().contains("room1"),
        "{ack}"
    );
    client.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_13_per_group_role_allows_only_that_group() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, &["webpubsub.joinLeaveGroup.room1"]).await;
    assert_eq!(client.join("room1", 1).await, ack_ok(1));
    assert_eq!(client.join("room2", 2).await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn item_14_wildcard_roles_match_dots_as_specified() {
    let service = start().await;
    let (mut one, _) = json_client(&service, None, &["webpubsub.joinLeaveGroups.public.*"]).await;
    assert_eq!(one.join("public.a", 1).await, ack_ok(1));
    assert_eq!(
        one.join("public.a.b", 2).await["error"]["name"],
        "Forbidden"
    );
    let (mut two, _) = json_client(&service, None, &["webpubsub.joinLeaveGroups.public.**"]).await;
    assert_eq!(two.join("public.a", 1).await, ack_ok(1));
    assert_eq!(two.join("public.a.b", 2).await, ack_ok(2));
    let (mut sender, _) = json_client(&service, None, &["webpubsub.sendToGroups.public.*"]).await;
    sender.publish("public.a", "x", 1).await;
    sender.send_json(send_text("public.a.b", "x", 2)).await;
    assert_eq!(sender.next_json().await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn item_15_send_without_role_is_forbidden_and_not_delivered() {
    let service = start().await;
    let (mut member, _) = json_client(&service, None, JOIN_SEND).await;
    assert_eq!(member.join("g", 1).await, ack_ok(1));
    let (mut sender, _) = json_client(&service, None, &["webpubsub.joinLeaveGroup"]).await;
    sender.send_json(send_text("g", "nope", 7)).await;
    let ack = sender.next_json().await;
    assert_eq!(ack["error"]["name"], "Forbidden");
    assert!(ack["error"]["message"].as_str().unwrap().contains("'g'"));
    member.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_16_duplicate_ack_id_is_not_reexecuted() {
    let service = start().await;
    let (mut member, _) = json_client(&service, None, JOIN_SEND).await;
    assert_eq!(member.join("g", 1).await, ack_ok(1));
    let (mut sender, _) = json_client(&service, Some("s"), JOIN_SEND).await;
    sender.publish("g", "once", 5).await;
    sender.send_json(send_text("g", "once", 5)).await;
    let duplicate = sender.next_json().await;
    assert_eq!(duplicate["success"], false);
    assert_eq!(duplicate["error"]["name"], "Duplicate");
    assert_eq!(member.next_json().await["data"], "once");
    member.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_16b_failed_ack_id_can_be_retried() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, &["webpubsub.joinLeaveGroup.a"]).await;
    assert_eq!(client.join("b", 3).await["error"]["name"], "Forbidden");
    assert_eq!(client.join("a", 3).await, ack_ok(3));
}

#[tokio::test]
async fn item_17_request_without_ack_id_gets_no_ack() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
    client
        .send_json(json!({"type": "joinGroup", "group": "g"}))
        .await;
    client
        .send_json(json!({"type": "joinGroup", "group": "g2"}))
        .await;
    client.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_18_leaving_a_group_not_joined_succeeds() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
    client
        .send_json(json!({"type": "leaveGroup", "group": "never", "ackId": 9}))
        .await;
    assert_eq!(client.next_json().await, ack_ok(9));
}

#[tokio::test]
async fn item_19_group_name_too_long_or_blank_closes_1007() {
    let service = start().await;
    for group in ["g".repeat(1025), "  \t ".to_string()] {
        let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
        client
            .send_json(json!({"type": "joinGroup", "group": group, "ackId": 1}))
            .await;
        assert_eq!(client.close_code().await, 1007);
    }
    let (mut ok, _) = json_client(&service, None, JOIN_SEND).await;
    assert_eq!(ok.join(&"g".repeat(1024), 1).await, ack_ok(1));
}

// ---- Messages ----

#[tokio::test]
async fn item_20_group_message_reaches_every_member_including_sender() {
    let service = start().await;
    let (mut alice, _) = json_client(&service, Some("alice"), JOIN_SEND).await;
    let (mut bob, _) = json_client(&service, Some("bob"), JOIN_SEND).await;
    assert_eq!(alice.join("g", 1).await, ack_ok(1));
    assert_eq!(bob.join("g", 1).await, ack_ok(1));
    alice.send_json(send_text("g", "hi", 2)).await;
    let expected = json!({"type": "message", "from": "group", "group": "g", "fromUserId": "alice", "dataType": "text", "data": "hi"});
    let mut seen = vec![alice.next_json().await, alice.next_json().await];
    seen.sort_by_key(|v| v["type"].as_str().unwrap().to_string());
    assert_eq!(seen, vec![ack_ok(2), expected.clone()]);
    assert_eq!(bob.next_json().await, expected);
}

#[tokio::test]
async fn item_21_no_echo_skips_only_the_sender() {
    let service = start().await;
    let (mut alice, _) = json_client(&service, Some("alice"), JOIN_SEND).await;
    let (mut bob, _) = json_client(&service, Some("bob"), JOIN_SEND).await;
    assert_eq!(alice.join("g", 1).await, ack_ok(1));
    assert_eq!(bob.join("g", 1).await, ack_ok(1));
    alice
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "quiet", "noEcho": true, "ackId": 2}))
        .await;
    assert_eq!(alice.next_json().await, ack_ok(2));
    alice.expect_nothing_queued().await;
    assert_eq!(bob.next_json().await["data"], "quiet");
}

#[tokio::test]
async fn item_22_non_members_receive_nothing() {
    let service = start().await;
    let (mut outsider, _) = json_client(&service, None, JOIN_SEND).await;
    let (mut sender, _) = json_client(&service, None, JOIN_SEND).await;
    assert_eq!(sender.join("g", 1).await, ack_ok(1));
    sender.send_json(send_text("g", "members only", 2)).await;
    assert_eq!(sender.next_json().await["type"], "message");
    assert_eq!(sender.next_json().await, ack_ok(2));
    outsider.expect_nothing_queued().await;
}

#[tokio::test]
async fn item_23_omitted_data_type_is_json() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
    assert_eq!(client.join("g", 1).await, ack_ok(1));
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "data": "x"}))
        .await;
    let message = client.next_json().await;
    assert_eq!(message["dataType"], "json");
    assert_eq!(message["data"], "x");
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "data": {"k": [1, 2]}}))
        .await;
    assert_eq!(client.next_json().await["data"], json!({"k": [1, 2]}));
}

#[tokio::test]
async fn item_24_binary_needs_valid_base64_and_round_trips() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
    assert_eq!(client.join("g", 1).await, ack_ok(1));
    let bytes: Vec<u8> = (0..=255).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "binary", "data": encoded, "ackId": 2}))
        .await;
    let message = client.next_json().await;
    assert_eq!(message["dataType"], "binary");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(message["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, bytes);
    assert_eq!(client.next_json().await, ack_ok(2));
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "not base64!!", "ackId": 3}))
        .await;
    assert_eq!(client.close_code().await, 1007);
}

#[tokio::test]
async fn item_25_text_with_non_string_data_is_rejected() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
    client
        .send_json(
            json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": 5, "ackId": 1}),
        )
        .await;
    assert_eq!(client.close_code().await, 1007);
}

#[tokio::test]
async fn item_26_simple_client_gets_raw_frames() {
    let service = start().await;
    let mut raw = open(&hub_url(&service, None, &[], &["g"]), &[])
        .await
        .expect("simple client connects");
    let (mut sender, _) = json_client(&service, None, JOIN_SEND).await;
    sender.send_json(send_text("g", "plain", 1)).await;
    sender
        .send_json(json!({"type": "sendToGroup", "group": "g", "data": {"a": 1}, "ackId": 2}))
        .await;
    sender
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "AAEC", "ackId": 3}))
        .await;
    assert_eq!(raw.next_message().await, Message::text("plain"));
    assert_eq!(raw.next_message().await, Message::text(r#"{"a":1}"#));
    assert_eq!(raw.next_message().await, Message::binary(vec![0u8, 1, 2]));
}

#[tokio::test]
async fn item_27_rest_text_to_connection_is_a_server_text_message() {
    let service = start().await;
    let (mut client, connected) = json_client(&service, None, &[]).await;
    let id = connection_id(&connected);
    let send = format!("connections/{id}/:send?api-version=2024-01-01");
    let api = HubApi::new(&service, HUB);
    api.expect_post(&send, "text/plain", b"Hello World", 202)
        .await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "message", "from": "server", "dataType": "text", "data": "Hello World"})
    );
}

#[tokio::test]
async fn item_28_ping_gets_pong_without_ack_or_sequence_id() {
    let service = start().await;
    let (mut client, _) = reliable_client(&service, None, &[]).await;
    client.send_json(json!({"type": "ping"})).await;
    assert_eq!(client.next_json().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn item_29_unknown_type_or_non_json_closes_1007() {
    let service = start().await;
    for frame in [
        r#"{"type":"teleport"}"#,
        "this is not json",
        r#"{"no":"type"}"#,
    ] {
        let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
        client.send_text(frame).await;
        assert_eq!(client.close_code().await, 1007, "{frame}");
    }
}

#[tokio::test]
async fn item_30_message_over_1_mib_closes_1009() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, JOIN_SEND).await;
    client.send_text(&"x".repeat(1024 * 1024 + 1)).await;
    assert_eq!(client.close_code().await, 1009);
}

#[tokio::test]
async fn item_31_event_without_upstream_is_internal_server_error() {
    let service = start().await;
    let (mut client, _) = json_client(&service, None, &[]).await;
    client
        .send_json(
            json!({"type": "event", "event": "chat", "dataType": "text", "data": "hi", "ackId": 4}),
        )
        .await;
    let ack = client.next_json().await;
    assert_eq!(ack["ackId"], 4);
    assert_eq!(ack["success"], false);
    assert_eq!(ack["error"]["name"], "InternalServerError");
}

#[tokio::test]
async fn item_32_simple_client_frame_without_handler_disconnects() {
    let service = start().await;
    let mut raw = open(&hub_url(&service, None, &[], &[]), &[])
        .await
        .expect("simple client connects");
    raw.send_text("hello?").await;
    assert_eq!(raw.close_code().await, 1011);
}

#[tokio::test]
async fn item_33_rest_close_sends_disconnected_with_reason_then_close() {
    let service = start().await;
    let (mut client, connected) = json_client(&service, None, &[]).await;
    let id = connection_id(&connected);
    let close = format!("connections/{id}?reason=kicked%20out&api-version=2024-01-01");
    let api = HubApi::new(&service, HUB);
    api.expect(reqwest::Method::DELETE, &close, 204).await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "system", "event": "disconnected", "message": "kicked out"})
    );
    assert!(matches!(client.until_end().await.1, Ending::Closed(_)));
}
