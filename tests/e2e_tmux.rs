//! End to end in tmux: the built binary runs `wpchat serve` on a free port, two chat clients
//! (alice and bob) run in tmux sessions on a private tmux socket, keys are typed with
//! `send-keys` and screens read with `capture-pane`. Every wait is a bounded poll.

#[path = "tui_support/tmux.rs"]
mod tmux;

use std::path::Path;
use std::time::Duration;

use tmux::{Service, Tmux, chat_as};
use wpchat::service::DEV_ACCESS_KEY;

/// How long any one condition may take to appear.
const WAIT: Duration = Duration::from_secs(10);

fn keys(tmux: &Tmux, session: &str, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", session];
    args.extend_from_slice(keys);
    tmux.run(&args).unwrap();
}

/// Types text literally (no key-name lookup).
fn type_text(tmux: &Tmux, session: &str, text: &str) {
    tmux.run(&["send-keys", "-t", session, "-l", text]).unwrap();
}

fn display(tmux: &Tmux, session: &str, format: &str) -> String {
    tmux.display(session, format).unwrap()
}

/// Polls the screen until `condition` holds; fails with the screen after [`WAIT`].
fn wait_for(tmux: &Tmux, session: &str, what: &str, condition: impl Fn(&str) -> bool) -> String {
    tmux.wait_for(session, what, WAIT, condition)
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The log pane's text with wrapped rows joined by spaces, so that a phrase can be found
/// wherever the pane's width broke it.
fn log_text(screen: &str) -> String {
    screen
        .lines()
        .filter_map(|row| {
            let inner = row.rsplit_once("││").map(|(_, rest)| rest)?;
            Some(inner.trim_end_matches('│').trim().to_string())
        })
        .filter(|row| !row.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shell command for one chat client: a private home (no real config is read), then the
/// client's exit status, then a long sleep so that the pane stays to be read.
fn client_command(home: &Path, state_dir: &Path, service: &Service, user: &str) -> String {
    let chat = chat_as(home, state_dir, service, user);
    format!("{chat}; echo EXITED $?; exec sleep 600")
}

fn join_with_alt_j(tmux: &Tmux, session: &str, group: &str) {
    keys(tmux, session, &["M-j"]);
    wait_for(tmux, session, "the join prompt", |s| {
        s.contains("join group")
    });
    type_text(tmux, session, group);
    keys(tmux, session, &["Enter"]);
    wait_for(tmux, session, &format!("joined {group}"), |s| {
        s.contains(&format!("#{group} ")) && s.contains(&format!("joined {group}"))
    });
}

#[test]
fn two_clients_chat_through_wpchat_serve() {
    let mut tmux = Tmux::start("e2e").unwrap_or_else(|error| panic!("{error}"));
    let temp = tempfile::tempdir().expect("temp dir");
    let service = Service::start(temp.path(), WAIT).unwrap_or_else(|error| panic!("{error}"));
    let alice_home = temp.path().join("alice");
    let bob_home = temp.path().join("bob");
    // Bob's state dir is a file, so his log cannot be created: he chats without one.
    let not_a_dir = temp.path().join("not-a-dir");
    std::fs::write(&not_a_dir, b"").expect("write a file");
    let alice = client_command(&alice_home, &alice_home.join("state"), &service, "alice");
    tmux.session("alice", (100, 30), &alice).unwrap();
    let bob = client_command(&bob_home, &not_a_dir, &service, "bob");
    tmux.session("bob", (100, 30), &bob).unwrap();
    for session in ["alice", "bob"] {
        wait_for(&tmux, session, "connected in #lobby", |s| {
            s.contains("● connected") && s.contains("joined lobby")
        });
    }

    flags_do_not_smear_the_screen(&tmux, &service, &temp.path().join("carol"));

    // What must be undone at exit is on while the chat runs.
    assert_eq!(display(&tmux, "alice", "#{alternate_on}"), "1");
    assert_eq!(display(&tmux, "alice", "#{mouse_any_flag}"), "1");

    join_with_alt_j(&tmux, "alice", "ops");
    join_with_alt_j(&tmux, "bob", "ops");

    type_text(&tmux, "alice", "deploy finished on ops");
    keys(&tmux, "alice", &["Enter"]);
    let screen = wait_for(&tmux, "bob", "alice's message", |s| {
        s.lines()
            .any(|line| line.contains("alice") && line.contains("deploy finished on ops"))
    });
    assert!(screen.contains("#ops"), "bob reads it in #ops:\n{screen}");
    wait_for(&tmux, "alice", "the ack of alice's own message", |s| {
        s.lines()
            .any(|line| line.contains("deploy finished on ops") && line.contains('✓'))
    });

    keys(&tmux, "bob", &["M-l"]);
    wait_for(&tmux, "bob", "the leave confirmation", |s| {
        s.contains("leave #ops?")
    });
    keys(&tmux, "bob", &["y"]);
    wait_for(&tmux, "bob", "ops gone from the group pane", |s| {
        !s.contains("ops") && s.contains("#lobby")
    });

    // From the first group, the previous buffer is the last one: system.
    keys(&tmux, "bob", &["C-p"]);
    wait_for(&tmux, "bob", "the log notice in the system buffer", |s| {
        log_text(s).contains("continuing without a log file")
    });

    keys(&tmux, "alice", &["C-c"]);
    wait_for(&tmux, "alice", "the quit hint", |s| {
        s.contains("press Ctrl+C again to quit")
    });
    keys(&tmux, "alice", &["C-c"]);
    let screen = wait_for(&tmux, "alice", "the client to exit", |s| {
        s.contains("EXITED")
    });
    assert!(screen.contains("EXITED 0"), "exit status 0:\n{screen}");
    assert_eq!(
        display(&tmux, "alice", "#{alternate_on}"),
        "0",
        "the alternate screen is off again"
    );
    assert!(
        !screen.contains("● connected"),
        "the chat screen is gone:\n{screen}"
    );
    assert_eq!(
        display(&tmux, "alice", "#{cursor_flag}"),
        "1",
        "the cursor is visible again"
    );
    assert_eq!(
        display(&tmux, "alice", "#{mouse_any_flag}"),
        "0",
        "mouse capture is off again"
    );

    // The log file exists and holds neither the key, a token nor a message body.
    let log_path = alice_home.join("state").join("wpchat").join("wpchat.log");
    let log = std::fs::read_to_string(&log_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", log_path.display()));
    assert!(log.contains("connected"), "the log has content:\n{log}");
    for secret in [DEV_ACCESS_KEY, "access_token", "deploy finished"] {
        assert!(!log.contains(secret), "the log holds '{secret}':\n{log}");
    }
    drop(service);
}

/// Issue 15, item 1: flags and ZWJ sequences from another user, then two plain messages: every
/// row of bob's screen still ends at its border and no regional indicator reached tmux.
fn flags_do_not_smear_the_screen(tmux: &Tmux, service: &Service, carol_home: &Path) {
    let send = |text: &str| {
        service
            .send(carol_home, "carol", "lobby", text)
            .unwrap_or_else(|error| panic!("{error}"))
    };
    send("two flags 🇯🇵🇫🇷 end");
    send(&"🇯🇵🇫🇷👨‍👩‍👧‍👦".repeat(12));
    send("plain one");
    send("plain two");
    let screen = wait_for(tmux, "bob", "the two plain messages", |s| {
        s.contains("plain one") && s.contains("plain two")
    });
    assert!(screen.contains("JPFR"), "flags drawn as letters:\n{screen}");
    assert!(
        !screen
            .chars()
            .any(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)),
        "no regional indicator reached the terminal:\n{screen}"
    );
    for row in screen.lines().filter(|row| row.contains("││")) {
        assert!(row.ends_with('│'), "a row lost its right border:\n{screen}");
    }
    let status = screen.lines().last().unwrap_or_default();
    assert!(
        screen
            .lines()
            .any(|row| row.contains("● connected") && row.contains("F1 help")),
        "the status bar is whole ({status}):\n{screen}"
    );
}

/// Issue 15, the last item: with `[ui] hyperlinks = "on"` a link reaches the terminal inside
/// OSC 8 (read from the pane's raw output: tmux 3.3 swallows the escape, newer ones keep it),
/// and after later messages, scrolling back and a resize every row is still whole: nothing of
/// an escape and no stray link text is left on the screen.
#[test]
fn links_are_hyperlinks_and_redraws_stay_clean() {
    const LINK: &str = "https://example.com/wpchat/notes?tab=all";
    let mut tmux = Tmux::start("links").unwrap_or_else(|error| panic!("{error}"));
    let temp = tempfile::tempdir().expect("temp dir");
    let service = Service::start(temp.path(), WAIT).unwrap_or_else(|error| panic!("{error}"));
    let home = temp.path().join("alice");
    let config_dir = home.join("config").join("wpchat");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(
        config_dir.join("config.toml"),
        "[ui]\nhyperlinks = \"on\"\n",
    )
    .expect("write the config");
    let alice = client_command(&home, &home.join("state"), &service, "alice");
    tmux.session("alice", (100, 24), &alice).unwrap();
    wait_for(&tmux, "alice", "connected in #lobby", |s| {
        s.contains("● connected") && s.contains("joined lobby")
    });
    let raw = temp.path().join("alice.raw");
    let pipe = format!("cat >> {}", tmux::quote(&raw.display().to_string()));
    tmux.run(&["pipe-pane", "-O", "-t", "alice", &pipe])
        .unwrap();

    let carol = temp.path().join("carol");
    let send = |text: &str| {
        service
            .send(&carol, "carol", "lobby", text)
            .unwrap_or_else(|error| panic!("{error}"))
    };
    send(&format!("release notes at {LINK} today"));
    let screen = wait_for(&tmux, "alice", "the link", |s| s.contains(LINK));
    assert_clean(&screen, "the link as it arrived");
    let opened = format!("\x1b]8;;{LINK}\x1b\\");
    let mut output = String::new();
    for _ in 0..500 {
        output = String::from_utf8_lossy(&std::fs::read(&raw).unwrap_or_default()).into_owned();
        if output.contains(&opened) {
            break;
        }
        std::thread::sleep(tmux::POLL);
    }
    assert!(output.contains(&opened), "the link went out as OSC 8");
    assert_eq!(
        output.matches("\x1b]8;;").count(),
        2 * output.matches(&opened).count(),
        "every hyperlink cell that is opened is closed"
    );

    for i in 0..20 {
        send(&format!("later message {i}"));
    }
    let screen = wait_for(&tmux, "alice", "the later messages", |s| {
        s.contains("later message 19")
    });
    assert_clean(&screen, "after twenty later messages");
    keys(&tmux, "alice", &["PageUp"]);
    let screen = wait_for(&tmux, "alice", "the link again", |s| s.contains(LINK));
    assert_clean(&screen, "scrolled back to the link");
    tmux.run(&["resize-window", "-t", "alice", "-x", "83", "-y", "18"])
        .unwrap();
    let screen = wait_for(&tmux, "alice", "the narrower screen", |s| {
        s.lines()
            .next()
            .is_some_and(|row| row.chars().count() == 83)
            && s.lines().any(|row| row.ends_with('│'))
    });
    assert_clean(&screen, "after a resize");
    keys(&tmux, "alice", &["End"]);
    send("after the resize");
    let screen = wait_for(&tmux, "alice", "a message after the resize", |s| {
        s.contains("after the resize")
    });
    assert_clean(&screen, "a message after the resize");
    drop(service);
}

/// Every row of the chat's boxes ends at its border, nothing of an escape shows, and a link
/// shown is shown whole.
fn assert_clean(screen: &str, when: &str) {
    for row in screen.lines().filter(|row| row.contains("││")) {
        assert!(
            row.ends_with('│'),
            "{when}: a row lost its border:\n{screen}"
        );
    }
    assert!(
        !screen.contains("]8;") && !screen.contains('\u{1b}'),
        "{when}: escape text on the screen:\n{screen}"
    );
    for row in screen.lines().filter(|row| row.contains("example.com")) {
        assert!(
            row.contains("https://example.com/wpchat/notes?tab=all"),
            "{when}: a broken link:\n{screen}"
        );
    }
}
