//! User events with the handler's reply, client side, against the local service and an event
//! handler written in the test: `/event NAME data` in the chat (the App fed by the real engine)
//! shows the reply under the request, and `wpchat send --event NAME` prints it.

#[path = "tui_support/app.rs"]
mod app_support;
#[path = "support/engine.rs"]
mod engine;
#[path = "support/event_handler.rs"]
mod event_handler;

use std::process::Stdio;
use std::sync::Arc;

use app_support::{app, submit};
use engine::{fast_timers, wait_for};
use event_handler::{EventHandler, Reply, serve};
use url::Url;
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event};
use wpchat::service::RunningService;
use wpchat::tui::App;
use wpchat::tui::state::LineKind;

fn config(service: &RunningService) -> ClientConfig {
    let endpoint = Url::parse(&format!("http://{}", service.addr)).unwrap();
    let options = TokenOptions {
        user_id: Some("ann".into()),
        ..TokenOptions::default()
    };
    let provider = ConnectionStringProvider::new(
        ConnectionString::new(endpoint, &service.access_key),
        "chat",
        options,
    )
    .unwrap();
    fast_timers(ClientConfig::new(Arc::new(provider)))
}

/// Hands `commands` to the engine and feeds its events to the App until `op` has an outcome.
async fn run_until_done(app: &mut App, handle: &mut ClientHandle, commands: Vec<Command>) {
    let op = match commands.as_slice() {
        [Command::SendEvent { op, .. }] => *op,
        other => panic!("expected one event, got {other:?}"),
    };
    for command in commands {
        handle.commands.send(command).await.unwrap();
    }
    loop {
        let event = wait_for(handle, |_| true).await;
        let done = matches!(&event, Event::OpResult { op: done, .. } if *done == op);
        app.update(event);
        if done {
            return;
        }
    }
}

#[tokio::test]
async fn the_chat_shows_the_handler_s_reply_under_the_event() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let mut handle = client::spawn(config(&service));
    let connected = wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    let mut app = app();
    app.update(connected);
    let commands = submit(&mut app, "/event chat {\"n\":1}");
    run_until_done(&mut app, &mut handle, commands).await;

    let lines: Vec<_> = app.state().current_buffer().lines.iter().collect();
    let request = lines
        .iter()
        .position(|l| &*l.body == "→ event chat: {\"n\":1}")
        .unwrap_or_else(|| panic!("no request line: {lines:#?}"));
    let reply = lines[request + 1];
    assert_eq!(reply.kind, LineKind::Json);
    assert_eq!(&*reply.body, "{\"n\":1}");
    assert_eq!(app.state().names.name(reply.sender), "↳ chat");
}

#[tokio::test]
async fn an_event_without_a_reply_says_so_where_it_was_sent() {
    let handler =
        EventHandler::start_with(|call| (call.event() == "quiet").then(|| Reply::status(204)))
            .await;
    let service = serve(&handler).await;
    let mut handle = client::spawn(config(&service));
    let connected = wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    let mut app = app();
    app.update(connected);
    let commands = submit(&mut app, "/event quiet hi");
    run_until_done(&mut app, &mut handle, commands).await;
    let last = app.state().current_buffer().lines.back().unwrap();
    assert_eq!(
        &*last.body,
        "✓ event quiet acked; the handler sent no reply"
    );
}

#[tokio::test]
async fn send_event_prints_the_handler_s_reply() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let connection_string = format!(
        "Endpoint=http://{};AccessKey={};Version=1.0;",
        service.addr, service.access_key
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args([
            "send",
            "--hub",
            "chat",
            "--event",
            "chat",
            "--data-type",
            "json",
        ])
        .args(["--connection-string", &connection_string, "{\"n\":2}"])
        .env("WPCHAT_CONFIG", "/nonexistent/wpchat-test-config.toml")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
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
