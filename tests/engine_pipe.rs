//! `wpchat listen` and `wpchat send` (the built binary) against the scripted server: JSON
//! lines, byte-exact binary, JSON validation with line numbers, ack errors, a closed stdout.

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
    let mut command = Command::new(env!("CARGO_BIN_EXE_wpchat"));
    command
        .args(args)
        .env_remove("WebPubSubConnectionString")
        .env("WPCHAT_CONFIG", "/nonexistent/wpchat-test-config.toml")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts `listen` on group `g` and waits until the server has it as a member.
async fn listener(server: &ScriptedServer, extra: &[&str]) -> Child {
    let url = server.url().to_string();
    let mut args = vec!["listen", "--url", &url, "--group", "g"];
    args.extend_from_slice(extra);
    let child = wpchat(&args).spawn().expect("spawn listen");
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.members("g") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "listen never joined"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child
}

/// Runs `send` with `stdin` as its input; returns (success, stderr).
async fn send(server: &ScriptedServer, args: &[&str], stdin: &str) -> (bool, String) {
    let url = server.url().to_string();
    let mut all = vec!["send", "--url", &url];
    all.extend_from_slice(args);
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
    let bytes = [0u8, 0xff, 0xfe, 0x80, b'\n', 0xc3, 0x28];
    let encoded = BASE64.encode(bytes);
    let (ok, stderr) = send(
        &server,
        &["--group", "g", "--data-type", "binary", &encoded],
        "",
    )
    .await;
    assert!(ok, "{stderr}");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let file_bytes: Vec<u8> = (0..=255u8).rev().collect();
    std::fs::write(file.path(), &file_bytes).expect("write file");
    let path = file.path().to_string_lossy().into_owned();
    let (ok, stderr) = send(&server, &["--group", "g", "--file", &path], "").await;
    assert!(ok, "{stderr}");
    let lines = lines_of(listen).await;
    let decoded: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["dataType"], "binary");
            BASE64
                .decode(l["data"].as_str().expect("base64 string"))
                .expect("valid base64")
        })
        .collect();
    assert_eq!(decoded, vec![bytes.to_vec(), file_bytes]);
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
