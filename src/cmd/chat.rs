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

/// Loads the config, resolves the target and runs the chat until the user quits. `notices`
/// (e.g. where the log file is) come first in the `system` buffer. `no_history`: record
/// nothing this run.
pub async fn run(
    url_arg: Option<String>,
    args: TargetArgs,
    no_history: bool,
    mut notices: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let options = chat_options(url_arg, args)?;
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
        client: target.client.clone(),
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
