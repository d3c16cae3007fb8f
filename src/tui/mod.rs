//! The terminal UI: pure `State` + `App::update`, a pure view, and one event loop.

use std::process::ExitCode;

use crate::cli::TargetArgs;

/// Runs the chat UI until the user quits.
pub async fn run(_target: TargetArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the terminal UI is not built yet")
}
