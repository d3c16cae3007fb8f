//! Headless App tests: keys, Actions and client Events in; State and client Commands out.
//! No terminal and no network: the engine is played by synthetic `client::Event`s. The
//! connection's life (outages, tokens, config problems) is in `tui_app_connection.rs`.

#[path = "tui_support/screen.rs"]
mod screen;
#[path = "tui_support/app.rs"]
mod support;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyModifiers};
use support::*;
use wpchat::client::{Command, Event, OpError, OpOutcome};
use wpchat::protocol::{AckErrorName, DataMessage, MessageSource, Payload, Subprotocol};
use wpchat::tui::overlay::{LeaveConfirm, Overlay, PasteConfirm, Viewer};
use wpchat::tui::state::{BufferKind, Delivery, LineKind, Membership, NoteLevel};
use wpchat::tui::{Action, App, Clock, Keymap, Redraw, UiSettings};

#[test]
fn alt_j_prompt_joins_a_group() {
    let mut app = connected_app();
    assert!(
        app.key(key(KeyCode::Char('j'), KeyModifiers::ALT))
            .is_empty()
    );
    assert!(matches!(app.state().overlay, Overlay::JoinPrompt(_)));
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
        Overlay::LeaveConfirm(LeaveConfirm {
            group: "ops".into()
        })
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
    assert_eq!(line.body, "hello");
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
    let op = send_text(&mut app, "on it");
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
    let op = send_text(&mut app, "secret");
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
    let system = system_buffer(&app);
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
        Overlay::PasteConfirm(PasteConfirm {
            text: "line one\nline two".into()
        })
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
    assert_eq!(bodies(lobby, LineKind::Text), ["hi all", "hi alice"]);
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
    assert_eq!(line.body, "␛[2J␛]0;pwned␇abc\u{2E2E}def");
    assert_eq!(state.names.name(line.sender), "mal␛[31mlory");
}

/// An app in `lobby` that keeps `lines` lines per buffer.
fn lobby_with_scrollback(lines: usize) -> App {
    let settings = UiSettings {
        scrollback: lines,
        ..UiSettings::default()
    };
    let mut app = App::new(
        settings,
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    );
    join_group(&mut app, "lobby");
    app
}

#[test]
fn a_full_scrollback_drops_its_oldest_lines_and_keeps_the_rest_intact() {
    let mut app = lobby_with_scrollback(1000);
    // Bodies of many sizes (one far longer than the rest) and scripts, from several senders.
    let body = |i: usize| match i % 7 {
        0 => format!("{i} {}", "日本語 ".repeat(i % 300)),
        3 if i % 1000 == 3 => format!("{i} {}", "x".repeat(200_000)),
        _ => format!("{i} {}", "y".repeat(i % 2000)),
    };
    let senders = ["alice", "bob", "carol"];
    for i in 0..20_000 {
        app.update(group_message("lobby", senders[i % 3], &body(i)));
    }
    let state = app.state();
    let lobby = state.current_buffer();
    assert_eq!(lobby.lines.len(), 1000);
    for (n, line) in lobby.lines.iter().enumerate() {
        let i = 19_000 + n;
        assert!(line.body == body(i), "line {n} is not message {i}");
        assert_eq!(state.names.name(line.sender), senders[i % 3]);
    }
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    let frame = terminal
        .draw(|frame| wpchat::tui::view::draw(frame, state))
        .unwrap();
    assert!(
        screen::text_of(frame.buffer).contains("19999 "),
        "the newest line shows"
    );
}

#[test]
fn scrollback_is_bounded_and_scrolling_pauses_follow() {
    let mut app = lobby_with_scrollback(100);
    for i in 0..250 {
        app.update(group_message("lobby", "bob", &format!("message {i}")));
    }
    let lobby = app.state().current_buffer();
    assert_eq!(lobby.lines.len(), 100);
    assert_eq!(lobby.lines.front().unwrap().body, "message 150");

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
    assert_eq!(tab(&mut app), "/join ");
    retype(&mut app, "hey @bo");
    assert_eq!(tab(&mut app), "hey @bob ");
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
    assert!(matches!(app.state().overlay, Overlay::Help(_)));
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
    assert_eq!(submit(&mut app, "/raw"), vec![Command::InspectFrames(true)]);
    assert_eq!(app.state().current_buffer().kind, BufferKind::Frames);
    assert_eq!(submit(&mut app, "/reconnect"), vec![Command::Reconnect]);
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
    assert_eq!(submit(&mut app, "/quit"), vec![Command::Shutdown]);
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
    assert_eq!(
        tab(&mut app),
        "alex: ",
        "the latest speaker first, never ourselves (alice)"
    );
    assert_eq!(tab(&mut app), "alan: ");
    assert_eq!(tab(&mut app), "alerts ", "group names after users");
    retype(&mut app, "ask al");
    assert_eq!(tab(&mut app), "ask alex ");
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
            .position(|l| l.body == text)
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
    assert!(matches!(app.state().overlay, Overlay::PasteConfirm(_)));
}

#[test]
fn raw_off_returns_to_the_buffer_it_was_typed_in() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    app.update(Action::GoToGroup(1));
    assert_eq!(submit(&mut app, "/raw"), vec![Command::InspectFrames(true)]);
    assert_eq!(app.state().current_buffer().kind, BufferKind::Frames);
    assert_eq!(
        submit(&mut app, "/raw"),
        vec![Command::InspectFrames(false)]
    );
    assert_eq!(app.state().current_buffer().name, "lobby");
    assert!(app.state().buffer_of_kind(BufferKind::Frames).is_none());
}

/// Alice, connected over `protocol`, in #lobby.
fn in_lobby_over(protocol: Subprotocol) -> App {
    let mut app = app();
    app.set_target("chat", Some("alice"));
    let op = join_op(&app.join("lobby"));
    app.update(Event::Connected {
        connection_id: "6aZcQ1".into(),
        user_id: Some("alice".into()),
        protocol,
    });
    app.update(done(op));
    app
}

#[test]
fn protobuf_data_has_an_unknown_sender_and_the_viewer_shows_the_any() {
    let mut app = in_lobby_over(Subprotocol::Protobuf);
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
        Overlay::Viewer(Viewer { title, text, .. }) => {
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

#[test]
fn on_protobuf_own_messages_go_without_an_echo_so_none_shows_twice() {
    for (protocol, echo_asked) in [(Subprotocol::Protobuf, false), (Subprotocol::Json, true)] {
        let mut app = in_lobby_over(protocol);
        let commands = submit(&mut app, "hello");
        let [Command::SendToGroup { no_echo, .. }] = commands.as_slice() else {
            panic!("one send: {commands:?}");
        };
        assert_eq!(*no_echo, !echo_asked, "{protocol:?}");
    }
}

#[test]
fn paging_up_to_the_top_keeps_the_log_full() {
    let mut app = connected_app();
    app.update(Action::Resize(80, 24));
    for i in 0..100 {
        app.update(group_message("lobby", "bob", &format!("message {i}")));
    }
    for _ in 0..20 {
        app.update(Action::PageUp);
    }
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
        .unwrap();
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|cell| cell.symbol())
        .collect();
    // The first line at the top and a screenful under it, not two lines under empty rows.
    assert!(screen.contains("message 0 "), "{screen}");
    assert!(screen.contains("message 12 "), "{screen}");
}

#[test]
fn a_join_confirmed_after_lines_typed_while_joining_shows_above_them() {
    let mut app = connected_app();
    let join = join_op(&app.join("ops"));
    let first = send_text(&mut app, "first words");
    let second = send_text(&mut app, "second words");
    app.update(done(join));
    let index = app.state().group_index("ops").unwrap();
    let lines = |app: &App| -> Vec<(String, Delivery)> {
        let buffer = &app.state().buffers[index];
        let lines = buffer.lines.iter();
        lines.map(|l| (l.body.to_string(), l.delivery)).collect()
    };
    let bodies: Vec<String> = lines(&app).into_iter().map(|(body, _)| body).collect();
    assert_eq!(bodies, ["joined ops", "first words", "second words"]);
    // The sends' acks still mark their own lines.
    app.update(done(first));
    app.update(done(second));
    for (body, delivery) in &lines(&app)[1..] {
        assert_eq!(*delivery, Delivery::Acked(38), "{body}");
    }
}

#[test]
fn a_join_confirmed_with_nothing_typed_meanwhile_ends_the_log() {
    let mut app = connected_app();
    let join = join_op(&app.join("ops"));
    app.update(done(join));
    let index = app.state().group_index("ops").unwrap();
    let last = app.state().buffers[index].lines.back().unwrap();
    assert_eq!(last.body, "joined ops");
}
