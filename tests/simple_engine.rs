//! The client engine as a simple WebSocket client (`--protocol none`) against the real local
//! service and an event handler written in the test: raw text and binary frames both ways,
//! subprotocol commands refused with a reason, reconnect after the service closes the socket,
//! and `webpubsub_mode=sendToGroup` in the URL reaching a subprotocol client in that group.

#[path = "support/engine.rs"]
mod engine;
#[path = "support/event_handler.rs"]
mod event_handler;

use std::sync::Arc;

use engine::{fast_timers, wait_for};
use event_handler::{EventHandler, Reply, serve};
use url::Url;
use wpchat::auth::{
    ConnectionString, ConnectionStringProvider, FixedUrl, TokenOptions, UrlProvider,
};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event, OpError, OpOutcome};
use wpchat::protocol::{MessageSource, Payload};
use wpchat::service::RunningService;

fn provider(service: &RunningService, user: &str, roles: &[&str]) -> ConnectionStringProvider {
    let endpoint = Url::parse(&format!("http://{}", service.addr)).unwrap();
    let options = TokenOptions {
        user_id: Some(user.into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..TokenOptions::default()
    };
    ConnectionStringProvider::new(
        ConnectionString::new(endpoint, &service.access_key),
        "chat",
        options,
    )
    .unwrap()
}

fn simple_config(provider: Arc<dyn UrlProvider>) -> ClientConfig {
    let mut config = fast_timers(ClientConfig::new(provider));
    config.simple = true;
    config
}

async fn connected(config: ClientConfig) -> ClientHandle {
    let mut handle = client::spawn(config);
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    handle
}

async fn send_frame(handle: &ClientHandle, op: u64, payload: Payload) {
    handle
        .commands
        .send(Command::SendFrame { op, payload })
        .await
        .unwrap();
}

/// Asks to join `group`; returns the outcome.
async fn join(handle: &mut ClientHandle, op: u64, group: &str) -> Event {
    let group = group.to_string();
    handle
        .commands
        .send(Command::Join { op, group })
        .await
        .unwrap();
    wait_for(
        handle,
        |e| matches!(e, Event::OpResult { op: o, .. } if *o == op),
    )
    .await
}

async fn next_frame(handle: &mut ClientHandle) -> Payload {
    match wait_for(handle, |e| matches!(e, Event::Frame(_))).await {
        Event::Frame(payload) => payload,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn text_and_binary_frames_go_out_raw_and_the_handler_s_replies_come_back() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let mut handle = connected(simple_config(Arc::new(provider(&service, "ann", &[])))).await;

    send_frame(&handle, 1, Payload::Text("hello".into())).await;
    assert_eq!(
        next_frame(&mut handle).await,
        Payload::Text("echo: hello".into())
    );
    let bytes = vec![0u8, 1, 2, 255];
    send_frame(&handle, 2, Payload::Binary(bytes.clone())).await;
    assert_eq!(
        next_frame(&mut handle).await,
        Payload::Binary(bytes.clone())
    );

    // The handler saw one `message` event per frame, with the frame's kind.
    let calls = handler
        .wait_for(|calls| calls.iter().filter(|c| c.event() == "message").count() == 2)
        .await;
    let messages: Vec<_> = calls.iter().filter(|c| c.event() == "message").collect();
    assert_eq!(messages[0].header("content-type"), Some("text/plain"));
    assert_eq!(&messages[0].body[..], b"hello");
    assert_eq!(
        messages[1].header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(&messages[1].body[..], &bytes[..]);
    // No subprotocol was offered.
    let connect = calls.iter().find(|c| c.event() == "connect").unwrap();
    assert_eq!(connect.json()["subprotocols"], serde_json::json!([]));
}

#[tokio::test]
async fn group_and_event_commands_are_refused_with_the_reason() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let mut handle = connected(simple_config(Arc::new(provider(&service, "ann", &[])))).await;
    let event = join(&mut handle, 7, "lobby").await;
    let Event::OpResult {
        outcome: OpOutcome::Failed(OpError::Invalid(why)),
        ..
    } = event
    else {
        panic!("the join was not refused: {event:?}");
    };
    assert!(why.contains("simple WebSocket"), "{why}");
    assert!(why.contains("no groups"), "{why}");
}

#[tokio::test]
async fn the_engine_reconnects_after_the_service_closes_the_socket() {
    // The handler fails the first `message`: the service closes the simple client with 1011.
    let failed_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handler = EventHandler::start_with({
        let failed_once = failed_once.clone();
        move |call| {
            (call.event() == "message"
                && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst))
            .then(|| Reply::status(500))
        }
    })
    .await;
    let service = serve(&handler).await;
    let mut handle = connected(simple_config(Arc::new(provider(&service, "ann", &[])))).await;
    send_frame(&handle, 1, Payload::Text("first".into())).await;
    let dropped = wait_for(&mut handle, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { reason } = dropped else {
        unreachable!()
    };
    assert!(reason.contains("1011"), "{reason}");
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    send_frame(&handle, 2, Payload::Text("again".into())).await;
    assert_eq!(
        next_frame(&mut handle).await,
        Payload::Text("echo: again".into())
    );
}

#[tokio::test]
async fn send_to_group_mode_in_the_url_publishes_each_frame_to_the_group() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    // A subprotocol client in group g.
    let mut member = client::spawn(fast_timers(ClientConfig::new(Arc::new(provider(
        &service,
        "bob",
        &["webpubsub.joinLeaveGroup"],
    )))));
    wait_for(&mut member, |e| matches!(e, Event::Connected { .. })).await;
    join(&mut member, 1, "g").await;

    // The simple client's URL names the mode and the group, as a portal URL would.
    let mut url = provider(&service, "ann", &["webpubsub.sendToGroup.g"])
        .client_url()
        .await
        .unwrap();
    url.query_pairs_mut()
        .append_pair("webpubsub_mode", "sendToGroup")
        .append_pair("group", "g");
    let sender = connected(simple_config(Arc::new(FixedUrl(url)))).await;
    send_frame(&sender, 1, Payload::Text("to the group".into())).await;

    let event = wait_for(&mut member, |e| matches!(e, Event::Message(_))).await;
    let Event::Message(message) = event else {
        unreachable!()
    };
    assert_eq!(message.payload, Payload::Text("to the group".into()));
    assert_eq!(
        message.source,
        MessageSource::Group {
            group: "g".into(),
            from_user_id: Some("ann".into())
        }
    );
    // Frames in this mode go to the group, not to the handler.
    assert!(!handler.events().iter().any(|c| c.event() == "message"));
}
