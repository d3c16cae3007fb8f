//! The real client engine against the real local service, in-process on 127.0.0.1:0: join,
//! leave, byte-exact text/JSON/binary, permissions, noEcho, `Duplicate` after a recovery, and
//! forced drops through a chaos proxy (reliable recovery, JSON and protobuf, with exactly-once
//! in-order delivery, a fresh session on the non-reliable protocol, a recovery after the
//! service's window).

#[path = "support/chaos_proxy.rs"]
mod chaos_proxy;
#[path = "support/engine.rs"]
mod engine;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chaos_proxy::ChaosProxy;
use engine::{WAIT, assert_exactly_once_in_order, fast_timers, texts_across_drops, wait_for};
use url::Url;
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event, OpError, OpId, OpOutcome};
use wpchat::protocol::{AckErrorName, DataMessage, MessageSource, Payload, Subprotocol};
use wpchat::service::{self, RunningService, ServiceConfig};

const JOIN: &str = "webpubsub.joinLeaveGroup";
const SEND: &str = "webpubsub.sendToGroup";

async fn service_with(recovery_window: Duration) -> RunningService {
    service::start(ServiceConfig {
        port: 0,
        recovery_window,
        ..ServiceConfig::default()
    })
    .await
    .expect("the service starts")
}

async fn service() -> RunningService {
    service_with(Duration::from_secs(30)).await
}

/// Tokens for `user` with `roles`, minted for the endpoint at `addr` (the service itself or a
/// proxy in front of it).
fn provider(
    addr: SocketAddr,
    access_key: &str,
    user: &str,
    roles: &[&str],
) -> Arc<ConnectionStringProvider> {
    let endpoint = Url::parse(&format!("http://{addr}")).unwrap();
    let options = TokenOptions {
        user_id: Some(user.into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..TokenOptions::default()
    };
    Arc::new(
        ConnectionStringProvider::new(ConnectionString::new(endpoint, access_key), "chat", options)
            .unwrap(),
    )
}

fn config(provider: Arc<ConnectionStringProvider>) -> ClientConfig {
    let mut config = fast_timers(ClientConfig::new(provider));
    config.ack_timeout = Duration::from_secs(10);
    config
}

/// A connected engine.
struct Peer {
    handle: ClientHandle,
    ops: AtomicU64,
    /// Messages that arrived while waiting for something else (an echo comes before its ack).
    inbox: VecDeque<DataMessage>,
}

impl Peer {
    async fn start(config: ClientConfig) -> Peer {
        let mut handle = client::spawn(config);
        wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
        Peer {
            handle,
            ops: AtomicU64::new(1),
            inbox: VecDeque::new(),
        }
    }

    async fn connect(service: &RunningService, user: &str, roles: &[&str]) -> Peer {
        Peer::start(config(provider(
            service.addr,
            &service.access_key,
            user,
            roles,
        )))
        .await
    }

    fn op(&self) -> OpId {
        self.ops.fetch_add(1, Ordering::SeqCst)
    }

    async fn command(&self, command: Command) {
        tokio::time::timeout(WAIT, self.handle.commands.send(command))
            .await
            .expect("the engine takes commands")
            .expect("the engine runs");
    }

    /// Skips events until one matches, keeping the messages skipped on the way.
    async fn wait_for(&mut self, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.handle.events.recv())
                .await
                .expect("the expected event did not come in time")
                .expect("the engine ended");
            if wanted(&event) {
                return event;
            }
            if let Event::Message(message) = event {
                self.inbox.push_back(message);
            }
        }
    }

    async fn outcome(&mut self, op: OpId) -> OpOutcome {
        match self
            .wait_for(|e| matches!(e, Event::OpResult { op: o, .. } if *o == op))
            .await
        {
            Event::OpResult { outcome, .. } => outcome,
            _ => unreachable!("wait_for returns a matching event"),
        }
    }

    async fn join(&mut self, group: &str) {
        let op = self.op();
        self.command(Command::Join {
            op,
            group: group.into(),
        })
        .await;
        let outcome = self.outcome(op).await;
        assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
    }

    async fn leave(&mut self, group: &str) {
        let op = self.op();
        self.command(Command::Leave {
            op,
            group: group.into(),
        })
        .await;
        let outcome = self.outcome(op).await;
        assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
    }

    async fn publish(&mut self, group: &str, payload: Payload, no_echo: bool) -> OpOutcome {
        let op = self.op();
        self.command(Command::SendToGroup {
            op,
            group: group.into(),
            payload,
            no_echo,
            fire_and_forget: false,
        })
        .await;
        self.outcome(op).await
    }

    async fn publish_ok(&mut self, group: &str, payload: Payload) {
        let outcome = self.publish(group, payload, false).await;
        assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
    }

    async fn next_message(&mut self) -> DataMessage {
        if let Some(message) = self.inbox.pop_front() {
            return message;
        }
        match self.wait_for(|e| matches!(e, Event::Message(_))).await {
            Event::Message(message) => message,
            _ => unreachable!("wait_for returns a matching event"),
        }
    }
}

fn text(message: &DataMessage) -> &str {
    match &message.payload {
        Payload::Text(text) => text,
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test]
async fn text_json_and_binary_arrive_byte_exact_with_the_sender() {
    let service = service().await;
    let mut alice = Peer::connect(&service, "alice", &[JOIN, SEND]).await;
    let mut bob = Peer::connect(&service, "bob", &[JOIN, SEND]).await;
    bob.join("room").await;
    let binary: Vec<u8> = (0..=255u8).chain([0, 0xff, 0x80]).collect();
    let payloads = [
        Payload::Text("héllo\u{1b}[2J \u{0} \"quoted\" \\".into()),
        Payload::json(r#"{"a":[1,2.5,{"b":null}],"s":"x\ny"}"#).unwrap(),
        Payload::Binary(binary),
    ];
    for payload in payloads {
        alice.publish_ok("room", payload.clone()).await;
        let message = bob.next_message().await;
        assert_eq!(message.payload, payload);
        assert_eq!(
            message.source,
            MessageSource::Group {
                group: "room".into(),
                from_user_id: Some("alice".into())
            }
        );
        assert!(
            message.sequence_id.is_some(),
            "reliable messages are numbered"
        );
    }
}

#[tokio::test]
async fn a_left_group_sends_nothing_more() {
    let service = service().await;
    let mut alice = Peer::connect(&service, "alice", &[JOIN, SEND]).await;
    let mut bob = Peer::connect(&service, "bob", &[JOIN, SEND]).await;
    bob.join("room").await;
    alice.publish_ok("room", Payload::Text("one".into())).await;
    assert_eq!(text(&bob.next_message().await), "one");
    bob.leave("room").await;
    alice.publish_ok("room", Payload::Text("two".into())).await;
    bob.join("room").await;
    alice
        .publish_ok("room", Payload::Text("three".into()))
        .await;
    assert_eq!(
        text(&bob.next_message().await),
        "three",
        "'two' was sent while bob was out of the group"
    );
}

#[tokio::test]
async fn sending_without_the_role_is_forbidden_and_not_retried() {
    let service = service().await;
    let mut reader = Peer::connect(&service, "reader", &[JOIN]).await;
    let mut bob = Peer::connect(&service, "bob", &[JOIN, SEND]).await;
    bob.join("room").await;
    reader.join("room").await;
    let outcome = reader
        .publish("room", Payload::Text("not allowed".into()), false)
        .await;
    match outcome {
        OpOutcome::Failed(OpError::Refused { name, .. }) => {
            assert_eq!(name, AckErrorName::Forbidden)
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    // Had the engine retried, a later ack for the same op would follow; the next outcome the
    // reader sees must be the one of its next operation.
    reader.leave("room").await;
    bob.publish_ok("room", Payload::Text("allowed".into()))
        .await;
    assert_eq!(text(&bob.next_message().await), "allowed");
}

#[tokio::test]
async fn no_echo_skips_only_the_sender() {
    let service = service().await;
    let mut alice = Peer::connect(&service, "alice", &[JOIN, SEND]).await;
    let mut bob = Peer::connect(&service, "bob", &[JOIN, SEND]).await;
    alice.join("room").await;
    bob.join("room").await;
    let outcome = alice
        .publish("room", Payload::Text("quiet".into()), true)
        .await;
    assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
    assert_eq!(text(&bob.next_message().await), "quiet");
    alice.publish_ok("room", Payload::Text("loud".into())).await;
    assert_eq!(text(&bob.next_message().await), "loud");
    assert_eq!(
        text(&alice.next_message().await),
        "loud",
        "alice never gets her noEcho message back"
    );
}

/// An engine whose connections go through the chaos proxy.
async fn behind_proxy(
    service: &RunningService,
    user: &str,
    protocol: Subprotocol,
) -> (ChaosProxy, Peer) {
    let proxy = ChaosProxy::start(service.addr).await;
    let mut config = config(provider(
        proxy.addr,
        &service.access_key,
        user,
        &[JOIN, SEND],
    ));
    config.protocol = protocol;
    (proxy, Peer::start(config).await)
}

#[tokio::test]
async fn a_write_whose_ack_was_lost_is_a_duplicate_after_recovery() {
    ack_lost_then_duplicate_after_recovery(Subprotocol::JsonReliable).await;
}

#[tokio::test]
async fn a_write_whose_ack_was_lost_is_a_duplicate_after_a_protobuf_recovery() {
    ack_lost_then_duplicate_after_recovery(Subprotocol::ProtobufReliable).await;
}

/// A send reaches the service but its ack is lost with the connection; after the recovery
/// (over `protocol`) the resend is a `Duplicate`, applied once.
async fn ack_lost_then_duplicate_after_recovery(protocol: Subprotocol) {
    let service = service().await;
    let (proxy, mut alice) = behind_proxy(&service, "alice", protocol).await;
    let mut bob = Peer::connect(&service, "bob", &[JOIN, SEND]).await;
    bob.join("room").await;
    // The request reaches the service, but nothing the service says gets back to alice.
    proxy.set_hold_downstream(true);
    let op = alice.op();
    alice
        .command(Command::SendToGroup {
            op,
            group: "room".into(),
            payload: Payload::Text("once".into()),
            no_echo: false,
            fire_and_forget: false,
        })
        .await;
    assert_eq!(text(&bob.next_message().await), "once");
    proxy.cut_all();
    proxy.set_hold_downstream(false);
    alice
        .wait_for(|e| matches!(e, Event::Recovered { .. }))
        .await;
    match alice.outcome(op).await {
        OpOutcome::Done { duplicate, .. } => {
            assert!(duplicate, "the resend with the same ackId is a Duplicate")
        }
        other => panic!("{other:?}"),
    }
    bob.leave("room").await;
    bob.join("room").await;
    alice.publish_ok("room", Payload::Text("next".into())).await;
    assert_eq!(
        text(&bob.next_message().await),
        "next",
        "the message was applied exactly once"
    );
}

#[tokio::test]
async fn twenty_cuts_in_reliable_mode_lose_and_repeat_nothing() {
    twenty_cuts_lose_and_repeat_nothing(Subprotocol::JsonReliable).await;
}

#[tokio::test]
async fn twenty_cuts_over_protobuf_reliable_lose_and_repeat_nothing() {
    twenty_cuts_lose_and_repeat_nothing(Subprotocol::ProtobufReliable).await;
}

/// A reader speaking `protocol` behind the chaos proxy, cut twenty times while a publisher
/// sends: every message arrives exactly once, in order.
async fn twenty_cuts_lose_and_repeat_nothing(protocol: Subprotocol) {
    const MESSAGES: usize = 2000;
    const CUTS: usize = 20;
    let service = service().await;
    let (proxy, mut reader) = behind_proxy(&service, "reader", protocol).await;
    reader.join("room").await;
    let mut publisher = Peer::connect(&service, "publisher", &[JOIN, SEND]).await;
    let (progress_tx, progress) = tokio::sync::watch::channel(0usize);
    let publishing = tokio::spawn(async move {
        for index in 0..MESSAGES {
            publisher
                .publish_ok("room", Payload::Text(format!("m{index}")))
                .await;
            progress_tx.send_replace(index + 1);
        }
    });
    let cutting = proxy.cut_during(progress, MESSAGES, CUTS);
    let (received, recoveries) =
        texts_across_drops(&mut reader.handle, MESSAGES, Duration::from_secs(120)).await;
    assert_eq!(received.len(), MESSAGES);
    assert_exactly_once_in_order([publishing, cutting], &received, recoveries).await;
    assert!(
        proxy.accepted() > CUTS / 2,
        "the engine came back after cuts"
    );
}

/// Publishes probes until `reader` receives one: proves it is in `group` again.
async fn until_received(publisher: &mut Peer, reader: &mut Peer, group: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    for probe in 0.. {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group was not rejoined"
        );
        publisher
            .publish_ok(group, Payload::Text(format!("probe {probe}")))
            .await;
        if reader.inbox.pop_front().is_some() {
            return;
        }
        if let Ok(Some(Event::Message(_))) =
            tokio::time::timeout(Duration::from_millis(200), async {
                loop {
                    match reader.handle.events.recv().await {
                        Some(Event::Message(m)) => return Some(Event::Message(m)),
                        Some(_) => continue,
                        None => return None,
                    }
                }
            })
            .await
        {
            return;
        }
    }
}

/// The reader's session is lost (not recovered), it connects afresh, and it is back in "room".
async fn starts_over_and_rejoins(publisher: &mut Peer, reader: &mut Peer) {
    let lost = reader
        .wait_for(|e| matches!(e, Event::SessionLost { .. } | Event::Recovered { .. }))
        .await;
    assert!(matches!(lost, Event::SessionLost { .. }), "{lost:?}");
    reader
        .wait_for(|e| matches!(e, Event::Connected { .. }))
        .await;
    until_received(publisher, reader, "room").await;
}

#[tokio::test]
async fn a_cut_on_the_plain_protocol_starts_a_fresh_session_and_rejoins() {
    for protocol in [Subprotocol::Json, Subprotocol::Protobuf] {
        let service = service().await;
        let (proxy, mut reader) = behind_proxy(&service, "reader", protocol).await;
        reader.join("room").await;
        let mut publisher = Peer::connect(&service, "publisher", &[JOIN, SEND]).await;
        proxy.cut_all();
        starts_over_and_rejoins(&mut publisher, &mut reader).await;
    }
}

#[tokio::test]
async fn a_recovery_after_the_window_expired_starts_over_and_rejoins() {
    let service = service_with(Duration::from_millis(300)).await;
    let (proxy, mut reader) = behind_proxy(&service, "reader", Subprotocol::JsonReliable).await;
    reader.join("room").await;
    let mut publisher = Peer::connect(&service, "publisher", &[JOIN, SEND]).await;
    proxy.set_refuse(true);
    proxy.cut_all();
    // Longer than the service's recovery window: the session is gone when the link returns.
    tokio::time::sleep(Duration::from_millis(900)).await;
    proxy.set_refuse(false);
    starts_over_and_rejoins(&mut publisher, &mut reader).await;
}

#[tokio::test]
async fn a_flood_of_sends_does_not_starve_reading_its_echoes() {
    // Twice the service's reliable buffer: without sequence acks going out during the flood,
    // the service closes the connection at about 1000.
    const MESSAGES: usize = 2000;
    let service = service().await;
    let mut alice = Peer::connect(&service, "alice", &[JOIN, SEND]).await;
    alice.join("room").await;
    // Fire-and-forget sends come back as echoes; the engine must keep reading (and sending
    // sequence acks) while commands keep coming, or the service's reliable buffer fills.
    let commands = alice.handle.commands.clone();
    let flooding = tokio::spawn(async move {
        for index in 0..MESSAGES {
            let command = Command::SendToGroup {
                op: 1000 + index as OpId,
                group: "room".into(),
                payload: Payload::Text(format!("e{index}")),
                no_echo: false,
                fire_and_forget: true,
            };
            if commands.send(command).await.is_err() {
                return;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut echoes = 0;
    while echoes < MESSAGES {
        let event = tokio::time::timeout_at(deadline, alice.handle.events.recv())
            .await
            .unwrap_or_else(|_| panic!("only {echoes} echoes arrived"))
            .expect("the engine runs");
        match event {
            Event::Message(message) => {
                assert_eq!(text(&message), format!("e{echoes}"));
                echoes += 1;
            }
            Event::SessionLost { reason, .. } | Event::Disconnected { reason } => {
                panic!("the connection dropped after {echoes} echoes: {reason}")
            }
            _ => {}
        }
    }
    tokio::time::timeout(WAIT, flooding).await.unwrap().unwrap();
}
