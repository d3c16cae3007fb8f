//! Between connections: fresh connections (a new URL from the provider, backoff with jitter)
//! and recovery of a dropped reliable session (same URL plus the `awps_*` parameters, about
//! every second within the recovery window), and the choice between them after a drop.

use std::time::{Duration, Instant};

use super::{End, Engine, Interrupt, Lost, Next, Session};
use crate::client::connect::{self, RecoveryParams, url_failure};
use crate::client::{ConnState, Event, FailureKind, backoff};
use crate::protocol::close_code;

impl Engine {
    /// One attempt at a brand-new connection (a new URL from the provider).
    pub(super) async fn fresh(&mut self, attempt: u32, wait: bool, last_error: String) -> Next {
        if backoff::exhausted(&self.config.reconnect, attempt) {
            return Next::Stop(format!(
                "gave up after {} connection attempts: {last_error}",
                attempt - 1
            ));
        }
        let retry = |last_error: String| Next::Fresh {
            attempt: attempt + 1,
            wait: true,
            last_error,
        };
        if wait {
            // Retrying soon cannot fix a refused token or a TLS failure: wait the longest.
            let delay = if self.stubborn_failure {
                self.config.reconnect.max
            } else {
                backoff::random_delay(&self.config.reconnect, attempt)
            };
            self.set_state(ConnState::Reconnecting {
                retry_at: Instant::now() + delay,
                attempt,
                last_error: last_error.clone(),
            });
            if let Err(interrupt) = self.offline(tokio::time::sleep(delay)).await {
                return self.interrupted(interrupt);
            }
        }
        self.set_state(ConnState::Connecting { attempt });
        let url = match self.offline(self.config.url_provider.client_url()).await {
            Err(interrupt) => return self.interrupted(interrupt),
            Ok(Err(error)) => {
                // Permanent ones too are retried (at the longest backoff): a credential may be
                // fixed meanwhile.
                let why = format!("cannot get a client URL: {error}");
                self.connect_failed(attempt, url_failure(&error), &why);
                return retry(why);
            }
            Ok(Ok(url)) => url,
        };
        let dial = connect::dial(
            url.clone(),
            Some(self.config.protocol),
            self.config.token_in_header,
            None,
            self.config.max_incoming_message,
            self.config.handshake_timeout,
            self.config.proxy.clone(),
        );
        let (socket, protocol) = match self.offline(dial).await {
            Err(interrupt) => return self.interrupted(interrupt),
            Ok(Err(error)) => {
                // The reason goes to the state's `last_error`: a refused token keeps retrying
                // (it may be fixed on the service's side) but never silently.
                tracing::info!(%error, attempt, "connection attempt failed");
                let why = error.to_string();
                self.connect_failed(attempt, error.kind(), &why);
                return retry(why);
            }
            Ok(Ok((socket, picked))) => (socket, picked.unwrap_or(self.config.protocol)),
        };
        self.stubborn_failure = false;
        self.sequence.reset();
        self.session = Some(Session {
            url,
            protocol,
            connection_id: None,
            user_id: None,
            reconnection_token: None,
        });
        let end = self.connection(socket, false).await;
        self.after(end)
    }

    /// Reports a failed fresh attempt, and remembers whether retrying soon could help.
    fn connect_failed(&mut self, attempt: u32, kind: FailureKind, error: &str) {
        self.stubborn_failure =
            matches!(kind, FailureKind::Unauthorized | FailureKind::Misconfigured);
        self.emit(Event::ConnectFailed {
            attempt,
            kind,
            error: error.to_string(),
        });
    }

    /// One attempt at recovering the dropped reliable session.
    pub(super) async fn recover(
        &mut self,
        since: Instant,
        attempt: u32,
        last_error: String,
    ) -> Next {
        let window_end = since + self.config.recovery_window;
        let give_up = |engine: &mut Engine, why: String| {
            engine.note_lost(why, since);
            Next::Fresh {
                attempt: 1,
                wait: false,
                last_error: String::new(),
            }
        };
        if Instant::now() >= window_end {
            return give_up(
                self,
                format!(
                    "could not recover the session within {} s ({last_error})",
                    self.config.recovery_window.as_secs()
                ),
            );
        }
        let Some(session) = self.session.as_ref() else {
            return give_up(self, "no session to recover".into());
        };
        let (Some(connection_id), Some(reconnection_token)) = (
            session.connection_id.clone(),
            session.reconnection_token.clone(),
        ) else {
            return give_up(self, "the session cannot be recovered".into());
        };
        let (url, protocol) = (session.url.clone(), session.protocol);
        self.set_state(ConnState::Recovering { since, attempt });
        if attempt > 1 {
            let pause = self
                .config
                .recovery_interval
                .min(window_end.saturating_duration_since(Instant::now()));
            if let Err(interrupt) = self.offline(tokio::time::sleep(pause)).await {
                return self.interrupted(interrupt);
            }
        }
        let remaining = window_end.saturating_duration_since(Instant::now());
        let dial = connect::dial(
            url,
            Some(protocol),
            self.config.token_in_header,
            Some(RecoveryParams {
                connection_id,
                reconnection_token,
            }),
            self.config.max_incoming_message,
            self.config
                .handshake_timeout
                .min(remaining)
                .max(Duration::from_millis(1)),
            self.config.proxy.clone(),
        );
        match self.offline(dial).await {
            Err(interrupt) => self.interrupted(interrupt),
            Ok(Err(error)) => {
                tracing::info!(%error, attempt, "recovery attempt failed");
                Next::Recover {
                    since,
                    attempt: attempt + 1,
                    last_error: error.to_string(),
                }
            }
            Ok(Ok((socket, _))) => {
                let end = self.connection(socket, true).await;
                self.after(end)
            }
        }
    }

    pub(super) fn interrupted(&mut self, interrupt: Interrupt) -> Next {
        match interrupt {
            Interrupt::Stop(reason) => Next::Stop(reason),
            Interrupt::Reconnect => {
                if self.had_session() {
                    self.note_lost("a reconnect was requested".into(), Instant::now());
                }
                Next::Fresh {
                    attempt: 1,
                    wait: false,
                    last_error: String::new(),
                }
            }
        }
    }

    /// Whether a session was ever established on the current session's connection (a socket
    /// that closed before `connected` had none to lose).
    pub(super) fn had_session(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.connection_id.is_some())
    }

    /// Remembers that the session is gone (keeping the earliest time, when already noted).
    pub(super) fn note_lost(&mut self, reason: String, since: Instant) {
        self.session = None;
        let since = self.lost.as_ref().map_or(since, |lost| lost.since);
        self.lost = Some(Lost { reason, since });
    }

    /// Decides what follows the end of a connection.
    pub(super) fn after(&mut self, end: End) -> Next {
        match end {
            End::Shutdown(reason) => Next::Stop(reason),
            End::Reconnect => self.interrupted(Interrupt::Reconnect),
            End::Dropped { code, reason } => {
                let now = Instant::now();
                // The window counts from the first drop: a recovery socket that opened but
                // never proved itself does not restart it.
                let since = *self.offline_since.get_or_insert(now);
                for settled in self.acks.link_lost() {
                    self.settle(settled);
                }
                let recoverable = self.session.as_ref().is_some_and(|s| {
                    s.protocol.is_reliable()
                        && s.connection_id.is_some()
                        && s.reconnection_token.is_some()
                }) && code != Some(close_code::POLICY_VIOLATION);
                if recoverable {
                    Next::Recover {
                        since,
                        attempt: 1,
                        last_error: reason,
                    }
                } else {
                    if self.had_session() {
                        self.note_lost(reason.clone(), now);
                    }
                    self.session = None;
                    Next::Fresh {
                        attempt: 1,
                        wait: true,
                        last_error: reason,
                    }
                }
            }
        }
    }
}
