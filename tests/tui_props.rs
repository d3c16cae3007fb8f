//! Property: whatever the user types and whatever the network sends, `App::update` and the
//! view never panic, and nothing unsafe reaches the screen.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wpchat::client::{Event, OpError, OpOutcome};
use wpchat::protocol::{AckErrorName, DataMessage, MessageSource, Payload};
use wpchat::tui::{Action, App, Clock, Keymap, UiSettings, view};

fn hostile_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('\u{1b}'),
            Just('\n'),
            Just('\r'),
            Just('\t'),
            Just('\u{9b}'),
            Just('\u{202E}'),
            Just('\u{200D}'),
            Just('日'),
            Just('👨'),
            Just('/'),
            Just(' '),
            Just('{'),
            Just('}'),
            Just('"'),
            any::<char>(),
            "[a-z]".prop_map(|s| s.chars().next().unwrap_or('a')),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

#[derive(Debug, Clone)]
enum Step {
    Act(Action),
    Net(Event),
    Size(u16, u16),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        any::<char>().prop_map(Action::Insert),
        hostile_string().prop_map(Action::Paste),
        (1u8..=10).prop_map(Action::GoToGroup),
        Just(Action::Submit),
        Just(Action::Newline),
        Just(Action::Backspace),
        Just(Action::Delete),
        Just(Action::Left),
        Just(Action::Right),
        Just(Action::Up),
        Just(Action::Down),
        Just(Action::WordLeft),
        Just(Action::WordRight),
        Just(Action::KillWordBack),
        Just(Action::KillWordForward),
        Just(Action::KillLineBack),
        Just(Action::Yank),
        Just(Action::Complete),
        Just(Action::CompleteBack),
        Just(Action::HistorySearch),
        Just(Action::PageUp),
        Just(Action::PageDown),
        Just(Action::LineUp),
        Just(Action::ScrollTop),
        Just(Action::FirstUnread),
        Just(Action::NextGroup),
        Just(Action::PrevGroup),
        Just(Action::NextActivity),
        Just(Action::Switcher),
        Just(Action::JoinPrompt),
        Just(Action::LeavePrompt),
        Just(Action::Search),
        Just(Action::Help),
        Just(Action::Cancel),
        Just(Action::Retry),
        Just(Action::ViewMessage),
        Just(Action::ToggleGroups),
        (0u16..120, 0u16..40).prop_map(|(column, row)| Action::Click { column, row }),
        any::<bool>().prop_map(|up| Action::Wheel { up }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let source = prop_oneof![
        (hostile_string(), proptest::option::of(hostile_string())).prop_map(
            |(group, from_user_id)| MessageSource::Group {
                group: group.into(),
                from_user_id: from_user_id.map(Into::into),
            }
        ),
        Just(MessageSource::Server),
    ];
    let payload = prop_oneof![
        hostile_string().prop_map(Payload::Text),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Payload::Binary),
        hostile_string().prop_map(|s| {
            Payload::json(&serde_json::to_string(&s).unwrap_or_default())
                .unwrap_or(Payload::Text(s))
        }),
    ];
    prop_oneof![
        4 => (source, payload, proptest::option::of(any::<u64>())).prop_map(
            |(source, payload, sequence_id)| Event::Message(DataMessage {
                source,
                sequence_id,
                payload
            })
        ),
        1 => (0u64..20, any::<bool>(), hostile_string()).prop_map(|(op, ok, name)| Event::OpResult {
            op,
            outcome: if ok {
                OpOutcome::Done { duplicate: false, round_trip: Some(Duration::from_millis(5)) }
            } else {
                OpOutcome::Failed(OpError::Refused {
                    name: AckErrorName::from_name(&name),
                    message: name,
                })
            }
        }),
        1 => (0u64..120).prop_map(|s| Event::Recovered {
            connection_id: "c".into(),
            offline: Duration::from_secs(s)
        }),
        1 => hostile_string().prop_map(|reason| Event::Disconnected { reason }),
        1 => (hostile_string(), hostile_string()).prop_map(|(frame, error)| Event::Unrecognized { frame, error }),
        1 => (0u64..20).prop_map(|op| Event::Queued { op }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => action().prop_map(Step::Act),
        4 => event().prop_map(Step::Net),
        1 => (0u16..130, 0u16..50).prop_map(|(w, h)| Step::Size(w, h)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn app_and_view_never_panic(steps in prop::collection::vec(step(), 1..60)) {
        let mut app = App::new(
            UiSettings { scrollback: 50, ..UiSettings::default() },
            Keymap::default(),
            Clock::fixed(1_795_773_720_000, Instant::now()),
        );
        app.join("lobby");
        let mut size = (80u16, 24u16);
        app.update(Action::Resize(size.0, size.1));
        for step in steps {
            match step {
                Step::Act(action) => { app.update(action); }
                Step::Net(event) => { app.update(event); }
                Step::Size(w, h) => {
                    size = (w, h);
                    app.update(Action::Resize(w, h));
                }
            }
            let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("terminal");
            terminal.draw(|frame| view::draw(frame, app.state())).expect("draw");
            let screen = terminal.backend().buffer().clone();
            for cell in screen.content() {
                for c in cell.symbol().chars() {
                    prop_assert!(!c.is_control(), "control {:?} on screen", c);
                    prop_assert!(!wpchat::text::is_bidi_control(c), "bidi {:?} on screen", c);
                }
            }
        }
    }
}
