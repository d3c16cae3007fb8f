//! The local Web PubSub-compatible service: client WebSocket endpoint, hubs, groups, acks,
//! reliable sessions and the REST data-plane subset.

use std::process::ExitCode;

use crate::cli::ServeArgs;

/// Runs `wpchat serve` until Ctrl+C or SIGTERM.
pub async fn serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the local service is not built yet")
}
