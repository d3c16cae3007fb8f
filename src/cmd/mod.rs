//! The edge of the program: one module per subcommand turns clap values into the library's
//! plain option structs and runs it, after the one shared preamble here: load the config →
//! resolve the target → tell the user what they should know, every line made safe to show.

/// `println!` for what a subcommand tells its user on stdout: a closed stdout (`wpchat serve |
/// true`) is not worth a panic, so a failed write is ignored and the command carries on.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod bench;
pub mod chat;
pub mod exit;
pub mod history;
mod history_replay;
pub mod listen;
pub mod send;
pub mod serve;
pub mod token;

use crate::cli::{MintArgs, ProtocolArg, Sensitive, TargetArgs, WaitArgs};
use crate::client::{Connecting, Patience};
use crate::config::Config;
use crate::pipe::note;
use crate::protocol::Subprotocol;
use crate::target::{Target, TargetOptions};

/// Loads the config file the options name (or the default one). Its warnings come back made
/// safe to show: a warning may quote a line of the file, secrets and all.
pub(crate) fn load_config(options: &TargetOptions) -> anyhow::Result<(Config, Vec<String>)> {
    let (config, warnings) = crate::config::load(options.config.as_deref())?;
    for warning in &warnings {
        tracing::warn!(%warning, "config");
    }
    Ok((config, warnings.iter().map(|w| shown(w)).collect()))
}

/// The shared preamble: loads the config, hands its warnings to `on_warnings` (before the
/// target is resolved, so they show even when resolving fails), and resolves the target, whose
/// notices come back made safe to show.
pub(crate) async fn prepare(
    options: &TargetOptions,
    on_warnings: impl FnOnce(Vec<String>),
) -> anyhow::Result<(Config, Target)> {
    let (config, warnings) = load_config(options)?;
    on_warnings(warnings);
    let mut target = crate::target::resolve(options, &config).await?;
    tracing::info!(target = %target.description, "target resolved");
    for notice in &mut target.notices {
        *notice = shown(notice);
    }
    Ok((config, target))
}

/// [`prepare`] for the scriptable modes: warnings and notices go to stderr, one line each, so
/// that stdout stays machine-readable.
pub(crate) async fn prepare_on_stderr(options: &TargetOptions) -> anyhow::Result<Target> {
    let (_, target) = prepare(options, print_warnings).await?;
    for notice in &target.notices {
        note(notice);
    }
    Ok(target)
}

/// A script's target options: its flags, and the client URL given as its argument; failing
/// fast unless it waits.
pub(crate) fn script_target(
    url_arg: Option<Sensitive>,
    target: TargetArgs,
    wait: &WaitArgs,
) -> Result<TargetOptions, exit::Usage> {
    let mut options = TargetOptions::from(target);
    options.fail_fast = wait.wait.is_none();
    if url_arg.is_some() && options.url.is_some() {
        return Err(exit::Usage(
            "the client URL was given twice (as the argument and with --url); give it once".into(),
        ));
    }
    options.url = options.url.or(url_arg.map(|url| url.0));
    Ok(options)
}

/// How a script connects to `target`: patiently with `--wait`, else failing fast.
pub(crate) fn connecting(target: &Target, wait: &WaitArgs) -> Connecting {
    Connecting {
        target: target.description.clone(),
        patience: match wait.wait {
            Some(limit) => Patience::Wait(limit),
            None => Patience::FailFast,
        },
    }
}

/// Writes `text` to stdout. A closed stdout (`| head`, `| true`) is the reader's choice, not
/// a failure: only other write errors are.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(error).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

/// Config warnings on stderr, one line each.
pub(crate) fn print_warnings(warnings: Vec<String>) {
    for warning in warnings {
        note(&format!("config: {warning}"));
    }
}

/// A line from a config file or about a target, ready to show: one line of inert text with
/// secrets blanked.
fn shown(line: &str) -> String {
    crate::redact::redact_secrets(&crate::text::sanitize_line(line))
}

impl ProtocolArg {
    /// The subprotocol to speak; `None` for a simple WebSocket client (`--protocol none`).
    fn subprotocol(self) -> Option<Subprotocol> {
        match self {
            ProtocolArg::Json => Some(Subprotocol::Json),
            ProtocolArg::JsonReliable => Some(Subprotocol::JsonReliable),
            ProtocolArg::Protobuf => Some(Subprotocol::Protobuf),
            ProtocolArg::ProtobufReliable => Some(Subprotocol::ProtobufReliable),
            ProtocolArg::None => None,
        }
    }
}

impl From<MintArgs> for TargetOptions {
    fn from(args: MintArgs) -> Self {
        TargetOptions {
            connection_string: args.connection_string,
            hub: args.hub,
            user: args.user,
            roles: args.roles,
            groups: args.groups,
            expires: args.expires,
            profile: args.profile,
            config: args.config,
            ..TargetOptions::default()
        }
    }
}

impl From<TargetArgs> for TargetOptions {
    fn from(args: TargetArgs) -> Self {
        TargetOptions {
            url: args.url,
            negotiate: args.negotiate,
            headers: args.headers,
            protocol: args.protocol.and_then(ProtocolArg::subprotocol),
            simple: args.protocol == Some(ProtocolArg::None),
            no_auto_rejoin: args.no_auto_rejoin,
            token_in_header: args.token_in_header,
            ..TargetOptions::from(args.mint)
        }
    }
}

/// Shown as the options they become, whose `Debug` never shows a secret.
impl std::fmt::Debug for TargetArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        TargetOptions::from(self.clone()).fmt(f)
    }
}

/// Shown as the options they become, whose `Debug` never shows a secret.
impl std::fmt::Debug for MintArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        TargetOptions::from(self.clone()).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config file whose unknown key carries an escape sequence and an access key.
    const NASTY: &str = "\"AccessKey=SECRETVALUE\\u001b]0;title\\u0007\" = 1\n";

    #[test]
    fn config_warnings_are_one_inert_line_without_secrets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, NASTY).expect("write config");
        let options = TargetOptions {
            config: Some(path),
            ..TargetOptions::default()
        };
        let (_, warnings) = load_config(&options).expect("the file loads");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let warning = &warnings[0];
        assert!(!warning.contains("SECRETVALUE"), "{warning}");
        assert!(!warning.chars().any(char::is_control), "{warning:?}");
        assert_eq!(
            warning,
            "unknown config key 'AccessKey=***]0;title\u{2407}' (ignored)"
        );
    }

    #[test]
    fn a_notice_is_sanitized_then_redacted() {
        assert_eq!(
            shown("ws://h/client/hubs/chat?access_token=abc\u{1b}[2J&x=1"),
            "ws://h/client/hubs/chat?access_token=***&x=1"
        );
    }
}
