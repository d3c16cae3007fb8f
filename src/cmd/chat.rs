//! `wpchat` with no subcommand: the chat UI on the resolved target.

use std::process::ExitCode;

use crate::cli::TargetArgs;
use crate::target::{TargetError, TargetOptions};
use crate::tui::{self, ChatStart, HistoryStart};

/// The chat's target options: the flags, and the client URL given as the argument or with
/// `--url` (not both).
pub(crate) fn chat_options(
    url_arg: Option<String>,
    args: TargetArgs,
) -> Result<TargetOptions, TargetError> {
    let mut options = TargetOptions::from(args);
    if url_arg.is_some() {
        if options.url.is_some() {
            return Err(TargetError::UrlTwice);
        }
        options.url = url_arg;
    }
    Ok(options)
}

/// What the chat does with history besides the default (record, show backlog).
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryMode {
    /// Record nothing this run.
    pub no_history: bool,
    /// Connect nowhere: browse and search what is stored.
    pub offline: bool,
}

/// Loads the config, resolves the target and runs the chat until the user quits. `notices`
/// (e.g. where the log file is) come first in the `system` buffer.
pub async fn run(
    url_arg: Option<String>,
    args: TargetArgs,
    mode: HistoryMode,
    mut notices: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let options = chat_options(url_arg, args)?;
    if mode.offline {
        return run_offline(&options, notices).await;
    }
    let no_history = mode.no_history;
    // A config file that cannot be read or parsed stops here, before the terminal is taken.
    let mut warnings = Vec::new();
    let (config, target) = super::prepare(&options, |w| warnings = w).await?;
    notices.push(format!("target: {}", target.description));
    notices.extend(target.notices.iter().cloned());
    notices.extend(warnings.iter().map(|warning| format!("config: {warning}")));
    let history = match super::history::database_for(&options, &config) {
        Ok(path) => Some(HistoryStart {
            path,
            record: config.history.enabled && !no_history,
        }),
        Err(error) => {
            notices.push(format!("history is off: {error}"));
            None
        }
    };
    let start = ChatStart {
        history,
        config,
        client: Some(target.client.clone()),
        hub: target.hub.clone(),
        user_id: target.user_id.clone(),
        groups: target.groups.clone(),
        token_expires_at_ms: (!target.renewable)
            .then_some(target.token_expires_at)
            .flatten()
            .map(|at| at.timestamp_millis()),
        notices,
        hosting: target.hosting_probe(),
    };
    let result = tui::run(start).await;
    // The target may host the embedded service: it lives until the chat has said goodbye,
    // then closes every client's connection properly.
    target.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

/// `--offline`: the chat over the profile's stored history, with every group it holds open
/// and no connection (the target is not even resolved: no embedded service starts).
async fn run_offline(
    options: &TargetOptions,
    mut notices: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let (config, warnings) = super::load_config(options)?;
    notices.extend(warnings.iter().map(|warning| format!("config: {warning}")));
    let path = super::history::database_for(options, &config)?;
    let groups = match crate::history::open_read(&path) {
        Ok(conn) => crate::history::group_names(&conn)?,
        Err(crate::history::HistoryError::Missing(_)) => Vec::new(),
        Err(error) => return Err(error.into()),
    };
    notices.push(format!(
        "offline: {} groups in {}; nothing is sent or recorded",
        groups.len(),
        path.display()
    ));
    let start = ChatStart {
        history: Some(HistoryStart {
            path,
            record: false,
        }),
        config,
        client: None,
        hub: options.hub.clone().unwrap_or_else(|| "history".into()),
        user_id: options.user.clone(),
        groups,
        token_expires_at_ms: None,
        notices,
        hosting: None,
    };
    tui::run(start).await.map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "wss://h/client/hubs/chat?access_token=eyJhbGciOiJIUzI1NiJ9.e30.SIGNATURE";

    #[test]
    fn the_positional_url_becomes_the_target_url() {
        let options = chat_options(Some(URL.into()), TargetArgs::default()).unwrap();
        assert_eq!(options.url.as_deref(), Some(URL));
    }

    #[test]
    fn a_url_given_twice_is_refused_without_showing_it() {
        let args = TargetArgs {
            url: Some(URL.into()),
            ..TargetArgs::default()
        };
        let error = chat_options(Some(URL.into()), args.clone()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the client URL was given twice (as the argument and with --url); give it once"
        );
        let shown = format!("{args:?}");
        assert!(
            !shown.contains("SIGNATURE") && !shown.contains("eyJ"),
            "{shown}"
        );
    }
}
