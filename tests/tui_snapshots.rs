//! Screen snapshots (insta over ratatui's `TestBackend`) at 80×24, 40×12 and 160×48. Time is
//! injected through ticks, so the screens are stable. Update with
//! `INSTA_UPDATE=always cargo test --test tui_snapshots` and review the `.snap` files.

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wpchat::client::{Command, ConnState, Event, OpError, OpOutcome};
use wpchat::protocol::{AckErrorName, DataMessage, MessageSource, Payload, Subprotocol};
use wpchat::tui::{Action, App, Clock, Keymap, UiSettings, view};

/// Friday 27 November 2026, 10:02:00 UTC.
const T0: i64 = 1_795_773_720_000;
const SIZES: [(u16, u16); 3] = [(80, 24), (40, 12), (160, 48)];

struct Scene {
    app: App,
    base: Instant,
}

impl Scene {
    fn new() -> Self {
        let base = Instant::now();
        let mut app = App::new(
            UiSettings::default(),
            Keymap::default(),
            Clock::fixed(T0, base),
        );
        app.set_target("chat", Some("alice"));
        Scene { app, base }
    }

    /// Moves the injected clock to `T0 + offset_ms`.
    fn at(&mut self, offset_ms: i64) -> &mut Self {
        let mono = self.base + Duration::from_millis(offset_ms.max(0) as u64);
        self.app.update(Action::Tick {
            wall_ms: T0 + offset_ms,
            mono,
        });
        self
    }

    fn connect(&mut self) -> &mut Self {
        self.app.update(ConnState::Connected {
            connection_id: "6aZcQ1xy".into(),
            user_id: Some("alice".into()),
            protocol: Subprotocol::JsonReliable,
        });
        self.app.update(Event::Connected {
            connection_id: "6aZcQ1xy".into(),
            user_id: Some("alice".into()),
            protocol: Subprotocol::JsonReliable,
        });
        self.app.update(Event::Lag(Duration::from_millis(12)));
        self
    }

    fn join(&mut self, group: &str) -> &mut Self {
        let commands = self.app.join(group);
        if let [Command::Join { op, .. }] = commands.as_slice() {
            let op = *op;
            self.app.update(done(op, 20));
        }
        self
    }

    fn message(&mut self, group: &str, from: &str, payload: Payload) -> &mut Self {
        self.app.update(Event::Message(DataMessage {
            source: MessageSource::Group {
                group: group.into(),
                from_user_id: Some(from.into()),
            },
            sequence_id: Some(1042),
            payload,
        }));
        self
    }

    fn text(&mut self, group: &str, from: &str, text: &str) -> &mut Self {
        self.message(group, from, Payload::Text(text.into()))
    }

    /// Types and sends a line; returns its op id.
    fn say(&mut self, text: &str) -> u64 {
        for c in text.chars() {
            self.app.update(Action::Insert(c));
        }
        match self.app.update(Action::Submit).as_slice() {
            [Command::SendToGroup { op, .. }] => *op,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn render(&mut self, width: u16, height: u16) -> Terminal<TestBackend> {
        self.app.update(Action::Resize(width, height));
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        terminal
            .draw(|frame| view::draw(frame, self.app.state()))
            .expect("draw");
        terminal
    }

    fn snapshot_all(&mut self, name: &str) {
        for (width, height) in SIZES {
            let terminal = self.render(width, height);
            insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
        }
    }
}

fn done(op: u64, ms: u64) -> Event {
    Event::OpResult {
        op,
        outcome: OpOutcome::Done {
            duplicate: false,
            round_trip: Some(Duration::from_millis(ms)),
        },
    }
}

/// A busy chat: several groups with badges, all kinds of messages, own message states.
fn busy_chat() -> Scene {
    let mut scene = Scene::new();
    scene
        .at(-86_400_000)
        .connect()
        .join("lobby")
        .join("ops")
        .join("alerts");
    scene.app.update(Action::GoToGroup(1));
    scene.text("lobby", "bob", "yesterday's last word");
    scene.at(0).text("lobby", "alice2", "deploy finished");
    scene.message(
        "lobby",
        "bob",
        Payload::json("{ \"level\": \"warn\", \"msg\": \"disk 91%\" }").unwrap(),
    );
    scene.text(
        "lobby",
        "carol",
        "this is a rather long line that has to wrap in the log pane because it does not fit in one row of the terminal, not even a wide one at one hundred and sixty columns",
    );
    scene.text(
        "lobby",
        "dmitri",
        "日本語のテキストと絵文字 👨‍👩‍👧 🎉 mixed with ascii",
    );
    scene.message(
        "lobby",
        "eve",
        Payload::Binary(b"\x00\x01binary\xffpayload bytes here".to_vec()),
    );
    let acked = scene.at(60_000).say("on it");
    scene.app.update(done(acked, 38));
    let failed = scene.say("secret plans");
    scene.app.update(Event::OpResult {
        op: failed,
        outcome: OpOutcome::Failed(OpError::Refused {
            name: AckErrorName::Forbidden,
            message: String::new(),
        }),
    });
    scene.at(120_000).say("back");
    scene.text("ops", "bob", "build 1 green");
    scene.text("ops", "bob", "build 2 green");
    scene.text("ops", "bob", "build 3 green");
    scene.text("ops", "bob", "build 4 green");
    scene.text("alerts", "pager", "alice: disk on db-1 at 91%");
    scene.app.update(Action::Cancel);
    scene
}

#[test]
fn empty_start() {
    let mut scene = Scene::new();
    scene.app.join("lobby");
    scene.snapshot_all("empty_start");
}

#[test]
fn busy_chat_with_badges_and_delivery_states() {
    busy_chat().snapshot_all("busy_chat");
}

#[test]
fn offline_reconnecting_with_gap_marker_and_queued_line() {
    let mut scene = busy_chat();
    scene.at(180_000);
    scene.app.update(Event::Disconnected {
        reason: "connection reset by peer".into(),
    });
    let retry_at = scene.base + Duration::from_millis(184_000);
    scene.app.update(ConnState::Reconnecting {
        retry_at,
        attempt: 2,
        last_error: "connection refused".into(),
    });
    let op = scene.say("are you there?");
    scene.app.update(Event::Queued { op });
    scene.snapshot_all("reconnecting");

    scene.at(211_000);
    scene.app.update(ConnState::Connected {
        connection_id: "7bQ9".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::JsonReliable,
    });
    scene.app.update(Event::SessionLost {
        offline: Duration::from_secs(31),
        reason: "the recovery window passed".into(),
    });
    scene.app.update(done(op, 51));
    scene.snapshot_all("after_session_lost");
}

#[test]
fn recovering_status_and_recovered_gap() {
    let mut scene = busy_chat();
    scene.at(190_000);
    scene.app.update(ConnState::Recovering {
        since: scene.base + Duration::from_millis(187_000),
        attempt: 1,
    });
    scene.snapshot_all("recovering");
    scene.at(200_000);
    scene.app.update(Event::Recovered {
        connection_id: "6aZcQ1xy".into(),
        offline: Duration::from_secs(13),
    });
    scene.app.update(ConnState::Connected {
        connection_id: "6aZcQ1xy".into(),
        user_id: Some("alice".into()),
        protocol: Subprotocol::JsonReliable,
    });
    scene.snapshot_all("recovered");
}

#[test]
fn help_overlay() {
    let mut scene = busy_chat();
    scene.app.update(Action::Help);
    scene.snapshot_all("help");
}

#[test]
fn switcher_overlay() {
    let mut scene = busy_chat();
    scene.app.update(Action::Switcher);
    scene.app.update(Action::Insert('o'));
    scene.snapshot_all("switcher");
}

#[test]
fn escape_sequences_and_bidi_are_inert() {
    let mut scene = Scene::new();
    scene.connect().join("lobby");
    scene.text(
        "lobby",
        "mal\u{1b}[5mlory",
        "\u{1b}[2J\u{1b}[H\u{1b}]0;pwned\u{7}\u{1b}[6n clear? \u{9b}31m c1 \u{202E}desrever\u{202C} \u{2066}iso\u{2069} zero\u{200B}width\ttab\rcr",
    );
    scene.snapshot_all("hostile_text");
}

#[test]
fn scrolled_up_shows_new_message_count() {
    let mut scene = Scene::new();
    scene.connect().join("lobby");
    for i in 0..60 {
        scene.text("lobby", "bob", &format!("message number {i}"));
    }
    scene.app.update(Action::Resize(80, 24));
    scene.app.update(Action::PageUp);
    for i in 0..3 {
        scene.text("lobby", "carol", &format!("new while away {i}"));
    }
    scene.snapshot_all("scrolled_up");
}

#[test]
fn prompts_and_confirmations() {
    let mut scene = busy_chat();
    // Each step: close what is open, do something, snapshot the 80×24 screen.
    let steps: [(&str, &[Action]); 5] = [
        ("join_prompt_80x24", &[Action::JoinPrompt]),
        ("leave_confirm_80x24", &[Action::LeavePrompt]),
        (
            "paste_confirm_80x24",
            &[Action::Paste(
                "first line\nsecond line\n\u{1b}[2Jthird".into(),
            )],
        ),
        ("search_80x24", &[Action::Search]),
        (
            "multiline_input_80x24",
            &[
                Action::ScrollLive,
                Action::Insert('l'),
                Action::Insert('i'),
                Action::Newline,
            ],
        ),
    ];
    let typed = ["new-group", "", "", "deploy", "x/x"];
    for ((name, actions), text) in steps.into_iter().zip(typed) {
        scene.app.update(Action::Cancel);
        for action in actions {
            scene.app.update(action.clone());
        }
        for c in text.chars() {
            scene.app.update(Action::Insert(c));
        }
        let terminal = scene.render(80, 24);
        insta::assert_snapshot!(name, terminal.backend());
    }
}

#[test]
fn json_viewer_pretty_prints() {
    let mut scene = Scene::new();
    scene.connect().join("lobby");
    scene.message(
        "lobby",
        "bob",
        Payload::json("{\"level\":\"warn\",\"tags\":[\"disk\",\"db-1\"],\"detail\":{\"used\":91}}")
            .unwrap(),
    );
    scene.app.update(Action::ViewMessage);
    let terminal = scene.render(80, 24);
    insta::assert_snapshot!("json_viewer_80x24", terminal.backend());
}

/// Issue 15, item 1: flags, ZWJ sequences and skin tones reach the terminal only as graphemes
/// whose width every terminal agrees on (a flag as its two letters, a family as its first
/// emoji), so that one remote message cannot smear the screen.
#[test]
fn flags_and_zwj_sequences_draw_as_safe_fallbacks() {
    let mut scene = Scene::new();
    scene.connect().join("lobby");
    scene.text("lobby", "bob", "two flags 🇯🇵🇫🇷 end");
    scene.text("lobby", "bob", &"🇯🇵🇫🇷👨‍👩‍👧‍👦".repeat(12));
    scene.text(
        "lobby",
        "bob",
        "thumbs 👍🏼 heart ❤\u{FE0F} keycap 1\u{FE0F}\u{20E3}",
    );
    scene.text("lobby", "carol", "plain after");
    for (width, height) in SIZES {
        let terminal = scene.render(width, height);
        let buffer = terminal.backend().buffer();
        for cell in buffer.content() {
            let symbol = cell.symbol();
            assert_eq!(
                wpchat::text::terminal_fallback(symbol),
                None,
                "{symbol:?} reached the {width}x{height} screen"
            );
        }
        insta::assert_snapshot!(format!("emoji_{width}x{height}"), terminal.backend());
    }
}

/// Issue 15, item 9: a long note keeps its end (what went wrong) and the help hint.
#[test]
fn a_long_note_keeps_its_end_and_the_help_hint() {
    let mut scene = Scene::new();
    scene.connect().join("lobby");
    for c in format!("/leave {}", "g".repeat(300)).chars() {
        scene.app.update(Action::Insert(c));
    }
    scene.app.update(Action::Submit);
    let terminal = scene.render(60, 12);
    let status = (0..60)
        .map(|x| terminal.backend().buffer()[(x, 11)].symbol().to_string())
        .collect::<String>();
    assert!(status.contains("not in"), "{status}");
    assert!(status.contains("…'"), "the end of the note stays: {status}");
    assert!(status.trim_end().ends_with("F1 help"), "{status}");
}
