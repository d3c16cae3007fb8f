//! `kill -9` during a flood: the built chat records a flood from the local service into its
//! history, is killed with SIGKILL mid-flood, and the database it leaves opens again and
//! passes SQLite's `quick_check` and the full-text index's integrity check, holding what had
//! been committed.

#[path = "tui_support/tmux.rs"]
mod tmux;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tmux::{Service, Tmux, chat_as};
use url::Url;
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, Command, Event};
use wpchat::history;
use wpchat::protocol::Payload;
use wpchat::service::DEV_ACCESS_KEY;

const WAIT: Duration = Duration::from_secs(20);

/// The one history database under `home`'s data dir, once it exists.
fn database_in(home: &Path) -> Option<PathBuf> {
    let dir = home.join("data/wpchat/history");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "db"))
}

fn stored(path: &Path) -> u64 {
    history::open_read(path)
        .and_then(|conn| history::stats(&conn))
        .map_or(0, |stats| stats.messages)
}

/// Publishes `count` messages to `lobby` as bob, as fast as the engine takes them.
async fn flood(port: u16, count: u64) {
    let endpoint = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let options = TokenOptions {
        user_id: Some("bob".into()),
        roles: vec!["webpubsub.sendToGroup".into()],
        ..TokenOptions::default()
    };
    let connection = ConnectionString::new(endpoint, DEV_ACCESS_KEY);
    let provider = ConnectionStringProvider::new(connection, "chat", options).unwrap();
    let mut handle = client::spawn(ClientConfig::new(Arc::new(provider)));
    loop {
        if let Event::Connected { .. } = handle.events.recv().await.expect("bob's engine runs") {
            break;
        }
    }
    // Bob's own events are not read after this; drain them so his engine never stalls.
    tokio::spawn(async move { while handle.events.recv().await.is_some() {} });
    for i in 0..count {
        let command = Command::SendToGroup {
            op: i + 1,
            group: "lobby".into(),
            payload: Payload::Text(format!("flood message number {i} with some words")),
            no_echo: true,
            fire_and_forget: true,
        };
        if handle.commands.send(command).await.is_err() {
            break;
        }
    }
}

#[test]
fn a_chat_killed_mid_flood_leaves_a_sound_database() {
    let mut tmux = Tmux::start("history-crash").unwrap_or_else(|error| panic!("{error}"));
    let temp = tempfile::tempdir().unwrap();
    let service = Service::start(temp.path(), WAIT).unwrap_or_else(|error| panic!("{error}"));
    let home = temp.path().join("alice");
    // `exec`: the pane's process is the chat itself, so SIGKILL reaches it and nothing else.
    let command = format!(
        "exec {}",
        chat_as(&home, &home.join("state"), &service, "alice")
    );
    tmux.session("alice", (100, 30), &command).unwrap();
    tmux.wait_for("alice", "joined lobby", WAIT, |s| {
        s.contains("joined lobby")
    })
    .unwrap_or_else(|error| panic!("{error}"));
    let pid = tmux.display("alice", "#{pane_pid}").unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let port = service.port;
    let flooder = runtime.spawn(flood(port, 2_000_000));
    let started = Instant::now();
    let path = loop {
        if let Some(path) = database_in(&home)
            && stored(&path) >= 20_000
        {
            break path;
        }
        assert!(
            started.elapsed() < WAIT * 3,
            "the chat did not record the flood"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let before_kill = stored(&path);
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    flooder.abort();
    // Until tmux reaps it, the dead chat still looks alive to the lease check.
    let proc_entry = PathBuf::from(format!("/proc/{pid}"));
    while proc_entry.exists() {
        assert!(
            started.elapsed() < WAIT * 4,
            "the killed chat was never reaped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let conn = history::open(&path).expect("the database opens after SIGKILL");
    assert!(
        history::integrity_ok(&conn).unwrap(),
        "integrity checks fail"
    );
    let after = history::stats(&conn).unwrap().messages;
    assert!(
        after >= before_kill,
        "committed rows were lost: {after} < {before_kill}"
    );
    // The index catches up over what survived, and search works on it.
    drop(conn);
    let mut recorder =
        history::Recorder::start(&path, history::RecorderOptions::default()).unwrap();
    recorder.flush();
    recorder.close();
    let conn = history::open(&path).unwrap();
    let found = history::search(&conn, &history::Query::parse("flood number").unwrap(), 5).unwrap();
    assert_eq!(found.hits.len(), 5);
    assert_eq!(found.behind, 0);
    assert!(history::integrity_ok(&conn).unwrap());
}
