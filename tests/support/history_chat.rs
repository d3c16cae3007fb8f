//! The chat's real event loop, headless: a `TestBackend` screen, keys on a channel, and
//! history at a temporary path; with a real engine on the local service, or a handle on no
//! engine for a chat that only reads what is stored.
#![allow(dead_code)]

#[path = "../tui_support/screen.rs"]
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
use wpchat::client::{ClientConfig, ClientHandle, Command, ConnState, EventSender, event_channel};
use wpchat::config::HistorySettings;
use wpchat::history::{self, Dir, Kind};
use wpchat::service::RunningService;
use wpchat::tui::event_loop::{EventLoop, Flow};
use wpchat::tui::history::ChatHistory;
use wpchat::tui::{App, Clock, HistoryStart, Keymap, UiSettings};

pub const GUARD: Duration = Duration::from_secs(20);
pub const ROLES: [&str; 2] = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"];

pub type Keys = mpsc::UnboundedSender<io::Result<TermEvent>>;
pub type Loop =
    EventLoop<TestBackend, std::pin::Pin<Box<dyn Stream<Item = io::Result<TermEvent>>>>>;

pub fn engine_config(service: &RunningService, user: &str) -> ClientConfig {
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
pub struct Chat {
    pub keys: Keys,
    pub app: App,
    pub handle: ClientHandle,
    pub event_loop: Loop,
}

impl Chat {
    pub fn new(handle: ClientHandle, path: &std::path::Path, record: bool) -> Chat {
        Chat::with_settings(handle, path, record, &HistorySettings::default())
    }

    pub fn with_settings(
        handle: ClientHandle,
        path: &std::path::Path,
        record: bool,
        settings: &HistorySettings,
    ) -> Chat {
        Chat::with_ui(handle, path, record, settings, UiSettings::default())
    }

    pub fn with_ui(
        handle: ClientHandle,
        path: &std::path::Path,
        record: bool,
        settings: &HistorySettings,
        ui: UiSettings,
    ) -> Chat {
        let (keys, key_rx) = mpsc::unbounded_channel();
        let input = futures_util::stream::unfold(key_rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        let mut app = App::new(ui, Keymap::default(), Clock::now());
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

    pub fn join(&mut self, group: &str) {
        let commands = self.app.join(group);
        self.event_loop.send(&mut self.app, &self.handle, commands);
    }

    pub fn type_line(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
        self.press(KeyCode::Enter);
    }

    pub fn press(&self, code: KeyCode) {
        let key = KeyEvent::new(code, KeyModifiers::NONE);
        self.keys.send(Ok(TermEvent::Key(key))).unwrap();
    }

    pub async fn turn_until(&mut self, what: &str, mut done: impl FnMut(&Chat) -> bool) {
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

    pub fn screen(&self) -> String {
        screen::text_of(self.event_loop.terminal().backend().buffer())
    }
}

/// The engine's side of a handle on no engine, kept alive by the test.
pub type EngineSide = (
    mpsc::Receiver<Command>,
    EventSender,
    watch::Sender<ConnState>,
);

/// A handle on no engine: the restarted chat reads its backlog with no connection.
pub fn offline_handle() -> (ClientHandle, EngineSide) {
    let (commands, queue) = mpsc::channel(64);
    let (events_tx, events) = event_channel(16);
    let (state_tx, state) = watch::channel(ConnState::Connecting { attempt: 1 });
    let handle = ClientHandle {
        commands,
        events,
        state,
    };
    (handle, (queue, events_tx, state_tx))
}

/// Records `lines` (group, ms, sender, text) as received, and waits until they are indexed.
pub fn stored(path: &std::path::Path, lines: &[(&str, i64, &str, String)]) {
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
pub fn offline_chat_over(
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
    pub fn press_ctrl(&self, c: char) {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        self.keys.send(Ok(TermEvent::Key(key))).unwrap();
    }

    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    /// The history page open, if one is.
    pub fn page(&self) -> Option<&wpchat::tui::overlay::HistoryPage> {
        match &self.app.state().overlay {
            wpchat::tui::overlay::Overlay::HistoryPage(page) => Some(page),
            _ => None,
        }
    }

    /// The text of the focused line of the open history page.
    pub fn focused(&self) -> Option<&str> {
        let page = self.page()?;
        (page.loading.is_none()).then(|| page.lines.get(page.focus).map(|l| l.text.as_str()))?
    }
}
