//! The local service under bad or heavy input: every kind of bad token, size limits, wrong
//! frame kinds, bursts and slow receivers. After each, the service is still up and other
//! connections are unaffected.

#[path = "support/service_client.rs"]
mod service_client;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use service_client::*;
use wpchat::auth::token::{Claims, mint};
use wpchat::service::{self, ServiceConfig};

/// A bystander connection that must keep working whatever another client does.
async fn bystander(service: &service::RunningService) -> Client {
    connect_to_hub(service, JSON, Some("bystander"), JOIN_SEND, &[])
        .await
        .0
}

#[tokio::test]
async fn every_kind_of_bad_token_is_refused_with_401() {
    let service = start().await;
    let mut other = bystander(&service).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let aud = format!("http://{}/client/hubs/{HUB}", service.addr);
    let good = |claims: Claims| mint(&claims, &service.access_key);
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(json!({"aud": aud, "exp": now() + 600}).to_string())
    );
    let mut tampered = good(Claims {
        aud: aud.clone(),
        exp: now() + 600,
        ..Claims::default()
    });
    tampered.push('x');
    // Each case with the words a user reads in the refusal.
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "is not a JWT"),
        ("not a jwt", "abc".into(), "is not a JWT"),
        ("four parts", "a.b.c.d".into(), "is not a JWT"),
        ("bad base64", "!!!.???.***".into(), "is not a JWT"),
        ("alg none", unsigned, "only HS256 is accepted"),
        (
            "tampered signature",
            tampered,
            "signature does not match the access key",
        ),
        (
            "nbf in the future",
            good(Claims {
                aud: aud.clone(),
                exp: now() + 7200,
                nbf: Some(now() + 3600),
                ..Claims::default()
            }),
            "the access token is not valid before",
        ),
        (
            "https audience of another hub",
            good(Claims {
                aud: format!("https://{}/client/hubs/other", service.addr),
                exp: now() + 600,
                ..Claims::default()
            }),
            "audience",
        ),
        (
            "claims not an object",
            format!(
                "{}.{}.sig",
                b64.encode(r#"{"alg":"HS256"}"#),
                b64.encode("[1,2]")
            ),
            "signature does not match the access key",
        ),
    ];
    for (what, token, says) in cases {
        let url = client_url(&service, HUB, &token);
        let (status, body) = refused(&url, &[JSON]).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body.contains(says), "{what}: the body says why: {body}");
        assert!(!body.contains(&service.access_key), "{what}");
    }
    let bare = format!("ws://{}/client/hubs/{HUB}", service.addr);
    let (status, body) =
        refused_with_headers(&bare, &[JSON], &[("Authorization", "Bearer x.y.z".into())]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("is not a JWT"), "{body}");
    other.expect_nothing_queued().await;
    assert_eq!(service.hub_count(), 1, "only the bystander's hub exists");
}

#[tokio::test]
async fn https_audience_and_hub_as_typed_are_accepted() {
    let service = start().await;
    let token = mint(
        &Claims {
            aud: format!("https://{}/client/hubs/Chat", service.addr),
            exp: now() + 600,
            ..Claims::default()
        },
        &service.access_key,
    );
    Client::connect(&client_url(&service, "chat", &token), JSON).await;
}

#[tokio::test]
async fn anonymous_clients_when_allowed_have_no_roles() {
    let service = start_with(ServiceConfig {
        allow_anonymous: true,
        ..ServiceConfig::default()
    })
    .await;
    let url = format!("ws://{}/client/hubs/{HUB}", service.addr);
    let (mut client, connected) = Client::connect(&url, JSON).await;
    assert_eq!(connected["userId"], Value::Null);
    assert_eq!(client.join("g", 1).await["error"]["name"], "Forbidden");
    let (status, _) = refused(&client_url(&service, HUB, "bad-token"), &[JSON]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_message_of_exactly_1_mib_is_accepted() {
    let service = start().await;
    let (mut client, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    let envelope = json!({"type": "sendToGroup", "group": "nobody", "dataType": "text", "data": "", "ackId": 1}).to_string();
    let padding = 1024 * 1024 - envelope.len();
    let frame = envelope.replace(
        r#""data":"""#,
        &format!(r#""data":"{}""#, "x".repeat(padding)),
    );
    assert_eq!(frame.len(), 1024 * 1024);
    client.send_text(&frame).await;
    assert_eq!(client.next_json().await, ack_ok(1));
}

#[tokio::test]
async fn oversized_binary_and_invalid_frames_close_only_their_connection() {
    let service = start().await;
    let mut other = bystander(&service).await;
    let url = hub_url(&service, None, JOIN_SEND, &[]);

    let (mut big, _) = Client::connect(&url, JSON).await;
    big.send_text(&"y".repeat(1024 * 1024 + 1)).await;
    assert_eq!(big.close_code().await, 1009);

    let (mut binary, _) = Client::connect(&url, RELIABLE).await;
    binary.send_binary(br#"{"type":"ping"}"#.to_vec()).await;
    assert_eq!(binary.close_code().await, 1003);

    let (mut base64, _) = Client::connect(&url, JSON).await;
    base64
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "@@@", "ackId": 1}))
        .await;
    assert_eq!(base64.close_code().await, 1007);

    let (mut long_group, _) = Client::connect(&url, JSON).await;
    assert_eq!(
        long_group.join(&"é".repeat(1024), 1).await,
        ack_ok(1),
        "1024 characters (2048 bytes) is allowed"
    );
    long_group
        .send_json(json!({"type": "joinGroup", "group": "é".repeat(1025), "ackId": 2}))
        .await;
    assert_eq!(long_group.close_code().await, 1007);

    let (mut bad_event, _) = Client::connect(&url, JSON).await;
    bad_event
        .send_json(json!({"type": "event", "event": "9 lives", "data": "x", "ackId": 1}))
        .await;
    assert_eq!(bad_event.close_code().await, 1007);

    other.expect_nothing_queued().await;
    assert!(service::probe(service.addr).await);
}

#[tokio::test]
async fn a_burst_of_10000_requests_is_answered_and_others_are_unaffected() {
    let service = start().await;
    let mut other = bystander(&service).await;
    assert_eq!(other.join("burst", 1).await, ack_ok(1));
    let url = hub_url(&service, Some("b"), JOIN_SEND, &[]);
    let (mut burst, _) = Client::connect(&url, JSON).await;
    const REQUESTS: u64 = 10_000;
    for ack_id in 1..=REQUESTS {
        let request = match ack_id % 3 {
            0 => {
                json!({"type": "joinGroup", "group": format!("g{}", ack_id % 50), "ackId": ack_id})
            }
            1 => {
                json!({"type": "leaveGroup", "group": format!("g{}", ack_id % 50), "ackId": ack_id})
            }
            _ => {
                json!({"type": "sendToGroup", "group": "burst", "dataType": "text", "data": "x", "noEcho": true, "ackId": ack_id})
            }
        };
        burst.send_json(request).await;
    }
    let mut acked = 0;
    while acked < REQUESTS {
        let ack = burst.next_json().await;
        assert_eq!(ack["success"], true, "{ack}");
        acked += 1;
    }
    let mut received = 0;
    while received < (REQUESTS + 1) / 3 {
        assert_eq!(other.next_json().await["data"], "x");
        received += 1;
    }
    other.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_slow_receiver_is_closed_without_stalling_the_others() {
    let service = start_with(ServiceConfig {
        outbound_queue_frames: 64,
        ..ServiceConfig::default()
    })
    .await;
    let url = hub_url(&service, None, JOIN_SEND, &[]);
    let (mut slow, slow_connected) = Client::connect(&url, JSON).await;
    assert_eq!(slow.join("g", 1).await, ack_ok(1));
    let (mut fast, _) = Client::connect(&url, JSON).await;
    assert_eq!(fast.join("g", 1).await, ack_ok(1));
    let (mut sender, _) = Client::connect(&url, JSON).await;
    const MESSAGES: usize = 3000;
    let data = "z".repeat(8 * 1024);
    let reader = tokio::spawn(async move {
        for _ in 0..MESSAGES {
            assert_eq!(fast.next_json().await["dataType"], "text");
        }
        fast
    });
    for _ in 0..MESSAGES {
        sender
            .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": data, "noEcho": true}))
            .await;
    }
    let mut fast = tokio::time::timeout(WAIT * 4, reader)
        .await
        .expect("the fast receiver gets everything in time")
        .expect("reader task");
    fast.expect_nothing_queued().await;
    sender.expect_nothing_queued().await;
    // The slow one (which never read) is gone.
    let id = slow_connected["connectionId"].as_str().unwrap();
    assert_eq!(connection_status(&service, HUB, id).await, 404);
    drop(slow);
}

#[tokio::test]
async fn simple_client_in_send_to_group_mode_publishes_its_frames() {
    let service = start().await;
    let (mut member, _) = connect_to_hub(&service, JSON, None, &[], &["g"]).await;
    let token = token_for(
        &service,
        HUB,
        Some("raw"),
        &["webpubsub.sendToGroup.g"],
        &[],
    );
    let url = format!(
        "{}&webpubsub_mode=sendToGroup&group=g",
        client_url(&service, HUB, &token)
    );
    let mut raw = open(&url, &[]).await.expect("raw client connects");
    raw.send_text("from raw").await;
    let message = member.next_json().await;
    assert_eq!(message["data"], "from raw");
    assert_eq!(message["fromUserId"], "raw");
    raw.send_binary(vec![9, 8]).await;
    assert_eq!(member.next_json().await["dataType"], "binary");

    let no_role = token_for(&service, HUB, None, &[], &[]);
    let url = format!(
        "{}&webpubsub_mode=sendToGroup&group=g",
        client_url(&service, HUB, &no_role)
    );
    let mut forbidden = open(&url, &[]).await.expect("raw client connects");
    forbidden.send_text("nope").await;
    assert_eq!(forbidden.close_code().await, 1008);
    member.expect_nothing_queued().await;

    let missing_group = format!(
        "{}&webpubsub_mode=sendToGroup",
        client_url(&service, HUB, &token)
    );
    assert_eq!(refused(&missing_group, &[]).await.0, 400);
}

#[tokio::test]
async fn non_websocket_requests_and_bad_hubs_are_400() {
    let service = start().await;
    let token = token_for(&service, HUB, None, &[], &[]);
    let plain_get = reqwest::get(format!(
        "http://{}/client/hubs/{HUB}?access_token={token}",
        service.addr
    ))
    .await
    .unwrap();
    assert_eq!(plain_get.status(), 400);
    let body = plain_get.text().await.unwrap();
    assert!(
        body.contains("expected a WebSocket upgrade request"),
        "{body}"
    );
    let no_hub = format!("ws://{}/client/?access_token={token}", service.addr);
    let (status, body) = refused(&no_hub, &[JSON]).await;
    assert_eq!(status, 400);
    assert!(body.contains("no hub given"), "{body}");
    let bad_hub = format!(
        "ws://{}/client/hubs/9lives?access_token={token}",
        service.addr
    );
    let (status, body) = refused(&bad_hub, &[JSON]).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("hub name '9lives' is not valid: start with a letter"),
        "{body}"
    );
    assert_eq!(service.hub_count(), 0);
}

/// Waits until `check` holds (bounded by `WAIT`): for effects of a socket closing, which the
/// service sees a moment later.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what} within {WAIT:?}");
}

#[tokio::test]
async fn a_hub_leaves_the_map_once_no_connection_session_or_membership_needs_it() {
    let service = start().await;
    // Reads and removals on a hub nothing uses create nothing.
    let unknown = "/api/hubs/nobody/users/carol?api-version=2024-01-01";
    assert_eq!(
        rest_status(&service, reqwest::Method::HEAD, unknown).await,
        404
    );
    assert_eq!(service.hub_count(), 0);

    let (ann, connected) = connect_to_hub(&service, JSON, Some("ann"), JOIN_SEND, &[]).await;
    let ann_id = connection_id(&connected);
    let (bob, bob_connected) =
        connect_to_hub(&service, RELIABLE, Some("bob"), JOIN_SEND, &["room"]).await;
    let bob_id = connection_id(&bob_connected);
    assert_eq!(service.hub_count(), 1);

    // A membership remembered for a user with no connection keeps the hub.
    let carol = format!("/api/hubs/{HUB}/users/carol/groups/room?api-version=2024-01-01");
    assert_eq!(
        rest_status(&service, reqwest::Method::PUT, &carol).await,
        200
    );
    ann.close_with(1000).await;
    eventually("ann's connection ends", || async {
        connection_status(&service, HUB, &ann_id).await == 404
    })
    .await;
    bob.drop_abruptly();
    assert_eq!(
        rest_status(&service, reqwest::Method::DELETE, &carol).await,
        204
    );
    // Bob's session waits for recovery (or has not noticed the drop yet): the hub stays.
    assert_eq!(service.hub_count(), 1);

    let mut bob = recover(&service, &bob_connected, RELIABLE).await;
    bob.expect_nothing_queued().await;
    bob.close_with(1000).await;
    eventually("the hub leaves the map", || async {
        service.hub_count() == 0
    })
    .await;
    assert_eq!(connection_status(&service, HUB, &bob_id).await, 404);
}

#[tokio::test]
async fn probe_recognises_only_this_service() {
    let service = start().await;
    assert!(service::probe(service.addr).await);

    // Something else answering 200 on the same path is not us.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = other.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    assert!(!service::probe(other_addr).await);

    let addr = service.addr;
    service.shutdown().await;
    assert!(!service::probe(addr).await);
}

#[tokio::test]
async fn shutdown_closes_connections() {
    let service = start().await;
    let url = hub_url(&service, None, &[], &[]);
    let (mut client, _) = Client::connect(&url, RELIABLE).await;
    service.shutdown().await;
    let (seen, ending) = client.until_end().await;
    assert!(matches!(ending, Ending::Closed(1001) | Ending::Dropped));
    if let Some(last) = seen.last() {
        assert!(last.to_text().unwrap_or("").contains("disconnected"));
    }
}

#[tokio::test]
async fn dropping_the_service_stops_it() {
    let service = start().await;
    let addr = service.addr;
    drop(service);
    let mut stopped = false;
    for _ in 0..50 {
        if !service::probe(addr).await {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stopped, "the service still answers after being dropped");
}

#[tokio::test]
async fn serve_refuses_a_non_loopback_host_without_allow_remote() {
    let result = wpchat::cmd::serve::run(wpchat::cli::ServeArgs {
        host: "0.0.0.0".into(),
        port: 0,
        access_key: None,
        allow_anonymous: false,
        allow_remote: false,
        upstream: Default::default(),
    })
    .await;
    let error = result.expect_err("refused");
    assert!(error.to_string().contains("--allow-remote"), "{error}");
}

#[tokio::test]
async fn connection_string_names_a_reachable_endpoint() {
    let service = start().await;
    let connection_string = service.connection_string();
    assert_eq!(
        connection_string,
        format!(
            "Endpoint=http://{};AccessKey={};Version=1.0;",
            service.addr, service.access_key
        )
    );
}

#[tokio::test]
async fn a_reliable_receiver_that_acks_gets_a_long_stream() {
    let service = start().await;
    let (mut receiver, _) = connect_to_hub(&service, RELIABLE, None, &[], &["long"]).await;
    let (mut sender, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    const MESSAGES: u64 = 5000;
    let reader = tokio::spawn(async move {
        for expected in 1..=MESSAGES {
            let message = receiver.next_json().await;
            assert_eq!(message["sequenceId"], expected, "{message}");
            if expected.is_multiple_of(100) {
                receiver
                    .send_json(json!({"type": "sequenceAck", "sequenceId": expected}))
                    .await;
            }
        }
        receiver
    });
    for i in 0..MESSAGES {
        sender
            .send_json(json!({"type": "sendToGroup", "group": "long", "dataType": "text", "data": "x", "ackId": i + 1}))
            .await;
        assert_eq!(sender.next_json().await, ack_ok(i + 1));
    }
    let mut receiver = tokio::time::timeout(WAIT * 4, reader)
        .await
        .expect("all delivered in time")
        .expect("reader");
    receiver.expect_nothing_queued().await;
}

#[tokio::test]
async fn the_service_pings_and_drops_a_silent_socket() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let interval = Duration::from_millis(50);
    let service = start_with(ServiceConfig {
        keepalive_interval: interval,
        ..ServiceConfig::default()
    })
    .await;
    let url = hub_url(&service, None, &[], &[]);
    // This client keeps reading, so tungstenite answers every ping with a pong.
    let since_connect = std::time::Instant::now();
    let (mut listening, _) = Client::connect(&url, JSON).await;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        loop {
            tokio::select! {
                _ = &mut stopped => return (listening, pings),
                frame = listening.socket.next() => match frame {
                    Some(Ok(Message::Ping(_))) => pings += 1,
                    Some(Ok(_)) => {}
                    other => panic!("the listening socket ended: {other:?}"),
                },
            }
        }
    });

    // A client that never reads never answers pings: after six silent intervals the
    // service counts its (non-reliable) connection as gone.
    let (_silent, connected) = Client::connect(&url, JSON).await;
    let id = connected["connectionId"].as_str().unwrap().to_string();
    let mut gone = false;
    for _ in 0..100 {
        if connection_status(&service, HUB, &id).await == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the silent connection is still registered");
    let _ = stop.send(());
    let (mut listening, pings) = tokio::time::timeout(WAIT, reader)
        .await
        .expect("reader stops")
        .expect("reader task");
    // The keepalive timer is re-armed each time it fires: a ping every interval, never a
    // burst (a timer left elapsed would fire on every poll).
    let most = since_connect.elapsed().as_millis() / interval.as_millis() + 1;
    assert!(
        (2..=most).contains(&pings),
        "{pings} pings over at most {most} keepalive intervals"
    );
    listening.expect_nothing_queued().await;
}

#[tokio::test]
async fn an_abrupt_drop_keeps_a_reliable_session_recoverable() {
    let service = start().await;
    let (client, connected) =
        connect_to_hub(&service, RELIABLE, Some("flaky"), JOIN_SEND, &[]).await;
    let id = connection_id(&connected);
    client.drop_abruptly();
    // Give the service a moment to see the TCP drop before checking it kept the session.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(connection_status(&service, HUB, &id).await, 200);
    let mut recovered = recover(&service, &connected, RELIABLE).await;
    recovered.expect_nothing_queued().await;
    assert_eq!(connection_status(&service, HUB, &id).await, 200);
}

#[tokio::test]
async fn serve_banner_says_the_js_server_sdk_needs_allow_insecure_connection() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args(["serve", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("wpchat serve starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let banner = tokio::time::timeout(WAIT, async {
        let mut banner = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("Ctrl+C") {
                break;
            }
        }
        banner
    })
    .await
    .expect("the banner is printed within the timeout");
    let _ = child.kill().await;
    assert!(banner.contains("allowInsecureConnection: true"), "{banner}");
    assert!(banner.contains("Connection string:"), "{banner}");
}

#[tokio::test]
async fn a_reliable_reader_that_keeps_up_survives_a_flood_from_a_fast_publisher() {
    let service = start().await;
    let (mut reader, _) = connect_to_hub(&service, RELIABLE, None, &[], &["flood"]).await;
    let (mut publisher, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    const MESSAGES: u64 = 50_000;
    const ACK_EVERY: u64 = 64;
    const ACK_INTERVAL: Duration = Duration::from_millis(5);
    let read = tokio::spawn(async move {
        let mut acked = 0;
        let mut last_ack = tokio::time::Instant::now();
        for expected in 1..=MESSAGES {
            let message = reader.next_json().await;
            assert_eq!(message["sequenceId"], expected, "{message}");
            assert_eq!(message["data"], expected.to_string(), "{message}");
            if expected - acked >= ACK_EVERY || last_ack.elapsed() >= ACK_INTERVAL {
                reader
                    .send_json(json!({"type": "sequenceAck", "sequenceId": expected}))
                    .await;
                acked = expected;
                last_ack = tokio::time::Instant::now();
            }
        }
        reader
    });
    let publish = async {
        for i in 1..=MESSAGES {
            publisher
                .send_json(json!({"type": "sendToGroup", "group": "flood", "dataType": "text", "data": i.to_string(), "noEcho": true}))
                .await;
        }
    };
    tokio::time::timeout(WAIT * 12, publish)
        .await
        .expect("the publisher sends everything in time");
    let mut reader = tokio::time::timeout(WAIT * 12, read)
        .await
        .expect("the reader gets everything in time")
        .expect("the reader saw every message in order and was not closed");
    reader.expect_nothing_queued().await;
    publisher.expect_nothing_queued().await;
}

#[tokio::test]
async fn a_reliable_reader_that_never_acks_is_closed_as_buffer_full() {
    let service = start().await;
    let (mut reader, _) = connect_to_hub(&service, RELIABLE, None, &[], &["g"]).await;
    let (mut publisher, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    for i in 0..1500u64 {
        publisher
            .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": i.to_string()}))
            .await;
    }
    let (seen, ending) = reader.until_end().await;
    assert_eq!(ending, Ending::Closed(1008));
    let texts: Vec<&str> = seen.iter().filter_map(|m| m.to_text().ok()).collect();
    let data_frames = texts.iter().filter(|t| t.contains("sequenceId")).count();
    assert_eq!(data_frames, 1000, "only the in-flight cap was written");
    let last = texts.last().copied().unwrap_or("");
    assert!(last.contains("reliable message buffer is full"), "{last}");
    publisher.expect_nothing_queued().await;
}
