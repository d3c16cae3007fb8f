//! The first connection of a script (`listen`, `send`, `bench`): fail fast when retrying
//! cannot help (a refused token, a name that does not resolve, nothing listening, TLS), or
//! keep retrying for a service that is still starting when the user asked to wait.

use std::time::Duration;

use thiserror::Error;

use super::{ClientHandle, ConnState, Event, FailureKind};

/// How long a script waits for its first connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Patience {
    /// Give up at the first failure that retrying cannot fix; retry the others.
    #[default]
    FailFast,
    /// Retry every failure, for at most this long (`None`: forever).
    Wait(Option<Duration>),
}

/// How a script connects: where (named in failures) and how patiently the first time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connecting {
    /// Where we connect, as shown to users (no secrets).
    pub target: String,
    pub patience: Patience,
}

/// Why a script's first connection was not made. Its text is one line: what failed and what
/// to do; it never holds a token or key (the engine's errors do not).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot connect to {target}, {error}{}", hint(*.kind, *.waited))]
pub struct ConnectFailure {
    pub kind: FailureKind,
    /// Where we tried to connect, as shown to users (no secrets).
    pub target: String,
    pub error: String,
    /// The script waited (`--wait`) before giving up.
    pub waited: bool,
}

/// What to do about a failure of this kind, when the engine's text does not say.
fn hint(kind: FailureKind, waited: bool) -> &'static str {
    match kind {
        FailureKind::Unreachable if waited => "; check the host and port",
        FailureKind::Unreachable => {
            "; check the host and port, or pass --wait to wait for a service that is starting"
        }
        FailureKind::Misconfigured => "; check the client URL (ws:// or wss://, host, hub path)",
        FailureKind::Unauthorized | FailureKind::Transient => "",
    }
}

/// A script's first connection, made.
#[derive(Debug)]
pub struct FirstConnection {
    pub connection_id: String,
    /// Events about the commands sent before connecting (a join refused at once, say), in
    /// order: the caller handles them as if it had read them itself.
    pub earlier: Vec<Event>,
}

/// Waits until the engine is connected, for at most `limit` (a script's own `--timeout`)
/// besides what `patience` allows, reporting each failed attempt that will be retried through
/// `note`.
pub async fn first_connection(
    handle: &mut ClientHandle,
    connecting: &Connecting,
    limit: Option<Duration>,
    note: impl Fn(&str),
) -> Result<FirstConnection, ConnectFailure> {
    let patience = connecting.patience;
    let target = connecting.target.as_str();
    let mut last: Option<(FailureKind, String)> = None;
    let mut earlier = Vec::new();
    let give_up = |last: Option<(FailureKind, String)>, fallback: String| {
        let (kind, error) = last.unwrap_or((FailureKind::Unreachable, fallback));
        ConnectFailure {
            kind,
            target: target.to_string(),
            error,
            waited: patience != Patience::FailFast,
        }
    };
    let waited = match patience {
        Patience::Wait(Some(wait)) => Some(limit.map_or(wait, |limit| limit.min(wait))),
        _ => limit,
    };
    let deadline = async {
        match waited {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            event = handle.events.recv() => event,
            _ = &mut deadline => {
                let seconds = waited.unwrap_or_default().as_secs_f32();
                let last = last.map(|(kind, error)| (kind, format!("{error} (gave up after {seconds} s)")));
                return Err(give_up(last, format!("no connection within {seconds} s")));
            }
        };
        match event {
            Some(Event::Connected { connection_id, .. }) => {
                return Ok(FirstConnection {
                    connection_id,
                    earlier,
                });
            }
            Some(Event::ConnectFailed {
                attempt,
                kind,
                error,
            }) => {
                let hopeless = kind != FailureKind::Transient;
                if hopeless && patience == Patience::FailFast {
                    return Err(give_up(Some((kind, error)), String::new()));
                }
                note(&format!(
                    "cannot connect yet (attempt {attempt}): {error}; retrying"
                ));
                last = Some((kind, error));
            }
            Some(other) => earlier.push(other),
            None => {
                let reason = match &*handle.state.borrow() {
                    ConnState::Stopped { reason } => reason.clone(),
                    _ => "the connection engine stopped".to_string(),
                };
                return Err(give_up(last, reason));
            }
        }
    }
}
