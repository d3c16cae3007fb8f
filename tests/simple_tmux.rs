//! End to end in tmux: the chat as a simple WebSocket client (`--protocol none`) of
//! `wpchat serve --upstream` with the echo handler written in the test. Typing `hello` sends
//! one text frame and the handler's `echo: hello` shows in the connection's buffer; the status
//! bar says it is a simple connection and the join key says why it does nothing.

#[path = "support/event_handler.rs"]
mod event_handler;
#[path = "tui_support/tmux.rs"]
mod tmux;

use std::time::Duration;

use event_handler::EventHandler;
use tmux::{Service, Tmux, chat_as_with};

const WAIT: Duration = Duration::from_secs(15);

fn wait_for(tmux: &Tmux, what: &str, condition: impl Fn(&str) -> bool) -> String {
    tmux.wait_for("ann", what, WAIT, condition)
        .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_simple_chat_types_hello_and_shows_the_handler_s_echo() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the handler");
    let handler = runtime.block_on(EventHandler::start());
    let mut tmux = Tmux::start("simple").unwrap_or_else(|error| panic!("{error}"));
    let temp = tempfile::tempdir().expect("temp dir");
    let template = handler.template();
    let service = Service::start_with(temp.path(), WAIT, &["--upstream", &template])
        .unwrap_or_else(|error| panic!("{error}"));
    let home = temp.path().join("ann");
    let chat = chat_as_with(
        &home,
        &home.join("state"),
        &service,
        "ann",
        &["--protocol", "none"],
    );
    tmux.session("ann", (100, 30), &format!("{chat}; exec sleep 600"))
        .unwrap();
    wait_for(&tmux, "a simple connection", |s| {
        s.contains("● connected") && s.contains("simple WebSocket")
    });

    tmux.run(&["send-keys", "-t", "ann", "-l", "hello"])
        .unwrap();
    tmux.run(&["send-keys", "-t", "ann", "Enter"]).unwrap();
    let screen = wait_for(&tmux, "the handler's echo", |s| s.contains("echo: hello"));
    assert!(screen.contains("#connection"), "{screen}");

    // Alt+J has no group to join here, and says so.
    tmux.run(&["send-keys", "-t", "ann", "M-j"]).unwrap();
    wait_for(&tmux, "why joining does nothing", |s| {
        s.contains("no groups")
    });

    tmux.run(&["send-keys", "-t", "ann", "C-c", "C-c"]).unwrap();
}
