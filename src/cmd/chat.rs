//! `wpchat` with no subcommand: the chat UI on the resolved target.

use std::process::ExitCode;

use crate::cli::TargetArgs;
use crate::tui::{self, ChatStart};

/// Loads the config, resolves the target and runs the chat until the user quits. `notices`
/// (e.g. where the log file is) come first in the `system` buffer.
pub async fn run(target_args: TargetArgs, mut notices: Vec<String>) -> anyhow::Result<ExitCode> {
    // A config file that cannot be read or parsed stops here, before the terminal is taken.
    let (config, warnings) = crate::config::load(target_args.config.as_deref())?;
    let target = crate::target::resolve(&target_args, &config).await?;
    tracing::info!(target = %target.description, "chat starting");
    notices.push(format!("target: {}", target.description));
    notices.extend(target.notices.iter().cloned());
    for warning in &warnings {
        tracing::warn!(%warning, "config");
        notices.push(format!("config: {warning}"));
    }
    let start = ChatStart {
        config,
        client: target.client.clone(),
        hub: target.hub.clone(),
        user_id: target.user_id.clone(),
        groups: target.groups.clone(),
        token_expires_at_ms: (!target.renewable)
            .then_some(target.token_expires_at)
            .flatten()
            .map(|at| at.timestamp_millis()),
        notices,
    };
    let result = tui::run(start).await;
    // The target may host the embedded service: it lives until the chat has said goodbye.
    drop(target);
    result.map(|()| ExitCode::SUCCESS)
}
