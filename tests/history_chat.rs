//! The chat's history end to end: the real event loop and engine against the real local
//! service record what alice sees and sends; a restarted chat shows it as backlog, with the
//! marker between old and live and the unread count it had.

#[path = "support/history_chat.rs"]
mod history_chat;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use history_chat::{Chat, GUARD, engine_config, offline_handle};
use tokio::sync::mpsc;
use wpchat::client::{self, Command, Event};
use wpchat::config::HistorySettings;
use wpchat::history::{self, Delivery, Dir, Kind};
use wpchat::protocol::Payload;
use wpchat::service::{self, RunningService, ServiceConfig};

/// A recording chat as alice, with the real engine on a fresh local service, in `lobby` once
/// the service confirmed the join; its history at the returned path in the returned dir.
async fn recording_chat_in_lobby() -> (tempfile::TempDir, PathBuf, RunningService, Chat) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    let service = service::start(ServiceConfig {
        port: 0,
        ..ServiceConfig::default()
    })
    .await
    .unwrap();
    let mut chat = Chat::new(client::spawn(engine_config(&service, "alice")), &path, true);
    chat.join("lobby");
    chat.turn_until("alice joined", |c| {
        lines_of(c, "lobby").iter().any(|l| l == "joined lobby")
    })
    .await;
    (dir, path, service, chat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_chat_saw_and_sent_comes_back_after_a_restart() {
    let (_dir, path, service, mut chat) = recording_chat_in_lobby().await;
    let mut bob = client::spawn(engine_config(&service, "bob"));
    bob.commands
        .send(Command::Join {
            op: 1,
            group: "lobby".into(),
        })
        .await
        .unwrap();
    let binary: Vec<u8> = (0..=255).collect();
    let sent = [
        Payload::Text("hi from bob \u{1b}]0;pwned\u{7}".into()),
        Payload::Json(serde_json::value::RawValue::from_string(r#"{"n": 1.50}"#.into()).unwrap()),
        Payload::Binary(binary.clone()),
    ];
    // Wait for bob's join to land before his sends.
    loop {
        if let Event::OpResult { op: 1, .. } = bob.events.recv().await.unwrap() {
            break;
        }
    }
    for (i, payload) in sent.iter().enumerate() {
        bob.commands
            .send(Command::SendToGroup {
                op: 10 + i as u64,
                group: "lobby".into(),
                payload: payload.clone(),
                no_echo: true,
                fire_and_forget: false,
            })
            .await
            .unwrap();
    }
    chat.turn_until("bob's messages", |c| c.screen().contains("n\":1.5"))
        .await;
    chat.type_line("hello from alice");
    chat.turn_until("alice's message acked", |c| {
        c.app.state().current_buffer().lines.iter().any(|l| {
            l.body == "hello from alice"
                && matches!(l.delivery, wpchat::tui::state::Delivery::Acked(_))
        })
    })
    .await;
    chat.event_loop.close_history(&mut chat.app);

    let conn = history::open_read(&path).unwrap();
    let lines = history::backlog(&conn, "lobby", None, 100).unwrap();
    let messages: Vec<_> = lines
        .iter()
        .filter(|l| matches!(l.kind, Kind::Text | Kind::Json | Kind::Binary))
        .collect();
    assert_eq!(messages.len(), 4, "{lines:?}");
    assert_eq!(
        messages[0].body,
        "hi from bob \u{1b}]0;pwned\u{7}".as_bytes()
    );
    assert_eq!(messages[0].sender.as_deref(), Some("bob"));
    assert_eq!(messages[1].body, br#"{"n": 1.50}"#);
    assert_eq!(messages[2].body, binary);
    assert_eq!(messages[3].body, b"hello from alice");
    assert_eq!(messages[3].dir, Dir::Out);
    assert_eq!(messages[3].delivery, Some(Delivery::Acked));
    // Every line points to the session of the connection it was seen on.
    let connection_id = chat.app.state().conn.connection_id.clone();
    assert!(connection_id.is_some());
    for message in &messages {
        assert_eq!(message.session, connection_id, "{message:?}");
    }

    // A restart with no connection shows the backlog and the marker, escape-free.
    let (handle, _engine) = offline_handle();
    let mut restarted = Chat::new(handle, &path, false);
    restarted.join("lobby");
    restarted
        .turn_until("the backlog", |c| c.screen().contains("hello from alice"))
        .await;
    let screen = restarted.screen();
    assert!(screen.contains("earlier messages from history"), "{screen}");
    assert!(screen.contains("hi from bob"), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_messages_stay_unread_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    {
        let mut recorder =
            history::Recorder::start(&path, history::RecorderOptions::default()).unwrap();
        for (i, body) in ["read one", "read two", "new one", "new two"]
            .iter()
            .enumerate()
        {
            let mut record = history::Record::message(
                "ops",
                1_000 + i as i64,
                Kind::Text,
                Dir::In,
                body.as_bytes().to_vec(),
            );
            record.sender = Some("bob".into());
            let id = recorder.try_record(record).unwrap();
            if i == 1 {
                recorder.set_read_marker("ops", id);
            }
        }
        recorder.close();
    }
    let (handle, _engine) = offline_handle();
    let mut chat = Chat::new(handle, &path, false);
    chat.join("lobby");
    chat.join("ops");
    chat.app.update(wpchat::tui::Action::GoToGroup(1));
    chat.turn_until("the ops backlog", |c| {
        c.app
            .state()
            .buffers
            .iter()
            .any(|b| b.name == "ops" && b.lines.len() > 1)
    })
    .await;
    let ops = chat
        .app
        .state()
        .buffers
        .iter()
        .find(|b| b.name == "ops")
        .unwrap();
    assert_eq!(
        ops.unread, 2,
        "the two lines after the read marker are unread"
    );
    assert_eq!(ops.first_unread, Some(2));
}

fn from_bob(text: &str) -> Event {
    Event::Message(wpchat::protocol::DataMessage {
        source: wpchat::protocol::MessageSource::Group {
            group: "lobby".into(),
            from_user_id: Some("bob".into()),
        },
        sequence_id: None,
        payload: Payload::Text(text.into()),
    })
}

/// Closes the chat's history and reads back what it stored for `lobby`.
fn recorded_in_lobby(mut chat: Chat, path: &std::path::Path) -> Vec<Vec<u8>> {
    chat.event_loop.close_history(&mut chat.app);
    let conn = history::open_read(path).unwrap();
    let lines = history::backlog(&conn, "lobby", None, 10).unwrap();
    lines.into_iter().map(|line| line.record.body).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_off_pauses_recording_until_history_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    let (handle, engine) = offline_handle();
    let mut chat = Chat::new(handle, &path, true);
    chat.join("lobby");
    chat.type_line("/history off");
    chat.turn_until("the pause is confirmed", |c| {
        c.screen().contains("history: paused")
    })
    .await;
    engine.1.send(from_bob("said while paused")).await.unwrap();
    chat.turn_until("the paused message", |c| {
        c.screen().contains("said while paused")
    })
    .await;
    chat.type_line("/history on");
    chat.turn_until("recording again", |c| {
        c.screen().contains("history: recording")
    })
    .await;
    engine
        .1
        .send(from_bob("said while recording"))
        .await
        .unwrap();
    chat.turn_until("the recorded message", |c| {
        c.screen().contains("said while recording")
    })
    .await;
    assert_eq!(
        recorded_in_lobby(chat, &path),
        [b"said while recording".to_vec()]
    );
}

/// The next send the chat hands its (absent) engine.
async fn next_send(queue: &mut mpsc::Receiver<Command>, chat: &mut Chat) -> u64 {
    let started = Instant::now();
    loop {
        if let Ok(Command::SendToGroup { op, .. }) = queue.try_recv() {
            return op;
        }
        assert!(started.elapsed() < GUARD, "no send reached the engine");
        let _ = tokio::time::timeout(
            Duration::from_millis(20),
            chat.event_loop.turn(&mut chat.app, &mut chat.handle),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_send_updates_its_row_instead_of_adding_one() {
    use wpchat::client::{OpError, OpOutcome};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    let (handle, mut engine) = offline_handle();
    let mut chat = Chat::new(handle, &path, true);
    chat.join("lobby");
    chat.type_line("try again");
    let first = next_send(&mut engine.0, &mut chat).await;
    let failed = Event::OpResult {
        op: first,
        outcome: OpOutcome::Failed(OpError::Timeout(Duration::from_secs(5))),
    };
    engine.1.send(failed).await.unwrap();
    chat.turn_until("the failure", |c| c.screen().contains("failed"))
        .await;
    chat.keys
        .send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char('r'),
            KeyModifiers::ALT,
        ))))
        .unwrap();
    let second = next_send(&mut engine.0, &mut chat).await;
    assert_ne!(first, second);
    let done = OpOutcome::Done {
        duplicate: false,
        round_trip: None,
    };
    engine
        .1
        .send(Event::OpResult {
            op: second,
            outcome: done,
        })
        .await
        .unwrap();
    chat.turn_until("the ack", |c| {
        c.app.state().current_buffer().lines.iter().any(|l| {
            l.body == "try again" && matches!(l.delivery, wpchat::tui::state::Delivery::Acked(_))
        })
    })
    .await;
    chat.event_loop.close_history(&mut chat.app);
    let conn = history::open_read(&path).unwrap();
    let rows = history::backlog(&conn, "lobby", None, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].delivery, Some(Delivery::Acked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_recording_only_mine_keeps_own_messages_and_drops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    let settings = HistorySettings {
        record: [("lob*".to_string(), "mine".to_string())].into(),
        ..HistorySettings::default()
    };
    let (handle, engine) = offline_handle();
    let mut chat = Chat::with_settings(handle, &path, true, &settings);
    chat.join("lobby");
    engine.1.send(from_bob("from bob")).await.unwrap();
    chat.type_line("from alice");
    chat.turn_until("both lines", |c| {
        c.screen().contains("from bob") && c.screen().contains("from alice")
    })
    .await;
    assert_eq!(recorded_in_lobby(chat, &path), [b"from alice".to_vec()]);
}

/// The bodies of `group`'s lines in the chat.
fn lines_of(chat: &Chat, group: &str) -> Vec<String> {
    let state = chat.app.state();
    state
        .group_index(group)
        .map(|index| {
            let lines = state.buffers[index].lines.iter();
            lines.map(|line| line.body.to_string()).collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_left_and_joined_again_shows_its_earlier_lines_once() {
    let (_dir, path, _service, mut chat) = recording_chat_in_lobby().await;
    chat.type_line("before leaving");
    chat.type_line("/leave");
    chat.turn_until("alice left", |c| {
        c.app.state().group_index("lobby").is_none()
    })
    .await;
    // The line is on disk before the group opens again.
    let started = Instant::now();
    loop {
        let conn = history::open_read(&path).unwrap();
        let stored = history::backlog(&conn, "lobby", None, 10).unwrap();
        if stored.iter().any(|l| l.body == b"before leaving") {
            break;
        }
        assert!(started.elapsed() < GUARD, "never stored: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Joined again, and a line sent at once: the earlier line comes back from disk, the new
    // one shows live only.
    chat.type_line("/join lobby");
    chat.type_line("after coming back");
    chat.turn_until("the backlog and the new line", |c| {
        let lines = lines_of(c, "lobby");
        lines.iter().any(|l| l == "before leaving") && lines.iter().any(|l| l == "joined lobby")
    })
    .await;
    let lines = lines_of(&chat, "lobby");
    let count = |body: &str| lines.iter().filter(|l| *l == body).count();
    assert_eq!(count("before leaving"), 1, "{lines:?}");
    assert_eq!(count("after coming back"), 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("from history · live below")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_and_own_lines_after_the_read_marker_are_not_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    {
        let mut recorder =
            history::Recorder::start(&path, history::RecorderOptions::default()).unwrap();
        let mut read = history::Record::message("ops", 1_000, Kind::Text, Dir::In, b"read".into());
        read.sender = Some("bob".into());
        let id = recorder.try_record(read).unwrap();
        recorder.set_read_marker("ops", id);
        let gap = history::Record::marker("ops", 1_001, Kind::Gap, "session lost after 914 ms");
        recorder.try_record(gap).unwrap();
        let own = history::Record::message("ops", 1_002, Kind::Text, Dir::Out, b"mine".into());
        recorder.try_record(own).unwrap();
        recorder.close();
    }
    let (handle, _engine) = offline_handle();
    let mut chat = Chat::new(handle, &path, false);
    chat.join("lobby");
    chat.join("ops");
    chat.app.update(wpchat::tui::Action::GoToGroup(1));
    chat.turn_until("the ops backlog", |c| lines_of(c, "ops").len() > 3)
        .await;
    let state = chat.app.state();
    let ops = &state.buffers[state.group_index("ops").unwrap()];
    assert_eq!(ops.unread, 0, "{:?}", lines_of(&chat, "ops"));
    assert_eq!(ops.first_unread, None);
}
