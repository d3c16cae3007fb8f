//! What the headless App tests share (`tests/tui_app.rs`, `tests/tui_app_connection.rs`):
//! an app at a fixed time, connected as alice in `lobby`, and short ways to type, send and
//! read its buffers.

#![allow(dead_code)] // Each test file uses only some of these.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use wpchat::client::{Command, Event, OpOutcome};
use wpchat::protocol::{DataMessage, MessageSource, Payload, Subprotocol};
use wpchat::tui::state::{Buffer, BufferKind, LineKind};
use wpchat::tui::{Action, App, Clock, Keymap, UiSettings};

/// Friday 27 November 2026, 10:02:00 UTC.
pub const T0: i64 = 1_795_773_720_000;

pub fn app() -> App {
    App::new(
        UiSettings::default(),
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    )
}

/// An app connected as `alice`, in `lobby` (joined).
pub fn connected_app() -> App {
    let mut app = app();
    app.set_target("chat", Some("alice"));
    let commands = app.join("lobby");
    let op = join_op(&commands);
    app.update(Event::Connected {
        connection_id: "6aZcQ1".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::JsonReliable,
    });
    app.update(done(op));
    app
}

pub fn join_op(commands: &[Command]) -> u64 {
    match commands {
        [Command::Join { op, .. }] => *op,
        other => panic!("expected one Join, got {other:?}"),
    }
}

pub fn done(op: u64) -> Event {
    Event::OpResult {
        op,
        outcome: OpOutcome::Done {
            duplicate: false,
            round_trip: Some(Duration::from_millis(38)),
        },
    }
}

pub fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

pub fn type_text(app: &mut App, text: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for c in text.chars() {
        out.extend(app.update(Action::Insert(c)));
    }
    out
}

pub fn system_buffer(app: &App) -> &Buffer {
    let state = app.state();
    &state.buffers[state.buffer_of_kind(BufferKind::System).unwrap()]
}

/// The texts of a buffer's lines of one kind, oldest first.
pub fn bodies(buffer: &Buffer, kind: LineKind) -> Vec<String> {
    buffer
        .lines
        .iter()
        .filter(|l| l.kind == kind)
        .map(|l| l.body.to_string())
        .collect()
}

/// Types `text` and presses Enter.
pub fn submit(app: &mut App, text: &str) -> Vec<Command> {
    type_text(app, text);
    app.update(Action::Submit)
}

/// Types `text`, presses Enter and returns the op of the one send that follows.
pub fn send_text(app: &mut App, text: &str) -> u64 {
    match submit(app, text).as_slice() {
        [Command::SendToGroup { op, .. }] => *op,
        other => panic!("expected one SendToGroup, got {other:?}"),
    }
}

/// Presses Tab and returns the input line.
pub fn tab(app: &mut App) -> String {
    app.update(Action::Complete);
    app.state().editor.text().to_string()
}

/// Clears the input line and types `text`.
pub fn retype(app: &mut App, text: &str) {
    app.update(Action::KillLineBack);
    type_text(app, text);
}

pub fn group_message(group: &str, from: &str, text: &str) -> Event {
    Event::Message(DataMessage {
        source: MessageSource::Group {
            group: group.into(),
            from_user_id: Some(from.into()),
        },
        sequence_id: Some(7),
        payload: Payload::Text(text.into()),
    })
}

pub fn join_group(app: &mut App, group: &str) {
    let commands = app.join(group);
    let op = join_op(&commands);
    app.update(done(op));
}
