//! End to end in tmux: the built binary runs `wpchat serve` on a free port, two chat clients
//! (alice and bob) run in tmux sessions on a private tmux socket, keys are typed with
//! `send-keys` and screens read with `capture-pane`. Every wait is a bounded poll.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use wpchat::service::DEV_ACCESS_KEY;

/// How long any one condition may take to appear.
const WAIT: Duration = Duration::from_secs(10);
/// How often the screen is read while waiting.
const POLL: Duration = Duration::from_millis(50);
const BINARY: &str = env!("CARGO_BIN_EXE_wpchat");

/// `wpchat serve`, killed when dropped (also when the test fails).
struct Service {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Service {
    fn start(dir: &Path) -> Service {
        let port = free_port();
        let stderr = dir.join("serve.stderr");
        let stderr_file = std::fs::File::create(&stderr).expect("create the serve log");
        let child = Command::new(BINARY)
            .args(["serve", "--port", &port.to_string()])
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .env_remove("WPCHAT_CONFIG")
            .env_remove("WebPubSubConnectionString")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file)
            .spawn()
            .expect("start wpchat serve");
        let mut service = Service {
            child,
            port,
            stderr,
        };
        service.wait_until_listening();
        service
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "wpchat serve exited ({status}) before listening: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "wpchat serve did not listen on port {} within {WAIT:?}",
                self.port
            );
            std::thread::sleep(POLL);
        }
    }

    fn connection_string(&self) -> String {
        format!(
            "Endpoint=http://127.0.0.1:{};AccessKey={DEV_ACCESS_KEY};Version=1.0;",
            self.port
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tmux server on a private socket, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(output) if output.status.success() => {}
            _ => panic!(
                "tmux is needed for the end-to-end test and was not found; install it \
                 (apt-get install tmux, brew install tmux) — .ci/run does"
            ),
        }
        Tmux {
            socket: format!("wpchat-e2e-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// A detached 100×30 session running `command` through `sh`.
    fn session(&self, name: &str, command: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            "sh",
            "-c",
            command,
        ]);
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types text literally (no key-name lookup).
    fn type_text(&self, session: &str, text: &str) {
        self.run(&["send-keys", "-t", session, "-l", text]);
    }

    fn screen(&self, session: &str) -> String {
        let output = self.run(&["capture-pane", "-p", "-t", session]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn display(&self, session: &str, format: &str) -> String {
        let output = self.run(&["display-message", "-p", "-t", session, format]);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Polls the screen until `condition` holds; fails with the screen after [`WAIT`].
    fn wait_for(&self, session: &str, what: &str, condition: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen(session);
            if condition(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{session}: waited {WAIT:?} for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .env_remove("TMUX")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
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

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Quotes a word for `sh`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The shell command for one chat client: a private home (no real config is read), then the
/// client's exit status, then a long sleep so that the pane stays to be read.
fn client_command(home: &Path, state_dir: &Path, service: &Service, user: &str) -> String {
    let env = [
        ("HOME", home.to_path_buf()),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_STATE_HOME", state_dir.to_path_buf()),
        ("XDG_DATA_HOME", home.join("data")),
    ];
    let mut words: Vec<String> = vec!["env".into(), "-u".into(), "WPCHAT_CONFIG".into()];
    for (name, value) in env {
        words.push(quote(&format!("{name}={}", value.display())));
    }
    words.push("TERM=xterm-256color".into());
    words.push(quote(BINARY));
    for arg in [
        "--connection-string",
        &service.connection_string(),
        "--hub",
        "chat",
        "--user",
        user,
    ] {
        words.push(quote(arg));
    }
    format!("{}; echo EXITED $?; exec sleep 600", words.join(" "))
}

fn join_with_alt_j(tmux: &Tmux, session: &str, group: &str) {
    tmux.keys(session, &["M-j"]);
    tmux.wait_for(session, "the join prompt", |s| s.contains("join group"));
    tmux.type_text(session, group);
    tmux.keys(session, &["Enter"]);
    tmux.wait_for(session, &format!("joined {group}"), |s| {
        s.contains(&format!("#{group} ")) && s.contains(&format!("joined {group}"))
    });
}

#[test]
fn two_clients_chat_through_wpchat_serve() {
    let tmux = Tmux::start();
    let temp = tempfile::tempdir().expect("temp dir");
    let service = Service::start(temp.path());
    let alice_home = temp.path().join("alice");
    let bob_home = temp.path().join("bob");
    // Bob's state dir is a file, so his log cannot be created: he chats without one.
    let not_a_dir = temp.path().join("not-a-dir");
    std::fs::write(&not_a_dir, b"").expect("write a file");
    tmux.session(
        "alice",
        &client_command(&alice_home, &alice_home.join("state"), &service, "alice"),
    );
    tmux.session(
        "bob",
        &client_command(&bob_home, &not_a_dir, &service, "bob"),
    );
    for session in ["alice", "bob"] {
        tmux.wait_for(session, "connected in #lobby", |s| {
            s.contains("● connected") && s.contains("joined lobby")
        });
    }

    // What must be undone at exit is on while the chat runs.
    assert_eq!(tmux.display("alice", "#{alternate_on}"), "1");
    assert_eq!(tmux.display("alice", "#{mouse_any_flag}"), "1");

    join_with_alt_j(&tmux, "alice", "ops");
    join_with_alt_j(&tmux, "bob", "ops");

    tmux.type_text("alice", "deploy finished on ops");
    tmux.keys("alice", &["Enter"]);
    let screen = tmux.wait_for("bob", "alice's message", |s| {
        s.lines()
            .any(|line| line.contains("alice") && line.contains("deploy finished on ops"))
    });
    assert!(screen.contains("#ops"), "bob reads it in #ops:\n{screen}");
    tmux.wait_for("alice", "the ack of alice's own message", |s| {
        s.lines()
            .any(|line| line.contains("deploy finished on ops") && line.contains('✓'))
    });

    tmux.keys("bob", &["M-l"]);
    tmux.wait_for("bob", "the leave confirmation", |s| {
        s.contains("leave #ops?")
    });
    tmux.keys("bob", &["y"]);
    tmux.wait_for("bob", "ops gone from the group pane", |s| {
        !s.contains("ops") && s.contains("#lobby")
    });

    // From the first group, the previous buffer is the last one: system.
    tmux.keys("bob", &["C-p"]);
    tmux.wait_for("bob", "the log notice in the system buffer", |s| {
        log_text(s).contains("continuing without a log file")
    });

    tmux.keys("alice", &["C-c"]);
    tmux.wait_for("alice", "the quit hint", |s| {
        s.contains("press Ctrl+C again to quit")
    });
    tmux.keys("alice", &["C-c"]);
    let screen = tmux.wait_for("alice", "the client to exit", |s| s.contains("EXITED"));
    assert!(screen.contains("EXITED 0"), "exit status 0:\n{screen}");
    assert_eq!(
        tmux.display("alice", "#{alternate_on}"),
        "0",
        "the alternate screen is off again"
    );
    assert!(
        !screen.contains("● connected"),
        "the chat screen is gone:\n{screen}"
    );
    assert_eq!(
        tmux.display("alice", "#{cursor_flag}"),
        "1",
        "the cursor is visible again"
    );
    assert_eq!(
        tmux.display("alice", "#{mouse_any_flag}"),
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
