//! `wpchat listen` and `wpchat send` (the built binary) against the scripted server: JSON
//! lines, byte-exact binary, JSON validation with line numbers, ack errors, a closed stdout;
//! then against the real local service, including a reliable `listen` across forced drops.

#[path = "support/chaos_proxy.rs"]
mod chaos_proxy;
#[path = "support/cli.rs"]
mod cli;
#[path = "support/scripted.rs"]
mod scripted;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use scripted::{AckPlan, ScriptedServer};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(20);

fn wpchat(args: &[&str]) -> Command {
    cli::shared_home().wpchat(args)
}

/// Starts `listen` on group `g` and waits until the server has it as a member.
async fn listener(server: &ScriptedServer, extra: &[&str]) -> Child {
    let url = server.url().to_string();
    let mut args = vec!["listen", "--url", &url, "--group", "g"];
    args.extend_from_slice(extra);
    let child = wpchat(&args).spawn().expect("spawn listen");
    until_joined(|| std::future::ready(server.members("g") > 0)).await;
    child
}

/// Waits until `joined` says the listener is a member of its group.
async fn until_joined<F, Joined>(mut joined: F)
where
    F: FnMut() -> Joined,
    Joined: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !joined().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "listen never joined"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `send` with `stdin` as its input; returns (success, stderr).
async fn send(server: &ScriptedServer, args: &[&str], stdin: &str) -> (bool, String) {
    let url = server.url().to_string();
    run_send(&["--url", &url], args, stdin).await
}

/// Runs `wpchat send TARGET ARGS` with `stdin` as its input; returns (success, stderr).
async fn run_send(target: &[&str], args: &[&str], stdin: &str) -> (bool, String) {
    let all: Vec<&str> = std::iter::once("send")
        .chain(target.iter().copied())
        .chain(args.iter().copied())
        .collect();
    let mut command = wpchat(&all);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("spawn send");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("send finished in time")
        .expect("send ran");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Bytes that are not UTF-8 and hold a newline: binary must arrive exactly as sent.
const ODD_BYTES: [u8; 7] = [0, 0xff, 0xfe, 0x80, b'\n', 0xc3, 0x28];

/// Sends [`ODD_BYTES`] as a base64 argument, then `file_bytes` as a `--file`, to group `g`
/// through `target` (send's target flags); both sends must succeed.
async fn send_binary_both_ways(target: &[&str], file_bytes: &[u8]) {
    let encoded = BASE64.encode(ODD_BYTES);
    let binary = ["--group", "g", "--data-type", "binary", &encoded];
    let (ok, stderr) = run_send(target, &binary, "").await;
    assert!(ok, "{stderr}");
    let (_file, path) = file_holding(file_bytes);
    let (ok, stderr) = run_send(target, &["--group", "g", "--file", &path], "").await;
    assert!(ok, "{stderr}");
}

/// The bytes of a binary message's JSON line.
fn binary_data(line: &Value) -> Vec<u8> {
    assert_eq!(line["dataType"], "binary", "{line}");
    BASE64
        .decode(line["data"].as_str().expect("base64 string"))
        .expect("valid base64")
}

/// A temporary file holding `bytes` (deleted when dropped), and its path.
fn file_holding(bytes: &[u8]) -> (tempfile::NamedTempFile, String) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), bytes).expect("write file");
    let path = file.path().to_string_lossy().into_owned();
    (file, path)
}

async fn lines_of(child: Child) -> Vec<Value> {
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("listen finished in time")
        .expect("listen ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "listen failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    assert!(stdout.ends_with('\n'), "whole lines only: {stdout:?}");
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn stdin_lines_arrive_as_json_lines() {
    let server = ScriptedServer::start().await;
    let listen = listener(&server, &["--count", "3"]).await;
    let (ok, stderr) = send(&server, &["--group", "g"], "one\ntwo\n\nthree\n").await;
    assert!(ok, "{stderr}");
    let lines = lines_of(listen).await;
    let data: Vec<&str> = lines.iter().filter_map(|l| l["data"].as_str()).collect();
    assert_eq!(data, vec!["one", "two", "three"]);
    for line in &lines {
        assert_eq!(line["from"], "group");
        assert_eq!(line["group"], "g");
        assert_eq!(line["fromUserId"], "tester");
        assert_eq!(line["dataType"], "text");
        assert!(line["sequenceId"].is_u64());
        assert!(line["ts"].as_str().is_some_and(|ts| ts.ends_with('Z')));
    }
}

#[tokio::test]
async fn binary_arrives_byte_exact() {
    let server = ScriptedServer::start().await;
    let listen = listener(&server, &["--count", "2"]).await;
    let file_bytes: Vec<u8> = (0..=255u8).rev().collect();
    let url = server.url().to_string();
    send_binary_both_ways(&["--url", &url], &file_bytes).await;
    let lines = lines_of(listen).await;
    let decoded: Vec<Vec<u8>> = lines.iter().map(binary_data).collect();
    assert_eq!(decoded, vec![ODD_BYTES.to_vec(), file_bytes]);
}

#[tokio::test]
async fn invalid_json_lines_are_refused_with_their_number() {
    let server = ScriptedServer::start().await;
    let listen = listener(&server, &["--count", "2"]).await;
    let (ok, stderr) = send(
        &server,
        &["--group", "g", "--data-type", "json"],
        "{\"a\":1}\n{bad\n[2]\n",
    )
    .await;
    assert!(!ok, "an invalid line fails the run");
    assert!(stderr.contains("line 2"), "{stderr}");
    let lines = lines_of(listen).await;
    let data: Vec<&Value> = lines.iter().map(|l| &l["data"]).collect();
    assert_eq!(
        data,
        vec![&serde_json::json!({"a": 1}), &serde_json::json!([2])]
    );
}

#[tokio::test]
async fn ack_errors_fail_the_run_with_their_name() {
    let server = ScriptedServer::start().await;
    server.plan_acks([AckPlan::Error("Forbidden".into())]);
    let (ok, stderr) = send(&server, &["--group", "g", "hello"], "").await;
    assert!(!ok);
    assert!(stderr.contains("Forbidden"), "{stderr}");
    let (ok, stderr) = send(&server, &["hello"], "").await;
    assert!(!ok);
    assert!(stderr.contains("send needs --group G"), "{stderr}");
}

#[tokio::test]
async fn config_warnings_and_target_notices_reach_stderr_inert_and_without_secrets() {
    let server = ScriptedServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "\"AccessKey=SECRETVALUE\\u001b]0;title\\u0007\" = 1\n",
    )
    .expect("write config");
    let config = config.to_string_lossy().into_owned();
    // A URL without a token: the target's notice says so.
    let url = server.url().to_string();
    let url = url.split('?').next().expect("a URL");
    for subcommand in [
        vec!["listen", "--count", "0"],
        vec!["send", "--group", "g", "hi"],
    ] {
        let mut args = subcommand.clone();
        args.extend(["--url", url, "--config", &config]);
        let output = tokio::time::timeout(WAIT, wpchat(&args).output())
            .await
            .expect("wpchat finished in time")
            .expect("wpchat ran");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "wpchat: config: unknown config key 'AccessKey=***]0;title\u{2407}' (ignored)\n"
            ),
            "{subcommand:?}: {stderr}"
        );
        assert!(
            stderr.contains("wpchat: the client URL has no access_token"),
            "{subcommand:?}: {stderr}"
        );
        assert!(!stderr.contains("SECRETVALUE"), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    }
}

#[tokio::test]
async fn listen_ends_quietly_when_stdout_closes() {
    let server = ScriptedServer::start().await;
    let mut listen = listener(&server, &[]).await;
    let (ok, stderr) = send(&server, &["--group", "g", "first"], "").await;
    assert!(ok, "{stderr}");
    let stdout = listen.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    tokio::time::timeout(WAIT, reader.read_line(&mut first))
        .await
        .expect("a first line in time")
        .expect("read");
    assert!(first.contains("\"data\":\"first\""), "{first}");
    drop(reader);
    let more: String = (0..50).map(|n| format!("more {n}\n")).collect();
    let (ok, stderr) = send(&server, &["--group", "g"], &more).await;
    assert!(ok, "{stderr}");
    let output = tokio::time::timeout(WAIT, listen.wait_with_output())
        .await
        .expect("listen ended in time")
        .expect("listen ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
}

// ---- The same commands against the real local service (in-process, 127.0.0.1:0). ----

async fn real_service() -> wpchat::service::RunningService {
    wpchat::service::start(wpchat::service::ServiceConfig {
        port: 0,
        ..wpchat::service::ServiceConfig::default()
    })
    .await
    .expect("the service starts")
}

/// Whether group `g` of hub `chat` has a member, asked through the REST API.
async fn group_exists(service: &wpchat::service::RunningService, group: &str) -> bool {
    let url = format!("http://{}/api/hubs/chat/groups/{group}", service.addr);
    let claims = wpchat::auth::Claims {
        aud: url.clone(),
        exp: wpchat::auth::connection_string::unix_now() + 600,
        ..wpchat::auth::Claims::default()
    };
    let token = wpchat::auth::mint(&claims, &service.access_key);
    match reqwest::Client::new()
        .head(&url)
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}

/// Starts `listen` on group `g` of the real service and waits until it joined.
async fn real_listener(service: &wpchat::service::RunningService, extra: &[&str]) -> Child {
    // Group `g` may exist already (another listener's), so its existence proves nothing: each
    // listener also joins a group of its own after `g`, and the service takes a connection's
    // frames in order, so once that one exists `g` was joined too.
    static LISTENERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let ready = format!(
        "ready-{}",
        LISTENERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let connection_string = service.connection_string();
    let mut args = vec![
        "listen",
        "--connection-string",
        &connection_string,
        "--hub",
        "chat",
        "--user",
        "listener",
        "--group",
        "g",
        "--group",
        &ready,
    ];
    args.extend_from_slice(extra);
    let child = wpchat(&args).spawn().expect("spawn listen");
    until_joined(|| group_exists(service, &ready)).await;
    child
}

/// Runs `send` against the real service as user `sender`; returns (success, stderr).
async fn real_send(
    service: &wpchat::service::RunningService,
    args: &[&str],
    stdin: &str,
) -> (bool, String) {
    let target = sender_flags(service);
    let target: Vec<&str> = target.iter().map(String::as_str).collect();
    run_send(&target, args, stdin).await
}

/// `send`'s target flags for the real service, as user `sender`.
fn sender_flags(service: &wpchat::service::RunningService) -> Vec<String> {
    let connection_string = service.connection_string();
    [
        "--connection-string",
        &connection_string,
        "--hub",
        "chat",
        "--user",
        "sender",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test]
async fn real_service_text_json_and_binary_round_trip() {
    let service = real_service().await;
    let listen = real_listener(&service, &["--count", "5"]).await;
    let (ok, stderr) = real_send(&service, &["--group", "g"], "one\ntwo\n").await;
    assert!(ok, "{stderr}");
    let (ok, stderr) = real_send(
        &service,
        &["--group", "g", "--data-type", "json"],
        "{\"a\":[1,{\"b\":null}]}\n",
    )
    .await;
    assert!(ok, "{stderr}");
    let file_bytes: Vec<u8> = (0..=255u8).collect();
    let sender = sender_flags(&service);
    let sender: Vec<&str> = sender.iter().map(String::as_str).collect();
    send_binary_both_ways(&sender, &file_bytes).await;
    let lines = lines_of(listen).await;
    assert_eq!(lines.len(), 5, "--count 5 stops after five lines");
    assert_eq!(lines[0]["data"], "one");
    assert_eq!(lines[1]["data"], "two");
    assert_eq!(lines[2]["dataType"], "json");
    assert_eq!(lines[2]["data"], serde_json::json!({"a": [1, {"b": null}]}));
    for (line, expected) in lines[3..].iter().zip([ODD_BYTES.to_vec(), file_bytes]) {
        assert_eq!(binary_data(line), expected);
    }
    for line in &lines {
        assert_eq!(line["group"], "g");
        assert_eq!(line["fromUserId"], "sender");
        assert!(line["sequenceId"].is_u64());
    }
}

#[tokio::test]
async fn real_service_listen_timeout_ends_with_what_arrived() {
    let service = real_service().await;
    let listen = real_listener(&service, &["--timeout", "4s"]).await;
    let (ok, stderr) = real_send(&service, &["--group", "g", "only"], "").await;
    assert!(ok, "{stderr}");
    let lines = lines_of(listen).await;
    let data: Vec<&str> = lines.iter().filter_map(|l| l["data"].as_str()).collect();
    assert_eq!(data, vec!["only"]);
}

#[tokio::test]
async fn real_service_send_without_the_send_role_fails() {
    let service = real_service().await;
    let (ok, stderr) = real_send(
        &service,
        &["--group", "g", "--role", "webpubsub.joinLeaveGroup", "nope"],
        "",
    )
    .await;
    assert!(!ok, "a Forbidden send exits non-zero");
    assert!(stderr.contains("Forbidden"), "{stderr}");
}

/// A publisher engine connected straight to the service (not through the proxy).
async fn direct_publisher(
    service: &wpchat::service::RunningService,
) -> wpchat::client::ClientHandle {
    use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
    let endpoint = url::Url::parse(&format!("http://{}", service.addr)).expect("endpoint URL");
    let options = TokenOptions {
        user_id: Some("publisher".into()),
        roles: vec!["webpubsub.sendToGroup".into()],
        ..TokenOptions::default()
    };
    let provider = ConnectionStringProvider::new(
        ConnectionString::new(endpoint, service.access_key.clone()),
        "chat",
        options,
    )
    .expect("a token provider");
    let mut handle = wpchat::client::spawn(wpchat::client::ClientConfig::new(std::sync::Arc::new(
        provider,
    )));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, handle.events.recv())
            .await
            .expect("the publisher connected in time")
            .expect("the publisher engine runs");
        if matches!(event, wpchat::client::Event::Connected { .. }) {
            return handle;
        }
    }
}

/// Publishes `text` to group `g` and waits for the service's ack.
async fn publish_acked(handle: &mut wpchat::client::ClientHandle, op: u64, text: String) {
    use wpchat::client::{Command, Event, OpOutcome};
    tokio::time::timeout(
        WAIT,
        handle.commands.send(Command::SendToGroup {
            op,
            group: "g".into(),
            payload: wpchat::protocol::Payload::Text(text),
            no_echo: false,
            fire_and_forget: false,
        }),
    )
    .await
    .expect("the publisher takes commands")
    .expect("the publisher engine runs");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, handle.events.recv())
            .await
            .expect("the ack came in time")
            .expect("the publisher engine runs");
        if let Event::OpResult { op: acked, outcome } = event
            && acked == op
        {
            assert!(
                matches!(outcome, OpOutcome::Done { .. }),
                "publish {op}: {outcome:?}"
            );
            return;
        }
    }
}

/// Waits for a helper task of a test to end well within [`WAIT`].
async fn finished(task: tokio::task::JoinHandle<()>, what: &str) {
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in time"))
        .unwrap_or_else(|error| panic!("{what} failed: {error}"));
}

/// Reads one stdout line of `listen`, bounded by `deadline`; the whole stderr on failure.
async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    deadline: tokio::time::Instant,
    stderr: &std::sync::Mutex<String>,
    received: usize,
) -> String {
    let stderr_now = || stderr.lock().map(|s| s.clone()).unwrap_or_default();
    match tokio::time::timeout_at(deadline, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => panic!(
            "listen closed stdout after {received} lines; stderr:\n{}",
            stderr_now()
        ),
        Ok(Err(error)) => panic!("reading stdout: {error}"),
        Err(_) => panic!(
            "only {received} lines arrived in time; stderr:\n{}",
            stderr_now()
        ),
    }
}

#[tokio::test]
async fn reliable_listen_across_ten_cuts_loses_and_repeats_nothing() {
    const MESSAGES: usize = 2000;
    const CUTS: usize = 10;
    let service = real_service().await;
    let proxy = chaos_proxy::ChaosProxy::start(service.addr).await;
    // The proxy relays bytes untouched, so the Host header names the proxy and a token minted
    // for the proxy's port has the audience the service checks.
    let connection_string = format!(
        "Endpoint=http://{};AccessKey={};Version=1.0;",
        proxy.addr,
        wpchat::service::DEV_ACCESS_KEY
    );
    let home = tempfile::tempdir().expect("temp HOME");
    let count = (MESSAGES + 1).to_string();
    let mut command = wpchat(&[
        "listen",
        "--connection-string",
        &connection_string,
        "--hub",
        "chat",
        "--group",
        "g",
        "--count",
        &count,
    ]);
    // An empty home: no config file, no log file, default settings.
    command
        .env("HOME", home.path())
        .env_remove("WPCHAT_CONFIG")
        .env_remove("WPCHAT_LOG");
    for (variable, dir) in [
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ] {
        command.env(variable, home.path().join(dir));
    }
    for variable in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(variable);
    }
    // kill_on_drop: a failed assertion below ends the child too.
    let mut listen = command.spawn().expect("spawn listen");

    // stderr is collected in the background (and must be drained so the child never blocks).
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (connected_tx, connected) = tokio::sync::oneshot::channel::<()>();
    let stderr_task = {
        let stderr = stderr.clone();
        let pipe = listen.stderr.take().expect("stderr");
        tokio::spawn(async move {
            let mut connected_tx = Some(connected_tx);
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("connected (connection")
                    && let Some(tx) = connected_tx.take()
                {
                    let _ = tx.send(());
                }
                if let Ok(mut all) = stderr.lock() {
                    all.push_str(&line);
                    all.push('\n');
                }
            }
        })
    };
    tokio::time::timeout(WAIT, connected)
        .await
        .expect("listen connected in time")
        .expect("listen said it connected");
    until_joined(|| group_exists(&service, "g")).await;

    let mut publisher = direct_publisher(&service).await;
    publish_acked(&mut publisher, 1, "warm-up".into()).await;
    let mut stdout = BufReader::new(listen.stdout.take().expect("stdout")).lines();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut raw = vec![next_line(&mut stdout, deadline, &stderr, 0).await];

    let (progress_tx, progress) = tokio::sync::watch::channel(0usize);
    let publishing = tokio::spawn(async move {
        for index in 0..MESSAGES {
            publish_acked(&mut publisher, index as u64 + 2, format!("m{index}")).await;
            progress_tx.send_replace(index + 1);
        }
    });
    let cutting = proxy.cut_during(progress, MESSAGES, CUTS);
    while raw.len() < MESSAGES + 1 {
        let received = raw.len();
        raw.push(next_line(&mut stdout, deadline, &stderr, received).await);
    }
    finished(publishing, "publishing").await;
    finished(cutting, "cutting").await;
    let extra = tokio::time::timeout(WAIT, stdout.next_line())
        .await
        .expect("listen closed stdout after --count lines")
        .expect("reading stdout");
    assert_eq!(extra, None, "nothing after --count lines");
    let status = tokio::time::timeout(WAIT, listen.wait())
        .await
        .expect("listen exited in time")
        .expect("listen ran");
    finished(stderr_task, "reading stderr").await;
    let stderr = stderr.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(status.success(), "listen failed ({status}): {stderr}");

    let lines: Vec<Value> = raw
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let data: Vec<&str> = lines
        .iter()
        .map(|l| l["data"].as_str().expect("text data"))
        .collect();
    let expected: Vec<String> = std::iter::once("warm-up".to_string())
        .chain((0..MESSAGES).map(|i| format!("m{i}")))
        .collect();
    assert!(data == expected, "every message exactly once, in order");
    // The session survived every cut, so one sequence numbers every message.
    assert!(!stderr.contains("session lost"), "{stderr}");
    let sequence_ids: Vec<u64> = lines
        .iter()
        .map(|l| l["sequenceId"].as_u64().expect("a sequenceId"))
        .collect();
    assert!(
        sequence_ids.windows(2).all(|pair| pair[0] < pair[1]),
        "sequenceIds strictly increase"
    );
    assert!(
        stderr.matches("session recovered").count() >= CUTS / 2,
        "the cuts forced recoveries: {stderr}"
    );
    assert!(proxy.accepted() > CUTS / 2, "listen came back after cuts");
}

#[tokio::test]
async fn real_service_protobuf_send_and_listen_show_the_any_and_no_made_up_sender() {
    let service = real_service().await;
    let jsonl = real_listener(&service, &["--protocol", "protobuf", "--count", "2"]).await;
    let text = real_listener(
        &service,
        &[
            "--protocol",
            "protobuf.reliable",
            "--count",
            "1",
            "--format",
            "text",
        ],
    )
    .await;
    let protobuf = ["--protocol", "protobuf.reliable", "--group", "g"];
    let (ok, stderr) = real_send(&service, &protobuf, "hello\n").await;
    assert!(ok, "{stderr}");
    let (_file, path) = file_holding(&[8, 150, 1]);
    let any = [
        &protobuf[..],
        &[
            "--type-url",
            "type.googleapis.com/chat.Note",
            "--file",
            &path,
        ],
    ]
    .concat();
    let (ok, stderr) = real_send(&service, &any, "").await;
    assert!(ok, "{stderr}");
    // On a JSON subprotocol an Any cannot be sent, and the error says what to use instead.
    let json_any = ["--group", "g", "--type-url", "t/x", "--file", &path];
    let (ok, stderr) = real_send(&service, &json_any, "").await;
    assert!(!ok && stderr.contains("--protocol protobuf"), "{stderr}");
    let lines = lines_of(jsonl).await;
    assert_eq!(lines[0]["data"], "hello");
    assert_eq!(
        lines[0]["fromUserId"],
        Value::Null,
        "protobuf has no sender"
    );
    assert_eq!(lines[1]["dataType"], "protobuf");
    assert_eq!(lines[1]["typeUrl"], "type.googleapis.com/chat.Note");
    let output = tokio::time::timeout(WAIT, text.wait_with_output())
        .await
        .expect("listen finished in time")
        .expect("listen ran");
    let line = String::from_utf8_lossy(&output.stdout);
    assert!(line.contains("[g] (unknown sender): hello"), "{line}");
}
