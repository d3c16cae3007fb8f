//! `wpchat send --protocol none` and `wpchat listen --protocol none` (the built binary) as
//! simple WebSocket clients of the local service with an event handler written in the test:
//! a line out as one frame and the handler's reply printed as a JSON line, binary both ways,
//! a missing reply failing the run, and frames received by a listener in a group.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/event_handler.rs"]
mod event_handler;

use std::process::Output;
use std::time::Duration;

use event_handler::{EventHandler, Reply, serve};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use wpchat::service::RunningService;

const WAIT: Duration = Duration::from_secs(30);

fn connection_string(service: &RunningService) -> String {
    cli::connection_string(service.addr, &service.access_key)
}

/// `wpchat SUBCOMMAND --protocol none --connection-string … --hub chat ARGS`.
fn wpchat(service: &RunningService, subcommand: &str, args: &[&str]) -> Command {
    let cs = connection_string(service);
    let mut all = vec![
        subcommand,
        "--protocol",
        "none",
        "--hub",
        "chat",
        "--user",
        "cli",
    ];
    all.extend(["--connection-string", &cs]);
    all.extend_from_slice(args);
    cli::shared_home().wpchat(&all)
}

async fn run(command: &mut Command) -> Output {
    tokio::time::timeout(WAIT, command.output())
        .await
        .expect("wpchat ends in time")
        .expect("wpchat runs")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
        .collect()
}

#[tokio::test]
async fn send_hello_prints_the_handler_s_echo_as_a_json_line() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let output = run(&mut wpchat(
        &service,
        "send",
        &["--expect-reply", "1", "hello"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["dataType"], "text");
    assert_eq!(lines[0]["data"], "echo: hello");
    assert!(lines[0]["ts"].as_str().is_some_and(|ts| ts.ends_with('Z')));
}

#[tokio::test]
async fn send_binary_gets_the_same_bytes_back_in_base64() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let output = run(&mut wpchat(
        &service,
        "send",
        &["--data-type", "binary", "--expect-reply", "1", "AAH/"],
    ))
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output);
    assert_eq!(lines[0]["dataType"], "binary");
    assert_eq!(lines[0]["data"], "AAH/");
}

#[tokio::test]
async fn a_reply_that_never_comes_fails_the_run_and_says_so() {
    // The handler accepts the frame and answers nothing.
    let handler =
        EventHandler::start_with(|call| (call.event() == "message").then(|| Reply::status(204)))
            .await;
    let service = serve(&handler).await;
    let output = run(&mut wpchat(
        &service,
        "send",
        &["--expect-reply", "1", "--reply-timeout", "300ms", "hello"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 of the 1 replies expected"), "{stderr}");
}

#[tokio::test]
async fn listen_prints_each_frame_the_connection_receives() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    // The listener's token puts it in group g; the service sends it g's messages as frames.
    let mut listener = wpchat(&service, "listen", &["--group", "g", "--count", "2"])
        .spawn()
        .expect("listen starts");
    handler
        .wait_for(|calls| calls.iter().any(|c| c.event() == "connected"))
        .await;
    let cs = connection_string(&service);
    let publish = |args: &[&str]| {
        let mut all = vec!["send", "--hub", "chat", "--group", "g"];
        all.extend([
            "--connection-string",
            &cs,
            "--role",
            "webpubsub.sendToGroup",
        ]);
        all.extend_from_slice(args);
        cli::shared_home().wpchat(&all)
    };
    assert!(run(&mut publish(&["hi there"])).await.status.success());
    assert!(
        run(&mut publish(&["--data-type", "binary", "AAH/"]))
            .await
            .status
            .success()
    );
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            received.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    })
    .await
    .expect("listen ends after --count frames");
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0]["dataType"], "text");
    assert_eq!(received[0]["data"], "hi there");
    assert_eq!(received[1]["dataType"], "binary");
    assert_eq!(received[1]["data"], "AAH/");
    let status = tokio::time::timeout(WAIT, listener.wait()).await.unwrap();
    assert!(status.unwrap().success());
}
