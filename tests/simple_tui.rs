//! The chat's App on a simple WebSocket connection (`--protocol none`), headless: typed lines
//! and `/bin` become raw frames, received frames land in the one connection buffer (JSON as
//! JSON, binary as bytes, escapes made inert), join and leave say why they do nothing, and the
//! status bar names the simple connection.

#[path = "tui_support/app.rs"]
mod app_support;
#[path = "tui_support/screen.rs"]
mod screen;

use app_support::{app, bodies, done, submit};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wpchat::client::{Command, Event};
use wpchat::protocol::{Payload, Subprotocol};
use wpchat::tui::state::{Delivery, LineKind};
use wpchat::tui::{Action, App, view};

fn simple_app() -> App {
    let mut app = app();
    app.set_target("chat", Some("ann"));
    app.start_simple();
    app.update(Event::Connected {
        connection_id: String::new(),
        user_id: None,
        protocol: Subprotocol::JsonReliable,
    });
    app
}

fn screen(app: &mut App) -> String {
    app.update(Action::Resize(100, 20));
    let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
    terminal
        .draw(|frame| view::draw(frame, app.state()))
        .unwrap();
    screen::text_of(terminal.backend().buffer())
}

fn connection(app: &App) -> &wpchat::tui::state::Buffer {
    app.state().current_buffer()
}

#[test]
fn typed_lines_and_bin_go_out_as_frames_and_are_marked_sent() {
    let mut app = simple_app();
    let commands = submit(&mut app, "hello");
    let [Command::SendFrame { op, payload }] = commands.as_slice() else {
        panic!("expected one frame, got {commands:?}");
    };
    assert_eq!(payload, &Payload::Text("hello".into()));
    app.update(done(*op));
    let own = connection(&app).lines.back().unwrap();
    assert_eq!(own.body, "hello");
    assert!(matches!(own.delivery, Delivery::Acked(_)), "{own:?}");

    let commands = submit(&mut app, "/bin AAH/");
    assert!(
        matches!(commands.as_slice(), [Command::SendFrame { payload: Payload::Binary(b), .. }] if b == &[0, 1, 255]),
        "{commands:?}"
    );
}

#[test]
fn received_frames_show_as_text_json_or_bytes_and_never_as_escapes() {
    let mut app = simple_app();
    app.update(Event::Frame(Payload::Text("echo: hello".into())));
    app.update(Event::Frame(Payload::Text("{\"n\": 1}".into())));
    app.update(Event::Frame(Payload::Binary(vec![0x68, 0x69, 0x01])));
    app.update(Event::Frame(Payload::Text("x\u{1b}]0;pwned\u{7}y".into())));
    let buffer = connection(&app);
    assert_eq!(buffer.name, "connection");
    let texts = bodies(buffer, LineKind::Text);
    assert_eq!(texts[0], "echo: hello");
    assert!(!texts[1].chars().any(char::is_control), "{:?}", texts[1]);
    assert_eq!(bodies(buffer, LineKind::Json), ["{\"n\":1}"]);
    assert_eq!(bodies(buffer, LineKind::Binary).len(), 1);
    let shown = screen(&mut app);
    assert!(shown.contains("echo: hello"), "{shown}");
    assert!(shown.contains("68 69 01"), "binary shows as hex:\n{shown}");
    assert!(shown.contains("simple WebSocket"), "{shown}");
}

#[test]
fn join_and_leave_say_why_they_do_nothing() {
    let mut app = simple_app();
    assert!(submit(&mut app, "/join ops").is_empty());
    let note = app.state().note.clone().expect("a note");
    assert!(note.text.contains("no groups"), "{}", note.text);
    app.update(Action::Cancel);
    assert!(app.update(Action::LeavePrompt).is_empty());
    assert!(
        app.state()
            .note
            .as_ref()
            .unwrap()
            .text
            .contains("no groups")
    );
    assert!(submit(&mut app, "/leave").is_empty());
    assert_eq!(connection(&app).name, "connection");
}
