//! The exit codes of every subcommand, in one place (README, "Exit codes", lists the same),
//! and the one line on stderr that goes with a failure: inert, with secrets blanked.

use std::process::ExitCode;

use thiserror::Error;

use crate::auth::ProviderError;
use crate::client::{ConnectFailure, FailureKind};
use crate::pipe::MessagesLost;
use crate::target::TargetError;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// Something went wrong that none of the codes below names (a refused message, a join
/// refused, an unreadable file, ...).
pub const FAILURE: u8 = 1;
/// The command line contradicts itself or names something that does not exist (clap's code).
pub const USAGE: u8 = 2;
/// The service or the negotiate endpoint refused the credentials (HTTP 401/403).
pub const AUTHENTICATION: u8 = 3;
/// The first connection could not be made: the name does not resolve, nothing listens, TLS
/// failed, the service or negotiate endpoint answered something unusable, or no connection
/// within `--wait`/`--timeout`.
pub const UNREACHABLE: u8 = 4;
/// Messages may be missing: `listen --strict` lost its session, `send` could not confirm
/// every message, or `bench` counted messages lost or not sent.
pub const MESSAGES_LOST: u8 = 5;

/// `bench`'s code from what its summary counted: messages that never arrived (lost, or not
/// sent) say messages are missing; duplicates alone are some other failure.
pub fn bench_code(missing: u64, duplicates: u64) -> u8 {
    if missing > 0 {
        MESSAGES_LOST
    } else if duplicates > 0 {
        FAILURE
    } else {
        SUCCESS
    }
}

/// A command line that cannot be run as given; says what to change.
#[derive(Debug, Error)]
#[error("{0}")]
pub(crate) struct Usage(pub String);

/// The exit code for `error`, from the first cause in its chain that names one.
pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<ConnectFailure>() {
            return match failure.kind {
                FailureKind::Unauthorized => AUTHENTICATION,
                _ => UNREACHABLE,
            };
        }
        if cause.is::<MessagesLost>() {
            return MESSAGES_LOST;
        }
        if cause.is::<Usage>() {
            return USAGE;
        }
        if let Some(target) = cause.downcast_ref::<TargetError>() {
            return target_code(target);
        }
    }
    FAILURE
}

/// A target that could not be resolved: a negotiate endpoint that refused or answered
/// nothing usable, or a command line or profile to fix.
fn target_code(error: &TargetError) -> u8 {
    match error {
        TargetError::Negotiate(ProviderError::Refused(_)) => AUTHENTICATION,
        TargetError::Negotiate(_) => UNREACHABLE,
        TargetError::NegotiateUnavailable(_) => UNREACHABLE,
        TargetError::Embedded(_) => FAILURE,
        _ => USAGE,
    }
}

/// Prints `error` as one line on stderr and returns its exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    crate::pipe::note(&super::shown(&format!("{error:#}")));
    ExitCode::from(code_for(error))
}

/// Ends the process for a command line clap could not parse: its message with every token or
/// key blanked (a client URL given in the wrong place is echoed), with [`USAGE`]; help and
/// version print as usual.
pub fn clap_exit(error: clap::Error) -> ! {
    if !error.use_stderr() {
        error.exit();
    }
    let text = crate::redact::redact_secrets(&error.render().to_string());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    std::process::exit(i32::from(USAGE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_says_messages_are_missing_only_when_some_never_arrived() {
        assert_eq!(bench_code(0, 0), 0);
        assert_eq!(bench_code(3, 0), MESSAGES_LOST);
        assert_eq!(bench_code(1, 5), MESSAGES_LOST);
        assert_eq!(bench_code(0, 2), FAILURE);
    }
}
