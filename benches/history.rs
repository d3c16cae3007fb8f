//! History goals G1–G9 (history.md §5) on this machine, in a few minutes: the cost of
//! `try_record` on the event loop, persisted and indexed rates, backlog reads, search
//! latency, bytes on disk, export and prune rates.
//!
//! Options (environment): `HISTORY_BENCH_ROWS` sets the size (default 1 000 000 100-byte text
//! messages in 50 groups); `HISTORY_BENCH_GOALS` picks some of `write,read,search,export,prune`
//! (default all), `full` (not in the default: G1 while the queue is full, what a dropped
//! message costs the caller; use a small `HISTORY_BENCH_ROWS` to skip most of the writing)
//! and `sustained` (not in the default: G2's flood offered at
//! `HISTORY_BENCH_RATE` msgs/s, default 200 000, for `HISTORY_BENCH_SECONDS`, default 60); `HISTORY_BENCH_DB=path` keeps the database there and, when it already holds
//! messages, reuses it instead of writing (prune then works on a copy, so the file stays
//! reusable).

use std::time::{Duration, Instant};

use wpchat::history::{
    self, Dir, ExportFilter, ExportFormat, Kind, Query, Record, RecordRef, Recorder,
    RecorderOptions,
};

const GROUPS: usize = 50;
const WORDS: &[&str] = &[
    "deploy", "error", "disk", "node", "rollback", "lunch", "release", "cache", "queue", "alert",
    "metrics", "latency", "ticket", "review", "merge", "build",
];

fn message(i: usize) -> Record {
    let words: Vec<&str> = (0..6)
        .map(|k| WORDS[(i * 7 + k * 13) % WORDS.len()])
        .collect();
    let mut body = format!("{i} {}", words.join(" "));
    body.extend(std::iter::repeat_n(
        'x',
        100usize.saturating_sub(body.len()),
    ));
    body.truncate(100);
    let group = format!("group-{}", i % GROUPS);
    let mut record = Record::message(
        &group,
        1_700_000_000_000 + i as i64,
        Kind::Text,
        Dir::In,
        body.into_bytes(),
    );
    record.sender = Some(format!("user-{}", i % 200));
    record
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn timed<T>(what: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = what();
    (value, started.elapsed())
}

fn main() {
    let rows: usize = std::env::var("HISTORY_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let goals = std::env::var("HISTORY_BENCH_GOALS")
        .unwrap_or_else(|_| "write,read,search,export,prune".into());
    let wanted = |goal: &str| goals.split(',').any(|g| g.trim() == goal);
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = std::env::var_os("HISTORY_BENCH_DB").map(std::path::PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("bench.db"));
    let stored = path.exists()
        && history::stats(&history::open_read(&path).expect("open"))
            .expect("stats")
            .messages
            > 0;
    if stored && !wanted("write") {
        println!("history bench: reusing {}", path.display());
    } else {
        // A fresh database: the timestamps restart with the ids.
        let _ = std::fs::remove_file(&path);
        println!("history bench: {rows} messages of 100 bytes in {GROUPS} groups");
        write_goals(&path, rows);
    }
    let conn = history::open_read(&path).expect("open");
    let rows = history::stats(&conn).expect("stats").messages as usize;
    if wanted("read") {
        read_goals(&conn);
    }
    if wanted("search") {
        search_goals(&conn);
    }
    // G8: bytes on disk per message.
    let stats = history::stats(&conn).unwrap();
    println!(
        "G8 size: {:.0} bytes per 100-byte message (index included)",
        stats.file_bytes as f64 / stats.messages as f64
    );
    if wanted("export") {
        export_goal(&conn);
    }
    drop(conn);
    if wanted("full") {
        full_queue_goal(&dir.path().join("full.db"));
    }
    if wanted("sustained") {
        sustained_goal(&dir.path().join("sustained.db"));
    }
    if wanted("prune") {
        let pruned = match kept {
            Some(_) => {
                let copy = dir.path().join("prune.db");
                std::fs::copy(&path, &copy).expect("copy the database");
                copy
            }
            None => path,
        };
        prune_goal(&pruned, rows);
    }
}

/// G1 + G2 + G3: queue everything as fast as possible, then wait for the writer.
fn write_goals(path: &std::path::Path, rows: usize) {
    let records: Vec<Record> = (0..rows).map(message).collect();
    let options = RecorderOptions {
        queue_records: rows + 16,
        queue_bytes: usize::MAX / 2,
        ..RecorderOptions::default()
    };
    let mut recorder = Recorder::start(path, options).expect("recorder");
    let started = Instant::now();
    for record in records {
        recorder.try_record(record);
    }
    let queue_time = started.elapsed();
    while recorder.stats().written < rows as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let write_time = started.elapsed();
    let (_, index_time) = timed(|| recorder.flush());
    let dropped = recorder.stats().dropped;
    recorder.close();
    println!(
        "G1 try_record: {:.0} ns/msg on the caller",
        queue_time.as_nanos() as f64 / rows as f64
    );
    println!(
        "G2 persisted: {:.0} msgs/s ({} dropped)",
        rows as f64 / write_time.as_secs_f64(),
        dropped
    );
    println!(
        "G3 FTS catch-up after the writes: {:.2} s (≈ {:.0} msgs/s over what was not indexed in passing)",
        index_time.as_secs_f64(),
        rows as f64 / index_time.as_secs_f64().max(1e-9)
    );
}

/// G1 while the queue is full (a flood the writer cannot keep up with): what a dropped message
/// costs the caller, owned (`try_record`) and borrowed from its event (`try_record_borrowed`,
/// the chat's path). The writer pauses 2 s after each batch, so the queue stays full.
fn full_queue_goal(path: &std::path::Path) {
    const OFFERED: usize = 200_000;
    let options = RecorderOptions {
        queue_bytes: 64 * 1024,
        slow_disk: Some(Duration::from_secs(2)),
        ..RecorderOptions::default()
    };
    let mut recorder = Recorder::start(path, options).expect("recorder");
    let mut fill = 0;
    while recorder.try_record(message(fill)).is_some() {
        fill += 1;
    }
    let owned: Vec<Record> = (0..OFFERED).map(message).collect();
    let dropped_before = recorder.stats().dropped;
    let (_, owned_time) = timed(|| {
        for record in owned {
            recorder.try_record(record);
        }
    });
    let sources: Vec<Record> = (0..1_000).map(message).collect();
    let (_, borrowed_time) = timed(|| {
        for i in 0..OFFERED {
            let source = &sources[i % sources.len()];
            recorder.try_record_borrowed(RecordRef {
                group: &source.group,
                ts_ms: source.ts_ms,
                kind: source.kind,
                dir: source.dir,
                sender: source.sender.as_deref(),
                seq: source.seq,
                body: &source.body,
            });
        }
    });
    let dropped = recorder.stats().dropped - dropped_before;
    recorder.close();
    let per_message = |time: Duration| time.as_nanos() as f64 / OFFERED as f64;
    println!(
        "G1 under a full queue: try_record {:.0} ns/msg, try_record_borrowed {:.0} ns/msg \
         ({dropped} of {} dropped)",
        per_message(owned_time),
        per_message(borrowed_time),
        2 * OFFERED
    );
}

/// G2's second half: a paced flood with the default queue, counting what is dropped.
fn sustained_goal(path: &std::path::Path) {
    let setting = |name: &str, default: u64| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rate = setting("HISTORY_BENCH_RATE", 200_000);
    let seconds = setting("HISTORY_BENCH_SECONDS", 60);
    let mut recorder = Recorder::start(path, RecorderOptions::default()).expect("recorder");
    let started = Instant::now();
    let mut offered = 0u64;
    let total = rate * seconds;
    while offered < total {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while offered < due {
            recorder.try_record(message(offered as usize));
            offered += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let offered_time = started.elapsed();
    let dropped = recorder.stats().dropped;
    while recorder.stats().written + dropped < offered {
        std::thread::sleep(Duration::from_millis(5));
    }
    let behind = started.elapsed() - offered_time;
    recorder.close();
    println!(
        "G2 sustained: {offered} offered at {:.0} msgs/s for {:.0} s: {dropped} dropped; the last written {:.2} s after the flood ended",
        offered as f64 / offered_time.as_secs_f64(),
        offered_time.as_secs_f64(),
        behind.as_secs_f64()
    );
}

/// G6: first paint of one group, all groups, an older page.
fn read_goals(conn: &rusqlite::Connection) {
    let mut first = Vec::new();
    for g in 0..GROUPS {
        let group = format!("group-{g}");
        first.push(timed(|| history::backlog(conn, &group, None, 200).unwrap()).1);
    }
    let (_, all) = timed(|| {
        for g in 0..GROUPS {
            history::backlog(conn, &format!("group-{g}"), None, 200).unwrap();
        }
    });
    let newest = history::backlog(conn, "group-7", None, 200).unwrap();
    let (_, older) = timed(|| history::backlog(conn, "group-7", Some(newest[0].id), 500).unwrap());
    println!(
        "G6 backlog: first paint (200 lines) p95 {:.2} ms; {GROUPS} groups × 200 {:.1} ms; older page (500) {:.2} ms",
        percentile(&mut first, 0.95).as_secs_f64() * 1e3,
        all.as_secs_f64() * 1e3,
        older.as_secs_f64() * 1e3
    );
}

/// G7: newest-50 search latency.
fn search_goals(conn: &rusqlite::Connection) {
    // "disk node" never occurs as a phrase in this corpus (both words do, in 5 of 16 messages
    // each), so FTS5 walks both whole doclists: the worst case. "disk build" does occur.
    for query in [
        "deploy",
        "\"disk node\"",
        "\"disk build\"",
        "in:group-3 rollback",
        "from:user-9 alert",
        "rel*",
    ] {
        let parsed = Query::parse(query).unwrap();
        let mut samples: Vec<Duration> = (0..30)
            .map(|_| timed(|| history::search(conn, &parsed, 50).unwrap()).1)
            .collect();
        println!(
            "G7 search {query:<22} newest-50 p95 {:.2} ms",
            percentile(&mut samples, 0.95).as_secs_f64() * 1e3
        );
    }
    // Jump to time (`/goto`): the first line of a group at a time, anywhere in the range.
    let (first, last) = conn
        .query_row("SELECT min(ts), max(ts) FROM msg", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .unwrap();
    let mut jumps: Vec<Duration> = (1..=30)
        .map(|k| {
            let at = first + (last - first) * k / 31;
            timed(|| history::line_at(conn, "group-7", at).unwrap()).1
        })
        .collect();
    println!(
        "G7 jump-to-time (line_at) p95 {:.3} ms",
        percentile(&mut jumps, 0.95).as_secs_f64() * 1e3
    );
}

/// G9: export rate.
fn export_goal(conn: &rusqlite::Connection) {
    let (count, export_time) = timed(|| {
        let mut sink = std::io::sink();
        history::export(
            conn,
            &ExportFilter::default(),
            ExportFormat::Jsonl,
            &mut sink,
        )
        .unwrap()
    });
    println!(
        "G9 export JSONL: {:.0} msgs/s",
        count as f64 / export_time.as_secs_f64()
    );
}

/// G9: prune rate, the oldest tenth by age.
fn prune_goal(path: &std::path::Path, rows: usize) {
    let mut conn = history::open(path).unwrap();
    let cutoff = 1_700_000_000_000 + (rows / 10) as i64;
    let (pruned, prune_time) = timed(|| history::prune_older_than(&mut conn, cutoff).unwrap());
    println!(
        "G9 prune: {:.0} rows/s ({pruned} rows)",
        pruned as f64 / prune_time.as_secs_f64()
    );
}
