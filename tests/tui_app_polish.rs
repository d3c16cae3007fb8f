//! Headless App tests for issue 15 (the chat, polished): each one failed before its fix.

#[path = "tui_support/screen.rs"]
mod screen;
#[path = "tui_support/app.rs"]
mod support;

use std::time::Instant;

use support::*;
use wpchat::protocol::Subprotocol;
use wpchat::tui::state::{Delivery, LineKind, Notify};
use wpchat::tui::{App, Clock, Effect, Keymap, UiSettings};

/// An app as [`connected_app`], with other `[ui]` settings.
fn app_with(settings: UiSettings) -> App {
    let mut app = App::new(
        settings,
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    );
    app.set_target("chat", Some("alice"));
    let op = join_op(&app.join("lobby"));
    app.update(wpchat::client::Event::Connected {
        connection_id: "6aZcQ1".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::JsonReliable,
    });
    app.update(done(op));
    app
}

fn highlights(app: &mut App) -> Vec<(String, String)> {
    app.take_effects()
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Highlight { title, text, .. } => Some((title, text)),
            _ => None,
        })
        .collect()
}

#[test]
fn mentions_in_any_case_and_highlight_words_count_and_ring() {
    let settings = UiSettings {
        highlight_words: vec!["deploy".into()],
        notify: Notify::Osc9,
        ..UiSettings::default()
    };
    let mut app = app_with(settings);
    join_group(&mut app, "ops");
    app.update(wpchat::tui::Action::GoToGroup(0));
    app.take_effects();
    app.update(group_message("ops", "bob", "ALICE, look at this"));
    let ops = app.state().group_index("ops").unwrap();
    assert_eq!(app.state().buffers[ops].mentions, 1, "ALICE mentions alice");
    assert_eq!(
        highlights(&mut app),
        vec![(
            "wpchat #ops".to_string(),
            "bob: ALICE, look at this".to_string()
        )]
    );
    app.update(wpchat::tui::Action::Tick {
        wall_ms: T0 + 10_000,
        mono: Instant::now(),
    });
    app.update(group_message("ops", "bob", "Deploy is done"));
    assert_eq!(
        app.state().buffers[ops].mentions,
        2,
        "a highlight word counts"
    );
    assert_eq!(highlights(&mut app).len(), 1);
    app.update(group_message("ops", "bob", "malice and deployment"));
    assert_eq!(app.state().buffers[ops].mentions, 2, "whole words only");
}

/// Fails unless the status bar's note holds `needle`.
fn assert_note(app: &App, needle: &str) {
    let note = note_text(app);
    assert!(
        note.contains(needle),
        "the note is {note:?}, not {needle:?}"
    );
}

fn note_text(app: &App) -> String {
    app.state()
        .note
        .as_ref()
        .map(|note| note.text.clone())
        .unwrap_or_default()
}

#[test]
fn a_refused_command_leaves_its_text_in_the_input() {
    let mut app = connected_app();
    let long = format!("/join {}", "g".repeat(1100));
    for typed in ["/leave nosuchgroup", "/help nosuch", long.as_str()] {
        retype(&mut app, typed);
        assert!(app.update(wpchat::tui::Action::Submit).is_empty());
        assert_eq!(app.state().editor.text(), typed, "after {typed:.30}");
        assert!(note_text(&app).len() < 200, "{}", note_text(&app));
    }
    app.update(wpchat::tui::Action::NextGroup);
    retype(&mut app, "/leave");
    app.update(wpchat::tui::Action::Submit);
    assert_eq!(
        app.state().editor.text(),
        "/leave",
        "/leave on the server buffer"
    );

    app.update(wpchat::tui::Action::GoToGroup(1));
    retype(&mut app, "/bin @/nonexistent");
    app.update(wpchat::tui::Action::Submit);
    let effects = app.take_effects();
    assert!(
        matches!(effects.as_slice(), [Effect::ReadFile { path, .. }] if path == "/nonexistent")
    );
    app.update(wpchat::tui::Action::FileLoaded {
        group: "lobby".into(),
        path: "/nonexistent".into(),
        result: Err("No such file or directory".into()),
    });
    assert_eq!(app.state().editor.text(), "/bin @/nonexistent");
    assert!(note_text(&app).contains("No such file"));
}

#[test]
fn esc_as_meta_alt_arrows_switch_groups_and_esc_slash_keeps_the_slash() {
    use crossterm::event::{KeyCode, KeyModifiers};
    let mut app = connected_app();
    join_group(&mut app, "ops");
    assert_eq!(app.state().current_buffer().name, "ops");
    // What urxvt sends for Alt+↑, as crossterm reads it: Esc, '[', 'A' in one burst.
    app.key(key(KeyCode::Esc, KeyModifiers::NONE));
    app.key(key(KeyCode::Char('['), KeyModifiers::NONE));
    app.key(key(KeyCode::Char('A'), KeyModifiers::NONE));
    assert_eq!(app.state().editor.text(), "", "nothing typed");
    assert_eq!(
        app.state().current_buffer().name,
        "lobby",
        "Alt+↑: previous group"
    );
    app.key(key(KeyCode::Esc, KeyModifiers::NONE));
    app.key(key(KeyCode::Char('['), KeyModifiers::NONE));
    app.key(key(KeyCode::Char('B'), KeyModifiers::NONE));
    assert_eq!(
        app.state().current_buffer().name,
        "ops",
        "Alt+↓: next group"
    );
    // Esc then '/' read together arrive as Alt+'/', which nothing is bound to.
    app.key(key(KeyCode::Char('/'), KeyModifiers::ALT));
    assert_eq!(app.state().editor.text(), "/");
}

#[test]
fn quitting_with_messages_queued_offline_asks_first() {
    use crossterm::event::{KeyCode, KeyModifiers};
    use wpchat::client::Command;
    let mut app = connected_app();
    app.update(wpchat::client::Event::Disconnected {
        reason: "connection reset".into(),
    });
    for text in ["one", "two"] {
        let op = send_text(&mut app, text);
        app.update(wpchat::client::Event::Queued { op });
    }
    assert!(submit(&mut app, "/quit").is_empty(), "the first /quit asks");
    assert!(!app.should_quit());
    assert_note(&app, "2 unsent, quit anyway?");
    assert_eq!(app.state().editor.text(), "/quit", "Enter confirms");
    assert_eq!(
        app.update(wpchat::tui::Action::Submit),
        vec![Command::Shutdown]
    );
    assert!(app.should_quit());

    let mut app = connected_app();
    let op = send_text(&mut app, "three");
    app.update(wpchat::client::Event::Queued { op });
    let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.key(ctrl_c).is_empty());
    assert_note(&app, "1 unsent, quit anyway?");
    assert_eq!(app.key(ctrl_c), vec![Command::Shutdown]);
}

#[test]
fn taking_over_the_local_service_is_said_and_quitting_the_host_warns() {
    use crossterm::event::{KeyCode, KeyModifiers};
    let mut app = connected_app();
    app.set_hosting(None);
    app.set_hosting(Some(3));
    let notices = bodies(system_buffer(&app), wpchat::tui::LineKind::Notice);
    assert!(
        notices.iter().any(|n| n.contains("this one hosts it now")),
        "{notices:?}"
    );
    app.key(key(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_note(&app, "quitting moves everyone");

    // A host whose service holds only its own connection moves nobody: the plain hint.
    let mut alone = connected_app();
    alone.set_hosting(Some(1));
    alone.key(key(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_note(&alone, "press Ctrl+C again to quit");
    assert!(!note_text(&alone).contains("moves everyone"));
}

#[test]
fn rough_edges_of_slash_commands() {
    use wpchat::client::Command;
    let mut app = connected_app();
    join_group(&mut app, "my team");
    match submit(&mut app, "/leave my team").as_slice() {
        [Command::Leave { group, .. }] => assert_eq!(group, "my team"),
        other => panic!("expected Leave 'my team', got {other:?}"),
    }
    assert_eq!(submit(&mut app, "/send elsewhere hi").len(), 1);
    assert_note(&app, "'elsewhere', which you have not joined");
}

#[test]
fn tab_completes_help_topics_and_type_names() {
    let mut app = connected_app();
    retype(&mut app, "/help jo");
    assert_eq!(tab(&mut app), "/help join ");
    retype(&mut app, "/type bi");
    assert_eq!(tab(&mut app), "/type binary ");
    retype(&mut app, "/noecho o");
    assert_eq!(tab(&mut app), "/noecho on ");
}

#[test]
fn a_new_session_forgets_the_old_sequence_id() {
    use wpchat::client::Event;
    let mut app = connected_app();
    app.update(group_message("lobby", "bob", "numbered"));
    assert_eq!(app.state().conn.last_seq, Some(7));
    app.update(Event::Connected {
        connection_id: "6aZcQ1".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::JsonReliable,
    });
    assert_eq!(
        app.state().conn.last_seq,
        Some(7),
        "same session, same sequence"
    );
    app.update(Event::Connected {
        connection_id: "new-one".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::JsonReliable,
    });
    assert_eq!(
        app.state().conn.last_seq,
        None,
        "a new session starts again"
    );
    assert_eq!(app.state().conn.connection_id.as_deref(), Some("new-one"));
}

#[test]
fn each_group_keeps_its_own_draft() {
    let mut app = connected_app();
    join_group(&mut app, "ops");
    type_text(&mut app, "half a thought for ops");
    app.update(wpchat::tui::Action::GoToGroup(1));
    assert_eq!(app.state().editor.text(), "", "lobby's input is its own");
    type_text(&mut app, "lobby draft");
    app.update(wpchat::tui::Action::GoToGroup(2));
    assert_eq!(app.state().editor.text(), "half a thought for ops");
    app.update(wpchat::tui::Action::GoToGroup(1));
    assert_eq!(app.state().editor.text(), "lobby draft");
}

#[test]
fn weechat_buffer_commands_and_keys() {
    use crossterm::event::{KeyCode, KeyModifiers};
    use wpchat::client::Command;
    let mut app = connected_app();
    join_group(&mut app, "ops");
    join_group(&mut app, "alerts");
    // /buffer N counts the pane's rows: lobby, ops, alerts, server, system.
    submit(&mut app, "/buffer 2");
    assert_eq!(app.state().current_buffer().name, "ops");
    retype(&mut app, "/buffer 9");
    app.update(wpchat::tui::Action::Submit);
    assert_note(&app, "no buffer 9");
    app.update(wpchat::tui::Action::KillLineBack);

    // Alt+Shift+↑ moves ops above lobby; Alt+1 is ops now.
    app.key(key(KeyCode::Up, KeyModifiers::ALT | KeyModifiers::SHIFT));
    let names: Vec<&str> = app
        .state()
        .buffers
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(&names[..3], ["ops", "lobby", "alerts"]);
    assert_eq!(app.state().current_buffer().name, "ops");

    app.update(group_message("ops", "bob", "hi"));
    app.update(group_message("ops", "Carol", "hello"));
    submit(&mut app, "/names");
    let notices = bodies(app.state().current_buffer(), wpchat::tui::LineKind::Notice);
    let names_line = notices.last().expect("a /names line");
    assert!(names_line.contains("seen, not online"), "{names_line}");
    assert!(
        names_line.contains("2 seen in ops") && names_line.ends_with("Carol, bob"),
        "{names_line}"
    );

    match submit(&mut app, "/close").as_slice() {
        [Command::Leave { group, .. }] => assert_eq!(group, "ops"),
        other => panic!("expected Leave ops, got {other:?}"),
    }

    // Alt+K kills to the end of the line; Ctrl+K stays the switcher.
    retype(&mut app, "keep this, not that");
    for _ in 0..", not that".len() {
        app.update(wpchat::tui::Action::Left);
    }
    app.key(key(KeyCode::Char('k'), KeyModifiers::ALT));
    assert_eq!(app.state().editor.text(), "keep this");
}

#[test]
fn a_restart_brings_back_groups_input_history_and_drafts() {
    use wpchat::tui::session::SavedSession;
    let mut before = connected_app();
    join_group(&mut before, "ops");
    send_text(&mut before, "sent in ops");
    type_text(&mut before, "unsent in ops");
    before.update(wpchat::tui::Action::GoToGroup(1));
    let saved = SavedSession::of(&before);
    assert_eq!(saved.groups, ["lobby", "ops"]);

    let mut after = connected_app();
    let commands = after.restore_session(&saved);
    assert!(
        matches!(commands.as_slice(), [wpchat::client::Command::Join { group, .. }] if group == "ops")
    );
    after.update(wpchat::tui::Action::GoToGroup(2));
    assert_eq!(after.state().editor.text(), "unsent in ops");
    after.update(wpchat::tui::Action::KillLineBack);
    after.update(wpchat::tui::Action::Up);
    assert_eq!(
        after.state().editor.text(),
        "sent in ops",
        "input history is back"
    );
}

#[test]
fn the_viewer_stops_at_its_end_and_home_end_scroll_instead_of_closing() {
    use wpchat::tui::Action;
    use wpchat::tui::overlay::Overlay;
    let mut app = connected_app();
    app.update(Action::Resize(80, 24));
    let long: Vec<String> = (0..60).map(|i| format!("line {i}")).collect();
    app.update(group_message("lobby", "bob", &long.join("\n")));
    app.update(Action::ViewMessage);
    let scroll = |app: &App| match &app.state().overlay {
        Overlay::Viewer(viewer) => viewer.scroll,
        other => panic!("the viewer closed: {other:?}"),
    };
    app.update(Action::End);
    // 60 lines in a box of 22 rows above the input (20 inside the border).
    assert_eq!(scroll(&app), 40, "End goes to the last page");
    app.update(Action::PageDown);
    assert_eq!(scroll(&app), 40, "not past the end");
    app.update(Action::Up);
    assert_eq!(scroll(&app), 39, "one up from the end, at once");
    app.update(Action::Home);
    assert_eq!(scroll(&app), 0);
}

#[test]
fn ctrl_u_in_the_search_box_clears_the_query() {
    use crossterm::event::{KeyCode, KeyModifiers};
    use wpchat::tui::overlay::Overlay;
    let mut app = connected_app();
    app.update(wpchat::tui::Action::Search);
    type_text(&mut app, "deploy");
    app.key(key(KeyCode::Char('u'), KeyModifiers::CONTROL));
    let Overlay::Search(search) = &app.state().overlay else {
        panic!("Ctrl+U closed the search box");
    };
    assert_eq!(search.query, "", "Ctrl+U clears what was typed");
    assert_eq!(search.found, None);
}

/// The lobby's lines as (kind, delivery, body), oldest first.
fn lobby_lines(app: &App) -> Vec<(LineKind, Delivery, String)> {
    let state = app.state();
    let lobby = &state.buffers[state.group_index("lobby").unwrap()];
    let lines = lobby.lines.iter();
    lines
        .map(|l| (l.kind, l.delivery, l.body.to_string()))
        .collect()
}

#[test]
fn lines_typed_offline_stand_below_the_gap_marker_and_still_get_their_acks() {
    use std::time::Duration;
    use wpchat::client::Event;
    let mut app = connected_app();
    app.update(Event::Disconnected {
        reason: "connection reset".into(),
    });
    let first = send_text(&mut app, "typed offline");
    app.update(Event::Queued { op: first });
    let second = send_text(&mut app, "and again");
    app.update(Event::Queued { op: second });
    app.update(Event::Recovered {
        connection_id: "6aZcQ1".into(),
        offline: Duration::from_secs(31),
    });
    app.update(done(first));
    let lines = lobby_lines(&app);
    let at = |body: &str| lines.iter().position(|l| l.2 == body).unwrap();
    let gap = lines.iter().position(|l| l.0 == LineKind::Gap).unwrap();
    assert!(gap < at("typed offline"), "{lines:#?}");
    assert!(at("typed offline") < at("and again"), "{lines:#?}");
    assert!(
        matches!(lines[at("typed offline")].1, Delivery::Acked(_)),
        "the ack marks the line it belongs to: {lines:#?}"
    );
    assert_eq!(lines[gap].1, Delivery::None, "{lines:#?}");
    assert_eq!(lines[at("and again")].1, Delivery::Queued, "{lines:#?}");

    // A recovery refused at once takes its marker back; the new one stays above too.
    app.update(Event::SessionLost {
        offline: Duration::ZERO,
        reason: "1008: The reconnection token is not valid".into(),
    });
    app.update(done(second));
    let lines = lobby_lines(&app);
    let gaps: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].0 == LineKind::Gap)
        .collect();
    assert_eq!(gaps.len(), 1, "{lines:#?}");
    assert!(lines[gaps[0]].2.ends_with("messages may be lost"));
    let again = lines.iter().position(|l| l.2 == "and again").unwrap();
    assert!(gaps[0] < again, "{lines:#?}");
    assert!(matches!(lines[again].1, Delivery::Acked(_)), "{lines:#?}");
}

#[test]
fn links_in_messages_are_underlined_listed_and_opened_with_slash_open() {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Modifier;
    let mut app = connected_app();
    app.update(group_message(
        "lobby",
        "bob",
        "docs at https://example.com/a, ok",
    ));
    app.update(group_message(
        "lobby",
        "bob",
        "and (http://x.org/p)\u{1b}[2J",
    ));

    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal
        .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
        .expect("draw");
    let screen = terminal.backend().buffer().clone();
    let rows = screen::text_of(&screen);
    let (row, text) = (0u16..)
        .zip(rows.lines())
        .find(|(_, text)| text.contains("docs at"))
        .expect("the message is shown");
    let start = text[..text.find("https://").unwrap()].chars().count() as u16;
    let underlined = |x: u16| screen[(x, row)].modifier.contains(Modifier::UNDERLINED);
    assert!(
        underlined(start) && underlined(start + 20),
        "the link is marked"
    );
    assert!(!underlined(start - 2), "the text before it is not");
    assert!(!underlined(start + 21), "the comma after it is not");

    // `/open` lists the newest first; `/open 2` opens the older one; a bad number says so.
    submit(&mut app, "/open");
    let lobby = &app.state().buffers[app.state().group_index("lobby").unwrap()];
    let notices = bodies(lobby, LineKind::Notice);
    let list = notices.last().unwrap();
    assert!(
        list.contains("1 http://x.org/p · 2 https://example.com/a"),
        "{list}"
    );
    app.take_effects();
    submit(&mut app, "/open 2");
    assert_eq!(
        app.take_effects(),
        vec![Effect::OpenUrl("https://example.com/a".into())]
    );
    assert!(submit(&mut app, "/open 3").is_empty());
    assert_note(&app, "no link 3");
    assert!(app.take_effects().is_empty());
}
