//! The history database on disk: permissions, what export gives back, search syntax against
//! real rows, the FTS query plan, drops under a slow disk, retention and forgetting.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use wpchat::history::{
    self, Delivery, Dir, ExportFilter, ExportFormat, Kind, Query, Record, Recorder,
    RecorderOptions, Session,
};

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history").join("test.db");
    (dir, path)
}

fn text(group: &str, ts_ms: i64, sender: &str, body: &str) -> Record {
    let mut record = Record::message(group, ts_ms, Kind::Text, Dir::In, body.as_bytes().to_vec());
    record.sender = Some(sender.to_string());
    record
}

/// Records `records` and waits until they are written and indexed.
fn recorded(path: &std::path::Path, records: Vec<Record>) -> Vec<Option<i64>> {
    let mut recorder = Recorder::start(path, RecorderOptions::default()).expect("recorder");
    let ids = records
        .into_iter()
        .map(|r| recorder.try_record(r))
        .collect();
    recorder.close();
    ids
}

fn searched(path: &std::path::Path, query: &str) -> Vec<String> {
    let conn = history::open_read(path).expect("open");
    let query = Query::parse(query).expect("query parses");
    history::search(&conn, &query, 50)
        .expect("search runs")
        .hits
        .into_iter()
        .map(|hit| String::from_utf8(hit.record.body).expect("utf-8"))
        .collect()
}

#[test]
fn the_database_and_its_directory_are_private() {
    let (_dir, path) = temp_db();
    recorded(&path, vec![text("lobby", 1, "alice", "hi")]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let wal = path.with_extension("db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
}

/// The whole database as `history export` writes it.
fn exported_jsonl(conn: &rusqlite::Connection) -> String {
    let mut out = Vec::new();
    history::export(
        conn,
        &ExportFilter::default(),
        ExportFormat::Jsonl,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn session(connection_id: &str, started_ms: i64) -> Session {
    Session {
        connection_id: connection_id.to_string(),
        user_id: Some("alice".to_string()),
        protocol: Some("json.reliable.webpubsub.azure.v1".to_string()),
        started_ms,
    }
}

#[test]
fn each_connection_session_gets_a_row_and_export_names_it() {
    let (_dir, path) = temp_db();
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).expect("recorder");
    recorder.try_record(text("ops", 1, "bob", "before any connection"));
    recorder.start_session(session("conn-A", 10));
    recorder.try_record(text("ops", 11, "bob", "first"));
    // A reconnect with a new connection id ends the first session where the second begins.
    recorder.start_session(session("conn-B", 20));
    recorder.try_record(text("ops", 21, "bob", "second"));
    recorder.end_session(30);
    recorder.try_record(text("ops", 31, "bob", "offline note"));
    recorder.close();

    let conn = history::open_read(&path).unwrap();
    let sessions: Vec<(String, Option<String>)> = exported_jsonl(&conn)
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let session = row.get("session").map(|s| s.as_str().unwrap().to_string());
            (row["data"].as_str().unwrap().to_string(), session)
        })
        .collect();
    let expected = [
        ("before any connection", None),
        ("first", Some("conn-A")),
        ("second", Some("conn-B")),
        ("offline note", None),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(data, id)| (data.to_string(), id.map(str::to_string)))
        .collect();
    assert_eq!(sessions, expected);

    let rows: Vec<(String, String, String, i64, i64)> = conn
        .prepare("SELECT connection_id, user_id, protocol, started, ended FROM session ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let protocol = "json.reliable.webpubsub.azure.v1".to_string();
    assert_eq!(
        rows,
        vec![
            ("conn-A".into(), "alice".into(), protocol.clone(), 10, 20),
            ("conn-B".into(), "alice".into(), protocol, 20, 30),
        ]
    );
}

#[test]
fn export_gives_back_every_data_type_byte_exact() {
    let (_dir, path) = temp_db();
    let binary: Vec<u8> = (0..=255).collect();
    let json = br#"{"b": [1, 2.50, "x"],"a":null}"#.to_vec();
    let unicode = "h\u{e9}llo \u{1F600} \u{1b}[2J".as_bytes().to_vec();
    let mut mine = Record::message("lobby", 4, Kind::Text, Dir::Out, b"sent".to_vec());
    mine.delivery = Some(Delivery::Pending);
    let records = vec![
        Record::message("lobby", 1, Kind::Text, Dir::In, unicode.clone()),
        Record::message("lobby", 2, Kind::Json, Dir::In, json.clone()),
        Record::message("lobby", 3, Kind::Binary, Dir::In, binary.clone()),
        Record::message("other", 3, Kind::Protobuf, Dir::In, vec![8, 1, 0xff]),
        mine,
    ];
    recorded(&path, records);
    let conn = history::open_read(&path).unwrap();
    let mut out = Vec::new();
    let filter = ExportFilter {
        groups: vec!["lobby".into()],
        ..ExportFilter::default()
    };
    let count = history::export(&conn, &filter, ExportFormat::Jsonl, &mut out).unwrap();
    assert_eq!(count, 4);
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(lines[0]["data"].as_str().unwrap().as_bytes(), unicode);
    assert_eq!(lines[0]["dataType"], "text");
    // JSON stays exactly as it was received (spacing, number spelling).
    let raw = std::str::from_utf8(&out).unwrap().lines().nth(1).unwrap();
    assert!(
        raw.contains(r#""data":{"b": [1, 2.50, "x"],"a":null}"#),
        "{raw}"
    );
    assert_eq!(
        b64.decode(lines[2]["data"].as_str().unwrap()).unwrap(),
        binary
    );
    assert_eq!(lines[3]["dir"], "out");
    assert_eq!(lines[0]["dir"], "in");
    assert_eq!(lines[0]["group"], "lobby");
}

#[test]
fn search_finds_words_phrases_prefixes_and_filters() {
    let (_dir, path) = temp_db();
    let day = 1_795_996_800_000; // 2026-11-30
    recorded(
        &path,
        vec![
            text("ops", day - 1000, "alice", "deploy rolled back on node7"),
            text("ops", day + 1000, "bob", "deploy finished"),
            text("dev", day + 2000, "alice", "the deployment is flaky"),
            text("dev", day + 3000, "carol", "lunch?"),
        ],
    );
    assert_eq!(
        searched(&path, "deploy"),
        ["deploy finished", "deploy rolled back on node7"]
    );
    assert_eq!(
        searched(&path, r#""rolled back""#),
        ["deploy rolled back on node7"]
    );
    assert_eq!(searched(&path, "deploy*").len(), 3);
    assert_eq!(searched(&path, "deploy* -flaky").len(), 2);
    assert_eq!(
        searched(&path, "in:dev deploy*"),
        ["the deployment is flaky"]
    );
    assert_eq!(searched(&path, "from:bob deploy"), ["deploy finished"]);
    assert_eq!(searched(&path, "lunch OR finished").len(), 2);
    assert_eq!(searched(&path, "on:2026-11-30 deploy"), ["deploy finished"]);
    assert_eq!(
        searched(&path, "before:2026-11-30"),
        ["deploy rolled back on node7"]
    );
    assert_eq!(searched(&path, "in:dev").len(), 2);
}

#[test]
fn hostile_search_text_is_searched_for_not_obeyed() {
    let (_dir, path) = temp_db();
    recorded(
        &path,
        vec![text("lobby", 1, "eve", "a \"quoted\" AND NEAR(x) thing")],
    );
    for hostile in [
        "\"",
        "\"\"\"",
        "AND",
        "NEAR(",
        "a AND OR NOT",
        "*",
        "-",
        "col:value",
        "body:x",
        "{a b}",
        "^start",
        "\u{1b}[2J\u{7}",
        "'; DROP TABLE msg; --",
        "in:\"a b\" from:",
    ] {
        let query = Query::parse(hostile);
        if let Ok(query) = query {
            let conn = history::open_read(&path).unwrap();
            history::search(&conn, &query, 50).unwrap_or_else(|e| panic!("{hostile:?} raised {e}"));
        }
    }
    assert_eq!(searched(&path, "\"quoted\"").len(), 1);
    assert_eq!(searched(&path, "NEAR(x)").len(), 1);
    assert_eq!(
        Query::parse("in:\"a b\" from:").unwrap_err().to_string(),
        "'from:' needs a value, e.g. in:lobby"
    );
}

#[test]
fn unindexed_rows_are_found_by_scanning_and_the_lag_is_reported() {
    let (_dir, path) = temp_db();
    recorded(&path, vec![text("lobby", 1, "a", "indexed words")]);
    // Written straight to the table, as if the index were behind.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO msg(id, buf, ts, kind, dir, body) VALUES (100, 1, 2, 0, 0, CAST('Fresh Words' AS BLOB))",
        [],
    )
    .unwrap();
    let found = history::search(&conn, &Query::parse("words").unwrap(), 50).unwrap();
    assert_eq!(found.behind, 1);
    let bodies: Vec<&[u8]> = found.hits.iter().map(|h| h.body.as_slice()).collect();
    assert_eq!(
        bodies,
        [b"Fresh Words".as_slice(), b"indexed words".as_slice()]
    );
}

#[test]
fn group_filtered_search_is_driven_by_the_index() {
    let (_dir, path) = temp_db();
    recorded(&path, vec![text("lobby", 1, "a", "x")]);
    let conn = history::open_read(&path).unwrap();
    let plan = history::plan(&conn, &Query::parse("in:lobby from:a word").unwrap()).unwrap();
    // The index drives: the first table step is the FTS scan (scalar subqueries for the
    // group and sender names may come before it).
    let tables: Vec<&String> = plan
        .iter()
        .filter(|s| s.starts_with("SCAN") || s.starts_with("SEARCH m") || s.starts_with("SEARCH b"))
        .collect();
    assert!(
        tables[0].starts_with("SCAN f VIRTUAL TABLE INDEX"),
        "{plan:?}"
    );
    assert!(
        plan.iter()
            .any(|step| step.contains("SEARCH m USING INTEGER PRIMARY KEY")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|step| step.starts_with("SCAN m")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|s| s.contains("TEMP B-TREE")), "{plan:?}");
}

#[test]
fn drops_under_a_slow_disk_are_counted_exactly() {
    let (_dir, path) = temp_db();
    let options = RecorderOptions {
        queue_records: 16,
        batch_rows: 4,
        slow_disk: Some(Duration::from_millis(20)),
        ..RecorderOptions::default()
    };
    let mut recorder = Recorder::start(&path, options).unwrap();
    let mut dropped = 0;
    for i in 0..2_000 {
        let group = if i % 2 == 0 { "even" } else { "odd" };
        if recorder.try_record(text(group, i, "flood", "m")).is_none() {
            dropped += 1;
        }
    }
    assert!(
        dropped > 0,
        "the slow disk should have made the recorder drop"
    );
    assert_eq!(recorder.stats().dropped, dropped);
    recorder.close();
    let conn = history::open_read(&path).unwrap();
    let stats = history::stats(&conn).unwrap();
    assert_eq!(stats.not_saved, dropped);
    assert_eq!(stats.messages + dropped, 2_000);
    assert!(stats.notes > 0, "the drops are marked: {stats:?}");
    let text = exported_jsonl(&conn);
    assert!(
        text.contains("messages not saved"),
        "the export shows the gap"
    );
}

#[test]
fn each_run_of_drops_is_one_gap_row_with_its_count() {
    let (_dir, path) = temp_db();
    // A byte budget of a few records and a slow disk: the queue fills and drains in turns.
    let options = RecorderOptions {
        queue_bytes: 600,
        batch_rows: 4,
        slow_disk: Some(Duration::from_millis(5)),
        ..RecorderOptions::default()
    };
    let mut recorder = Recorder::start(&path, options).unwrap();
    let mut runs = Vec::new();
    let mut run = 0u64;
    // Until three runs of drops have ended (a generous bound guards a starved writer).
    for i in 0..1_000_000 {
        if recorder
            .try_record(text("flood", i, "flood", "m"))
            .is_some()
        {
            if run > 0 {
                runs.push(run);
            }
            run = 0;
            if runs.len() >= 3 {
                break;
            }
        } else {
            run += 1;
        }
        if i % 50 == 0 {
            // Lets the writer drain some, so that the drops come in several runs.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    if run > 0 {
        runs.push(run);
    }
    assert!(
        runs.len() > 1,
        "the flood should drop in several runs: {runs:?}"
    );
    recorder.close();
    let conn = history::open_read(&path).unwrap();
    let mut rows = conn
        .prepare("SELECT seq FROM msg WHERE kind = 7 ORDER BY id")
        .unwrap();
    let gaps: Vec<u64> = rows
        .query_map([], |row| row.get::<_, i64>(0).map(|count| count as u64))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        gaps, runs,
        "one gap row per run of drops, counting that run"
    );
}

#[test]
fn ids_continue_after_a_restart_and_the_read_marker_survives() {
    let (_dir, path) = temp_db();
    let first = recorded(
        &path,
        vec![text("lobby", 1, "a", "one"), text("lobby", 2, "a", "two")],
    );
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).unwrap();
    let third = recorder.try_record(text("lobby", 3, "a", "three")).unwrap();
    recorder.set_read_marker("lobby", first[1].unwrap());
    recorder.close();
    assert!(third > first[1].unwrap());
    let conn = history::open_read(&path).unwrap();
    assert_eq!(history::read_marker(&conn, "lobby").unwrap(), first[1]);
    let lines = history::backlog(&conn, "lobby", None, 2).unwrap();
    let bodies: Vec<&[u8]> = lines.iter().map(|l| l.body.as_slice()).collect();
    assert_eq!(bodies, [b"two".as_slice(), b"three".as_slice()]);
    let older = history::backlog(&conn, "lobby", Some(lines[0].id), 10).unwrap();
    assert_eq!(older.len(), 1);
}

#[test]
fn a_later_ack_updates_the_sent_row() {
    let (_dir, path) = temp_db();
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).unwrap();
    let mut sent = Record::message("lobby", 1, Kind::Text, Dir::Out, b"hello".to_vec());
    sent.delivery = Some(Delivery::Pending);
    let id = recorder.try_record(sent).unwrap();
    recorder.set_delivery(id, Delivery::Acked);
    recorder.close();
    let conn = history::open_read(&path).unwrap();
    let line = history::backlog(&conn, "lobby", None, 1).unwrap().remove(0);
    assert_eq!(line.delivery, Some(Delivery::Acked));
    assert_eq!(line.dir, Dir::Out);
}

#[test]
fn pruning_and_forgetting_remove_rows_and_their_index_entries() {
    let (_dir, path) = temp_db();
    let records = (0..25_000)
        .map(|i| text(if i % 5 == 0 { "b" } else { "a" }, i, "u", "needle"))
        .collect();
    recorded(&path, records);
    let mut conn = history::open(&path).unwrap();
    assert_eq!(
        history::prune_older_than(&mut conn, 10_000).unwrap(),
        10_000
    );
    assert_eq!(history::stats(&conn).unwrap().messages, 15_000);
    assert_eq!(history::forget_group(&mut conn, "b").unwrap(), 3_000);
    assert!(history::integrity_ok(&conn).unwrap());
    let found = history::search(&conn, &Query::parse("needle").unwrap(), 50_000).unwrap();
    assert_eq!(found.hits.len(), 12_000);
    assert!(
        found
            .hits
            .iter()
            .all(|h| h.group == "a" && h.ts_ms >= 10_000)
    );
    history::forget_all(&mut conn).unwrap();
    assert_eq!(history::stats(&conn).unwrap().messages, 0);
}

#[test]
fn pruning_keeps_exactly_the_newer_rows_even_out_of_time_order() {
    let (_dir, path) = temp_db();
    // Three chunks' worth, and rows whose time runs against their order (a `history_gap`
    // row carries the time its loss began; a clock may step back).
    let mut records: Vec<Record> = (0..25_000)
        .map(|i| text("a", 1_000 + i, "u", &format!("word{} common", i % 7)))
        .collect();
    records.insert(5_000, text("a", 900_000, "u", "early id late time"));
    records.push(text("a", 10, "u", "late id early time"));
    recorded(&path, records);
    let mut conn = history::open(&path).unwrap();
    let kept = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM msg WHERE ts >= 21000", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let before = kept(&conn);
    assert_eq!(
        history::prune_older_than(&mut conn, 21_000).unwrap(),
        20_001
    );
    let stats = history::stats(&conn).unwrap();
    assert_eq!((stats.messages + stats.notes) as i64, before);
    assert_eq!(stats.first_ts, Some(21_000));
    assert!(history::integrity_ok(&conn).unwrap());
    assert_eq!(
        searched(&path, "\"early id late time\""),
        ["early id late time"]
    );
    assert!(searched(&path, "\"late id early time\"").is_empty());
    let found = history::search(&conn, &Query::parse("common").unwrap(), 50_000).unwrap();
    assert_eq!(found.hits.len(), 5_000);
    assert!(found.hits.iter().all(|hit| hit.ts_ms >= 21_000));
}

#[test]
fn forgetting_everything_empties_the_index_and_gives_the_space_back() {
    let (_dir, path) = temp_db();
    let body = "y".repeat(100);
    let records = (0..20_000)
        .map(|i| text("a", i, "u", &format!("gone {i} {body}")))
        .collect();
    recorded(&path, records);
    let size = || std::fs::metadata(&path).unwrap().len();
    let full = size();
    let mut conn = history::open(&path).unwrap();
    assert_eq!(history::forget_all(&mut conn).unwrap(), 20_000);
    assert!(history::integrity_ok(&conn).unwrap());
    drop(conn);
    assert!(size() < full / 4, "{} of {full} bytes left", size());
    assert!(searched(&path, "gone").is_empty());
    // What is recorded afterwards is found again.
    recorded(&path, vec![text("a", 30_000, "u", "back again")]);
    assert_eq!(searched(&path, "again"), ["back again"]);
}

#[test]
fn a_group_forgotten_while_recording_shows_the_messages_that_follow() {
    let (_dir, path) = temp_db();
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).unwrap();
    recorder.try_record(text("lobby", 1, "bob", "before"));
    recorder.try_record(text("ops", 1, "bob", "elsewhere"));
    recorder.flush();
    // `wpchat history forget --group lobby` from another process while the chat records.
    let mut other = history::open(&path).unwrap();
    assert_eq!(history::forget_group(&mut other, "lobby").unwrap(), 1);
    drop(other);
    let after = recorder
        .try_record(text("lobby", 2, "bob", "after"))
        .unwrap();
    recorder.set_read_marker("lobby", after);
    recorder.try_record(text("ops", 2, "bob", "still here"));
    recorder.close();
    let conn = history::open_read(&path).unwrap();
    let bodies = |group| -> Vec<Vec<u8>> {
        let lines = history::backlog(&conn, group, None, 10).unwrap();
        lines.into_iter().map(|l| l.record.body).collect()
    };
    assert_eq!(bodies("lobby"), [b"after".to_vec()]);
    assert_eq!(
        bodies("ops"),
        [b"elsewhere".to_vec(), b"still here".to_vec()]
    );
    assert_eq!(history::read_marker(&conn, "lobby").unwrap(), Some(after));
    assert_eq!(searched(&path, "after in:lobby"), ["after"]);
}

#[test]
fn retention_prunes_to_the_size_cap_and_the_age_while_idle() {
    let (_dir, path) = temp_db();
    let now = chrono::Utc::now().timestamp_millis();
    let cap = 1_000_000;
    let options = RecorderOptions {
        max_bytes: Some(cap),
        max_age_ms: Some(86_400_000),
        ..RecorderOptions::default()
    };
    let mut recorder = Recorder::start(&path, options).unwrap();
    let body = "x".repeat(100);
    // Older than a day: pruned by age.
    recorder.try_record(text("lobby", now - 2 * 86_400_000, "old", "ancient words"));
    for i in 0..40_000 {
        recorder.try_record(text("lobby", now + i, "u", &format!("{i} {body}")));
    }
    recorder.flush();
    // The writer prunes when idle; wait (bounded) until it got under the cap.
    let started = std::time::Instant::now();
    let conn = history::open_read(&path).unwrap();
    while history::stats(&conn).unwrap().file_bytes > cap {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never got under the cap"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    recorder.close();
    let stats = history::stats(&conn).unwrap();
    assert!(stats.messages > 0 && stats.messages < 40_000, "{stats:?}");
    assert!(
        stats.first_ts.unwrap() >= now,
        "the oldest went first: {stats:?}"
    );
    // What is left is the newest, and searchable.
    let found = history::search(&conn, &Query::parse("39999").unwrap(), 5).unwrap();
    assert_eq!(found.hits.len(), 1);
    assert!(searched(&path, "ancient").is_empty());
}

/// Writes a lease as if process `pid` held it, with its heartbeat `age_ms` ago.
fn lease_held_by(path: &std::path::Path, pid: u32, age_ms: i64) {
    let conn = history::open(path).unwrap();
    let beat = chrono::Utc::now().timestamp_millis() - age_ms;
    conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('lease', ?1)",
        [format!("{pid}:{beat}")],
    )
    .unwrap();
}

#[test]
fn a_second_recorder_on_a_profile_is_refused_while_the_first_lives() {
    let (_dir, path) = temp_db();
    recorded(&path, vec![text("lobby", 1, "a", "one")]);
    // pid 1 is always alive.
    lease_held_by(&path, 1, 0);
    let refused = Recorder::start(&path, RecorderOptions::default()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "another wpchat (pid 1) is recording this profile's history; this one only reads it"
    );
    // A holder that stopped beating, or that is gone, no longer holds it.
    lease_held_by(&path, 1, 60_000);
    Recorder::start(&path, RecorderOptions::default())
        .unwrap()
        .close();
    lease_held_by(&path, u32::MAX - 1, 0);
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).unwrap();
    assert!(recorder.try_record(text("lobby", 2, "a", "two")).is_some());
    recorder.close();
    // A clean close gives the lease back.
    let conn = history::open_read(&path).unwrap();
    let lease: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'lease'", [], |r| {
            r.get(0)
        })
        .ok();
    assert_eq!(lease, None);
}
