//! Running the built chat for real, shared by the end-to-end test (`tests/e2e_tmux.rs`) and
//! the flood benchmark (`benches/tui_flood.rs`): `wpchat serve` on a free port, a private tmux
//! server, and the shell command that starts a chat with a home of its own. Errors are
//! `String`s saying what failed; the test unwraps them, the benchmark prints them.

#![allow(dead_code)] // Each user takes only some of these.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wpchat::service::DEV_ACCESS_KEY;

pub const BINARY: &str = env!("CARGO_BIN_EXE_wpchat");
/// How often a screen or a port is looked at while waiting.
pub const POLL: Duration = Duration::from_millis(20);

pub type Outcome<T> = Result<T, String>;

/// `wpchat serve` with a home of its own, killed when dropped (also when the caller fails).
pub struct Service {
    child: Child,
    pub port: u16,
    stderr: PathBuf,
}

impl Service {
    /// Starts the service in `home` and waits up to `limit` for it to listen.
    pub fn start(home: &Path, limit: Duration) -> Outcome<Service> {
        Self::start_with(home, limit, &[])
    }

    /// [`Service::start`] with more `wpchat serve` flags (`--upstream URL`).
    pub fn start_with(home: &Path, limit: Duration, flags: &[&str]) -> Outcome<Service> {
        std::fs::create_dir_all(home).map_err(|e| format!("create {}: {e}", home.display()))?;
        let port = free_port()?;
        let stderr = home.join("serve.stderr");
        let stderr_file = std::fs::File::create(&stderr)
            .map_err(|e| format!("create {}: {e}", stderr.display()))?;
        let mut command = Command::new(BINARY);
        command
            .args(["serve", "--port", &port.to_string()])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file);
        for (name, value) in private_home(home) {
            command.env(name, value);
        }
        let child = command
            .env_remove("WPCHAT_CONFIG")
            .env_remove("WebPubSubConnectionString")
            .spawn()
            .map_err(|e| format!("cannot start wpchat serve: {e}"))?;
        let mut service = Service {
            child,
            port,
            stderr,
        };
        service.wait_until_listening(limit)?;
        Ok(service)
    }

    fn wait_until_listening(&mut self, limit: Duration) -> Outcome<()> {
        let deadline = Instant::now() + limit;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "wpchat serve exited ({status}) before listening: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "wpchat serve did not listen on port {} within {limit:?}",
                    self.port
                ));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    pub fn connection_string(&self) -> String {
        connection_string(self.port)
    }

    /// `wpchat send` as `user` to `group` (home `home`); fails unless every message was acked.
    pub fn send(&self, home: &Path, user: &str, group: &str, text: &str) -> Outcome<()> {
        let connection_string = self.connection_string();
        let mut command = Command::new(BINARY);
        command.args([
            "send",
            "--connection-string",
            &connection_string,
            "--hub",
            "chat",
        ]);
        command.args(["--user", user, "--group", group, text]);
        for (name, value) in private_home(home) {
            command.env(name, value);
        }
        let output = command
            .env_remove("WPCHAT_CONFIG")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run wpchat send: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "wpchat send failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tmux server on a private socket, killed (and its socket file removed) when dropped.
pub struct Tmux {
    socket: String,
    socket_path: Option<PathBuf>,
}

impl Tmux {
    /// A private tmux server named after `purpose` and this process; fails when tmux is
    /// missing, saying how to install it.
    pub fn start(purpose: &str) -> Outcome<Tmux> {
        match Command::new("tmux").arg("-V").output() {
            Ok(output) if output.status.success() => {}
            _ => {
                return Err(
                    "tmux is needed and was not found; install it (apt-get install \
                            tmux, brew install tmux) — .ci/run does"
                        .to_string(),
                );
            }
        }
        Ok(Tmux {
            socket: format!("wpchat-{purpose}-{}", std::process::id()),
            socket_path: None,
        })
    }

    /// A `tmux` command line on this server, to which the caller adds the command.
    pub fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .env_remove("TMUX");
        command
    }

    /// Runs a tmux command on this server; returns what it printed.
    pub fn run(&self, args: &[&str]) -> Outcome<String> {
        let output = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tmux: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "tmux {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A detached session of `columns`×`rows` running `command` through `sh`.
    pub fn session(
        &mut self,
        name: &str,
        (columns, rows): (u16, u16),
        command: &str,
    ) -> Outcome<()> {
        let (columns, rows) = (columns.to_string(), rows.to_string());
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &columns,
            "-y",
            &rows,
            "sh",
            "-c",
            command,
        ])?;
        if self.socket_path.is_none() {
            let path = self.display(name, "#{socket_path}")?;
            self.socket_path = Some(PathBuf::from(path));
        }
        Ok(())
    }

    /// A tmux format (`#{pane_pid}`) for a session.
    pub fn display(&self, session: &str, format: &str) -> Outcome<String> {
        let output = self.run(&["display-message", "-p", "-t", session, format])?;
        Ok(output.trim().to_string())
    }

    pub fn screen(&self, session: &str) -> Outcome<String> {
        self.run(&["capture-pane", "-p", "-t", session])
    }

    /// Polls the screen until `condition` holds; fails with the screen after `limit`.
    pub fn wait_for(
        &self,
        session: &str,
        what: &str,
        limit: Duration,
        condition: impl Fn(&str) -> bool,
    ) -> Outcome<String> {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen(session)?;
            if condition(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{session}: waited {limit:?} for {what}; the screen shows:\n{screen}"
                ));
            }
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
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn free_port() -> Outcome<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    Ok(address.port())
}

/// The connection string of the local service on `port`, with its development key.
pub fn connection_string(port: u16) -> String {
    format!("Endpoint=http://127.0.0.1:{port};AccessKey={DEV_ACCESS_KEY};Version=1.0;")
}

/// Quotes a word for `sh`.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The variables that give a process `home` as its home, config, state and data dirs.
fn private_home(home: &Path) -> [(&'static str, PathBuf); 4] {
    [
        ("HOME", home.to_path_buf()),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_STATE_HOME", home.join("state")),
        ("XDG_DATA_HOME", home.join("data")),
    ]
}

/// The shell words that run the chat binary with `args` in a home of its own (no real config
/// is read), its state in `state_dir`, and a colour terminal.
pub fn chat_command(home: &Path, state_dir: &Path, args: &[&str]) -> String {
    let mut words: Vec<String> = vec!["env".into(), "-u".into(), "WPCHAT_CONFIG".into()];
    for (name, value) in private_home(home) {
        let value = if name == "XDG_STATE_HOME" {
            state_dir.to_path_buf()
        } else {
            value
        };
        words.push(quote(&format!("{name}={}", value.display())));
    }
    words.push("TERM=xterm-256color".into());
    words.push(quote(BINARY));
    words.extend(args.iter().map(|arg| quote(arg)));
    words.join(" ")
}

/// [`chat_command`] for `user` on `service`'s hub `chat`, with a connection string.
pub fn chat_as(home: &Path, state_dir: &Path, service: &Service, user: &str) -> String {
    chat_as_with(home, state_dir, service, user, &[])
}

/// [`chat_as`] with more chat flags (`--protocol none`).
pub fn chat_as_with(
    home: &Path,
    state_dir: &Path,
    service: &Service,
    user: &str,
    flags: &[&str],
) -> String {
    let connection_string = service.connection_string();
    let mut args = vec![
        "--connection-string",
        &connection_string,
        "--hub",
        "chat",
        "--user",
        user,
    ];
    args.extend_from_slice(flags);
    chat_command(home, state_dir, &args)
}
