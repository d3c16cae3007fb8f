//! Headless App tests: keys, Actions and client Events in; State and client Commands out.
//! No terminal and no network: the engine is played by synthetic `client::Event`s.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use wpchat::client::{Command, Event, OpError, OpOutcome};
use wpchat::protocol::{AckErrorName, DataMessage, MessageSource, Payload, Subprotocol};
use wpchat::tui::state::{BufferKind, Delivery, LineKind, Membership, NoteLevel, Overlay};
use wpchat::tui::{Action, App, Clock, Keymap, Redraw, UiSettings};

/// Friday 27 November 2026, 10:02:00 UTC.
const T0: i64 = 1_795_773_720_000;

fn app() -> App {
    App::new(
        UiSettings::default(),
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    )
}

/// An app connected as `alice`, in `lobby` (joined).
fn connected_app() -> App {
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

fn join_op(commands: &[Command]) -> u64 {
    match commands {
        [Command::Join { op, .. }] => *op,
        other => panic!("expected one Join, got {other:?}"),
    }
}

fn done(op: u64) -> Event {
    Event::OpResult {
        op,
        outcome: OpOutcome::Done {
            duplicate: false,
            round_trip: Some(Duration::from_millis(38)),
        },
    }
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

fn type_text(app: &mut App, text: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for c in text.chars() {
        out.extend(app.update(Action::Insert(c)));
    }
    out
}

fn group_message(group: &str, from: &str, text: &str) -> Event {
    Event::Message(DataMessage {
        source: MessageSource::Group {
            group: group.into(),
            from_user_id: Some(from.into()),
        },
        sequence_id: Some(7),
        payload: Payload::Text(text.into()),
    })
}

fn join_group(app: &mut App, group: &str) {
    let commands = app.join(group);
    let op = join_op(&commands);
    app.update(done(op));
}

#[test]
fn alt_j_prompt_joins_a_group() {
    let mut app = connected_app();
    assert!(
        app.key(key(KeyCode::Char('j'), KeyModifiers::ALT))
            .is_empty()
    );
    assert!(matches!(app.state().overlay, Overlay::JoinPrompt { .. }));
    type_text(&mut app, "ops");
    let commands = app.key(key(KeyCode::Enter, KeyModifiers::NONE));
    let op = match commands.as_slice() {
        [Command::Join { op, group }] if group == "ops" => *op,
        other => panic!("expected Join ops, got {other:?}"),
    };
    assert_eq!(app.state().overlay, Overlay::None);
    let state = app.state();
    let index = state.group_index("ops").expect("ops buffer");
    assert_eq!(state.current, index, "the new group is shown");
    assert_eq!(state.buffers[index].membership, Membership::Joining);
    app.update(done(op));
    assert_eq!(app.state().buffers[index].membership, Membership::Joined);
}

#[test]
fn alt_l_with_confirm_leaves_the_group() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    assert!(
        app.key(key(KeyCode::Char('l'), KeyModifiers::ALT))
            .is_empty()
    );
    assert_eq!(
        app.state().overlay,
        Overlay::LeaveConfirm {
            group: "ops".into()
        }
    );
    let commands = app.update(Action::Insert('y'));
    let op = match commands.as_slice() {
        [Command::Leave { op, group }] if group == "ops" => *op,
        other => panic!("expected Leave ops, got {other:?}"),
    };
    app.update(done(op));
    assert_eq!(app.state().group_index("ops"), None);
    assert!(app.state().known_groups.contains(&"ops".to_string()));
}

#[test]
fn leave_confirm_cancels_on_any_other_key() {
    let mut app = connected_app();
    app.key(key(KeyCode::Char('l'), KeyModifiers::ALT));
    assert!(app.update(Action::Insert('n')).is_empty());
    assert_eq!(app.state().overlay, Overlay::None);
    assert!(app.state().group_index("lobby").is_some());
}

#[test]
fn enter_sends_to_the_current_group_in_the_input_data_type() {
    let mut app = connected_app();
    type_text(&mut app, "hello");
    let commands = app.key(key(KeyCode::Enter, KeyModifiers::NONE));
    match commands.as_slice() {
        [
            Command::SendToGroup {
                group,
                payload,
                no_echo: false,
                fire_and_forget: false,
                ..
            },
        ] => {
            assert_eq!(group, "lobby");
            assert_eq!(payload, &Payload::Text("hello".into()));
        }
        other => panic!("expected SendToGroup, got {other:?}"),
    }
    assert!(app.state().editor.is_empty());
    let lobby = &app.state().buffers[app.state().group_index("lobby").unwrap()];
    let line = lobby.lines.back().unwrap();
    assert_eq!(&*line.body, "hello");
    assert_eq!(line.delivery, Delivery::Pending);

    type_text(&mut app, "/type json");
    assert!(app.update(Action::Submit).is_empty());
    type_text(&mut app, "{\"level\": \"warn\"}");
    let commands = app.update(Action::Submit);
    match commands.as_slice() {
        [Command::SendToGroup { payload, .. }] => {
            assert_eq!(payload, &Payload::json("{\"level\": \"warn\"}").unwrap());
        }
        other => panic!("expected json SendToGroup, got {other:?}"),
    }
}

#[test]
fn ack_marks_the_line_with_round_trip() {
    let mut app = connected_app();
    type_text(&mut app, "on it");
    let op = match app.update(Action::Submit).as_slice() {
        [Command::SendToGroup { op, .. }] => *op,
        other => panic!("{other:?}"),
    };
    app.update(Event::Queued { op });
    let index = app.state().group_index("lobby").unwrap();
    assert_eq!(
        app.state().buffers[index].lines.back().unwrap().delivery,
        Delivery::Queued
    );
    app.update(done(op));
    assert_eq!(
        app.state().buffers[index].lines.back().unwrap().delivery,
        Delivery::Acked(38)
    );
}

#[test]
fn bad_json_keeps_the_input_and_shows_an_error() {
    let mut app = connected_app();
    type_text(&mut app, "/json {bad");
    let commands = app.update(Action::Submit);
    assert!(commands.is_empty());
    assert_eq!(app.state().editor.text(), "/json {bad");
    let note = app.state().note.as_ref().expect("a status note");
    assert_eq!(note.level, NoteLevel::Error);
    assert!(note.text.contains("/json"), "{}", note.text);
    assert!(!note.text.contains('\n'));

    app.update(Action::KillLineBack);
    type_text(&mut app, "/frobnicate now");
    assert!(app.update(Action::Submit).is_empty());
    assert_eq!(app.state().editor.text(), "/frobnicate now");
    assert!(
        app.state()
            .note
            .as_ref()
            .unwrap()
            .text
            .contains("unknown command")
    );
}

#[test]
fn forbidden_ack_marks_the_line_failed_everywhere() {
    let mut app = connected_app();
    type_text(&mut app, "secret");
    let op = match app.update(Action::Submit).as_slice() {
        [Command::SendToGroup { op, .. }] => *op,
        other => panic!("{other:?}"),
    };
    app.update(Event::OpResult {
        op,
        outcome: OpOutcome::Failed(OpError::Refused {
            name: AckErrorName::Forbidden,
            message: "no permission to send to lobby".into(),
        }),
    });
    let state = app.state();
    let lobby = &state.buffers[state.group_index("lobby").unwrap()];
    match lobby.lines.back().unwrap().delivery {
        Delivery::Failed(name) => assert_eq!(state.names.name(name), "Forbidden"),
        other => panic!("expected failed, got {other:?}"),
    }
    let system = &state.buffers[state.buffer_of_kind(BufferKind::System).unwrap()];
    let error = system.lines.back().unwrap();
    assert_eq!(error.kind, LineKind::Error);
    assert!(error.body.contains("Forbidden"));
    let note = state.note.as_ref().unwrap();
    assert_eq!(note.level, NoteLevel::Error);
    assert!(note.text.contains("Forbidden"));

    // The retry key sends the same payload again.
    let commands = app.key(key(KeyCode::Char('r'), KeyModifiers::ALT));
    match commands.as_slice() {
        [Command::SendToGroup { payload, .. }] => {
            assert_eq!(payload, &Payload::Text("secret".into()))
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

#[test]
fn a_message_to_a_background_group_asks_only_for_a_background_redraw() {
    let mut app = connected_app();
    join_group(&mut app, "flood");
    app.key(key(KeyCode::Char('1'), KeyModifiers::ALT));
    app.take_redraw();
    assert_eq!(app.take_redraw(), Redraw::None, "nothing changed");

    app.update(group_message("flood", "bob", "one of many"));
    assert_eq!(app.take_redraw(), Redraw::Background);
    assert_eq!(app.take_redraw(), Redraw::None, "taken once");

    app.update(group_message("lobby", "bob", "in view"));
    app.update(group_message("flood", "bob", "another"));
    assert_eq!(app.take_redraw(), Redraw::Now, "the shown group changed");

    // A group the server added us to appears in the group pane at once.
    app.update(group_message("added-by-server", "bob", "hi"));
    assert_eq!(app.take_redraw(), Redraw::Now);

    app.key(key(KeyCode::Char('x'), KeyModifiers::NONE));
    assert_eq!(app.take_redraw(), Redraw::Now, "typing shows at once");
}

#[test]
fn alt_digit_switches_groups_and_clears_unread() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    join_group(&mut app, "alerts");
    app.key(key(KeyCode::Char('1'), KeyModifiers::ALT));
    assert_eq!(app.state().current_buffer().name, "lobby");

    app.update(group_message("ops", "bob", "deploy finished"));
    app.update(group_message("ops", "bob", "again"));
    app.update(group_message("alerts", "carol", "alice: disk 91%"));
    let state = app.state();
    let ops = &state.buffers[state.group_index("ops").unwrap()];
    assert_eq!((ops.unread, ops.mentions), (2, 0));
    let alerts = &state.buffers[state.group_index("alerts").unwrap()];
    assert_eq!((alerts.unread, alerts.mentions), (1, 1));

    // Alt+A goes to mentions first.
    app.key(key(KeyCode::Char('a'), KeyModifiers::ALT));
    assert_eq!(app.state().current_buffer().name, "alerts");
    app.key(key(KeyCode::Char('2'), KeyModifiers::ALT));
    let state = app.state();
    assert_eq!(state.current_buffer().name, "ops");
    assert_eq!(state.current_buffer().unread, 0);
    app.key(key(KeyCode::Char('9'), KeyModifiers::ALT));
    assert_eq!(app.state().current_buffer().name, "ops", "no group 9: stay");
}

#[test]
fn ctrl_c_twice_on_empty_input_quits() {
    let mut app = connected_app();
    let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
    type_text(&mut app, "draft");
    assert!(app.key(ctrl_c).is_empty());
    assert!(
        app.state().editor.is_empty(),
        "first Ctrl+C clears the input"
    );
    assert!(app.key(ctrl_c).is_empty());
    assert!(!app.should_quit());
    // Another key in between disarms.
    app.update(Action::Left);
    assert!(app.key(ctrl_c).is_empty());
    assert!(!app.should_quit());
    assert_eq!(app.key(ctrl_c), vec![Command::Shutdown]);
    assert!(app.should_quit());
}

#[test]
fn multi_line_paste_asks_before_sending() {
    let mut app = connected_app();
    assert!(
        app.update(Action::Paste("line one\r\nline two".into()))
            .is_empty()
    );
    assert_eq!(
        app.state().overlay,
        Overlay::PasteConfirm {
            text: "line one\nline two".into()
        }
    );
    let commands = app.update(Action::Submit);
    match commands.as_slice() {
        [Command::SendToGroup { payload, .. }] => {
            assert_eq!(payload, &Payload::Text("line one\nline two".into()))
        }
        other => panic!("expected the paste to be sent, got {other:?}"),
    }
    // A one-line paste goes straight into the input.
    assert!(app.update(Action::Paste("just this".into())).is_empty());
    assert_eq!(app.state().editor.text(), "just this");
}

#[test]
fn own_echo_is_not_shown_twice() {
    let mut app = connected_app();
    type_text(&mut app, "hi all");
    app.update(Action::Submit);
    app.update(group_message("lobby", "alice", "hi all"));
    app.update(group_message("lobby", "bob", "hi alice"));
    let state = app.state();
    let lobby = &state.buffers[state.group_index("lobby").unwrap()];
    let bodies: Vec<&str> = lobby
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Text)
        .map(|l| &*l.body)
        .collect();
    assert_eq!(bodies, vec!["hi all", "hi alice"]);
}

#[test]
fn recovery_and_session_loss_leave_gap_markers() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    app.update(Event::Disconnected {
        reason: "connection reset".into(),
    });
    app.update(Event::Recovered {
        connection_id: "6aZcQ1".into(),
        offline: Duration::from_secs(31),
    });
    let state = app.state();
    for group in ["lobby", "ops"] {
        let buffer = &state.buffers[state.group_index(group).unwrap()];
        let gap = buffer.lines.back().unwrap();
        assert_eq!(gap.kind, LineKind::Gap);
        assert_eq!(&*gap.body, "offline 10:01:29–10:02:00 · recovered");
    }
    app.update(Event::SessionLost {
        offline: Duration::from_secs(5),
        reason: "recovery window passed".into(),
    });
    let state = app.state();
    let lobby = &state.buffers[state.group_index("lobby").unwrap()];
    assert!(
        lobby
            .lines
            .back()
            .unwrap()
            .body
            .ends_with("messages may be lost")
    );
}

#[test]
fn network_text_is_sanitized_at_ingestion() {
    let mut app = connected_app();
    app.update(Event::Message(DataMessage {
        source: MessageSource::Group {
            group: "lobby".into(),
            from_user_id: Some("mal\u{1b}[31mlory".into()),
        },
        sequence_id: None,
        payload: Payload::Text("\u{1b}[2J\u{1b}]0;pwned\u{7}abc\u{202E}def".into()),
    }));
    let state = app.state();
    let lobby = state.current_buffer();
    let line = lobby.lines.back().unwrap();
    assert_eq!(&*line.body, "␛[2J␛]0;pwned␇abc\u{2E2E}def");
    assert_eq!(state.names.name(line.sender), "mal␛[31mlory");
}

#[test]
fn scrollback_is_bounded_and_scrolling_pauses_follow() {
    let settings = UiSettings {
        scrollback: 100,
        ..UiSettings::default()
    };
    let mut app = App::new(
        settings,
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    );
    join_group(&mut app, "lobby");
    for i in 0..250 {
        app.update(group_message("lobby", "bob", &format!("message {i}")));
    }
    let lobby = app.state().current_buffer();
    assert_eq!(lobby.lines.len(), 100);
    assert_eq!(&*lobby.lines.front().unwrap().body, "message 150");

    app.update(Action::PageUp);
    assert!(app.state().current_buffer().anchor.is_some());
    app.update(group_message("lobby", "bob", "while away"));
    assert!(app.state().current_buffer().below_view() > 1);
    app.update(Action::ScrollLive);
    assert_eq!(app.state().current_buffer().below_view(), 0);
}

#[test]
fn tab_completes_commands_groups_and_users() {
    let mut app = connected_app();
    app.update(group_message("lobby", "bob", "hi"));
    type_text(&mut app, "/jo");
    app.update(Action::Complete);
    assert_eq!(app.state().editor.text(), "/join ");
    app.update(Action::KillLineBack);
    type_text(&mut app, "hey @bo");
    app.update(Action::Complete);
    assert_eq!(app.state().editor.text(), "hey @bob ");
}

#[test]
fn switcher_joins_a_group_not_yet_joined() {
    let mut app = connected_app();
    app.key(key(KeyCode::Char('k'), KeyModifiers::CONTROL));
    type_text(&mut app, "news");
    let commands = app.update(Action::Submit);
    assert!(
        matches!(commands.as_slice(), [Command::Join { group, .. }] if group == "news"),
        "{commands:?}"
    );
}

#[test]
fn help_overlay_lists_the_live_key_map() {
    let mut app = connected_app();
    app.update(Action::Insert('?'));
    assert!(matches!(app.state().overlay, Overlay::Help { .. }));
    assert!(
        app.state()
            .help
            .iter()
            .any(|r| r.keys == "Alt+J" && r.description.contains("join"))
    );
    app.update(Action::Cancel);
    assert_eq!(app.state().overlay, Overlay::None);
}

#[test]
fn slash_commands_emit_their_commands() {
    let mut app = connected_app();
    type_text(&mut app, "/send ops deploying now");
    match app.update(Action::Submit).as_slice() {
        [Command::SendToGroup { group, payload, .. }] => {
            assert_eq!(group, "ops");
            assert_eq!(payload, &Payload::Text("deploying now".into()));
        }
        other => panic!("expected /send, got {other:?}"),
    }
    type_text(&mut app, "/event ping {\"n\":1}");
    match app.update(Action::Submit).as_slice() {
        [Command::SendEvent { event, payload, .. }] => {
            assert_eq!(event, "ping");
            assert_eq!(payload, &Payload::json("{\"n\":1}").unwrap());
        }
        other => panic!("expected /event, got {other:?}"),
    }
    type_text(&mut app, "/raw");
    assert_eq!(
        app.update(Action::Submit),
        vec![Command::InspectFrames(true)]
    );
    assert_eq!(app.state().current_buffer().kind, BufferKind::Frames);
    type_text(&mut app, "/reconnect");
    assert_eq!(app.update(Action::Submit), vec![Command::Reconnect]);
    type_text(&mut app, "/noecho on");
    app.update(Action::Submit);
    app.update(Action::GoToGroup(1));
    type_text(&mut app, "quiet");
    assert!(matches!(
        app.update(Action::Submit).as_slice(),
        [Command::SendToGroup { no_echo: true, .. }]
    ));
    type_text(&mut app, "/bin @/tmp/payload.bin");
    assert!(app.update(Action::Submit).is_empty());
    assert_eq!(
        app.take_effects(),
        vec![wpchat::tui::Effect::ReadFile {
            group: "lobby".into(),
            path: "/tmp/payload.bin".into()
        }]
    );
    let commands = app.update(Action::FileLoaded {
        group: "lobby".into(),
        path: "/tmp/payload.bin".into(),
        result: Ok(vec![1, 2, 3]),
    });
    assert!(matches!(
        commands.as_slice(),
        [Command::SendToGroup { payload: Payload::Binary(bytes), .. }] if bytes == &[1, 2, 3]
    ));
    type_text(&mut app, "/quit");
    assert_eq!(app.update(Action::Submit), vec![Command::Shutdown]);
    assert!(app.should_quit());
}

#[test]
fn ctrl_r_finds_an_earlier_line() {
    let mut app = connected_app();
    for line in ["deploy the api", "lunch?"] {
        type_text(&mut app, line);
        app.update(Action::Submit);
    }
    app.key(key(KeyCode::Char('r'), KeyModifiers::CONTROL));
    type_text(&mut app, "api");
    assert!(
        app.update(Action::Submit).is_empty(),
        "Enter takes the match"
    );
    assert_eq!(app.state().editor.text(), "deploy the api");
    app.update(Action::Up);
    assert_eq!(app.state().editor.text(), "lunch?");
}

#[test]
fn clicking_a_group_in_the_pane_switches_to_it() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    app.update(Action::Resize(80, 24));
    app.update(Action::GoToGroup(2));
    // Row 0 is the pane's border; row 1 is group 1.
    app.update(Action::Click { column: 3, row: 1 });
    assert_eq!(app.state().current_buffer().name, "lobby");
}

#[tokio::test]
async fn a_stopped_engine_fails_the_send_instead_of_leaving_it_pending() {
    let mut app = connected_app();
    let (commands, receiver) = tokio::sync::mpsc::channel(4);
    drop(receiver);
    let (_events_tx, events) = tokio::sync::mpsc::channel(4);
    let (_state_tx, state) =
        tokio::sync::watch::channel(wpchat::client::ConnState::Connecting { attempt: 1 });
    let handle = wpchat::client::ClientHandle {
        commands,
        events,
        state,
    };
    type_text(&mut app, "anyone?");
    let sends = app.update(Action::Submit);
    tokio::time::timeout(
        Duration::from_secs(5),
        wpchat::tui::event_loop::send_commands(&mut app, &handle, sends),
    )
    .await
    .expect("send_commands returns");
    let line = app.state().current_buffer().lines.back().unwrap().clone();
    match line.delivery {
        Delivery::Failed(name) => assert_eq!(app.state().names.name(name), "Stopped"),
        other => panic!("expected a failed line, got {other:?}"),
    }
}

#[test]
fn bad_ui_and_key_settings_fall_back_to_defaults_and_are_reported() {
    let config = wpchat::config::Config {
        ui: toml::from_str("scrollback = -5\nnick_width = 12\ncolour = \"red\"").unwrap(),
        keys: toml::from_str("help = \"hyper-x\"\nnext_group = \"alt-n\"\nfly = \"f3\"").unwrap(),
        ..Default::default()
    };
    let (settings, keymap, problems) = wpchat::tui::ui_from_config(&config);
    assert_eq!(settings.scrollback, UiSettings::default().scrollback);
    assert_eq!(settings.nick_width, 12, "good settings still apply");
    assert_eq!(
        keymap.action_for(key(KeyCode::F(1), KeyModifiers::NONE)),
        Some(Action::Help),
        "a bad binding keeps the default keys"
    );
    assert_eq!(
        keymap.action_for(key(KeyCode::Char('n'), KeyModifiers::ALT)),
        Some(Action::NextGroup)
    );
    assert_eq!(problems.len(), 4, "{problems:?}");
    for name in ["scrollback", "colour", "hyper-x", "fly"] {
        assert!(
            problems.iter().any(|p| p.contains(name)),
            "{name} in {problems:?}"
        );
    }
}

#[test]
fn config_problems_reach_the_system_buffer_and_status_line() {
    let mut app = connected_app();
    app.system_message("config: [ui]: 'scrollback' must be a whole number", true);
    let state = app.state();
    let system = state
        .buffers
        .iter()
        .find(|b| b.kind == BufferKind::System)
        .unwrap();
    let last = system.lines.back().unwrap();
    assert_eq!(last.kind, LineKind::Error);
    assert!(last.body.contains("scrollback"));
    assert_eq!(system.unread, 1, "the system buffer shows it has news");
    let note = state.note.as_ref().expect("status note");
    assert_eq!(note.level, NoteLevel::Error);
    assert!(note.text.contains("scrollback"));
}

#[test]
fn an_expiring_fixed_token_warns_from_five_minutes_before() {
    let base = Instant::now();
    let mut app = connected_app();
    let expires = T0 + 10 * 60_000;
    app.set_token_expiry(Some(expires));
    let system_lines = |app: &App| {
        app.state()
            .buffers
            .iter()
            .find(|b| b.kind == BufferKind::System)
            .unwrap()
            .lines
            .iter()
            .filter(|l| l.body.contains("cannot be renewed"))
            .count()
    };
    let at = |app: &mut App, offset_ms: i64| {
        app.update(Action::Tick {
            wall_ms: T0 + offset_ms,
            mono: base + Duration::from_millis(offset_ms as u64),
        });
    };
    assert_eq!(wpchat::tui::view::token_warning(app.state()), None);
    at(&mut app, 4 * 60_000);
    assert_eq!(wpchat::tui::view::token_warning(app.state()), None);
    assert_eq!(system_lines(&app), 0);
    at(&mut app, 5 * 60_000 + 30_000);
    let warning = wpchat::tui::view::token_warning(app.state()).expect("warning");
    assert!(warning.contains("expires in 5 min"), "{warning}");
    assert_eq!(system_lines(&app), 1);
    at(&mut app, 9 * 60_000 + 50_000);
    let warning = wpchat::tui::view::token_warning(app.state()).expect("warning");
    assert!(warning.contains("expires in 10 s"), "{warning}");
    at(&mut app, 11 * 60_000);
    let warning = wpchat::tui::view::token_warning(app.state()).expect("warning");
    assert!(warning.contains("expired"), "{warning}");
    assert_eq!(system_lines(&app), 1, "the system line is written once");
}

#[test]
fn a_token_already_expired_at_start_warns_at_once() {
    let mut app = connected_app();
    app.set_token_expiry(Some(T0 - 1_000));
    let warning = wpchat::tui::view::token_warning(app.state()).expect("warning");
    assert!(warning.contains("expired"), "{warning}");
    app.set_token_expiry(None);
    assert_eq!(wpchat::tui::view::token_warning(app.state()), None);
}

#[test]
fn leaving_the_group_in_view_shows_the_group_before_it() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    join_group(&mut app, "alerts");
    app.update(Action::GoToGroup(2));
    app.update(group_message("lobby", "bob", "hi"));
    assert_eq!(app.state().buffers[0].unread, 1);
    let commands = app.update(Action::LeavePrompt);
    assert!(commands.is_empty());
    let op = match app.update(Action::Submit).as_slice() {
        [Command::Leave { op, group }] if group == "ops" => *op,
        other => panic!("expected Leave ops, got {other:?}"),
    };
    app.update(done(op));
    let state = app.state();
    assert_eq!(state.current_buffer().name, "lobby");
    assert_eq!(state.current_buffer().unread, 0, "seen now");
    assert_eq!(state.group_count(), 2);
}

#[test]
fn tab_prefers_recent_speakers_and_adds_a_colon_at_line_start() {
    let mut app = connected_app();
    join_group(&mut app, "alerts");
    app.update(Action::GoToGroup(1));
    app.update(group_message("lobby", "alan", "first"));
    app.update(group_message("lobby", "alex", "second"));
    type_text(&mut app, "al");
    app.update(Action::Complete);
    assert_eq!(
        app.state().editor.text(),
        "alex: ",
        "the latest speaker first, never ourselves (alice)"
    );
    app.update(Action::Complete);
    assert_eq!(app.state().editor.text(), "alan: ");
    app.update(Action::Complete);
    assert_eq!(
        app.state().editor.text(),
        "alerts ",
        "group names after users"
    );
    app.update(Action::KillLineBack);
    type_text(&mut app, "ask al");
    app.update(Action::Complete);
    assert_eq!(app.state().editor.text(), "ask alex ");
}

#[test]
fn a_requested_reconnect_is_not_reported_as_a_loss() {
    let mut app = connected_app();
    type_text(&mut app, "/reconnect");
    assert_eq!(app.update(Action::Submit), vec![Command::Reconnect]);
    app.update(Event::SessionLost {
        offline: Duration::ZERO,
        reason: "a reconnect was requested".into(),
    });
    let state = app.state();
    let gap = state.buffers[0].lines.back().unwrap();
    assert_eq!(gap.kind, LineKind::Gap);
    assert!(gap.body.contains("as requested"), "{}", gap.body);
    let system = state
        .buffers
        .iter()
        .find(|b| b.kind == BufferKind::System)
        .unwrap();
    assert!(system.lines.iter().all(|l| l.kind != LineKind::Error));
    // A later, unrequested loss is reported as one.
    app.update(Event::SessionLost {
        offline: Duration::from_secs(40),
        reason: "recovery window passed".into(),
    });
    let gap = app.state().buffers[0].lines.back().unwrap().clone();
    assert!(gap.body.contains("messages may be lost"), "{}", gap.body);
}

#[test]
fn a_read_marker_shows_where_unread_messages_began() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    app.update(group_message("ops", "bob", "seen"));
    app.update(Action::GoToGroup(1));
    app.update(group_message("ops", "bob", "first unread"));
    app.update(group_message("ops", "bob", "second unread"));
    app.update(Action::GoToGroup(2));
    let state = app.state();
    let buffer = state.current_buffer();
    let rows_of = |text: &str| {
        let index = buffer
            .lines
            .iter()
            .position(|l| &*l.body == text)
            .expect("line");
        wpchat::tui::view::message_rows(state, buffer, index, 60)
            .iter()
            .map(|row| row.to_string())
            .collect::<Vec<_>>()
    };
    let first = rows_of("first unread");
    assert!(first[0].contains("── new"), "{first:?}");
    assert!(!rows_of("second unread")[0].contains("── new"));
    assert!(!rows_of("seen").iter().any(|r| r.contains("── new")));
    // Leaving the buffer forgets the marker.
    app.update(Action::GoToGroup(1));
    app.update(Action::GoToGroup(2));
    let state = app.state();
    let buffer = state.current_buffer();
    let index = buffer.lines.len() - 1;
    let rows = wpchat::tui::view::message_rows(state, buffer, index, 60);
    assert!(!rows.iter().any(|r| r.to_string().contains("── new")));
}

#[test]
fn a_connection_error_is_written_once_per_distinct_error() {
    let mut app = connected_app();
    let retry = |error: &str| wpchat::client::ConnState::Reconnecting {
        retry_at: Instant::now() + Duration::from_secs(2),
        attempt: 2,
        last_error: error.into(),
    };
    for _ in 0..3 {
        app.update(retry("connection refused"));
    }
    app.update(retry("401 Unauthorized"));
    let errors: Vec<String> = app
        .state()
        .buffers
        .iter()
        .find(|b| b.kind == BufferKind::System)
        .unwrap()
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Error)
        .map(|l| l.body.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("connection refused"));
    assert!(errors[1].contains("401"));
}

#[test]
fn the_activity_list_names_buffers_with_news() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    join_group(&mut app, "alerts");
    assert_eq!(wpchat::tui::view::activity_list(app.state()), None);
    app.update(group_message("lobby", "bob", "hi"));
    app.update(group_message("ops", "bob", "alice: look"));
    assert_eq!(
        wpchat::tui::view::activity_list(app.state()).as_deref(),
        Some("1,2!")
    );
    app.update(Action::GoToGroup(2));
    assert_eq!(
        wpchat::tui::view::activity_list(app.state()).as_deref(),
        Some("1")
    );
}

#[test]
fn a_pasted_line_with_its_newline_goes_straight_to_the_input() {
    let mut app = connected_app();
    app.update(Action::Paste("deploy done\r\n".into()));
    assert_eq!(app.state().overlay, Overlay::None);
    assert_eq!(app.state().editor.text(), "deploy done");
    app.update(Action::KillLineBack);
    app.update(Action::Paste("two\nlines\n".into()));
    assert!(matches!(app.state().overlay, Overlay::PasteConfirm { .. }));
}

#[test]
fn a_recovery_refused_at_once_reads_as_one_outage() {
    let base = Instant::now();
    let mut app = connected_app();
    let at = |app: &mut App, offset_ms: i64| {
        app.update(Action::Tick {
            wall_ms: T0 + offset_ms,
            mono: base + Duration::from_millis(offset_ms as u64),
        });
    };
    at(&mut app, 10_000);
    app.update(Event::Recovered {
        offline: Duration::from_secs(4),
        connection_id: "6aZcQ1".into(),
    });
    at(&mut app, 10_500);
    app.update(Event::SessionLost {
        offline: Duration::ZERO,
        reason: "1008: The reconnection token is not valid".into(),
    });
    let gaps: Vec<String> = app.state().buffers[0]
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Gap)
        .map(|l| l.body.to_string())
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].starts_with("offline 10:02:06–10:02:10"), "{gaps:?}");
    assert!(gaps[0].ends_with("messages may be lost"), "{gaps:?}");
}

#[test]
fn raw_off_returns_to_the_buffer_it_was_typed_in() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    app.update(Action::GoToGroup(1));
    type_text(&mut app, "/raw");
    assert_eq!(
        app.update(Action::Submit),
        vec![Command::InspectFrames(true)]
    );
    assert_eq!(app.state().current_buffer().kind, BufferKind::Frames);
    type_text(&mut app, "/raw");
    assert_eq!(
        app.update(Action::Submit),
        vec![Command::InspectFrames(false)]
    );
    assert_eq!(app.state().current_buffer().name, "lobby");
    assert!(app.state().buffer_of_kind(BufferKind::Frames).is_none());
}

#[test]
fn protobuf_data_has_an_unknown_sender_and_the_viewer_shows_the_any() {
    let mut app = app();
    app.set_target("chat", Some("alice"));
    let op = join_op(&app.join("lobby"));
    app.update(Event::Connected {
        connection_id: "6aZcQ1".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::Protobuf,
    });
    app.update(done(op));
    app.update(Event::Message(DataMessage {
        source: MessageSource::Group {
            group: "lobby".into(),
            from_user_id: None,
        },
        sequence_id: None,
        payload: wpchat::protocol::protobuf::pack_any(
            "type.googleapis.com/chat.Note",
            &[8, 150, 1],
        ),
    }));
    let state = app.state();
    let line = state.current_buffer().lines.back().unwrap();
    assert_eq!(line.kind, LineKind::Protobuf);
    assert_eq!(state.names.name(line.sender), "(unknown sender)");
    app.update(Action::ViewMessage);
    match &app.state().overlay {
        Overlay::Viewer { title, text, .. } => {
            assert!(title.ends_with("protobuf"), "{title}");
            assert!(
                text.contains("type URL: type.googleapis.com/chat.Note"),
                "{text}"
            );
            assert!(text.contains("value: 3 bytes"), "{text}");
            assert!(text.contains("08 96 01"), "the value in hex: {text}");
        }
        other => panic!("expected the viewer, got {other:?}"),
    }
}
