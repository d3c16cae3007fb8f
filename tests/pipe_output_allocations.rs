//! `listen`'s output path allocates nothing per message: with the line buffers warmed up,
//! writing JSON and text lines of group messages (plain, escaped and non-ASCII text) costs
//! no heap allocation on the writing thread, as a counting global allocator sees it.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{Counting, thread_allocations};
use wpchat::pipe_output::{WrittenNames, write_json_line, write_text_line};
use wpchat::protocol::{DataMessage, MessageSource, Payload};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn messages() -> Vec<DataMessage> {
    [
        "hello, 100 bytes of plain text would be here",
        "quote \" and\nnewline \u{1b}[2J",
        "héllo 👋 wörld",
    ]
    .into_iter()
    .enumerate()
    .map(|(at, text)| DataMessage {
        source: MessageSource::Group {
            group: "general".into(),
            from_user_id: Some("alice".into()),
        },
        sequence_id: Some(at as u64 + 1),
        payload: Payload::Text(text.into()),
    })
    .collect()
}

#[test]
fn writing_lines_allocates_nothing_per_message() {
    let messages = messages();
    let mut json = Vec::with_capacity(512);
    let mut text = String::with_capacity(512);
    let mut names = WrittenNames::default();
    let mut write_all = |rounds: usize| {
        for _ in 0..rounds {
            for message in &messages {
                json.clear();
                write_json_line(&mut json, message, "2026-11-27T18:00:05.000Z", &mut names);
                text.clear();
                write_text_line(&mut text, message, "18:00:05", false, &mut names);
            }
        }
    };
    // One round first: one-time set-up (lazily built tables) is not a per-message cost.
    write_all(1);
    let before = thread_allocations();
    write_all(10_000);
    assert_eq!(
        thread_allocations() - before,
        0,
        "heap allocations for 30 000 JSON and text lines"
    );
    assert!(json.ends_with(b"\n") && text.ends_with('\n'));
}
