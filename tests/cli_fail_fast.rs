//! Scripts fail fast and clearly (issue 13, item 1): `listen`, `send` and `bench` (the built
//! binary) end with one line on stderr and a documented exit code when the first connection
//! cannot be made and retrying cannot help; `--wait` keeps trying; `listen --strict` fails on a
//! lost session; the client URL is a target argument and no error shows its token; `send`
//! refuses contradictory arguments; a closed stdout is no panic.

#[path = "support/cli.rs"]
mod cli;

use std::process::Output;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use cli::{Home, WAIT, finished, stderr_of, stdout_of};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStderr;
use wpchat::service::{RunningService, ServiceConfig};

/// The documented exit codes (README, "Exit codes").
const USAGE: i32 = 2;
const AUTHENTICATION: i32 = 3;
const UNREACHABLE: i32 = 4;
const MESSAGES_LOST: i32 = 5;

/// An access key the service does not have; it must never be shown.
const WRONG_KEY: &str = "WRONGKEYWRONGKEYWRONGKEYWRONGKEYWRONGKEY0123";

/// The service on `port` (0: any). A port that was let go a moment ago is retried for a
/// while: until something listens on it, any outgoing connection on the machine (another
/// test's, or the waiting client's own, which then connects to itself) may get it as its
/// local port.
async fn service_on(port: u16) -> RunningService {
    let config = ServiceConfig {
        port,
        ..ServiceConfig::default()
    };
    let give_up = tokio::time::Instant::now() + WAIT;
    loop {
        match wpchat::service::start(config.clone()).await {
            Ok(service) => return service,
            Err(wpchat::service::ServiceError::Bind { .. })
                if port != 0 && tokio::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the service starts on port {port}: {error:?}"),
        }
    }
}

/// A port nothing listens on (bound, then let go).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn connection_string(port: u16, key: &str) -> String {
    format!("Endpoint=http://127.0.0.1:{port};AccessKey={key};Version=1.0;")
}

/// A client URL for hub `chat` on `service` as `user`, with a token signed by `key`.
fn client_url(service: &RunningService, user: &str, key: &str) -> String {
    let aud = format!("http://{}/client/hubs/chat", service.addr);
    let claims = wpchat::auth::Claims {
        aud,
        exp: wpchat::auth::connection_string::unix_now() + 600,
        sub: Some(user.into()),
        roles: vec![
            "webpubsub.joinLeaveGroup".into(),
            "webpubsub.sendToGroup".into(),
        ],
        ..wpchat::auth::Claims::default()
    };
    let token = wpchat::auth::mint(&claims, key);
    format!(
        "ws://{}/client/hubs/chat?access_token={token}",
        service.addr
    )
}

/// The run failed with `code` and one line on stderr that contains every one of `says` and
/// none of `secrets`.
fn failed_with(output: &Output, code: i32, says: &[&str], secrets: &[&str]) {
    let stderr = stderr_of(output);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    for part in says {
        assert!(stderr.contains(part), "missing {part:?}: {stderr}");
    }
    for secret in secrets {
        assert!(!stderr.contains(secret), "shows a secret: {stderr}");
    }
}

#[tokio::test]
async fn a_wrong_access_key_ends_listen_send_and_bench_with_the_cause_and_exit_3() {
    let service = service_on(0).await;
    let wrong = connection_string(service.addr.port(), WRONG_KEY);
    let target = ["--connection-string", &wrong, "--hub", "chat"];
    let home = Home::new();
    for command in [
        &["listen", "--group", "g"][..],
        &["send", "--group", "g", "hello"],
        &["bench", "--count", "10"],
    ] {
        let args: Vec<&str> = command.iter().chain(&target).copied().collect();
        let output = home.run(&args).await;
        failed_with(
            &output,
            AUTHENTICATION,
            &[
                "cannot connect",
                "401",
                "bad signature",
                "check the access key",
            ],
            &[WRONG_KEY],
        );
    }
}

#[tokio::test]
async fn a_simple_connection_refused_for_its_key_ends_listen_with_exit_3_too() {
    let service = service_on(0).await;
    let wrong = connection_string(service.addr.port(), WRONG_KEY);
    let output = Home::new()
        .run(&[
            "listen",
            "--protocol",
            "none",
            "--connection-string",
            &wrong,
            "--hub",
            "chat",
        ])
        .await;
    failed_with(
        &output,
        AUTHENTICATION,
        &["cannot connect", "401", "bad signature"],
        &[WRONG_KEY],
    );
}

#[tokio::test]
async fn a_refused_client_url_ends_listen_with_exit_3_and_no_token_shown() {
    let service = service_on(0).await;
    let url = client_url(&service, "alice", WRONG_KEY);
    let token = url.split("access_token=").nth(1).expect("a token");
    let output = Home::new().run(&["listen", &url, "--group", "g"]).await;
    failed_with(&output, AUTHENTICATION, &["401", "bad signature"], &[token]);
}

#[tokio::test]
async fn nothing_listening_ends_listen_send_and_bench_with_exit_4() {
    let port = free_port();
    let target = connection_string(port, WRONG_KEY);
    let home = Home::new();
    for command in [
        &["listen", "--group", "g"][..],
        &["send", "--group", "g", "hello"],
        &["bench", "--count", "10"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--connection-string", &target, "--hub", "chat"]);
        let output = home.run(&args).await;
        failed_with(
            &output,
            UNREACHABLE,
            &["nothing is listening", "connection refused", "--wait"],
            &[WRONG_KEY],
        );
    }
}

#[tokio::test]
async fn a_host_that_does_not_resolve_ends_listen_with_exit_4() {
    let output = Home::new()
        .run(&["listen", "ws://no-such-host.invalid/client/hubs/chat"])
        .await;
    // The URL has no token: one notice says so before the failure.
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(UNREACHABLE), "{stderr}");
    assert!(
        stderr.contains("cannot resolve the host name 'no-such-host.invalid'"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tls_to_a_plain_service_ends_listen_with_exit_4() {
    let service = service_on(0).await;
    let url = client_url(&service, "alice", &service.access_key).replacen("ws://", "wss://", 1);
    let output = Home::new().run(&["listen", &url]).await;
    failed_with(&output, UNREACHABLE, &["TLS failed"], &["access_token=ey"]);
}

/// An app server whose negotiate endpoints refuse, are missing, or do not answer JSON.
async fn bad_app_server() -> String {
    let router = Router::new()
        .route(
            "/refuses",
            get(|| async { (StatusCode::FORBIDDEN, "no").into_response() }),
        )
        .route("/html", get(|| async { "<html>not json</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_negotiate_endpoint_that_refuses_or_is_useless_ends_listen_at_once() {
    let app = bad_app_server().await;
    let nobody = format!("http://127.0.0.1:{}/negotiate", free_port());
    let home = Home::new();
    for (endpoint, code, says) in [
        (format!("{app}/refuses"), AUTHENTICATION, "HTTP 403"),
        (format!("{app}/missing"), UNREACHABLE, "HTTP 404"),
        (format!("{app}/html"), UNREACHABLE, "did not answer JSON"),
        (nobody, UNREACHABLE, "pass --wait to keep trying"),
    ] {
        let output = home
            .run(&[
                "listen",
                "--negotiate",
                &endpoint,
                "--header",
                "X-Key: S3CRET",
            ])
            .await;
        failed_with(&output, code, &[says], &["S3CRET"]);
    }
}

/// Reads stderr lines until one contains `wanted`.
async fn stderr_until(lines: &mut Lines<BufReader<ChildStderr>>, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains(wanted);
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no {wanted:?} on stderr: {seen:?}");
    seen
}

#[tokio::test]
async fn wait_keeps_retrying_until_the_service_starts() {
    let port = free_port();
    let service_cs = connection_string(port, wpchat::service::DEV_ACCESS_KEY);
    let target = ["--connection-string", &service_cs, "--hub", "chat"];
    let home = Home::new();
    let mut listen_args = vec!["listen", "--wait", "--group", "g", "--count", "1"];
    listen_args.extend(target);
    let mut listen = home.wpchat(&listen_args).spawn().expect("listen starts");
    let mut errors = BufReader::new(listen.stderr.take().expect("stderr")).lines();
    stderr_until(&mut errors, "cannot connect yet").await;
    let _service = service_on(port).await;
    stderr_until(&mut errors, "connected").await;
    let mut send_args = vec!["send", "--group", "g", "after the wait"];
    send_args.extend(target);
    let line = sent_until_heard(&home, listen, &send_args).await;
    assert_eq!(line["data"], "after the wait");
}

#[tokio::test]
async fn a_limited_wait_gives_up_with_exit_4() {
    let target = connection_string(free_port(), WRONG_KEY);
    let output = Home::new()
        .run(&[
            "send",
            "--wait",
            "1s",
            "--group",
            "g",
            "x",
            "--connection-string",
            &target,
            "--hub",
            "chat",
        ])
        .await;
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(UNREACHABLE), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("gave up after 1 s"), "{stderr}");
    assert!(
        stderr.contains("cannot connect yet (attempt 1)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_timeout_without_ever_connecting_is_a_failure() {
    // Accepts TCP connections and never answers the WebSocket handshake.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let url = format!("ws://{addr}/client/hubs/chat");
    let output = Home::new()
        .run(&["listen", &url, "--count", "1", "--timeout", "1s"])
        .await;
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(UNREACHABLE), "{stderr}");
    assert!(stderr.contains("no connection within 1 s"), "{stderr}");
}

/// Starts `listen` (reliable, on group `g`) against the service on `port`, with `extra` flags,
/// and returns it with its stderr once it is connected.
async fn connected_listener(
    home: &Home,
    port: u16,
    extra: &[&str],
) -> (tokio::process::Child, Lines<BufReader<ChildStderr>>) {
    let target = connection_string(port, wpchat::service::DEV_ACCESS_KEY);
    let mut args = vec![
        "listen",
        "--group",
        "g",
        "--connection-string",
        &target,
        "--hub",
        "chat",
    ];
    args.extend_from_slice(extra);
    let mut child = home.wpchat(&args).spawn().expect("listen starts");
    let mut errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
    stderr_until(&mut errors, "connected (connection").await;
    (child, errors)
}

/// Replaces the service on its port with a fresh one, which cannot recover old sessions.
async fn restart(service: RunningService) -> RunningService {
    let port = service.addr.port();
    service.shutdown().await;
    service_on(port).await
}

#[tokio::test]
async fn strict_listen_exits_5_when_the_reliable_session_is_lost() {
    let home = Home::new();
    let service = service_on(0).await;
    let (listen, mut errors) = connected_listener(&home, service.addr.port(), &["--strict"]).await;
    let _service = restart(service).await;
    let seen = stderr_until(&mut errors, "messages may be missing").await;
    let last = seen.last().map(String::as_str).unwrap_or_default();
    assert!(
        last.contains("the reliable session was lost, so messages may be missing (--strict)"),
        "{seen:?}"
    );
    let output = finished(listen).await;
    assert_eq!(output.status.code(), Some(MESSAGES_LOST), "{seen:?}");
}

#[tokio::test]
async fn without_strict_a_lost_session_is_one_line_and_listen_carries_on() {
    let home = Home::new();
    let service = service_on(0).await;
    let (mut listen, mut errors) = connected_listener(&home, service.addr.port(), &[]).await;
    let _service = restart(service).await;
    let seen = stderr_until(&mut errors, "session lost").await;
    let gaps = seen.iter().filter(|l| l.contains("session lost")).count();
    assert_eq!(gaps, 1, "{seen:?}");
    stderr_until(&mut errors, "connected (connection").await;
    assert!(listen.try_wait().expect("status").is_none(), "listen ended");
    listen.kill().await.expect("kill listen");
}

#[tokio::test]
async fn a_client_url_argument_is_the_target_of_listen_and_send() {
    let service = service_on(0).await;
    let home = Home::new();
    let send_url = client_url(&service, "sender", &service.access_key);
    let listen = one_message_listener(&home, &service).await;
    let line = sent_until_heard(
        &home,
        listen,
        &["send", &send_url, "--group", "g", "by url"],
    )
    .await;
    assert_eq!(line["data"], "by url");
    assert_eq!(line["fromUserId"], "sender");
}

#[tokio::test]
async fn no_usage_error_shows_the_token_it_quotes() {
    let url = "wss://h.example/client/hubs/chat?access_token=SECRET-TOKEN-VALUE";
    let home = Home::new();
    for args in [
        &["token", url][..],
        &["listen", "extra", url],
        &["listen", url, "extra"],
        &["send", url, "message", "extra"],
        &["listen", "--wait", url],
    ] {
        let output = home.run(args).await;
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(USAGE), "{args:?}: {stderr}");
        assert!(!stderr.contains("SECRET-TOKEN-VALUE"), "{stderr}");
    }
}

#[tokio::test]
async fn send_refuses_contradictory_arguments_before_connecting() {
    let home = Home::new();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let path = file.path().to_str().expect("a UTF-8 path");
    for (args, says) in [
        (
            &["send", "--group", "g", "--file", path, "msg"][..],
            "not both",
        ),
        (
            &["send", "--group", "g", "--event", "e", "x"],
            "give one of them",
        ),
        (
            &["send", "--group", "a", "--group", "b", "x"],
            "give --group once",
        ),
        (
            &[
                "send",
                "--group",
                "g",
                "--file",
                path,
                "--type-url",
                "t/x",
                "--data-type",
                "json",
            ],
            "--data-type binary",
        ),
    ] {
        let output = home.run(args).await;
        failed_with(&output, USAGE, &[says], &[]);
    }
}

/// Runs `wpchat SEND_ARGS` until `listen` (a `--count 1` listener, joined right after it
/// connected) has its message; returns the JSON line it printed.
async fn sent_until_heard(
    home: &Home,
    mut listen: tokio::process::Child,
    send_args: &[&str],
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    while listen.try_wait().expect("listen status").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "listen got nothing");
        let sent = home.run(send_args).await;
        assert!(sent.status.success(), "{}", stderr_of(&sent));
    }
    let output = finished(listen).await;
    assert!(output.status.success(), "{}", stderr_of(&output));
    serde_json::from_str(stdout_of(&output).trim()).expect("a JSON line")
}

/// Starts `listen --count 1` on group `g` of `service` and returns it once connected.
async fn one_message_listener(home: &Home, service: &RunningService) -> tokio::process::Child {
    let url = client_url(service, "listener", &service.access_key);
    let mut listen = home
        .wpchat(&["listen", &url, "--group", "g", "--count", "1"])
        .spawn()
        .expect("listen starts");
    let mut errors = BufReader::new(listen.stderr.take().expect("stderr")).lines();
    stderr_until(&mut errors, "connected (connection").await;
    listen
}

#[tokio::test]
async fn send_file_honours_the_data_type() {
    let service = service_on(0).await;
    let home = Home::new();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), "{\"level\": \"warn\"}\n").expect("write file");
    let path = file.path().to_str().expect("a UTF-8 path");
    let sender = client_url(&service, "sender", &service.access_key);
    let listen = one_message_listener(&home, &service).await;
    let args = [
        "send",
        &sender,
        "--group",
        "g",
        "--data-type",
        "json",
        "--file",
        path,
    ];
    let line = sent_until_heard(&home, listen, &args).await;
    assert_eq!(line["dataType"], "json", "{line}");
    assert_eq!(line["data"], serde_json::json!({"level": "warn"}));
}

/// Runs `wpchat COMMAND URL ARGS` against a fresh service, URL a client URL for `user`.
async fn run_with_client_url(command: &str, user: &str, args: &[&str]) -> Output {
    let service = service_on(0).await;
    let url = client_url(&service, user, &service.access_key);
    let mut all = vec![command, url.as_str()];
    all.extend_from_slice(args);
    Home::new().run(&all).await
}

#[tokio::test]
async fn send_with_empty_stdin_says_it_sent_nothing() {
    let output = run_with_client_url("send", "sender", &["--group", "g"]).await;
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("nothing to send"), "{stderr}");
}

#[tokio::test]
async fn serve_with_a_closed_stdout_keeps_serving_and_stops_cleanly() {
    let home = Home::new();
    let mut serve = home
        .wpchat(&["serve", "--port", "0"])
        .spawn()
        .expect("serve starts");
    let stdout = serve.stdout.take().expect("stdout");
    let mut first = String::new();
    tokio::time::timeout(WAIT, BufReader::new(stdout).read_line(&mut first))
        .await
        .expect("serve printed in time")
        .expect("read stdout");
    assert!(first.contains("listening on"), "{first}");
    // stdout is now closed: the rest of the banner goes nowhere, without a panic.
    let pid = serve.id().expect("serve runs");
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(term.success());
    let output = finished(serve).await;
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("stopping the local service"), "{stderr}");
    // The log went to a pipe, not a terminal: plain text, no colour codes.
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[tokio::test]
async fn every_stdout_writer_ends_quietly_when_stdout_is_closed() {
    let home = Home::new();
    let connection_string = connection_string(8080, wpchat::service::DEV_ACCESS_KEY);
    for args in [
        &[
            "token",
            "--connection-string",
            &connection_string,
            "--hub",
            "chat",
        ][..],
        &["--print-default-config"],
        &["bench", "--count", "10"],
    ] {
        let mut child = home.wpchat(args).spawn().expect("wpchat starts");
        drop(child.stdout.take());
        let output = finished(child).await;
        let stderr = stderr_of(&output);
        assert!(
            output.status.success(),
            "{args:?}: {:?} {stderr}",
            output.status
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            !stderr.to_lowercase().contains("broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_wait_value_that_is_not_a_duration_is_a_usage_error() {
    let output = Home::new().run(&["bench", "--wait", "soon"]).await;
    assert_eq!(output.status.code(), Some(USAGE));
    assert!(stderr_of(&output).contains("'soon' is not a duration"));
}

#[tokio::test]
async fn a_group_refused_before_the_first_connection_still_fails_listen() {
    // A fixed client URL mints nothing, so the engine is the one to refuse the name.
    let output = run_with_client_url("listen", "listener", &["--group", "   "]).await;
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("cannot join group '   '"), "{stderr}");
}
