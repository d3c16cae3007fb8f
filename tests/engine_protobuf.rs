//! The real client engine over the protobuf subprotocols against the real local service, on
//! 127.0.0.1:0: every data type byte-exact between protobuf and JSON engines, keepalive pings,
//! what a protobuf `Any` needs, and a misbehaving stand-in service. Forced drops over protobuf
//! (exactly once in order across twenty cuts, a Duplicate after a lost ack, a fresh session on
//! the plain protocol) run in `engine_service.rs`, next to the same JSON tests.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/engine_peer.rs"]
mod engine_peer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use engine::fast_timers;
use engine_peer::{Peer, local_service};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use url::Url;
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{ClientConfig, Command, ConnState, Event, OpError, OpOutcome};
use wpchat::protocol::protobuf::{self, pack_any};
use wpchat::protocol::{DataMessage, MessageSource, Payload, ServiceMessage, Subprotocol};
use wpchat::service::{RunningService, ServiceConfig};

const ROLES: &[&str] = &["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"];

/// An engine config for `user` speaking `protocol` to the endpoint at `addr` (the service or
/// a proxy in front of it).
fn config_for(
    service: &RunningService,
    addr: SocketAddr,
    user: &str,
    protocol: Subprotocol,
) -> ClientConfig {
    config_with_key(&service.access_key, addr, user, protocol)
}

/// As `config_for`, with tokens signed with `access_key`.
fn config_with_key(
    access_key: &str,
    addr: SocketAddr,
    user: &str,
    protocol: Subprotocol,
) -> ClientConfig {
    let endpoint = Url::parse(&format!("http://{addr}")).unwrap();
    let options = TokenOptions {
        user_id: Some(user.into()),
        roles: ROLES.iter().map(|r| r.to_string()).collect(),
        ..TokenOptions::default()
    };
    let provider =
        ConnectionStringProvider::new(ConnectionString::new(endpoint, access_key), "chat", options)
            .unwrap();
    let mut config = fast_timers(ClientConfig::new(Arc::new(provider)));
    config.ack_timeout = Duration::from_secs(10);
    config.protocol = protocol;
    config
}

async fn peer(service: &RunningService, user: &str, protocol: Subprotocol) -> Peer {
    let mut peer = Peer::spawn(config_for(service, service.addr, user, protocol));
    peer.connected().await;
    peer
}

async fn send_payload(peer: &mut Peer, op: u64, group: &str, payload: Payload) -> OpOutcome {
    peer.command(Command::SendToGroup {
        op,
        group: group.into(),
        payload,
        no_echo: true,
        fire_and_forget: false,
    })
    .await;
    match peer
        .wait_for(|e| matches!(e, Event::OpResult { op: o, .. } if *o == op))
        .await
        .0
    {
        Event::OpResult { outcome, .. } => outcome,
        _ => unreachable!("wait_for returns a matching event"),
    }
}

async fn next_message(peer: &mut Peer) -> DataMessage {
    match peer.wait_for(|e| matches!(e, Event::Message(_))).await.0 {
        Event::Message(message) => message,
        _ => unreachable!("wait_for returns a matching event"),
    }
}

fn every_payload() -> Vec<Payload> {
    let binary: Vec<u8> = (0..=255u8).chain([0, 0xff]).collect();
    vec![
        Payload::Text("héllo\u{1b}[2J \u{0} \"quoted\" \\".into()),
        Payload::Text(String::new()),
        Payload::json(r#"{"a":[1,2.5,{"b":null}],"s":"x\ny"}"#).unwrap(),
        Payload::Binary(binary),
        Payload::Binary(Vec::new()),
        pack_any("type.googleapis.com/chat.Note", &[8, 150, 1]),
    ]
}

#[tokio::test]
async fn every_data_type_crosses_between_protobuf_and_json_engines_byte_exact() {
    let service = local_service(ServiceConfig::default()).await;
    let mut alice = peer(&service, "alice", Subprotocol::ProtobufReliable).await;
    let mut bob = peer(&service, "bob", Subprotocol::JsonReliable).await;
    let mut carol = peer(&service, "carol", Subprotocol::Protobuf).await;
    for (op, engine) in [&mut alice, &mut bob, &mut carol].into_iter().enumerate() {
        engine.join(op as u64 + 1, "room").await;
    }
    for (n, payload) in every_payload().into_iter().enumerate() {
        let outcome = send_payload(&mut alice, 10 + n as u64, "room", payload.clone()).await;
        assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
        let to_json = next_message(&mut bob).await;
        assert_eq!(to_json.payload, payload);
        assert_eq!(
            to_json.source,
            MessageSource::Group {
                group: "room".into(),
                from_user_id: Some("alice".into())
            }
        );
        let to_protobuf = next_message(&mut carol).await;
        assert_eq!(to_protobuf.payload, payload);
        assert_eq!(to_protobuf.sequence_id, None, "plain: never sequenced");
    }
    for (n, payload) in every_payload().into_iter().take(5).enumerate() {
        let outcome = send_payload(&mut bob, 10 + n as u64, "room", payload.clone()).await;
        assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
        let message = next_message(&mut alice).await;
        assert_eq!(message.payload, payload);
        // The protobuf wire has no sender; the engine does not make one up.
        assert_eq!(
            message.source,
            MessageSource::Group {
                group: "room".into(),
                from_user_id: None
            }
        );
        assert!(message.sequence_id.is_some(), "reliable: sequenced");
    }
}

#[tokio::test]
async fn the_state_names_the_protobuf_protocol_and_keepalive_pings_get_pongs() {
    let service = local_service(ServiceConfig::default()).await;
    let mut config = config_for(&service, service.addr, "alice", Subprotocol::Protobuf);
    config.keepalive_interval = Duration::from_millis(50);
    let mut alice = Peer::spawn(config);
    let (connected, _) = alice
        .wait_for(|e| matches!(e, Event::Connected { .. }))
        .await;
    assert!(
        matches!(
            connected,
            Event::Connected {
                protocol: Subprotocol::Protobuf,
                ..
            }
        ),
        "{connected:?}"
    );
    assert!(matches!(
        *alice.handle.state.borrow(),
        ConnState::Connected {
            protocol: Subprotocol::Protobuf,
            ..
        }
    ));
    // A lag measurement is a pong that answered the engine's ping.
    alice.wait_for(|e| matches!(e, Event::Lag(_))).await;
}

#[tokio::test]
async fn a_protobuf_any_cannot_be_sent_on_json() {
    let service = local_service(ServiceConfig::default()).await;
    let mut bob = peer(&service, "bob", Subprotocol::Json).await;
    let any = pack_any("type.googleapis.com/chat.Note", &[1]);
    match send_payload(&mut bob, 1, "room", any).await {
        OpOutcome::Failed(OpError::Invalid(why)) => {
            assert!(why.contains("--protocol protobuf"), "{why}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// A stand-in service that says `connected`, then a `Down` member wpchat does not know, then
/// a text frame (which a protobuf subprotocol never carries).
// The handshake callback's error type is tungstenite's `ErrorResponse`, large by design.
#[allow(clippy::result_large_err)]
async fn misbehaving_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let echo = |request: &Request, mut response: Response| {
            if let Some(protocol) = request.headers().get("Sec-WebSocket-Protocol") {
                let protocol = protocol.clone();
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", protocol);
            }
            Ok(response)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, echo).await else {
            return;
        };
        let connected = protobuf::encode_service(&ServiceMessage::Connected {
            connection_id: "c1".into(),
            user_id: None,
            reconnection_token: None,
        });
        // Down member 5 (invokeResponse): later in the spec, unknown to wpchat.
        for frame in [
            Message::binary(connected),
            Message::binary(vec![0x2a, 0]),
            Message::text(r#"{"type":"pong"}"#),
        ] {
            if ws.send(frame).await.is_err() {
                return;
            }
        }
        while let Some(Ok(_)) = ws.next().await {}
    });
    addr
}

#[tokio::test]
async fn unknown_down_members_are_ignored_and_a_text_frame_breaks_the_connection() {
    let addr = misbehaving_service().await;
    let mut engine = Peer::spawn(config_with_key("key", addr, "alice", Subprotocol::Protobuf));
    let (connected, _) = engine
        .wait_for(|e| matches!(e, Event::Connected { .. }))
        .await;
    assert!(
        matches!(&connected, Event::Connected { user_id: None, .. }),
        "an empty userId is anonymous: {connected:?}"
    );
    engine
        .wait_for(|e| matches!(e, Event::Unrecognized { .. }))
        .await;
    let (dropped, _) = engine
        .wait_for(|e| matches!(e, Event::Disconnected { .. }))
        .await;
    match dropped {
        Event::Disconnected { reason } => assert!(reason.contains("text frame"), "{reason}"),
        _ => unreachable!("wait_for returns a matching event"),
    }
}
