//! The event loop driven turn by turn: a `TestBackend` for the screen, a channel for the
//! keys, and a hand-made client handle whose command queue the test reads (or does not).
//! A key must reach the screen while the engine's queue is full and while a file is read.

#[path = "tui_support/screen.rs"]
mod screen;

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use futures_util::Stream;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::{mpsc, watch};
use wpchat::client::{
    ClientHandle, Command, ConnState, Event, EventSender, OpOutcome, event_channel,
};
use wpchat::protocol::{DataMessage, MessageSource, Payload, Subprotocol};
use wpchat::tui::event_loop::{EventLoop, Flow};
use wpchat::tui::state::Delivery;
use wpchat::tui::{App, Clock, Keymap, UiSettings};

/// A failure guard only: every wait below ends as soon as what it waits for happens.
const GUARD: Duration = Duration::from_secs(20);

type Keys = mpsc::UnboundedSender<io::Result<TermEvent>>;
type Loop = EventLoop<TestBackend, std::pin::Pin<Box<dyn Stream<Item = io::Result<TermEvent>>>>>;

/// What the test holds: the keyboard, the engine's side of the handle, and the loop.
struct Harness {
    keys: Keys,
    app: App,
    handle: ClientHandle,
    queue: mpsc::Receiver<Command>,
    events: EventSender,
    _state: watch::Sender<ConnState>,
    event_loop: Loop,
}

impl Harness {
    /// An app in `lobby` as `alice`, with an engine queue of `capacity` commands.
    fn new(capacity: usize) -> Self {
        let (keys, key_rx) = mpsc::unbounded_channel();
        let input = futures_util::stream::unfold(key_rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        let (commands, queue) = mpsc::channel(capacity);
        let (events_tx, events) = event_channel(16);
        let (state_tx, state) = watch::channel(ConnState::Connecting { attempt: 1 });
        let handle = ClientHandle {
            commands,
            events,
            state,
        };
        let mut app = App::new(UiSettings::default(), Keymap::default(), Clock::now());
        app.set_target("chat", Some("alice"));
        let join = app.join("lobby");
        let op = match join.as_slice() {
            [Command::Join { op, .. }] => *op,
            other => panic!("expected a join, got {other:?}"),
        };
        app.update(Event::Connected {
            connection_id: "c1".into(),
            user_id: Some("alice".into()),
            protocol: Subprotocol::JsonReliable,
        });
        app.update(Event::OpResult {
            op,
            outcome: OpOutcome::Done {
                duplicate: false,
                round_trip: None,
            },
        });
        let terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let event_loop = EventLoop::new(terminal, Box::pin(input) as _);
        Harness {
            keys,
            app,
            handle,
            queue,
            events: events_tx,
            _state: state_tx,
            event_loop,
        }
    }

    fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    fn press(&self, code: KeyCode) {
        let key = KeyEvent::new(code, KeyModifiers::NONE);
        self.keys.send(Ok(TermEvent::Key(key))).unwrap();
    }

    async fn turn(&mut self) {
        let flow = self
            .event_loop
            .turn(&mut self.app, &mut self.handle)
            .await
            .expect("a turn of the loop");
        assert_eq!(flow, Flow::Continue);
    }

    /// Turns the loop until `done` holds (or the guard runs out).
    async fn turn_until(&mut self, what: &str, mut done: impl FnMut(&mut Harness) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < GUARD,
                "gave up waiting for {what}; screen:\n{}",
                self.screen()
            );
            tokio::time::timeout(GUARD, self.turn())
                .await
                .expect("a turn ends");
        }
    }

    /// The screen as text, one line per row.
    fn screen(&self) -> String {
        screen::text_of(self.event_loop.terminal().backend().buffer())
    }

    /// The row of the input line.
    fn input_row(&self) -> String {
        self.screen()
            .lines()
            .nth(22)
            .unwrap_or_default()
            .to_string()
    }
}

fn sent_text(command: &Command) -> Option<&str> {
    match command {
        Command::SendToGroup {
            payload: Payload::Text(text),
            ..
        } => Some(text),
        _ => None,
    }
}

#[tokio::test]
async fn keys_reach_the_screen_while_the_command_queue_is_full() {
    let mut h = Harness::new(1);
    // Nobody reads the queue: one command fills it.
    h.handle.commands.try_send(Command::Reconnect).unwrap();

    h.type_text("one");
    h.press(KeyCode::Enter);
    h.type_text("two");
    h.press(KeyCode::Enter);
    h.type_text("three");
    h.turn_until("both messages held and the third typed", |h| {
        h.event_loop.held_commands() == 2 && h.input_row().contains("three")
    })
    .await;
    let screen = h.screen();
    assert!(screen.contains("one"), "{screen}");
    assert!(screen.contains("two"), "{screen}");
    assert_eq!(
        h.queue.len(),
        1,
        "only the command that filled the queue is in it"
    );

    // The engine reads again: the held commands follow, in the order they were typed.
    assert_eq!(h.queue.recv().await, Some(Command::Reconnect));
    let mut sent = Vec::new();
    h.turn_until("the held commands to go out", |h| {
        while let Ok(command) = h.queue.try_recv() {
            sent.push(command);
        }
        sent.len() == 2
    })
    .await;
    let texts: Vec<&str> = sent.iter().filter_map(sent_text).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(h.event_loop.held_commands(), 0);
}

#[tokio::test]
async fn keys_reach_the_screen_while_a_bin_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("payload");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    let mut h = Harness::new(16);

    // Reading a FIFO that nobody writes yet blocks until someone does.
    h.type_text(&format!("/bin @{}", fifo.display()));
    h.press(KeyCode::Enter);
    h.turn_until("the read to start", |h| h.event_loop.file_reads() == 1)
        .await;
    h.type_text("still typing");
    h.turn_until("the keys to show", |h| {
        h.input_row().contains("still typing")
    })
    .await;
    assert_eq!(h.event_loop.file_reads(), 1, "the file is still being read");

    let writer = std::thread::spawn(move || std::fs::write(&fifo, [1u8, 2, 3]));
    let mut sent = None;
    h.turn_until("the file's bytes to be sent", |h| {
        if let Ok(command) = h.queue.try_recv() {
            sent = Some(command);
        }
        sent.is_some()
    })
    .await;
    writer.join().unwrap().unwrap();
    match sent {
        Some(Command::SendToGroup {
            group,
            payload: Payload::Binary(bytes),
            ..
        }) => {
            assert_eq!(group, "lobby");
            assert_eq!(bytes, [1, 2, 3]);
        }
        other => panic!("expected the file sent to lobby, got {other:?}"),
    }
    assert!(h.input_row().contains("still typing"), "the input is kept");
}

#[tokio::test]
async fn held_commands_fail_when_the_engine_stops() {
    let mut h = Harness::new(1);
    h.handle.commands.try_send(Command::Reconnect).unwrap();
    h.type_text("lost");
    h.press(KeyCode::Enter);
    h.turn_until("the message held", |h| h.event_loop.held_commands() == 1)
        .await;

    // The engine goes away with the message still held: it fails instead of pending forever.
    h.queue.close();
    h.turn_until("the held message to fail", |h| {
        h.event_loop.held_commands() == 0
    })
    .await;
    let state = h.app.state();
    let line = state.current_buffer().lines.back().unwrap();
    assert_eq!(line.body, "lost");
    match line.delivery {
        Delivery::Failed(name) => assert_eq!(state.names.name(name), "Stopped"),
        other => panic!("expected a failed line, got {other:?}"),
    }
}

#[tokio::test]
async fn a_flooded_background_group_keeps_its_badge_true_while_keys_show() {
    const FLOOD: u32 = 30_000;
    let mut h = Harness::new(16);
    let events = h.events.clone();
    let flood = tokio::spawn(async move {
        for n in 0..FLOOD {
            let message = Event::Message(DataMessage {
                source: MessageSource::Group {
                    group: "flood".into(),
                    from_user_id: Some("flooder".into()),
                },
                sequence_id: Some(u64::from(n) + 1),
                payload: Payload::Text(format!("flood message {n}")),
            });
            if events.send(message).await.is_err() {
                return;
            }
        }
    });
    h.type_text("typed during the flood");
    h.turn_until("the typed text on the input line", |h| {
        h.input_row().contains("typed during the flood")
    })
    .await;
    // The badge of the group not shown catches up by itself (no key pressed): every message
    // was stored and counted.
    h.turn_until("the flooded group's badge to count every message", |h| {
        h.screen().contains("(30k)")
    })
    .await;
    flood.await.unwrap();
    let flooded = h.app.state().buffers.iter().find(|b| b.name == "flood");
    let flooded = flooded.expect("the flooded group has a buffer");
    assert_eq!(flooded.unread, FLOOD);
    assert_eq!(
        flooded.lines.back().map(|line| line.body),
        Some("flood message 29999")
    );
    let screen = h.screen();
    assert!(
        !screen.contains("flood message"),
        "shown in lobby: {screen}"
    );
}
