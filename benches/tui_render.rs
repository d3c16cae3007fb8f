//! Render and ingest speed of the chat UI: a 200×60 frame with 10 000 and 1 000 000 messages
//! in the current group (should cost the same: only the visible lines are wrapped), the same
//! frame with links drawn as OSC 8 hyperlinks, the grapheme pass over a whole frame alone, and
//! `App::update` on a stream of message events, and paging through a 1 000 000-message
//! scrollback.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wpchat::client::Event;
use wpchat::protocol::{DataMessage, MessageSource, Payload};
use wpchat::tui::{Action, App, Clock, Hyperlinks, Keymap, UiSettings, view};

const T0: i64 = 1_795_773_720_000;
const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dmitri", "eve", "frank", "grace", "heidi",
];

fn message(i: usize) -> Event {
    let text = if i.is_multiple_of(5) {
        format!(
            "message {i}: a longer line that wraps once or twice in a narrow pane, with some 日本語 and an emoji 🎉 to measure"
        )
    } else if i.is_multiple_of(3) {
        format!("message {i}: notes at https://example.com/releases/{i}?tab=all, read them")
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

fn app_with(messages: usize, hyperlinks: Hyperlinks) -> App {
    let settings = UiSettings {
        scrollback: messages.max(10_000),
        hyperlinks,
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
    let cases = [
        (10_000usize, Hyperlinks::Off, ""),
        (1_000_000, Hyperlinks::Off, ""),
        (1_000_000, Hyperlinks::On, "_hyperlinks"),
    ];
    for (messages, hyperlinks, label) in cases {
        let app = app_with(messages, hyperlinks);
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
        group.bench_function(format!("{messages}_messages{label}"), |b| {
            b.iter(|| {
                terminal
                    .draw(|frame| view::draw(frame, black_box(app.state())))
                    .expect("draw");
            })
        });
    }
    // The grapheme pass of every frame, alone, over a drawn frame.
    let app = app_with(10_000, Hyperlinks::Off);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
    let drawn = terminal
        .draw(|frame| view::draw(frame, app.state()))
        .expect("draw")
        .buffer
        .clone();
    group.bench_function("grapheme_pass", |b| {
        b.iter_batched_ref(
            || drawn.clone(),
            |buffer| view::draw_safely_for_terminals(black_box(buffer)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Scrolling a 1 000 000-message scrollback: a page up and back down, and to the top and
/// back to live, each step drawn (what a user paging through a flood waits for).
fn scroll(c: &mut Criterion) {
    let mut group = c.benchmark_group("scroll_200x60_1000000_messages");
    let mut app = app_with(1_000_000, Hyperlinks::Off);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
    let mut steps = |b: &mut criterion::Bencher<'_>, there: Action, back: Action| {
        b.iter(|| {
            for action in [there.clone(), back.clone()] {
                app.update(action);
                terminal
                    .draw(|frame| view::draw(frame, black_box(app.state())))
                    .expect("draw");
            }
        })
    };
    group.bench_function("page_up_and_down", |b| {
        steps(b, Action::PageUp, Action::PageDown)
    });
    group.bench_function("top_and_live", |b| {
        steps(b, Action::ScrollTop, Action::ScrollLive)
    });
    group.finish();
}

fn ingest(c: &mut Criterion) {
    const BATCH: usize = 10_000;
    let events: Vec<Event> = (0..BATCH).map(message).collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut app = app_with(0, Hyperlinks::Off);
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

criterion_group!(benches, render, scroll, ingest);
criterion_main!(benches);
