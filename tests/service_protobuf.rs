//! The local service against protobuf.md's checklist (P1–P25, the service's items; P17 waits
//! for the event handlers), with raw tokio-tungstenite sockets. One test per item, named after
//! it, plus the cross-protocol matrix: protobuf ⇄ JSON ⇄ simple clients ⇄ REST, byte-exact.

#[path = "support/service_client.rs"]
mod service_client;

use serde_json::{Value, json};
use service_client::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use wpchat::protocol::protobuf::{self, pack_any};
use wpchat::protocol::{
    AckErrorName, ClientMessage, DataMessage, MessageSource, Payload, ServiceMessage,
};
use wpchat::service::RunningService;

const PB: &str = "protobuf.webpubsub.azure.v1";
const PB_RELIABLE: &str = "protobuf.reliable.webpubsub.azure.v1";

/// What a `connected` message said.
struct Connected {
    connection_id: String,
    user_id: Option<String>,
    reconnection_token: Option<String>,
}

impl Connected {
    /// The shape `recovery_url` reads.
    fn as_json(&self) -> Value {
        json!({
            "connectionId": self.connection_id,
            "reconnectionToken": self.reconnection_token,
        })
    }
}

/// Protobuf framing on the shared raw test socket.
trait ProtobufSocket {
    async fn send_up(&mut self, message: &ClientMessage);
    async fn next_down(&mut self) -> ServiceMessage;
    async fn expect_ack(&mut self, ack_id: u64) -> ServiceMessage;
    async fn expect_nothing_queued_pb(&mut self);
}

impl ProtobufSocket for Client {
    async fn send_up(&mut self, message: &ClientMessage) {
        self.send_binary(protobuf::encode_client(message)).await;
    }

    async fn next_down(&mut self) -> ServiceMessage {
        match self.next_message().await {
            Message::Binary(bytes) => protobuf::decode_service(&bytes).expect("a Down message"),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    async fn expect_ack(&mut self, ack_id: u64) -> ServiceMessage {
        let ack = self.next_down().await;
        assert!(
            matches!(ack, ServiceMessage::Ack { ack_id: id, .. } if id == ack_id),
            "expected the ack of {ack_id}, got {ack:?}"
        );
        ack
    }

    /// Pings and expects pong as the very next frame: nothing else was queued before it.
    async fn expect_nothing_queued_pb(&mut self) {
        self.send_up(&ClientMessage::Ping).await;
        assert_eq!(self.next_down().await, ServiceMessage::Pong);
    }
}

async fn pb_client(
    service: &RunningService,
    protocol: &str,
    user: Option<&str>,
    roles: &[&str],
    groups: &[&str],
) -> (Client, Connected) {
    let mut client = open(&hub_url(service, user, roles, groups), &[protocol])
        .await
        .expect("socket opens");
    let connected = match client.next_down().await {
        ServiceMessage::Connected {
            connection_id,
            user_id,
            reconnection_token,
        } => Connected {
            connection_id,
            user_id,
            reconnection_token,
        },
        other => panic!("expected connected first, got {other:?}"),
    };
    (client, connected)
}

fn ok(ack_id: u64) -> ServiceMessage {
    ServiceMessage::Ack {
        ack_id,
        success: true,
        error: None,
    }
}

fn send(group: &str, data: Payload, ack_id: Option<u64>) -> ClientMessage {
    ClientMessage::SendToGroup {
        group: group.into(),
        ack_id,
        no_echo: false,
        data,
    }
}

fn join(group: &str, ack_id: Option<u64>) -> ClientMessage {
    ClientMessage::JoinGroup {
        group: group.into(),
        ack_id,
    }
}

fn group_message(group: &str, sequence_id: Option<u64>, payload: Payload) -> ServiceMessage {
    ServiceMessage::Message(DataMessage {
        source: MessageSource::Group {
            group: group.into(),
            from_user_id: None,
        },
        sequence_id,
        payload,
    })
}

fn every_payload() -> Vec<Payload> {
    vec![
        Payload::Text("héllo".into()),
        Payload::Text(String::new()),
        Payload::json(r#"{"a":[1,2.5,{"b":null}],"c":"d"}"#).unwrap(),
        Payload::Binary(vec![0, 1, 2, 255]),
        Payload::Binary(Vec::new()),
        pack_any("type.googleapis.com/chat.Note", &[8, 150, 1]),
    ]
}

/// The socket ends with `code` after a `disconnected` that gives a reason.
async fn expect_declined(client: &mut Client, code: u16) {
    let (seen, ending) = client.until_end().await;
    assert_eq!(ending, Ending::Closed(code), "frames before: {seen:?}");
    let said = seen.iter().any(|frame| match frame {
        Message::Binary(bytes) => matches!(
            protobuf::decode_service(bytes),
            Ok(ServiceMessage::Disconnected { message: Some(reason) }) if !reason.is_empty()
        ),
        _ => false,
    });
    assert!(
        said,
        "no disconnected with a reason before the close: {seen:?}"
    );
}

#[tokio::test]
async fn p01_names_compare_without_case_and_the_pick_is_echoed() {
    let service = start().await;
    let offered = "Protobuf.Reliable.WebPubSub.Azure.V1";
    let mut request = hub_url(&service, Some("alice"), &[], &[])
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(offered));
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade succeeds");
    assert_eq!(response.headers()["sec-websocket-protocol"], offered);
    let mut client = Client { socket };
    let first = client.next_down().await;
    assert!(
        matches!(
            first,
            ServiceMessage::Connected {
                reconnection_token: Some(_),
                ..
            }
        ),
        "{first:?}"
    );
}

#[tokio::test]
async fn p02_only_binary_frames_text_closes_1003_garbage_1007() {
    let service = start().await;
    let (mut client, _) = pb_client(&service, PB, None, &[], &[]).await;
    client.send_text(r#"{"type":"ping"}"#).await;
    expect_declined(&mut client, 1003).await;
    let (mut client, _) = pb_client(&service, PB_RELIABLE, None, &[], &[]).await;
    client.send_binary(vec![0xff, 0xff, 0xff]).await;
    expect_declined(&mut client, 1007).await;
}

#[tokio::test]
async fn p03_unknown_fields_are_skipped_unknown_members_declined() {
    let service = start().await;
    let (mut client, _) = pb_client(&service, PB, None, &[], &[]).await;
    // Up.ping carrying an unknown field 15.
    client.send_binary(vec![0x4a, 2, 0x78, 1]).await;
    assert_eq!(client.next_down().await, ServiceMessage::Pong);
    // Up member 10 (invoke) is reserved for later: declined.
    client.send_binary(vec![0x52, 0]).await;
    expect_declined(&mut client, 1007).await;
    // An Up with no member at all, and a ping with member 10 beside it.
    for frame in [vec![], vec![0x4a, 0, 0x52, 0]] {
        let (mut client, _) = pb_client(&service, PB, None, &[], &[]).await;
        client.send_binary(frame).await;
        expect_declined(&mut client, 1007).await;
    }
}

#[tokio::test]
async fn p04_empty_members_are_present_a_missing_member_is_declined() {
    let service = start().await;
    let (mut sender, _) = pb_client(&service, PB, None, JOIN_SEND, &["g"]).await;
    let empties = [Payload::Text(String::new()), Payload::Binary(Vec::new())];
    for (n, empty) in empties.into_iter().enumerate() {
        sender
            .send_up(&send("g", empty.clone(), Some(n as u64)))
            .await;
        assert_eq!(sender.next_down().await, group_message("g", None, empty));
        assert_eq!(sender.next_down().await, ok(n as u64));
    }
    // sendToGroup{group "g", ackId 1, data {}}: a payload with no member set.
    let no_member = vec![0x0a, 7, 0x0a, 1, b'g', 0x10, 9, 0x1a, 0];
    sender.send_binary(no_member).await;
    expect_declined(&mut sender, 1007).await;
}

#[tokio::test]
async fn p05_ack_ids_span_u64_and_have_presence() {
    let service = start().await;
    let (mut client, _) = pb_client(&service, PB, None, JOIN_SEND, &[]).await;
    for ack_id in [0, u64::MAX] {
        client.send_up(&join("g", Some(ack_id))).await;
        assert_eq!(client.next_down().await, ok(ack_id));
    }
    client.send_up(&join("h", None)).await;
    client.expect_nothing_queued_pb().await;
}

#[tokio::test]
async fn p06_connected_first_with_the_token_only_when_reliable() {
    let service = start().await;
    let (_plain, connected) = pb_client(&service, PB, Some("alice"), &[], &[]).await;
    assert!(!connected.connection_id.is_empty());
    assert_eq!(connected.user_id.as_deref(), Some("alice"));
    assert_eq!(connected.reconnection_token, None);
    let (_reliable, connected) = pb_client(&service, PB_RELIABLE, None, &[], &[]).await;
    assert_eq!(connected.user_id, None, "anonymous: an empty userId");
    assert!(connected.reconnection_token.is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn p07_operations_roles_duplicate_and_unhandled_events() {
    let service = start().await;
    let (mut nobody, _) = pb_client(&service, PB, None, &[], &[]).await;
    for request in [
        join("g", Some(1)),
        send("g", Payload::Text("x".into()), Some(2)),
    ] {
        nobody.send_up(&request).await;
        match nobody.next_down().await {
            ServiceMessage::Ack {
                success: false,
                error: Some(error),
                ..
            } => {
                assert_eq!(error.name, AckErrorName::Forbidden);
                assert!(!error.message.is_empty());
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }
    let (mut member, _) = pb_client(&service, PB, None, JOIN_SEND, &[]).await;
    member.send_up(&join("g", Some(1))).await;
    assert_eq!(member.next_down().await, ok(1));
    member
        .send_up(&send("g", Payload::Text("once".into()), Some(2)))
        .await;
    member.next_down().await;
    member.expect_ack(2).await;
    member
        .send_up(&send("g", Payload::Text("once".into()), Some(2)))
        .await;
    let duplicate = member.expect_ack(2).await;
    assert!(
        matches!(&duplicate, ServiceMessage::Ack { error: Some(e), .. } if e.name == AckErrorName::Duplicate),
        "{duplicate:?}"
    );
    // The duplicate was not executed: nothing else reached the member.
    member.expect_nothing_queued_pb().await;
    member
        .send_up(&ClientMessage::Event {
            event: "chat.note".into(),
            ack_id: Some(3),
            data: Payload::Text("x".into()),
        })
        .await;
    let unhandled = member.expect_ack(3).await;
    assert!(
        matches!(&unhandled, ServiceMessage::Ack { error: Some(e), .. } if e.name == AckErrorName::InternalServerError),
        "{unhandled:?}"
    );
}

#[tokio::test]
async fn p08_ping_gets_an_unsequenced_pong_and_nothing_comes_unprompted() {
    let service = start().await;
    let (mut client, _) = pb_client(&service, PB_RELIABLE, None, &[], &[]).await;
    client.send_up(&ClientMessage::Ping).await;
    assert_eq!(client.next_down().await, ServiceMessage::Pong);
}

#[tokio::test]
async fn p10_group_and_server_messages_carry_no_sender() {
    let service = start().await;
    let (mut receiver, connected) = pb_client(&service, PB, None, &[], &["g"]).await;
    let (mut json_sender, _) = connect_to_hub(&service, JSON, Some("bob"), JOIN_SEND, &[]).await;
    json_sender.publish("g", "from bob", 1).await;
    assert_eq!(
        receiver.next_down().await,
        group_message("g", None, Payload::Text("from bob".into()))
    );
    let api = HubApi::new(&service, HUB);
    let id = &connected.connection_id;
    for path in [
        ":send?api-version=2024-01-01".to_string(),
        format!("connections/{id}/:send?api-version=2024-01-01"),
    ] {
        api.expect_post(&path, "text/plain", b"from the server", 202)
            .await;
        assert_eq!(
            receiver.next_down().await,
            ServiceMessage::Message(DataMessage {
                source: MessageSource::Server,
                sequence_id: None,
                payload: Payload::Text("from the server".into()),
            })
        );
    }
    api.expect_post(
        "groups/g/:send?api-version=2024-01-01",
        "text/plain",
        b"rest",
        202,
    )
    .await;
    assert_eq!(
        receiver.next_down().await,
        group_message("g", None, Payload::Text("rest".into()))
    );
}

#[tokio::test]
async fn p11_no_echo_is_honoured_and_a_long_ttl_declined() {
    let service = start().await;
    let (mut sender, _) = pb_client(&service, PB, None, JOIN_SEND, &["g"]).await;
    sender
        .send_up(&ClientMessage::SendToGroup {
            group: "g".into(),
            ack_id: Some(1),
            no_echo: true,
            data: Payload::Text("not to me".into()),
        })
        .await;
    assert_eq!(sender.next_down().await, ok(1));
    // sendToGroup{group "g", data {text "x"}, ttlSeconds 301}.
    let long_ttl = vec![
        0x0a, 11, 0x0a, 1, b'g', 0x1a, 3, 0x0a, 1, b'x', 0x28, 0xad, 0x02,
    ];
    sender.send_binary(long_ttl).await;
    expect_declined(&mut sender, 1007).await;
}

/// A JSON client's view of a message of `payload` from a protobuf client (P12).
fn json_view(payload: &Payload) -> (&'static str, Value) {
    use base64::Engine;
    let b64 = |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    match payload {
        Payload::Text(text) => ("text", Value::String(text.clone())),
        Payload::Json(raw) => ("json", serde_json::from_str(raw.get()).unwrap()),
        Payload::Binary(bytes) => ("binary", b64(bytes)),
        Payload::Protobuf(any) => ("protobuf", b64(any)),
    }
}

#[tokio::test]
async fn p12_protobuf_sender_to_json_receiver_for_every_data_type() {
    let service = start().await;
    let (mut receiver, _) = connect_to_hub(&service, JSON, None, &[], &["g"]).await;
    let (mut sender, _) = pb_client(&service, PB, Some("alice"), JOIN_SEND, &[]).await;
    for (n, payload) in every_payload().into_iter().enumerate() {
        sender
            .send_up(&send("g", payload.clone(), Some(n as u64)))
            .await;
        assert_eq!(sender.next_down().await, ok(n as u64));
        let (data_type, data) = json_view(&payload);
        assert_eq!(
            receiver.next_json().await,
            json!({"type": "message", "from": "group", "group": "g", "fromUserId": "alice",
                   "dataType": data_type, "data": data})
        );
    }
}

#[tokio::test]
async fn p13_json_sender_to_protobuf_receiver_for_every_data_type() {
    let service = start().await;
    let (mut receiver, _) = pb_client(&service, PB, None, &[], &["g"]).await;
    let (mut sender, _) = connect_to_hub(&service, JSON, Some("bob"), JOIN_SEND, &[]).await;
    let sent = [
        (json!("héllo"), "text", Payload::Text("héllo".into())),
        (
            json!("AAEC/w=="),
            "binary",
            Payload::Binary(vec![0, 1, 2, 255]),
        ),
        (
            json!({"a": [1, 2.5]}),
            "json",
            Payload::json(r#"{"a":[1,2.5]}"#).unwrap(),
        ),
    ];
    for (n, (data, data_type, expected)) in sent.into_iter().enumerate() {
        sender
            .send_json(
                json!({"type": "sendToGroup", "group": "g", "dataType": data_type,
                              "data": data, "ackId": n}),
            )
            .await;
        assert_eq!(sender.next_json().await, ack_ok(n as u64));
        // Payload::Json decodes only from member 4: member 1 would be text.
        assert_eq!(
            receiver.next_down().await,
            group_message("g", None, expected)
        );
    }
}

#[tokio::test]
async fn p14_rest_body_types_map_to_protobuf_members() {
    let service = start().await;
    let (mut receiver, _) = pb_client(&service, PB, None, &[], &[]).await;
    let api = HubApi::new(&service, HUB);
    let path = ":send?api-version=2024-01-01";
    let bodies: [(&str, &[u8], Payload); 3] = [
        ("text/plain", b"hi", Payload::Text("hi".into())),
        (
            "application/json",
            br#"{"x":1}"#,
            Payload::json(r#"{"x":1}"#).unwrap(),
        ),
        (
            "application/octet-stream",
            &[9, 0, 9],
            Payload::Binary(vec![9, 0, 9]),
        ),
    ];
    for (content_type, body, expected) in bodies {
        api.expect_post(path, content_type, body, 202).await;
        match receiver.next_down().await {
            ServiceMessage::Message(message) => assert_eq!(message.payload, expected),
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn p15_simple_receivers_get_text_or_binary_frames() {
    let service = start().await;
    let mut raw = open(&hub_url(&service, None, &[], &["g"]), &[])
        .await
        .expect("simple client connects");
    let (mut sender, _) = pb_client(&service, PB, None, JOIN_SEND, &[]).await;
    let any = pack_any("type.googleapis.com/chat.Note", &[1, 2]);
    let Payload::Protobuf(any_bytes) = any.clone() else {
        unreachable!()
    };
    let expected = [
        (Payload::Text("plain".into()), Message::text("plain")),
        (
            Payload::json(r#"{"a":1}"#).unwrap(),
            Message::text(r#"{"a":1}"#),
        ),
        (Payload::Binary(vec![0, 1]), Message::binary(vec![0u8, 1])),
        (any, Message::binary(any_bytes)),
    ];
    for (n, (payload, frame)) in expected.into_iter().enumerate() {
        sender.send_up(&send("g", payload, Some(n as u64))).await;
        assert_eq!(sender.next_down().await, ok(n as u64));
        assert_eq!(raw.next_message().await, frame);
    }
}

#[tokio::test]
async fn p16_invalid_json_member_is_declined_and_json_cannot_send_protobuf() {
    let service = start().await;
    let (mut sender, _) = pb_client(&service, PB, None, JOIN_SEND, &[]).await;
    // sendToGroup{group "g", data {json "{"}}.
    sender
        .send_binary(vec![0x0a, 8, 0x0a, 1, b'g', 0x1a, 3, 0x22, 1, b'{'])
        .await;
    expect_declined(&mut sender, 1007).await;
    let (mut json_sender, _) = connect_to_hub(&service, JSON, None, JOIN_SEND, &[]).await;
    json_sender
        .send_json(
            json!({"type": "sendToGroup", "group": "g", "dataType": "protobuf",
                          "data": "CgA=", "ackId": 1}),
        )
        .await;
    assert_eq!(json_sender.close_code().await, 1007);
}

#[tokio::test]
async fn p18_reliable_data_is_sequenced_from_one_plain_never() {
    let service = start().await;
    let (mut reliable, _) = pb_client(&service, PB_RELIABLE, None, JOIN_SEND, &["g"]).await;
    let (mut plain, _) = pb_client(&service, PB, None, &[], &["g"]).await;
    for n in 1..=3u64 {
        reliable
            .send_up(&send("g", Payload::Text(format!("m{n}")), Some(n)))
            .await;
        // The sender is a member too: its copy is sequenced, its ack is not.
        assert_eq!(
            reliable.next_down().await,
            group_message("g", Some(n), Payload::Text(format!("m{n}")))
        );
        assert_eq!(reliable.next_down().await, ok(n));
        assert_eq!(
            plain.next_down().await,
            group_message("g", None, Payload::Text(format!("m{n}")))
        );
    }
    reliable.expect_nothing_queued_pb().await;
}

async fn publish_texts(service: &RunningService, texts: &[&str]) {
    let (mut sender, _) = connect_to_hub(service, JSON, None, JOIN_SEND, &[]).await;
    for (n, text) in texts.iter().enumerate() {
        sender.publish("g", text, n as u64).await;
    }
}

#[tokio::test]
async fn p19_recovery_replays_the_unacked_with_their_ids_and_keeps_the_session() {
    let service = start().await;
    let (mut client, connected) = pb_client(&service, PB_RELIABLE, None, JOIN_SEND, &[]).await;
    client.send_up(&join("g", Some(7))).await;
    assert_eq!(client.next_down().await, ok(7));
    publish_texts(&service, &["a", "b", "c"]).await;
    for (n, text) in [(1, "a"), (2, "b"), (3, "c")] {
        assert_eq!(
            client.next_down().await,
            group_message("g", Some(n), Payload::Text(text.into()))
        );
    }
    // Cumulative: acking 2 releases 1 and 2.
    client
        .send_up(&ClientMessage::SequenceAck { sequence_id: 2 })
        .await;
    client.expect_nothing_queued_pb().await;
    client.drop_abruptly();
    // A recovery over another subprotocol is refused; the session stays for the right one.
    let (code, _) = refused_recovery(&service, &connected.as_json(), RELIABLE).await;
    assert_eq!(code, 1008);
    let mut recovered = recover(&service, &connected.as_json(), PB_RELIABLE).await;
    assert_eq!(
        recovered.next_down().await,
        group_message("g", Some(3), Payload::Text("c".into()))
    );
    // Groups and ackId memory survived: the old join is a Duplicate, new data continues at 4.
    recovered.send_up(&join("g", Some(7))).await;
    let duplicate = recovered.expect_ack(7).await;
    assert!(
        matches!(&duplicate, ServiceMessage::Ack { error: Some(e), .. } if e.name == AckErrorName::Duplicate)
    );
    publish_texts(&service, &["d"]).await;
    assert_eq!(
        recovered.next_down().await,
        group_message("g", Some(4), Payload::Text("d".into()))
    );
    // A bad token is refused with 1008.
    let forged = json!({"connectionId": connected.connection_id, "reconnectionToken": "forged"});
    assert_eq!(
        refused_recovery(&service, &forged, PB_RELIABLE).await.0,
        1008
    );
}

#[tokio::test]
async fn p20_a_clean_close_ends_the_session() {
    let service = start().await;
    let (client, connected) = pb_client(&service, PB_RELIABLE, None, &[], &[]).await;
    client.close_with(1000).await;
    let (code, _) = refused_recovery(&service, &connected.as_json(), PB_RELIABLE).await;
    assert_eq!(code, 1008);
}

#[tokio::test]
async fn p25_a_frame_over_one_mebibyte_is_closed_1009() {
    let service = start().await;
    let (mut client, _) = pb_client(&service, PB, None, JOIN_SEND, &[]).await;
    let big = Payload::Binary(vec![7; 1024 * 1024]);
    client.send_up(&send("g", big, Some(1))).await;
    assert_eq!(client.close_code().await, 1009);
}

#[tokio::test]
async fn mixed_group_protobuf_and_json_and_simple_and_rest_all_see_each_send() {
    let service = start().await;
    let (mut pb_reliable, _) = pb_client(&service, PB_RELIABLE, None, JOIN_SEND, &["g"]).await;
    let (mut json_member, _) = connect_to_hub(&service, RELIABLE, None, &[], &["g"]).await;
    let mut raw = open(&hub_url(&service, None, &[], &["g"]), &[])
        .await
        .expect("simple client connects");
    let api = HubApi::new(&service, HUB);
    api.expect_post(
        "groups/g/:send?api-version=2024-01-01",
        "application/json",
        br#"{"k":[true]}"#,
        202,
    )
    .await;
    pb_reliable
        .send_up(&send(
            "g",
            Payload::json(r#"{"k":[false]}"#).unwrap(),
            Some(1),
        ))
        .await;
    // The REST send came first; the sender's own copy is sequenced before its ack.
    for (n, data) in [(1, r#"{"k":[true]}"#), (2, r#"{"k":[false]}"#)] {
        assert_eq!(
            pb_reliable.next_down().await,
            group_message("g", Some(n), Payload::json(data).unwrap())
        );
    }
    assert_eq!(pb_reliable.next_down().await, ok(1));
    for expected in [json!({"k": [true]}), json!({"k": [false]})] {
        let message = json_member.next_json().await;
        assert_eq!(message["dataType"], "json");
        assert_eq!(message["data"], expected);
    }
    assert_eq!(raw.next_message().await, Message::text(r#"{"k":[true]}"#));
    assert_eq!(raw.next_message().await, Message::text(r#"{"k":[false]}"#));
}
