//! The chat's history end to end: the real event loop and engine against the real local
//! service record what alice sees and sends; a restarted chat shows it as backlog, with the
//! marker between old and live and the unread count it had.

#[path = "tui_support/screen.rs"]
mod screen;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use futures_util::Stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::{mpsc, watch};
use url::Url;
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, ConnState, Event};
use wpchat::config::HistorySettings;
use wpchat::history::{self, Delivery, Dir, Kind};
use wpchat::protocol::Payload;
use wpchat::service::{self, RunningService, ServiceConfig};
use wpchat::tui::event_loop::{EventLoop, Flow};
use wpchat::tui::history::ChatHistory;
use wpchat::tui::{App, Clock, HistoryStart, Keymap, UiSettings};

const GUARD: Duration = Duration::from_secs(20);
const ROLES: [&str; 2] = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"];

type Keys = mpsc::UnboundedSender<io::Result<TermEvent>>;
type Loop = EventLoop<TestBackend, std::pin::Pin<Box<dyn Stream<Item = io::Result<TermEvent>>>>>;

fn engine_config(service: &RunningService, user: &str) -> ClientConfig {
    let endpoint = Url::parse(&format!("http://{}", service.addr)).unwrap();
    let options = TokenOptions {
        user_id: Some(user.into()),
        roles: ROLES.iter().map(|r| r.to_string()).collect(),
        ..TokenOptions::default()
    };
    let connection = ConnectionString::new(endpoint, service.access_key.clone());
    let provider = ConnectionStringProvider::new(connection, "chat", options).unwrap();
    ClientConfig::new(Arc::new(provider))
}

/// A chat as `alice`: app, loop, keyboard, with history at `path`.
struct Chat {
    keys: Keys,
    app: App,
    handle: ClientHandle,
    event_loop: Loop,
}

impl Chat {
    fn new(handle: ClientHandle, path: &std::path::Path, record: bool) -> Chat {
        Chat::with_settings(handle, path, record, &HistorySettings::default())
    }

    fn with_settings(
        handle: ClientHandle,
        path: &std::path::Path,
        record: bool,
        settings: &HistorySettings,
    ) -> Chat {
        let (keys, key_rx) = mpsc::unbounded_channel();
        let input = futures_util::stream::unfold(key_rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        let mut app = App::new(UiSettings::default(), Keymap::default(), Clock::now());
        app.set_target("chat", Some("alice"));
        let terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let start = HistoryStart {
            path: path.to_path_buf(),
            record,
        };
        let (history, problems) = ChatHistory::start(&start, settings);
        assert!(
            problems.iter().all(|p| !p.contains("[history]")),
            "{problems:?}"
        );
        let event_loop = EventLoop::new(terminal, Box::pin(input) as _).with_history(history);
        Chat {
            keys,
            app,
            handle,
            event_loop,
        }
    }

    fn join(&mut self, group: &str) {
        let commands = self.app.join(group);
        self.event_loop.send(&mut self.app, &self.handle, commands);
    }

    fn type_line(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
        self.press(KeyCode::Enter);
    }

    fn press(&self, code: KeyCode) {
        let key = KeyEvent::new(code, KeyModifiers::NONE);
        self.keys.send(Ok(TermEvent::Key(key))).unwrap();
    }

    async fn turn_until(&mut self, what: &str, mut done: impl FnMut(&Chat) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < GUARD,
                "gave up waiting for {what}; screen:\n{}",
                self.screen()
            );
            let flow =
                tokio::time::timeout(GUARD, self.event_loop.turn(&mut self.app, &mut self.handle))
                    .await
                    .expect("a turn ends")
                    .expect("a turn works");
            assert_eq!(flow, Flow::Continue);
        }
    }

    fn screen(&self) -> String {
        screen::text_of(self.event_loop.terminal().backend().buffer())
    }
}

/// The engine's side of a handle on no engine, kept alive by the test.
type EngineSide = (
    mpsc::Receiver<Command>,
    mpsc::Sender<Event>,
    watch::Sender<ConnState>,
);

/// A handle on no engine: the restarted chat reads its backlog with no connection.
fn offline_handle() -> (ClientHandle, EngineSide) {
    let (commands, queue) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(16);
    let (state_tx, state) = watch::channel(ConnState::Connecting { attempt: 1 });
    let handle = ClientHandle {
        commands,
        events,
        state,
    };
    (handle, (queue, events_tx, state_tx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_chat_saw_and_sent_comes_back_after_a_restart() {
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
        c.screen().contains("joined lobby") || c.screen().contains("● lobby")
    })
    .await;
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
            &*l.body == "hello from alice"
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
            &*l.body == "try again" && matches!(l.delivery, wpchat::tui::state::Delivery::Acked(_))
        })
    })
    .await;
    chat.event_loop.close_history(&mut chat.app);
    let conn = history::open_read(&path).unwrap();
    let rows = history::backlog(&conn, "lobby", None, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].delivery, Some(Delivery::Acked));
}

/// Records `lines` (group, ms, sender, text) as received, and waits until they are indexed.
fn stored(path: &std::path::Path, lines: &[(&str, i64, &str, String)]) {
    let mut recorder = history::Recorder::start(path, history::RecorderOptions::default()).unwrap();
    for (group, ts_ms, sender, text) in lines {
        let mut record =
            history::Record::message(group, *ts_ms, Kind::Text, Dir::In, text.as_bytes().to_vec());
        record.sender = Some(sender.to_string());
        recorder.try_record(record).unwrap();
    }
    recorder.close();
}

/// A chat with no connection, in `group`, over a database holding `lines`.
fn offline_chat_over(
    lines: &[(&str, i64, &str, String)],
    group: &str,
) -> (tempfile::TempDir, Chat, EngineSide) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    stored(&path, lines);
    let (handle, engine) = offline_handle();
    let mut chat = Chat::new(handle, &path, false);
    chat.join(group);
    (dir, chat, engine)
}

impl Chat {
    fn press_ctrl(&self, c: char) {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        self.keys.send(Ok(TermEvent::Key(key))).unwrap();
    }

    fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// The history page open, if one is.
    fn page(&self) -> Option<&wpchat::tui::overlay::HistoryPage> {
        match &self.app.state().overlay {
            wpchat::tui::overlay::Overlay::HistoryPage(page) => Some(page),
            _ => None,
        }
    }

    /// The text of the focused line of the open history page.
    fn focused(&self) -> Option<&str> {
        let page = self.page()?;
        (page.loading.is_none()).then(|| page.lines.get(page.focus).map(|l| l.text.as_str()))?
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_f_searches_all_history_and_enter_opens_the_group_around_the_hit() {
    let mut lines: Vec<(&str, i64, &str, String)> = (0..300)
        .map(|i| ("ops", 1_000 + i, "bob", format!("ops line {i}")))
        .collect();
    lines[150].3 = "deploy \u{1b}[2Jrolled back".into();
    lines.push(("lobby", 5_000, "carol", "deploy went fine".into()));
    lines.push(("lobby", 5_001, "carol", "unrelated".into()));
    let (_dir, mut chat, _engine) = offline_chat_over(&lines, "lobby");
    chat.press_ctrl('f');
    chat.type_text("deploy -fine");
    chat.press(KeyCode::Enter);
    chat.turn_until("the one result", |c| c.screen().contains("1 result"))
        .await;
    let screen = chat.screen();
    assert!(screen.contains("#ops bob: deploy"), "{screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains("#lobby carol"),
        "{screen}"
    );

    // Without the negative word both match, newest first; ↓ then Enter opens the older one.
    for _ in 0..6 {
        chat.press(KeyCode::Backspace);
    }
    chat.press(KeyCode::Enter);
    chat.turn_until("two results", |c| {
        c.screen().contains("2 results, newest first")
    })
    .await;
    let screen = chat.screen();
    let (lobby, ops) = (
        screen.find("#lobby carol").unwrap(),
        screen.find("#ops bob").unwrap(),
    );
    assert!(lobby < ops, "newest first:\n{screen}");
    chat.press(KeyCode::Down);
    chat.press(KeyCode::Enter);
    chat.turn_until("the hit in its group", |c| {
        c.focused().is_some_and(|text| text.starts_with("deploy"))
    })
    .await;
    chat.turn_until("the page around the hit", |c| {
        let screen = c.screen();
        screen.contains("#ops · history")
            && screen.contains("ops line 149")
            && screen.contains("ops line 151")
    })
    .await;
    assert_eq!(chat.page().unwrap().lines.len(), 201, "100 lines each side");

    // Above the first line read, an older page comes from disk.
    for _ in 0..11 {
        chat.press(KeyCode::PageUp);
    }
    chat.turn_until("the older page", |c| {
        c.page()
            .is_some_and(|p| p.lines.len() == 251 && p.loading.is_none())
    })
    .await;
    assert_eq!(chat.page().unwrap().lines[0].text, "ops line 0");
    assert!(chat.page().unwrap().no_older);
    chat.press(KeyCode::Esc);
    chat.turn_until("back at the results", |c| {
        c.screen().contains("2 results, newest first")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_search_says_what_is_wrong_with_a_filter_and_takes_hostile_text_as_text() {
    let hostile = [("lobby", 1_000, "bob", r#"quote " NEAR( and OR"#.into())];
    let (_dir, mut chat, _engine) = offline_chat_over(&hostile, "lobby");
    chat.type_line("/search before:yesterday");
    chat.turn_until("the filter error", |c| {
        c.screen().contains("'yesterday' is not a date")
    })
    .await;
    chat.press(KeyCode::Esc);
    chat.type_line(r#"/search NEAR( "OR"#);
    chat.turn_until("the hostile query's result", |c| {
        c.screen().contains("1 result")
    })
    .await;
    assert!(chat.screen().contains("bob: quote"), "{}", chat.screen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goto_opens_the_group_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    stored(
        &path,
        &[
            ("ops", now - 3 * hour, "bob", "three hours ago".into()),
            (
                "ops",
                now - 2 * hour + 60_000,
                "bob",
                "just under two hours ago".into(),
            ),
            ("ops", now - 600_000, "bob", "ten minutes ago".into()),
        ],
    );
    let (handle, _engine) = offline_handle();
    let mut chat = Chat::new(handle, &path, false);
    chat.join("ops");
    chat.type_line("/goto -2h");
    chat.turn_until("the line two hours ago", |c| {
        c.focused() == Some("just under two hours ago")
    })
    .await;
    chat.turn_until("the lines around it", |c| {
        c.screen().contains("three hours ago") && c.screen().contains("ten minutes ago")
    })
    .await;
    chat.press(KeyCode::Esc);
    chat.type_line("/goto yesterday");
    chat.turn_until("the usage hint", |c| c.screen().contains("not a time"))
        .await;
}

#[test]
fn the_search_overlay_lists_stored_hits_newest_first_and_says_the_index_lags() {
    use wpchat::tui::Action;
    use wpchat::tui::history_reader::HistoryAnswer;
    // Friday 27 November 2026, 10:02:00 UTC.
    const T0: i64 = 1_795_773_720_000;
    let mut app = App::new(
        UiSettings::default(),
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    );
    app.set_target("chat", Some("alice"));
    app.join("lobby");
    app.update(Action::Search);
    for c in "deploy in:ops".chars() {
        app.update(Action::Insert(c));
    }
    app.update(Action::Submit);
    let asked = app.take_effects();
    assert!(
        matches!(asked.as_slice(), [wpchat::tui::Effect::History(_)]),
        "{asked:?}"
    );
    let hit = |id: i64, minutes_ago: i64, sender: Option<&str>, dir: Dir, text: &str| {
        let mut record = history::Record::message(
            "ops",
            T0 - minutes_ago * 60_000,
            Kind::Text,
            dir,
            text.as_bytes().to_vec(),
        );
        record.sender = sender.map(str::to_string);
        history::StoredLine { id, record }
    };
    let hits = vec![
        hit(42, 3, None, Dir::Out, "deploy of 1.4 is done"),
        hit(
            17,
            65,
            Some("bob"),
            Dir::In,
            "deploy \u{1b}]0;x\u{7}started\nsecond line",
        ),
        hit(
            3,
            60 * 30,
            Some("carol"),
            Dir::In,
            "who can deploy on fridays?",
        ),
    ];
    app.history_answer(HistoryAnswer::Found {
        text: "deploy in:ops".into(),
        result: Ok((hits, 12_345)),
    });
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
        .unwrap();
    insta::assert_snapshot!("history_search_80x24", terminal.backend());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_above_the_oldest_line_in_memory_pages_older_lines_in_from_disk() {
    let lines: Vec<(&str, i64, &str, String)> = (0..700)
        .map(|i| ("ops", 1_000 + i, "bob", format!("ops line {i}")))
        .collect();
    let (_dir, mut chat, _engine) = offline_chat_over(&lines, "ops");
    let ops = |c: &Chat| c.app.state().current_buffer().lines.clone();
    chat.turn_until("the backlog", |c| ops(c).len() == 201)
        .await;
    let backlog_top = ops(&chat)[0].body.clone();
    assert_eq!(&*backlog_top, "ops line 500");

    chat.press(KeyCode::Home);
    chat.turn_until("the loading row", |c| {
        ops(c)[0].body.starts_with("loading older lines")
    })
    .await;
    chat.turn_until("the older page", |c| ops(c).len() == 701)
        .await;
    let buffer = chat.app.state().current_buffer();
    assert_eq!(&*buffer.lines[0].body, "ops line 0");
    // The view stayed on the line it showed; the page came in above it.
    let top_shown = buffer.anchor.expect("scrolled up") as usize;
    assert!(top_shown >= 500, "{top_shown}");
    chat.turn_until("the same lines on screen", |c| {
        c.screen().contains("ops line 500") && !c.screen().contains("loading older")
    })
    .await;

    // At the very start of history one more try finds nothing, and the row goes.
    chat.press(KeyCode::Home);
    chat.turn_until("the last try", |c| {
        ops(c)[0].body.starts_with("loading older lines")
    })
    .await;
    chat.turn_until("the top of history", |c| {
        ops(c).len() == 701 && c.screen().contains("ops line 0") && !c.screen().contains("loading")
    })
    .await;
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
