//! Headless App tests of the connection's life as the user sees it: outages and gap
//! markers, recoveries, requested reconnects, connection errors, token expiry, a stopped
//! engine, and problems in the config's `[ui]` and `[keys]`.

#[path = "tui_support/app.rs"]
mod support;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyModifiers};
use support::*;
use wpchat::client::{Command, Event};
use wpchat::tui::state::{Delivery, LineKind, NoteLevel};
use wpchat::tui::{Action, App, UiSettings};

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
        assert_eq!(gap.body, "offline 10:01:29–10:02:00 · recovered");
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

#[tokio::test]
async fn a_stopped_engine_fails_the_send_instead_of_leaving_it_pending() {
    let mut app = connected_app();
    let (commands, receiver) = tokio::sync::mpsc::channel(4);
    drop(receiver);
    let (_events_tx, events) = wpchat::client::event_channel(4);
    let (_state_tx, state) =
        tokio::sync::watch::channel(wpchat::client::ConnState::Connecting { attempt: 1 });
    let handle = wpchat::client::ClientHandle {
        commands,
        events,
        state,
    };
    type_text(&mut app, "anyone?");
    let sends = app.update(Action::Submit);
    let mut outbox = wpchat::tui::event_loop::Outbox::default();
    outbox.send(&mut app, &handle.commands, sends);
    assert!(outbox.is_empty(), "nothing is held for a stopped engine");
    let line = app.state().current_buffer().lines.back().unwrap();
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
    app.alert("config: [ui]: 'scrollback' must be a whole number");
    let state = app.state();
    let system = system_buffer(&app);
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
        system_buffer(app)
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
    // The local service still admits a token within its clock skew: no promise of failure.
    assert!(warning.contains("may be refused"), "{warning}");
    assert!(!warning.contains("fails"), "{warning}");
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
fn a_requested_reconnect_is_not_reported_as_a_loss() {
    let mut app = connected_app();
    assert_eq!(submit(&mut app, "/reconnect"), vec![Command::Reconnect]);
    app.update(Event::SessionLost {
        offline: Duration::ZERO,
        reason: "a reconnect was requested".into(),
    });
    let state = app.state();
    let gap = state.buffers[0].lines.back().unwrap();
    assert_eq!(gap.kind, LineKind::Gap);
    assert!(gap.body.contains("as requested"), "{}", gap.body);
    let system = system_buffer(&app);
    assert!(system.lines.iter().all(|l| l.kind != LineKind::Error));
    // A later, unrequested loss is reported as one.
    app.update(Event::SessionLost {
        offline: Duration::from_secs(40),
        reason: "recovery window passed".into(),
    });
    let gap = app.state().buffers[0].lines.back().unwrap();
    assert!(gap.body.contains("messages may be lost"), "{}", gap.body);
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
    let errors = bodies(system_buffer(&app), LineKind::Error);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("connection refused"));
    assert!(errors[1].contains("401"));
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
    let gaps = bodies(&app.state().buffers[0], LineKind::Gap);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].starts_with("offline 10:02:06–10:02:10"), "{gaps:?}");
    assert!(gaps[0].ends_with("messages may be lost"), "{gaps:?}");
}
