//! The built `wpchat` binary as a test runs it: a fresh home (config, state and log dirs), no
//! connection string from the environment, stdout and stderr captured, killed when dropped.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::Command;

/// Longest a command under test may take: generous for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(20);

/// A home directory with an empty config file, so no config warning adds to stderr.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.toml"), "").expect("write config");
        Home { dir }
    }

    /// `wpchat ARGS` in this home, for a test without a runtime.
    pub fn wpchat_blocking(&self, args: &[&str]) -> std::process::Command {
        let path = self.dir.path();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wpchat"));
        command
            .args(args)
            .env("HOME", path)
            .env("XDG_CONFIG_HOME", path.join("config"))
            .env("XDG_STATE_HOME", path.join("state"))
            .env("XDG_DATA_HOME", path.join("data"))
            .env("WPCHAT_CONFIG", path.join("config.toml"))
            .env("WPCHAT_EMBEDDED_PORT", "0")
            .env_remove("WebPubSubConnectionString")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// `wpchat ARGS` in this home, killed when dropped.
    pub fn wpchat(&self, args: &[&str]) -> Command {
        let mut command = Command::from(self.wpchat_blocking(args));
        command.kill_on_drop(true);
        command
    }

    /// Runs `wpchat ARGS` to its end (within [`WAIT`]).
    pub async fn run(&self, args: &[&str]) -> Output {
        let child = self.wpchat(args).spawn().expect("wpchat starts");
        finished(child).await
    }
}

/// One home for the commands of a test binary that need none of their own. Statics are never
/// dropped, so its few empty folders stay in the temp dir.
pub fn shared_home() -> &'static Home {
    static HOME: OnceLock<Home> = OnceLock::new();
    HOME.get_or_init(Home::new)
}

/// The connection string of a local service at `addr` with `access_key`.
pub fn connection_string(addr: SocketAddr, access_key: &str) -> String {
    format!("Endpoint=http://{addr};AccessKey={access_key};Version=1.0;")
}

/// The output of `child` once it ended (within [`WAIT`]).
pub async fn finished(child: tokio::process::Child) -> Output {
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("wpchat ended in time")
        .expect("wpchat ran")
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
