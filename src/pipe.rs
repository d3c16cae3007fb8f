//! The scriptable modes `listen` and `send`, on the client engine.

use std::process::ExitCode;

use crate::cli::{ListenArgs, SendArgs, TargetArgs};

/// `wpchat listen`: one line per received message on stdout.
pub async fn listen(_target: TargetArgs, _args: ListenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("listen is not built yet")
}

/// `wpchat send`: send messages and wait for every ack.
pub async fn send(_target: TargetArgs, _args: SendArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("send is not built yet")
}
