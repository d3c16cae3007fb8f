//! Render and ingest speed of the chat UI: a 200×60 frame with 10 000 and 1 000 000 messages
//! in the current group (should cost the same: only the visible lines are wrapped), and
//! `App::update` on a stream of message events.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wpchat::client::Event;
use wpchat::protocol::{DataMessage, MessageSource, Payload};
use wpchat::tui::{Action, App, Clock, Keymap, UiSettings, view};

const T0: i64 = 1_795_773_720_000;
const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dmitri", "eve", "frank", "grace", "heidi",
];

fn message(i: usize) -> Event {
    let text = if i.is_multiple_of(5) {
        format!(
            "message {i}: a longer line that wraps once or twice in a narrow pane, with some 日本語 and an emoji 🎉 to measure"
        )
    } else {
        format!("message {i}: deploy finished")
    };
    Event::Message(DataMessage {
        source: MessageSource::Group {
            group: "lobby".into(),
            from_user_id: Some(USERS[i % USERS.len()].into()),
        },
        sequence_id: Some(i as u64),
        payload: Payload::Text(text),
    })
}

fn app_with(messages: usize) -> App {
    let settings = UiSettings {
        scrollback: messages.max(10_000),
        ..UiSettings::default()
    };
    let mut app = App::new(
        settings,
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    );
    app.join("lobby");
    for i in 0..messages {
        app.update(message(i));
    }
    app.update(Action::Resize(200, 60));
    app
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_200x60");
    for messages in [10_000usize, 1_000_000] {
        let app = app_with(messages);
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
        group.bench_function(format!("{messages}_messages"), |b| {
            b.iter(|| {
                terminal
                    .draw(|frame| view::draw(frame, black_box(app.state())))
                    .expect("draw");
            })
        });
    }
    group.finish();
}

fn ingest(c: &mut Criterion) {
    const BATCH: usize = 10_000;
    let events: Vec<Event> = (0..BATCH).map(message).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut app = app_with(0);
    group.bench_function("message_events", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                for event in events {
                    black_box(app.update(event));
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, render, ingest);
criterion_main!(benches);
