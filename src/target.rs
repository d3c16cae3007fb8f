//! Turns the command line, environment and config profile into a connection target: a URL
//! provider for the engine, starting the embedded local service when no target is given.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::FixedUrl;
use crate::cli::{TargetArgs, TokenArgs};
use crate::client::ClientConfig;
use crate::config::Config;
use crate::service::RunningService;

/// A resolved target: the engine's configuration and what the UI shows about it.
pub struct Target {
    pub client: ClientConfig,
    pub hub: String,
    /// The user id we expect to have (from the token or the `--user` flag), if known.
    pub user_id: Option<String>,
    /// Groups to join once connected.
    pub groups: Vec<String>,
    /// The embedded service, kept alive as long as the target.
    pub embedded: Option<RunningService>,
}

/// Resolves the target. (So far only a client URL; the rest comes with the connect work.)
pub async fn resolve(args: &TargetArgs, _config: &Config) -> anyhow::Result<Target> {
    let text = args
        .url
        .as_ref()
        .or(args.url_arg.as_ref())
        .context("no target given")?;
    let url = url::Url::parse(text).context("the client URL is not a valid URL")?;
    let hub = url
        .path_segments()
        .and_then(|mut s| s.nth(2).map(str::to_string))
        .unwrap_or_default();
    Ok(Target {
        client: ClientConfig::new(Arc::new(FixedUrl(url))),
        hub,
        user_id: args.user.clone(),
        groups: args.groups.clone(),
        embedded: None,
    })
}

/// `wpchat token`: mint a client URL from a connection string.
pub fn print_token(_target: &TargetArgs, _args: &TokenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("token is not built yet")
}
