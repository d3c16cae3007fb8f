//! Stored history inside the chat: Ctrl+F and `/search` over everything stored, the group
//! opened around a hit, `/goto` in time, and older lines paged in from disk as the log
//! scrolls up; the real event loop over a real database, with no connection.

#[path = "support/history_chat.rs"]
mod history_chat;

use std::time::Instant;

use crossterm::event::KeyCode;
use history_chat::{Chat, offline_chat_over};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wpchat::history::{self, Dir, Kind};
use wpchat::tui::{App, Clock, Keymap, UiSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_f_searches_all_history_and_enter_opens_the_group_around_the_hit() {
    let mut lines: Vec<(&str, i64, &str, String)> = (0..300)
        .map(|i| ("ops", 1_000 + i, "bob", format!("ops line {i}")))
        .collect();
    lines[150].3 = "deploy \u{1b}[2Jrolled back".into();
    lines.push(("lobby", 5_000, "carol", "deploy went fine".into()));
    lines.push(("lobby", 5_001, "carol", "unrelated".into()));
    let (_dir, mut chat, _engine) = offline_chat_over(&lines, "lobby");
    chat.press_ctrl('f');
    chat.type_text("deploy -fine");
    chat.press(KeyCode::Enter);
    chat.turn_until("the one result", |c| c.screen().contains("1 result"))
        .await;
    let screen = chat.screen();
    assert!(screen.contains("#ops bob: deploy"), "{screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains("#lobby carol"),
        "{screen}"
    );

    // Without the negative word both match, newest first; ↓ then Enter opens the older one.
    for _ in 0..6 {
        chat.press(KeyCode::Backspace);
    }
    chat.press(KeyCode::Enter);
    chat.turn_until("two results", |c| {
        c.screen().contains("2 results, newest first")
    })
    .await;
    let screen = chat.screen();
    let (lobby, ops) = (
        screen.find("#lobby carol").unwrap(),
        screen.find("#ops bob").unwrap(),
    );
    assert!(lobby < ops, "newest first:\n{screen}");
    chat.press(KeyCode::Down);
    chat.press(KeyCode::Enter);
    chat.turn_until("the hit in its group", |c| {
        c.focused().is_some_and(|text| text.starts_with("deploy"))
    })
    .await;
    chat.turn_until("the page around the hit", |c| {
        let screen = c.screen();
        screen.contains("#ops · history")
            && screen.contains("ops line 149")
            && screen.contains("ops line 151")
    })
    .await;
    assert_eq!(chat.page().unwrap().lines.len(), 201, "100 lines each side");

    // Above the first line read, an older page comes from disk.
    for _ in 0..11 {
        chat.press(KeyCode::PageUp);
    }
    chat.turn_until("the older page", |c| {
        c.page()
            .is_some_and(|p| p.lines.len() == 251 && p.loading.is_none())
    })
    .await;
    assert_eq!(chat.page().unwrap().lines[0].text, "ops line 0");
    assert!(chat.page().unwrap().no_older);
    chat.press(KeyCode::Esc);
    chat.turn_until("back at the results", |c| {
        c.screen().contains("2 results, newest first")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_search_says_what_is_wrong_with_a_filter_and_takes_hostile_text_as_text() {
    let hostile = [("lobby", 1_000, "bob", r#"quote " NEAR( and OR"#.into())];
    let (_dir, mut chat, _engine) = offline_chat_over(&hostile, "lobby");
    chat.type_line("/search before:yesterday");
    chat.turn_until("the filter error", |c| {
        c.screen().contains("'yesterday' is not a date")
    })
    .await;
    chat.press(KeyCode::Esc);
    chat.type_line(r#"/search NEAR( "OR"#);
    chat.turn_until("the hostile query's result", |c| {
        c.screen().contains("1 result")
    })
    .await;
    assert!(chat.screen().contains("bob: quote"), "{}", chat.screen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goto_opens_the_group_at_a_time() {
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    let lines = [
        ("ops", now - 3 * hour, "bob", "three hours ago".into()),
        (
            "ops",
            now - 2 * hour + 60_000,
            "bob",
            "just under two hours ago".into(),
        ),
        ("ops", now - 600_000, "bob", "ten minutes ago".into()),
    ];
    let (_dir, mut chat, _engine) = offline_chat_over(&lines, "ops");
    chat.type_line("/goto -2h");
    chat.turn_until("the line two hours ago", |c| {
        c.focused() == Some("just under two hours ago")
    })
    .await;
    chat.turn_until("the lines around it", |c| {
        c.screen().contains("three hours ago") && c.screen().contains("ten minutes ago")
    })
    .await;
    chat.press(KeyCode::Esc);
    chat.type_line("/goto yesterday");
    chat.turn_until("the usage hint", |c| c.screen().contains("not a time"))
        .await;
}

#[test]
fn the_search_overlay_lists_stored_hits_newest_first_and_says_the_index_lags() {
    use wpchat::tui::Action;
    use wpchat::tui::history_reader::HistoryAnswer;
    // Friday 27 November 2026, 10:02:00 UTC.
    const T0: i64 = 1_795_773_720_000;
    let mut app = App::new(
        UiSettings::default(),
        Keymap::default(),
        Clock::fixed(T0, Instant::now()),
    );
    app.set_target("chat", Some("alice"));
    app.join("lobby");
    app.update(Action::Search);
    for c in "deploy in:ops".chars() {
        app.update(Action::Insert(c));
    }
    app.update(Action::Submit);
    let asked = app.take_effects();
    assert!(
        matches!(asked.as_slice(), [wpchat::tui::Effect::History(_)]),
        "{asked:?}"
    );
    let hit = |id: i64, minutes_ago: i64, sender: Option<&str>, dir: Dir, text: &str| {
        let mut record = history::Record::message(
            "ops",
            T0 - minutes_ago * 60_000,
            Kind::Text,
            dir,
            text.as_bytes().to_vec(),
        );
        record.sender = sender.map(str::to_string);
        history::StoredLine {
            id,
            record,
            session: None,
        }
    };
    let hits = vec![
        hit(42, 3, None, Dir::Out, "deploy of 1.4 is done"),
        hit(
            17,
            65,
            Some("bob"),
            Dir::In,
            "deploy \u{1b}]0;x\u{7}started\nsecond line",
        ),
        hit(
            3,
            60 * 30,
            Some("carol"),
            Dir::In,
            "who can deploy on fridays?",
        ),
    ];
    app.history_answer(HistoryAnswer::Found {
        text: "deploy in:ops".into(),
        result: Ok((hits, 12_345)),
    });
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
        .unwrap();
    insta::assert_snapshot!("history_search_80x24", terminal.backend());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_above_the_oldest_line_in_memory_pages_older_lines_in_from_disk() {
    let lines: Vec<(&str, i64, &str, String)> = (0..700)
        .map(|i| ("ops", 1_000 + i, "bob", format!("ops line {i}")))
        .collect();
    let (_dir, mut chat, _engine) = offline_chat_over(&lines, "ops");
    let ops = |c: &Chat| c.app.state().current_buffer().lines.clone();
    chat.turn_until("the backlog", |c| ops(c).len() == 201)
        .await;
    let backlog_top = ops(&chat).front().unwrap().body.to_string();
    assert_eq!(backlog_top, "ops line 500");

    chat.press(KeyCode::Home);
    chat.turn_until("the loading row", |c| {
        ops(c)
            .front()
            .unwrap()
            .body
            .starts_with("loading older lines")
    })
    .await;
    chat.turn_until("the older page", |c| ops(c).len() == 701)
        .await;
    let buffer = chat.app.state().current_buffer();
    assert_eq!(buffer.lines.front().unwrap().body, "ops line 0");
    // The view stayed on the line it showed; the page came in above it.
    let top_shown = buffer.anchor.expect("scrolled up") as usize;
    assert!(top_shown >= 500, "{top_shown}");
    // Nothing arrived meanwhile: the page above is not "new" below the view.
    assert_eq!(buffer.new_below_view(), 0);
    chat.turn_until("the same lines on screen", |c| {
        c.screen().contains("ops line 500") && !c.screen().contains("loading older")
    })
    .await;

    // At the very start of history one more try finds nothing, and the row goes.
    chat.press(KeyCode::Home);
    chat.turn_until("the last try", |c| {
        ops(c)
            .front()
            .unwrap()
            .body
            .starts_with("loading older lines")
    })
    .await;
    chat.turn_until("the top of history", |c| {
        ops(c).len() == 701 && c.screen().contains("ops line 0") && !c.screen().contains("loading")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_up_at_the_top_of_a_full_scrollback_opens_the_stored_history_there() {
    let lines: Vec<(&str, i64, &str, String)> = (0..400)
        .map(|i| ("ops", 1_000 + i, "bob", format!("ops line {i}")))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history").join("alice.db");
    history_chat::stored(&path, &lines);
    let (handle, _engine) = history_chat::offline_handle();
    let ui = UiSettings {
        scrollback: 100,
        ..UiSettings::default()
    };
    let settings = wpchat::config::HistorySettings::default();
    let mut chat = Chat::with_ui(handle, &path, false, &settings, ui);
    chat.join("ops");
    let ops = |c: &Chat| c.app.state().current_buffer().lines.clone();
    chat.turn_until("a full scrollback", |c| {
        ops(c).len() >= 100 && ops(c).iter().any(|l| l.body == "ops line 399")
    })
    .await;
    let oldest_in_memory = ops(&chat)
        .iter()
        .find(|l| l.body.starts_with("ops line"))
        .map(|l| l.body.to_string())
        .unwrap();

    // The first push reaches the top of what memory holds; the next one goes on into history.
    chat.press(KeyCode::Home);
    chat.turn_until("the top in view", |c| {
        c.screen().contains(&oldest_in_memory)
    })
    .await;
    assert!(chat.page().is_none());
    chat.press(KeyCode::PageUp);
    chat.turn_until("the stored page", |c| c.focused().is_some())
        .await;
    assert_eq!(chat.focused(), Some(oldest_in_memory.as_str()));
    let first: usize = oldest_in_memory["ops line ".len()..].parse().unwrap();
    let page = chat.page().unwrap();
    let older = format!("ops line {}", first - 1);
    assert!(
        page.lines.iter().any(|l| l.text == older),
        "the line before memory's oldest is on the page"
    );
}
