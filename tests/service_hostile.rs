//! Hostile traffic at the local service: upgrades that never finish, silent (half-open)
//! sockets, oversized headers, invalid UTF-8, fragmented frames, ping floods and bad REST
//! requests. Each gets the right status or close code, the service stays up, and a bystander
//! connection sees no change.

#[path = "support/service_client.rs"]
mod service_client;

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use service_client::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use wpchat::service::{RunningService, ServiceConfig};

/// Short, so the tests that wait for it are quick; the default is 10 s.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

async fn start_hardened() -> RunningService {
    start_with(ServiceConfig {
        header_timeout: HEADER_TIMEOUT,
        ..ServiceConfig::default()
    })
    .await
}

/// A member of group `g` that must keep working whatever another client does.
async fn bystander(service: &RunningService) -> Client {
    let (mut client, _) = connect_to_hub(service, JSON, Some("bystander"), JOIN_SEND, &[]).await;
    assert_eq!(client.join("g", 1).await, ack_ok(1));
    client
}

/// The bystander still publishes to its own group and gets both the ack and the message.
async fn still_works(client: &mut Client, ack_id: u64) {
    publish_and_see(client, "still here", ack_id).await;
}

/// Publishes `data` to `g` (which `client` is in) and reads the ack and the echo, in either order.
async fn publish_and_see(client: &mut Client, data: &str, ack_id: u64) {
    client.send_json(send_text("g", data, ack_id)).await;
    let frames = [client.next_json().await, client.next_json().await];
    assert!(frames.contains(&ack_ok(ack_id)), "{frames:?}");
    assert!(frames.iter().any(|f| f["data"] == data), "{frames:?}");
}

/// Reads a raw socket until the service closes it; returns what it sent.
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the service closes the socket in time");
    answer
}

#[tokio::test]
async fn an_upgrade_that_never_finishes_is_closed_after_the_header_timeout() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let mut stalled = TcpStream::connect(service.addr).await.unwrap();
    let partial = format!(
        "GET /client/hubs/{HUB}?access_token=x HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n",
        service.addr
    );
    stalled.write_all(partial.as_bytes()).await.unwrap();
    // The service answers nothing useful to an unfinished request, and hangs up.
    let answer = read_until_closed(&mut stalled).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("101"),
        "no upgrade for an unfinished request"
    );
    still_works(&mut other, 2).await;
}

#[tokio::test]
async fn hundreds_of_half_open_sockets_are_closed_and_new_clients_still_get_in() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(service.addr).await.unwrap());
    }
    // While they sit there, a new client connects, joins and publishes as usual.
    let (mut newcomer, _) = connect_to_hub(&service, JSON, Some("new"), JOIN_SEND, &[]).await;
    assert_eq!(newcomer.join("g", 1).await, ack_ok(1));
    publish_and_see(&mut newcomer, "hello", 2).await;
    assert_eq!(other.next_json().await["data"], "hello");
    for tcp in &mut silent {
        assert!(
            read_until_closed(tcp).await.is_empty(),
            "nothing is sent to a silent socket"
        );
    }
    still_works(&mut other, 2).await;
}

#[tokio::test]
async fn oversized_headers_are_refused_with_431() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let mut tcp = TcpStream::connect(service.addr).await.unwrap();
    let request = format!(
        "GET /client/hubs/{HUB} HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\n\r\n",
        service.addr,
        "a".repeat(200 * 1024)
    );
    // The service may hang up before it read everything; what it answered is what counts.
    let _ = tcp.write_all(request.as_bytes()).await;
    let answer = String::from_utf8_lossy(&read_until_closed(&mut tcp).await).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "answered: {}",
        answer.lines().next().unwrap_or("(nothing)")
    );
    still_works(&mut other, 2).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let (mut client, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    let invalid = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    client.socket.send(Message::Frame(invalid)).await.unwrap();
    let (code, reason) = client.close_frame().await;
    assert_eq!(code, 1007);
    assert!(reason.contains("UTF-8"), "{reason}");
    still_works(&mut other, 2).await;
}

/// A frame with `fin` and `opcode` as given: for fragments.
fn fragment(opcode: OpCode, fin: bool, payload: &[u8]) -> Message {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        ..FrameHeader::default()
    };
    Message::Frame(Frame::from_payload(header, payload.to_vec().into()))
}

#[tokio::test]
async fn a_fragmented_message_is_reassembled_and_a_stray_continuation_closes_with_1002() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let (mut client, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    let request = send_text("g", "in three pieces", 7).to_string();
    let (first, rest) = request.as_bytes().split_at(10);
    let (second, third) = rest.split_at(10);
    let continuation = OpCode::Data(Data::Continue);
    for frame in [
        fragment(OpCode::Data(Data::Text), false, first),
        fragment(continuation, false, second),
        fragment(continuation, true, third),
    ] {
        client.socket.send(frame).await.unwrap();
    }
    assert_eq!(client.next_json().await, ack_ok(7));
    assert_eq!(other.next_json().await["data"], "in three pieces");
    // The sender is not in the group: its next frame is the close.
    client
        .socket
        .send(fragment(continuation, true, b"no start"))
        .await
        .unwrap();
    assert_eq!(client.close_frame().await.0, 1002);
    still_works(&mut other, 2).await;
}

#[tokio::test]
async fn a_ping_flood_is_answered_and_the_flooder_still_works() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let (mut flooder, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    for _ in 0..20_000 {
        flooder
            .socket
            .feed(Message::Ping(b"flood".to_vec().into()))
            .await
            .unwrap();
    }
    flooder.socket.flush().await.unwrap();
    // Pongs are coalesced; the next data frame the flooder reads is its ack.
    flooder.publish("g", "after the flood", 1).await;
    assert_eq!(other.next_json().await["data"], "after the flood");
    still_works(&mut other, 2).await;
}

#[tokio::test]
async fn bad_rest_requests_are_refused_and_change_nothing() {
    let service = start_hardened().await;
    let mut other = bystander(&service).await;
    let api = HubApi::new(&service, HUB);
    let huge = vec![b'x'; 3 * 1024 * 1024];
    // (path, content type, body, status)
    let cases: Vec<(String, &str, Vec<u8>, u16)> = vec![
        (":send".into(), "text/plain", huge.clone(), 413),
        (
            "groups/g/:send".into(),
            "application/octet-stream",
            huge,
            413,
        ),
        (
            ":send".into(),
            "application/json",
            b"{\"unclosed\": ".to_vec(),
            400,
        ),
        (":send".into(), "text/plain", vec![0xff, 0xfe], 400),
        (
            format!("groups/{}/:send", "g".repeat(1025)),
            "text/plain",
            b"x".to_vec(),
            400,
        ),
        (
            "/api/hubs/has%20space/:send".into(),
            "text/plain",
            b"x".to_vec(),
            400,
        ),
        (
            format!("/api/hubs/{}/:send", "h".repeat(200)),
            "text/plain",
            b"x".to_vec(),
            400,
        ),
        (
            "users/%00%1b%5B2J/:send".into(),
            "text/plain",
            b"x".to_vec(),
            400,
        ),
        (
            format!("users/{}/:send", "u".repeat(2000)),
            "text/plain",
            b"x".to_vec(),
            400,
        ),
    ];
    for (path, content_type, body, status) in cases {
        let response = api
            .request(reqwest::Method::POST, &path, Some(content_type), body)
            .await;
        let shown = &path[..path.len().min(60)];
        assert_eq!(response.status().as_u16(), status, "POST {shown}");
        let error: serde_json::Value = response.json().await.expect("a JSON error body");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "POST {shown}: {error}"
        );
    }
    // Nothing reached the group; the bystander's next message is its own.
    still_works(&mut other, 2).await;
    other.send_json(json!({"type": "ping"})).await;
    assert_eq!(other.next_json().await, json!({"type": "pong"}));
}
