//! `wpchat --offline` end to end in tmux: the built binary opens the profile's stored history
//! with no connection (and no service anywhere), shows every stored group's backlog, says in
//! the status bar that it is offline, and searches with Ctrl+F.

#[path = "tui_support/tmux.rs"]
mod tmux;

use std::time::Duration;

use tmux::{Tmux, chat_command};
use wpchat::history::{Dir, Kind, Record, Recorder, RecorderOptions};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn offline_browses_and_searches_stored_history_without_connecting() {
    let home = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // The database the chat uses for the local service when no profile is given.
    let path = home.path().join("data/wpchat/history/local.db");
    let mut recorder = Recorder::start(&path, RecorderOptions::default()).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    for (i, (group, text)) in [
        ("ops", "deploy 1.4 rolled back"),
        ("lobby", "lunch at noon"),
        ("ops", "all green again"),
    ]
    .iter()
    .enumerate()
    {
        let mut record = Record::message(
            group,
            now - 60_000 + i as i64,
            Kind::Text,
            Dir::In,
            text.as_bytes().to_vec(),
        );
        record.sender = Some("bob".into());
        recorder.try_record(record).unwrap();
    }
    recorder.close();

    let mut tmux = Tmux::start("offline").unwrap();
    let chat = chat_command(home.path(), state.path(), &["--offline"]);
    tmux.session(
        "offline",
        (100, 24),
        &format!("{chat}; echo EXITED $?; exec sleep 600"),
    )
    .unwrap();
    let wait = |what: &str, condition: &dyn Fn(&str) -> bool| {
        tmux.wait_for("offline", what, WAIT, condition)
            .unwrap_or_else(|error| panic!("{error}"))
    };
    let screen = wait("the ops backlog, offline", &|s| {
        s.contains("all green again") && s.contains("offline")
    });
    assert!(
        screen.contains("--offline: browsing stored history"),
        "{screen}"
    );
    assert!(screen.contains("lobby"), "{screen}");

    tmux.run(&["send-keys", "-t", "offline", "C-f"]).unwrap();
    tmux.run(&["send-keys", "-t", "offline", "-l", "lunch"])
        .unwrap();
    tmux.run(&["send-keys", "-t", "offline", "Enter"]).unwrap();
    wait("the search result", &|s| {
        s.contains("1 result") && s.contains("#lobby bob: lunch at noon")
    });
    tmux.run(&["send-keys", "-t", "offline", "Enter"]).unwrap();
    wait("the hit in its group", &|s| s.contains("#lobby · history"));
    tmux.run(&["send-keys", "-t", "offline", "Escape"]).unwrap();
    tmux.run(&["send-keys", "-t", "offline", "Escape"]).unwrap();
    tmux.run(&["send-keys", "-t", "offline", "-l", "/quit"])
        .unwrap();
    tmux.run(&["send-keys", "-t", "offline", "Enter"]).unwrap();
    wait("a clean exit", &|s| s.contains("EXITED 0"));
}
