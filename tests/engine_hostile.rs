//! A hostile service at the client (issue 13, item 5), from the scripted server: garbage
//! frames, frames over the size limit, 100 000 acks for ids never sent, sequence ids going
//! backwards, a 1 MB user id or group name. The engine stays up and keeps working, what it
//! hands on stays bounded, and the chat's screen stays intact.

#[path = "support/engine.rs"]
mod engine;
#[path = "tui_support/screen.rs"]
mod screen;
#[path = "support/scripted.rs"]
mod scripted;
#[path = "tui_support/app.rs"]
mod tui;

use std::time::Duration;

use engine::{fast_timers, next_event, wait_for};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use scripted::{CountingProvider, ScriptedServer};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event, OpOutcome};
use wpchat::protocol::{DataMessage, MessageSource, Payload, ServiceMessage, encode_service};
use wpchat::tui::Action;

/// Longest frame text an `Unrecognized` event carries (16 KiB), with room for its marker.
const SHOWN_AT_MOST: usize = 16 * 1024 + 64;

/// An engine connected to a fresh scripted server, with `tweak` applied to its settings.
async fn connected(tweak: impl FnOnce(&mut ClientConfig)) -> (ScriptedServer, ClientHandle) {
    let server = ScriptedServer::start().await;
    let mut config = fast_timers(ClientConfig::new(CountingProvider::new(server.url())));
    config.ack_timeout = Duration::from_secs(5);
    tweak(&mut config);
    let mut handle = client::spawn(config);
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    (server, handle)
}

fn message_frame(group: &str, user: &str, sequence_id: u64, text: &str) -> String {
    encode_service(&ServiceMessage::Message(DataMessage {
        source: MessageSource::Group {
            group: group.into(),
            from_user_id: Some(user.into()),
        },
        sequence_id: Some(sequence_id),
        payload: Payload::Text(text.into()),
    }))
}

fn text_of(event: &Event) -> Option<&str> {
    match event {
        Event::Message(DataMessage {
            payload: Payload::Text(text),
            ..
        }) => Some(text),
        _ => None,
    }
}

/// Every event up to the message whose text is `marker` (which the server sends last, so the
/// engine has handled everything before it).
async fn events_until(handle: &mut ClientHandle, marker: &str) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = next_event(handle).await;
        if text_of(&event) == Some(marker) {
            return events;
        }
        events.push(event);
    }
}

/// The engine still sends and gets acks: op 99 to group `room` is acked.
async fn still_works(handle: &mut ClientHandle) {
    let send = Command::SendToGroup {
        op: 99,
        group: "room".into(),
        payload: Payload::Text("still here".into()),
        no_echo: false,
        fire_and_forget: false,
    };
    handle.commands.send(send).await.expect("engine running");
    let Event::OpResult { outcome, .. } =
        wait_for(handle, |e| matches!(e, Event::OpResult { op: 99, .. })).await
    else {
        unreachable!("waited for it")
    };
    assert!(matches!(outcome, OpOutcome::Done { .. }), "{outcome:?}");
}

#[tokio::test]
async fn garbage_frames_are_reported_briefly_and_the_engine_stays_up() {
    let (server, mut handle) = connected(|_| {}).await;
    let garbage = [
        "not json at all".to_string(),
        "[".repeat(100_000),
        format!(r#"{{"type":"{}"}}"#, "x".repeat(1 << 20)),
        r#"{"type":"message","from":"group","group":5,"dataType":"text","data":"x"}"#.into(),
        r#"{"type":"ack","ackId":"one","success":true}"#.into(),
        r#"{"type":"system","event":"connected","connectionId":null}"#.into(),
        "\u{1b}]0;pwned\u{7}\u{1b}[2J".into(),
    ];
    for frame in &garbage {
        server.send_raw(frame);
    }
    server.send_binary(&[0xff; 4096]);
    server.send_raw(&message_frame("room", "bob", 1, "marker"));
    let events = events_until(&mut handle, "marker").await;
    let reports: Vec<(&String, &String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Unrecognized { frame, error } => Some((frame, error)),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), garbage.len() + 1, "{events:?}");
    for (frame, error) in reports {
        assert!(frame.len() <= SHOWN_AT_MOST, "{} bytes", frame.len());
        assert!(error.len() <= SHOWN_AT_MOST, "{} bytes", error.len());
    }
    still_works(&mut handle).await;
}

#[tokio::test]
async fn a_frame_over_the_size_limit_drops_the_link_and_the_session_recovers() {
    let (server, mut handle) = connected(|c| c.max_incoming_message = 64 * 1024).await;
    let oversized = message_frame("room", "bob", 1, &"x".repeat(128 * 1024));
    server.send_raw(&oversized);
    let dropped = wait_for(&mut handle, |e| matches!(e, Event::Disconnected { .. })).await;
    let Event::Disconnected { reason } = dropped else {
        unreachable!("waited for it")
    };
    assert!(reason.contains("too long"), "{reason}");
    wait_for(&mut handle, |e| matches!(e, Event::Recovered { .. })).await;
    server.publish("after the big one");
    let event = wait_for(&mut handle, |e| text_of(e).is_some()).await;
    assert_eq!(text_of(&event), Some("after the big one"));
    still_works(&mut handle).await;
}

#[tokio::test]
async fn a_hundred_thousand_acks_for_ids_never_sent_change_nothing() {
    let (server, mut handle) = connected(|_| {}).await;
    for ack_id in 1..=100_000u64 {
        server.send_raw(&format!(
            r#"{{"type":"ack","ackId":{ack_id},"success":true}}"#
        ));
    }
    server.send_raw(&message_frame("room", "bob", 1, "marker"));
    let events = events_until(&mut handle, "marker").await;
    // Nothing was waiting for those acks: not one event, and nothing kept for them.
    assert!(
        events.is_empty(),
        "{} events: {:?}",
        events.len(),
        events.first()
    );
    still_works(&mut handle).await;
}

#[tokio::test]
async fn sequence_ids_going_backwards_are_dropped_and_the_ack_never_goes_back() {
    let (server, mut handle) = connected(|_| {}).await;
    for id in [10, 9, 8, 1, 11, 5, 12] {
        server.send_raw(&message_frame("room", "bob", id, &format!("s{id}")));
    }
    server.send_raw(&message_frame("room", "bob", 13, "marker"));
    let texts: Vec<String> = events_until(&mut handle, "marker")
        .await
        .iter()
        .filter_map(|e| text_of(e).map(String::from))
        .collect();
    assert_eq!(texts, ["s10", "s11", "s12"]);
    let deadline = tokio::time::Instant::now() + engine::WAIT;
    while !server.sequence_acks().contains(&13) {
        assert!(tokio::time::Instant::now() < deadline, "no sequenceAck 13");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acks = server.sequence_acks();
    assert!(acks.windows(2).all(|w| w[0] <= w[1]), "{acks:?}");
    still_works(&mut handle).await;
}

/// The chat's screen at 80×24 after these engine events, as text.
fn chat_screen(events: Vec<Event>) -> String {
    let mut app = tui::connected_app();
    for event in events {
        app.update(event);
    }
    app.update(Action::Resize(80, 24));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal
        .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
        .expect("draw");
    screen::text_of(terminal.backend().buffer())
}

#[tokio::test]
async fn a_megabyte_group_name_or_user_id_stays_bounded_and_the_screen_intact() {
    let (server, mut handle) = connected(|_| {}).await;
    // About 1 MB on the wire (each escape is six bytes of JSON), under the 4 MiB frame limit.
    let huge = "\u{1b}[2J".repeat(1 << 16) + &"é".repeat(1 << 18);
    server.send_raw(&message_frame(&huge, "bob", 1, "to a huge group"));
    server.send_raw(&message_frame("lobby", &huge, 2, "from a huge name"));
    server.send_raw(&message_frame("lobby", "bob", 3, "marker"));
    let events = events_until(&mut handle, "marker").await;
    assert_eq!(events.len(), 2, "{events:?}");
    match &events[0] {
        Event::Unrecognized { frame, error } => {
            assert!(frame.len() <= SHOWN_AT_MOST, "{} bytes", frame.len());
            assert!(error.contains("at most 1024"), "{error}");
        }
        other => panic!("the huge group was passed on: {other:?}"),
    }
    match &events[1] {
        Event::Message(DataMessage {
            source: MessageSource::Group { from_user_id, .. },
            ..
        }) => {
            let user = from_user_id.as_deref().unwrap_or_default();
            assert_eq!(
                user.chars().count(),
                1025,
                "cut at 1024 characters and marked"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let screen = chat_screen(events);
    let rows: Vec<&str> = screen.lines().collect();
    assert_eq!(rows.len(), 24, "{screen}");
    assert!(screen.contains("from a huge name"), "{screen}");
    assert!(screen.contains("lobby"), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen}");
    // The message line shows the start of the name, made inert, and the text after it.
    assert!(screen.contains("␛[2J"), "{screen}");
    still_works(&mut handle).await;
}
