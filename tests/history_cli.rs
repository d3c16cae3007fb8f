//! `wpchat history …` as a user runs it: the binary, on a database under a temporary
//! `XDG_DATA_HOME`, found the way the chat finds it.

#[path = "support/service_client.rs"]
mod service_client;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wpchat::history::{self, Dir, Kind, Record, Recorder, RecorderOptions};

/// A temporary data dir whose `local` history (the embedded target's) holds `records`.
fn data_dir_with(records: Vec<Record>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/wpchat/history/local.db");
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).unwrap();
    for record in records {
        recorder.try_record(record);
    }
    recorder.close();
    (dir, path)
}

fn wpchat(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args(args)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("HOME", home)
        .env_remove("WPCHAT_CONFIG")
        .env_remove("WebPubSubConnectionString")
        .output()
        .expect("wpchat runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn said(group: &str, ts_ms: i64, who: &str, body: &str) -> Record {
    let mut record = Record::message(group, ts_ms, Kind::Text, Dir::In, body.as_bytes().to_vec());
    record.sender = Some(who.into());
    record
}

#[test]
fn search_prints_hits_newest_first_and_exits_1_when_none() {
    let (home, _) = data_dir_with(vec![
        said("ops", 1_000, "alice", "disk full on node7"),
        said("ops", 2_000, "bob", "disk cleaned \u{1b}[31mred"),
        said("dev", 3_000, "carol", "unrelated"),
    ]);
    let found = wpchat(home.path(), &["history", "search", "disk", "in:ops"]);
    assert!(found.status.success(), "{found:?}");
    let text = stdout(&found);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("\tops\tbob\tdisk cleaned"), "{text}");
    assert!(lines[1].contains("node7"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "an escape reached the terminal: {text:?}"
    );
    let json = wpchat(home.path(), &["history", "search", "--json", "node7"]);
    let hit: serde_json::Value = serde_json::from_str(stdout(&json).trim()).unwrap();
    assert_eq!(hit["data"], "disk full on node7");
    assert_eq!(hit["fromUserId"], "alice");
    let none = wpchat(home.path(), &["history", "search", "nothing-like-this"]);
    assert_eq!(none.status.code(), Some(1));
    let bad = wpchat(home.path(), &["history", "search", "before:someday"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("use YYYY-MM-DD"),
        "{bad:?}"
    );
}

#[test]
fn export_stats_prune_and_forget_work_on_the_chats_database() {
    let now = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000;
    let (home, path) = data_dir_with(vec![
        said("ops", now - 100 * day, "alice", "ancient"),
        said("ops", now - day, "alice", "recent"),
        said("dev", now, "bob", "today"),
    ]);
    let export = wpchat(home.path(), &["history", "export", "--group", "ops"]);
    assert!(export.status.success(), "{export:?}");
    let rows: Vec<serde_json::Value> = stdout(&export)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["data"], "recent");
    assert_eq!(rows[1]["dir"], "in");
    let since = wpchat(
        home.path(),
        &["history", "export", "--since", "2d", "--format", "text"],
    );
    assert_eq!(stdout(&since).lines().count(), 2, "{since:?}");

    let stats = wpchat(home.path(), &["history", "stats"]);
    assert!(stdout(&stats).contains("messages: 3"), "{stats:?}");
    let prune = wpchat(home.path(), &["history", "prune", "--older-than", "90d"]);
    assert_eq!(stdout(&prune).trim(), "deleted 1 messages older than 90d");
    let forget = wpchat(home.path(), &["history", "forget", "--group", "dev"]);
    assert_eq!(stdout(&forget).trim(), "deleted 1 messages");
    let conn = history::open(&path).unwrap();
    assert_eq!(history::stats(&conn).unwrap().messages, 1);
    assert!(history::integrity_ok(&conn).unwrap());
}

#[test]
fn jsonl_zst_export_decompresses_to_exactly_the_jsonl_export() {
    let mut records = vec![
        said("ops", 1_000, "alice", "plain \u{1b}[31m text, ünïcode ✓"),
        Record::message(
            "ops",
            2_000,
            Kind::Json,
            Dir::Out,
            br#"{"a":[1,2.50,"x"]}"#.to_vec(),
        ),
        Record::message(
            "ops",
            3_000,
            Kind::Binary,
            Dir::In,
            vec![0, 159, 255, 10, 13],
        ),
        Record::message("dev", 4_000, Kind::Protobuf, Dir::In, vec![8, 150, 1]),
    ];
    // Enough repeated lines that compression has something to do.
    records.extend((0..500).map(|n| said("dev", 5_000 + n, "bob", &format!("line {n}"))));
    let (home, _) = data_dir_with(records);
    let plain = wpchat(home.path(), &["history", "export"]);
    assert!(plain.status.success(), "{plain:?}");
    assert_eq!(plain.stdout.iter().filter(|&&b| b == b'\n').count(), 504);
    let packed = wpchat(home.path(), &["history", "export", "--format", "jsonl.zst"]);
    assert!(packed.status.success(), "{packed:?}");
    assert!(
        packed.stdout.len() * 4 < plain.stdout.len(),
        "{} compressed bytes for {} plain",
        packed.stdout.len(),
        plain.stdout.len()
    );
    let unpacked = zstd::decode_all(packed.stdout.as_slice()).expect("one complete zstd frame");
    assert!(unpacked == plain.stdout, "the decompressed export differs");

    let one_group = wpchat(
        home.path(),
        &[
            "history",
            "export",
            "--group",
            "ops",
            "--format",
            "jsonl.zst",
        ],
    );
    let unpacked = zstd::decode_all(one_group.stdout.as_slice()).unwrap();
    assert_eq!(String::from_utf8(unpacked).unwrap().lines().count(), 3);
}

#[test]
fn no_history_yet_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let output = wpchat(home.path(), &["history", "stats"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no history yet"), "{stderr}");
    assert!(stderr.contains("no profile has any yet"), "{stderr}");

    // A chat run against a target recorded under that target's profile: the error names it
    // and says how to choose it.
    let other = home
        .path()
        .join("data/wpchat/history/target-0123456789abcdef.db");
    Recorder::start(&other, RecorderOptions::default())
        .unwrap()
        .close();
    let output = wpchat(home.path(), &["history", "stats"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("profiles with history: target-0123456789abcdef"),
        "{stderr}"
    );
    assert!(
        stderr.contains("give the same flags before the command"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_a_recorded_slice_again_in_order_with_every_data_type() {
    let mut json = Record::message(
        "ops",
        2_050,
        Kind::Json,
        Dir::In,
        br#"{"n": 1.50}"#.to_vec(),
    );
    json.sender = Some("bob".into());
    let mut binary = Record::message("ops", 2_100, Kind::Binary, Dir::Out, vec![0, 1, 255]);
    binary.sender = None;
    let (home, _) = data_dir_with(vec![
        said("ops", 1_000, "alice", "too old"),
        said("ops", 2_000, "alice", "first"),
        said("dev", 2_010, "carol", "another group"),
        Record::marker("ops", 2_020, Kind::Gap, "recovered after 10 ms"),
        json,
        binary,
    ]);
    let service = service_client::start().await;
    let (mut watcher, _) = service_client::connect_to_hub(
        &service,
        service_client::JSON,
        Some("watcher"),
        service_client::JOIN_SEND,
        &["ops"],
    )
    .await;
    let to = format!(
        "Endpoint=http://{};AccessKey={};Version=1.0;",
        service.addr, service.access_key
    );
    let since = chrono::DateTime::from_timestamp_millis(2_000)
        .unwrap()
        .to_rfc3339();
    let args: Vec<String> = [
        "history", "replay", "--group", "ops", "--since", &since, "--speed", "100x", "--to", &to,
    ]
    .map(String::from)
    .to_vec();
    let home_path = home.path().to_path_buf();
    let replay = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wpchat(&home_path, &args)
    });
    let mut received = Vec::new();
    while received.len() < 3 {
        let message = watcher.next_json().await;
        if message["type"] == "message" {
            received.push((message["dataType"].clone(), message["data"].clone()));
        }
    }
    let output = replay.await.unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("replayed 3 of 3 messages of 'ops'"),
        "{output:?}"
    );
    assert_eq!(received[0], ("text".into(), "first".into()));
    assert_eq!(received[1].0, "json");
    assert_eq!(received[1].1, serde_json::json!({"n": 1.5}));
    assert_eq!(received[2], ("binary".into(), "AAH/".into()));
}
