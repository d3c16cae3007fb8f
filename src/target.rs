//! Turns the command line, environment and config profile into a connection target: a URL
//! provider for the engine, starting the embedded local service when no target is given.

use std::process::ExitCode;

use crate::cli::{TargetArgs, TokenArgs};

/// `wpchat token`: mint a client URL from a connection string.
pub fn print_token(_target: &TargetArgs, _args: &TokenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("token is not built yet")
}
