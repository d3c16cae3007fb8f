//! User events with the handler's reply and invoke (upstream.md U21), client side, against the
//! local service and an event handler written in the test: `/event NAME data` in the chat (the
//! App fed by the real engine) shows the reply under the request and `send --event` prints it;
//! the service turns an `invoke` into user event E and answers `invokeResponse` (raw socket);
//! the engine gets the response, times out and cancels; `/invoke` in the chat shows the
//! response; and `send --invoke` prints it and exits 1 on `success:false`.

#[path = "tui_support/app.rs"]
mod app_support;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/engine.rs"]
mod engine;
#[path = "support/event_handler.rs"]
mod event_handler;
#[path = "support/service_client.rs"]
mod service_client;

use std::sync::Arc;
use std::time::Duration;

use app_support::{app, submit};
use engine::{fast_timers, wait_for};
use event_handler::{EventHandler, Reply, every_hub, serve, serve_settings};
use serde_json::json;
use service_client::{JSON, connect_to_hub};
use url::Url;
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event, OpError};
use wpchat::protocol::{InvokeResponse, Payload};
use wpchat::service::RunningService;
use wpchat::tui::App;
use wpchat::tui::state::{LineKind, LineRef};

/// Answers `fail` with 500, `quiet` with nothing and `slow` after a long pause; the rest as
/// the echo handler.
async fn handler() -> EventHandler {
    EventHandler::start_with(|call| match call.event() {
        "fail" => Some(Reply::status(500)),
        "quiet" => Some(Reply::status(204)),
        "slow" => Some(Reply::status(204).after(Duration::from_secs(30))),
        _ => None,
    })
    .await
}

fn config(service: &RunningService) -> ClientConfig {
    let endpoint = Url::parse(&format!("http://{}", service.addr)).unwrap();
    let provider = ConnectionStringProvider::new(
        ConnectionString::new(endpoint, &service.access_key),
        "chat",
        TokenOptions {
            user_id: Some("ann".into()),
            ..TokenOptions::default()
        },
    )
    .unwrap();
    fast_timers(ClientConfig::new(Arc::new(provider)))
}

async fn invoke_result(
    handle: &mut ClientHandle,
    op: u64,
    event: &str,
    payload: Payload,
    timeout: Option<Duration>,
) -> Result<InvokeResponse, OpError> {
    handle
        .commands
        .send(Command::Invoke {
            op,
            event: event.into(),
            payload,
            timeout,
        })
        .await
        .unwrap();
    match wait_for(
        handle,
        |e| matches!(e, Event::InvokeResult { op: o, .. } if *o == op),
    )
    .await
    {
        Event::InvokeResult { outcome, .. } => outcome,
        _ => unreachable!(),
    }
}

/// The chat's App fed by a real engine connected to the service with `handler()`.
struct Chat {
    app: App,
    handle: ClientHandle,
    _service: RunningService,
    _handler: EventHandler,
}

impl Chat {
    async fn start() -> Chat {
        let handler = handler().await;
        let service = serve(&handler).await;
        let mut handle = client::spawn(config(&service));
        let connected = wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
        let mut app = app();
        app.update(connected);
        Chat {
            app,
            handle,
            _service: service,
            _handler: handler,
        }
    }

    /// Types `line`, hands its one command to the engine and feeds the engine's events to
    /// the App until that operation ended.
    async fn run(&mut self, line: &str) {
        let commands = submit(&mut self.app, line);
        let op = match commands.as_slice() {
            [Command::SendEvent { op, .. } | Command::Invoke { op, .. }] => *op,
            other => panic!("expected one event or invoke, got {other:?}"),
        };
        for command in commands {
            self.handle.commands.send(command).await.unwrap();
        }
        loop {
            let event = wait_for(&mut self.handle, |_| true).await;
            let done = matches!(&event, Event::OpResult { op: o, .. } | Event::InvokeResult { op: o, .. } if *o == op);
            self.app.update(event);
            if done {
                return;
            }
        }
    }

    /// The line right after the one whose text is `request`, in the buffer in view.
    fn line_after(&self, request: &str) -> LineRef<'_> {
        let lines = &self.app.state().current_buffer().lines;
        let at = lines
            .iter()
            .position(|l| l.body == request)
            .unwrap_or_else(|| panic!("no line {request:?}: {lines:#?}"));
        lines.get(at + 1).expect("a line after the request")
    }

    fn sender(&self, line: LineRef<'_>) -> &str {
        self.app.state().names.name(line.sender)
    }
}

#[tokio::test]
async fn the_chat_shows_the_handler_s_reply_under_the_event() {
    let mut chat = Chat::start().await;
    chat.run("/event chat {\"n\":1}").await;
    let reply = chat.line_after("→ event chat: {\"n\":1}");
    assert_eq!(reply.kind, LineKind::Json);
    assert_eq!(reply.body, "{\"n\":1}");
    assert_eq!(chat.sender(reply), "↳ chat");
}

#[tokio::test]
async fn an_event_without_a_reply_says_so_where_it_was_sent() {
    let mut chat = Chat::start().await;
    chat.run("/event quiet hi").await;
    let after = chat.line_after("→ event quiet: hi");
    assert_eq!(after.body, "✓ event quiet acked; the handler sent no reply");
}

#[tokio::test]
async fn send_event_prints_the_handler_s_reply() {
    let handler = handler().await;
    let service = serve(&handler).await;
    let output = send_json(&service, "--event", "chat").await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["from"], "server");
    assert_eq!(line["dataType"], "json");
    assert_eq!(line["data"], serde_json::json!({"n": 2}));
}

#[tokio::test]
async fn without_the_invoke_switch_the_service_refuses_an_invoke_and_calls_nobody() {
    let handler = handler().await;
    let mut settings = every_hub(&handler);
    settings.invoke = false;
    let service = serve_settings(settings).await;
    let (mut client, _) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client
        .send_json(
            json!({"type": "invoke", "invocationId": "7", "target": "event",
            "event": "chat", "dataType": "text", "data": "hi"}),
        )
        .await;
    let refused = client.next_json().await;
    assert_eq!(refused["type"], "invokeResponse", "{refused}");
    assert_eq!(refused["invocationId"], "7", "{refused}");
    assert_eq!(refused["success"], false, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--upstream-invoke"), "{refused}");
    // The connection stays, and the handler saw no user event.
    client
        .send_json(json!({"type": "event", "event": "chat", "dataType": "text",
        "data": "after", "ackId": 1}))
        .await;
    let reply = client.next_json().await;
    assert_eq!(reply["data"], "after", "{reply}");
    let chats = handler
        .events()
        .iter()
        .filter(|call| call.event() == "chat")
        .count();
    assert_eq!(
        chats, 1,
        "only the event reached the handler, not the invoke"
    );
}

#[tokio::test]
async fn the_service_answers_an_invoke_with_the_handler_s_reply_or_a_failure() {
    let handler = handler().await;
    let service = serve(&handler).await;
    let (mut client, _) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client
        .send_json(
            json!({"type": "invoke", "invocationId": "9", "target": "event",
            "event": "chat", "dataType": "json", "data": {"n": 1}}),
        )
        .await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "invokeResponse", "invocationId": "9", "success": true,
            "dataType": "json", "data": {"n": 1}})
    );
    let events = handler.events();
    let call = handler.wait_event(events[0].connection_id(), "chat").await;
    assert_eq!(call.header("ce-type"), Some("azure.webpubsub.user.chat"));

    client
        .send_json(
            json!({"type": "invoke", "invocationId": "10", "event": "fail",
            "dataType": "text", "data": "x"}),
        )
        .await;
    let failed = client.next_json().await;
    assert_eq!(failed["invocationId"], "10", "{failed}");
    assert_eq!(failed["success"], false, "{failed}");
    assert_eq!(failed["error"]["name"], "InternalServerError", "{failed}");
}

#[tokio::test]
async fn the_engine_gets_the_response_and_times_out_with_a_cancel() {
    let handler = handler().await;
    let service = serve(&handler).await;
    let mut handle = client::spawn(config(&service));
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;

    let response = invoke_result(&mut handle, 1, "chat", Payload::Text("hi".into()), None)
        .await
        .expect("a response");
    assert!(response.success);
    assert_eq!(response.data, Some(Payload::Text("hi".into())));

    let failed = invoke_result(&mut handle, 2, "fail", Payload::Text("x".into()), None)
        .await
        .expect("a response");
    assert!(!failed.success);

    let timeout = Duration::from_millis(200);
    let outcome = invoke_result(
        &mut handle,
        3,
        "slow",
        Payload::Text("x".into()),
        Some(timeout),
    )
    .await;
    assert_eq!(outcome, Err(OpError::Timeout(timeout)));
}

#[tokio::test]
async fn the_chat_shows_the_invoke_response_under_the_request() {
    let mut chat = Chat::start().await;
    chat.run("/invoke chat {\"n\":1}").await;
    let response = chat.line_after("→ invoke chat: {\"n\":1}");
    assert_eq!(response.kind, LineKind::Json);
    assert_eq!(response.body, "{\"n\":1}");
    assert_eq!(chat.sender(response), "↳ chat");
    chat.run("/invoke fail x").await;
    let failed = chat.line_after("→ invoke fail: x");
    assert_eq!(failed.kind, LineKind::Error);
    assert!(
        failed.body.contains("InternalServerError"),
        "{}",
        failed.body
    );
}

/// `wpchat send --FLAG EVENT --data-type json {"n":2}` against the service.
async fn send_json(service: &RunningService, flag: &str, event: &str) -> std::process::Output {
    let cs = cli::connection_string(service.addr, &service.access_key);
    cli::shared_home()
        .wpchat(&["send", "--hub", "chat", flag, event, "--data-type", "json"])
        .args(["--connection-string", &cs, "{\"n\":2}"])
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn send_invoke_prints_the_response_and_fails_on_success_false() {
    let handler = handler().await;
    let service = serve(&handler).await;
    let output = send_json(&service, "--invoke", "chat").await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: serde_json::Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("one JSON line");
    assert_eq!(line["success"], true);
    assert_eq!(line["dataType"], "json");
    assert_eq!(line["data"], json!({"n": 2}));

    let output = send_json(&service, "--invoke", "fail").await;
    assert_eq!(output.status.code(), Some(1));
    let line: serde_json::Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("one JSON line");
    assert_eq!(line["success"], false);
    assert_eq!(line["error"]["name"], "InternalServerError");
}
