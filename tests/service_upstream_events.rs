//! `wpchat serve`'s event handlers against shared/upstream.md's checklist, user events
//! (U13–U20): data in, replies out, failures, order, connection state, timeouts, and slow or
//! dead handlers that must not hold anyone else back.

#[path = "support/event_handler.rs"]
mod event_handler;
#[path = "support/service_client.rs"]
mod service_client;

use base64::Engine;
use event_handler::*;
use serde_json::json;
use service_client::*;
use tokio_tungstenite::tungstenite::Message;
use wpchat::service::upstream::{self, UpstreamSettings};

#[tokio::test]
async fn u13_event_data_reaches_the_handler_byte_exact() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    let bytes = vec![0u8, 159, 146, 150, 255];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let sent = [
        (
            "t",
            "text",
            json!("héllo"),
            "text/plain",
            b"h\xc3\xa9llo".to_vec(),
        ),
        (
            "j",
            "json",
            json!({"n": 1}),
            "application/json",
            br#"{"n":1}"#.to_vec(),
        ),
        (
            "b",
            "binary",
            json!(b64),
            "application/octet-stream",
            bytes.clone(),
        ),
    ];
    for (ack_id, (name, data_type, data, _, _)) in (1..).zip(&sent) {
        client
            .send_json(event(name, data_type, data.clone(), ack_id))
            .await;
        client.next_json().await;
        client.next_json().await;
    }
    let id = connection_id(&connected);
    for (name, _, _, content_type, body) in sent {
        let call = handler.wait_event(&id, name).await;
        assert_eq!(call.header("content-type"), Some(content_type), "{name}");
        assert_eq!(call.body.to_vec(), body, "{name}");
        assert_eq!(
            call.header("ce-type"),
            Some(format!("azure.webpubsub.user.{name}").as_str())
        );
    }
    let mut simple = open(&hub_url(&service, Some("s"), &[], &[]), &[])
        .await
        .unwrap();
    simple.send_binary(bytes.clone()).await;
    simple.next_message().await;
    let calls = handler
        .wait_for(|calls| calls.iter().any(|c| c.event() == "message"))
        .await;
    let message = calls.iter().find(|c| c.event() == "message").unwrap();
    assert_eq!(
        message.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(message.body.to_vec(), bytes);
    assert_eq!(message.header("ce-subprotocol"), None);
}

#[tokio::test]
async fn u14_an_empty_success_delivers_nothing_and_acks() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "chat").then(|| Reply::with("application/octet-stream", Vec::new()))
    })
    .await;
    let service = serve(&handler).await;
    let (mut client, _) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client.send_json(event("chat", "text", json!("x"), 1)).await;
    assert_eq!(client.next_json().await, ack_ok(1));
    client.expect_nothing_queued().await;
}

#[tokio::test]
async fn u15_a_simple_client_sends_hello_and_reads_echo_hello() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let mut client = open(&hub_url(&service, Some("u"), &[], &[]), &[])
        .await
        .unwrap();
    client.send_text("hello").await;
    assert_eq!(client.next_message().await, Message::text("echo: hello"));
    client.send_binary(vec![1, 2, 3]).await;
    assert_eq!(client.next_message().await, Message::binary(vec![1, 2, 3]));
}

#[tokio::test]
async fn u16_the_reply_reaches_a_subprotocol_client_before_the_ack() {
    let handler = EventHandler::start_with(|call| match call.event() {
        "text" => Some(Reply::with("text/plain", "plain")),
        "json" => Some(Reply::json(json!({"a": [1]}))),
        "bin" => Some(Reply::with("application/octet-stream", vec![7u8, 8])),
        _ => None,
    })
    .await;
    let service = serve(&handler).await;
    let (mut client, _) = connect_to_hub(&service, RELIABLE, Some("u"), &[], &[]).await;
    let expected = [
        ("text", json!("plain")),
        ("json", json!({"a": [1]})),
        ("bin", json!("Bwg=")),
    ];
    for (ack_id, (name, data)) in (7..).zip(expected) {
        client
            .send_json(event(name, "text", json!("x"), ack_id))
            .await;
        let message = client.next_json().await;
        assert_eq!(message["type"], "message", "{message}");
        assert_eq!(message["from"], "server", "{message}");
        let data_type = if name == "bin" { "binary" } else { name };
        assert_eq!(message["dataType"], data_type, "{message}");
        assert_eq!(message["data"], data, "{message}");
        assert!(message["sequenceId"].is_u64(), "reliable: {message}");
        assert_eq!(client.next_json().await, ack_ok(ack_id));
    }
}

#[tokio::test]
async fn u17_a_failing_handler_gives_an_error_ack_and_the_connection_stays() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "boom")
            .then(|| Reply::with("text/plain", "secret stack trace").with_status(500))
    })
    .await;
    let service = serve(&handler).await;
    let (mut client, _) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client.send_json(event("boom", "text", json!("x"), 1)).await;
    let ack = client.next_json().await;
    failed_ack(&ack, 1);
    assert!(!ack.to_string().contains("secret stack trace"), "{ack}");
    // Without an ackId a failure is only logged.
    client
        .send_json(json!({"type": "event", "event": "boom", "dataType": "text", "data": "y"}))
        .await;
    client
        .send_json(event("chat", "text", json!("still here"), 2))
        .await;
    assert_eq!(client.next_json().await["data"], "still here");
    assert_eq!(client.next_json().await, ack_ok(2));
}

#[tokio::test]
async fn u17_a_failing_handler_closes_a_simple_client_with_1011() {
    let handler =
        EventHandler::start_with(|call| (call.event() == "message").then(|| Reply::status(500)))
            .await;
    let service = serve(&handler).await;
    let mut client = open(&hub_url(&service, Some("u"), &[], &[]), &[])
        .await
        .unwrap();
    client.send_text("hello").await;
    assert_eq!(client.close_code().await, 1011);
}

#[tokio::test]
async fn u17_without_a_handler_events_still_fail_as_before() {
    let service = start().await;
    let (mut client, _) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client.send_json(event("chat", "text", json!("x"), 1)).await;
    failed_ack(&client.next_json().await, 1);
    let mut simple = open(&hub_url(&service, Some("u"), &[], &[]), &[])
        .await
        .unwrap();
    simple.send_text("hello").await;
    assert_eq!(simple.close_code().await, 1011);
}

#[tokio::test]
async fn u18_events_of_a_connection_keep_their_order_and_duplicates_are_not_resent() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "chat" && call.body.as_ref() == b"first").then(|| {
            Reply::with("text/plain", "first").after(std::time::Duration::from_millis(300))
        })
    })
    .await;
    let service = serve(&handler).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client
        .send_json(event("chat", "text", json!("first"), 1))
        .await;
    client
        .send_json(event("chat", "text", json!("second"), 2))
        .await;
    client
        .send_json(event("chat", "text", json!("third"), 1))
        .await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(client.next_json().await);
    }
    assert_eq!(seen[0]["data"], "first");
    assert_eq!(seen[1], ack_ok(1));
    assert_eq!(seen[2]["data"], "second");
    assert_eq!(seen[3], ack_ok(2));
    assert_eq!(seen[4]["error"]["name"], "Duplicate", "{}", seen[4]);
    let bodies: Vec<Vec<u8>> = handler
        .events()
        .iter()
        .filter(|c| c.connection_id() == connection_id(&connected) && c.event() == "chat")
        .map(|c| c.body.to_vec())
        .collect();
    assert_eq!(bodies, [b"first".to_vec(), b"second".to_vec()]);
}

#[tokio::test]
async fn u19_connection_state_follows_the_connection() {
    let state_of = |call: &Call| -> u64 {
        call.header("ce-connectionState")
            .and_then(|s| s.parse().ok())
            .unwrap_or(99)
    };
    let handler = EventHandler::start_with(move |call| match call.event() {
        "connect" => Some(Reply::status(200).header("ce-connectionState", "0")),
        "count" => {
            let next = (state_of(call) + 1).to_string();
            Some(Reply::status(204).header("ce-connectionState", &next))
        }
        "fail" => Some(Reply::status(500).header("ce-connectionState", "77")),
        _ => None,
    })
    .await;
    let service = serve(&handler).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    for ack_id in 1..=3 {
        client
            .send_json(event("count", "text", json!("x"), ack_id))
            .await;
        assert_eq!(client.next_json().await, ack_ok(ack_id));
    }
    client.send_json(event("fail", "text", json!("x"), 4)).await;
    failed_ack(&client.next_json().await, 4);
    client.close_with(1000).await;
    let id = connection_id(&connected);
    let disconnected = handler.wait_event(&id, "disconnected").await;
    let counts: Vec<u64> = handler
        .events()
        .iter()
        .filter(|c| c.connection_id() == id && c.event() == "count")
        .map(state_of)
        .collect();
    assert_eq!(counts, [0, 1, 2]);
    assert_eq!(state_of(&disconnected), 3);
}

#[tokio::test]
async fn u20_a_handler_that_never_answers_fails_connect_with_500_and_others_go_on() {
    let handler = EventHandler::start_with(|call| {
        (call.header("ce-userId") == Some("stuck"))
            .then(|| Reply::status(204).after(std::time::Duration::from_secs(60)))
    })
    .await;
    let service = serve_settings(UpstreamSettings {
        timeout: std::time::Duration::from_millis(500),
        ..UpstreamSettings::for_all_hubs(
            upstream::EventHandler::all_events(&handler.template()).unwrap(),
        )
    })
    .await;
    let stuck = tokio::spawn({
        let url = hub_url(&service, Some("stuck"), &[], &[]);
        async move { refused(&url, &[JSON]).await }
    });
    let mut simple = open(&hub_url(&service, Some("u"), &[], &[]), &[])
        .await
        .unwrap();
    simple.send_text("hello").await;
    assert_eq!(simple.next_message().await, Message::text("echo: hello"));
    assert_eq!(stuck.await.unwrap().0, 500);
}

#[tokio::test]
async fn a_slow_handler_for_one_connection_leaves_the_others_unaffected() {
    let handler = EventHandler::start_with(|call| {
        (call.header("ce-userId") == Some("slow") && call.event() == "message")
            .then(|| Reply::with("text/plain", "late").after(std::time::Duration::from_secs(30)))
    })
    .await;
    let service = serve(&handler).await;
    let mut slow = open(&hub_url(&service, Some("slow"), &[], &[]), &[])
        .await
        .unwrap();
    slow.send_text("hello").await;
    handler
        .wait_for(|calls| {
            calls
                .iter()
                .any(|c| c.event() == "message" && c.header("ce-userId") == Some("slow"))
        })
        .await;
    // While the slow call is pending, others connect, round-trip and disconnect.
    for user in ["a", "b"] {
        let mut fast = open(&hub_url(&service, Some(user), &[], &[]), &[])
            .await
            .unwrap();
        fast.send_text(user).await;
        assert_eq!(
            fast.next_message().await,
            Message::text(format!("echo: {user}"))
        );
        fast.close_with(1000).await;
    }
}

#[tokio::test]
async fn a_dead_handler_for_one_hub_leaves_other_hubs_unaffected() {
    let handler = EventHandler::start().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let service = serve_settings(UpstreamSettings {
        hubs: vec![
            (
                "dead".into(),
                vec![
                    upstream::EventHandler::all_events(&format!("http://{dead}/{{event}}"))
                        .unwrap(),
                ],
            ),
            (
                HUB.into(),
                vec![upstream::EventHandler::all_events(&handler.template()).unwrap()],
            ),
        ],
        ..UpstreamSettings::default()
    })
    .await;
    let dead_url = client_url(
        &service,
        "dead",
        &token_for(&service, "dead", Some("u"), &[], &[]),
    );
    let (status, body) = refused(&dead_url, &[]).await;
    assert_eq!(status, 500);
    assert!(body.contains("event handler"), "{body}");
    assert!(
        !body.contains(&dead.to_string()),
        "clients never see the handler URL: {body}"
    );
    let mut live = open(&hub_url(&service, Some("u"), &[], &[]), &[])
        .await
        .unwrap();
    live.send_text("hello").await;
    assert_eq!(live.next_message().await, Message::text("echo: hello"));
    let checks = service.check_event_handlers("dead").await;
    assert_eq!(checks.len(), 1);
    assert!(checks[0].1.is_err(), "{checks:?}");
}

#[tokio::test]
async fn p17_events_from_protobuf_clients_carry_their_member_s_content_type() {
    use wpchat::protocol::protobuf::{decode_service, encode_client, pack_any};
    use wpchat::protocol::{ClientMessage, Payload, ServiceMessage};

    let handler = EventHandler::start_with(|call| {
        ["t", "j", "b", "p"]
            .contains(&call.event())
            .then(|| Reply::with("application/octet-stream", Vec::new()))
    })
    .await;
    let service = serve(&handler).await;
    let protocol = "protobuf.webpubsub.azure.v1";
    let mut client = open(&hub_url(&service, Some("u"), &[], &[]), &[protocol])
        .await
        .unwrap();
    let Message::Binary(first) = client.next_message().await else {
        panic!("a protobuf client's first frame is binary");
    };
    let Ok(ServiceMessage::Connected { connection_id, .. }) = decode_service(&first) else {
        panic!("connected first");
    };
    let any = pack_any("type.googleapis.com/chat.Note", &[8, 150, 1]);
    let Payload::Protobuf(any_bytes) = any.clone() else {
        unreachable!("pack_any makes a protobuf payload");
    };
    let sent = [
        (
            "t",
            Payload::Text("héllo".into()),
            "text/plain",
            "héllo".as_bytes().to_vec(),
        ),
        (
            "j",
            Payload::json(r#"{"n":1}"#).unwrap(),
            "application/json",
            br#"{"n":1}"#.to_vec(),
        ),
        (
            "b",
            Payload::Binary(vec![0, 255]),
            "application/octet-stream",
            vec![0, 255],
        ),
        ("p", any, "application/x-protobuf", any_bytes),
    ];
    for (ack_id, (name, data, _, _)) in (1..).zip(&sent) {
        let request = ClientMessage::Event {
            event: name.to_string(),
            ack_id: Some(ack_id),
            data: data.clone(),
        };
        client.send_binary(encode_client(&request)).await;
        let Message::Binary(ack) = client.next_message().await else {
            panic!("the ack is a binary frame");
        };
        assert!(
            matches!(decode_service(&ack), Ok(ServiceMessage::Ack { ack_id: a, success: true, .. }) if a == ack_id),
            "{name}"
        );
    }
    for (name, _, content_type, body) in sent {
        let call = handler.wait_event(&connection_id, name).await;
        assert_eq!(call.header("content-type"), Some(content_type), "{name}");
        assert_eq!(call.body.to_vec(), body, "{name}");
        assert_eq!(call.header("ce-subprotocol"), Some(protocol), "{name}");
    }
}
