//! Engine settings, with the defaults chosen from protocol.md §7.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::UrlProvider;
use crate::protocol::Subprotocol;

/// Which HTTP proxy the WebSocket goes through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyChoice {
    /// From `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, honouring `NO_PROXY`; loopback targets
    /// always go direct.
    #[default]
    FromEnv,
    /// Never through a proxy.
    Direct,
    /// Always through this `http://` proxy (an explicit choice: loopback targets too).
    Via(Url),
}

impl ProxyChoice {
    /// The proxy for one connection to `target`, if any.
    pub(crate) fn proxy_for(&self, target: &Url) -> Option<Url> {
        match self {
            ProxyChoice::FromEnv => crate::auth::proxy::proxy_from_env(target),
            ProxyChoice::Direct => None,
            ProxyChoice::Via(proxy) => Some(proxy.clone()),
        }
    }
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// `None` = retry forever.
    pub max_attempts: Option<u32>,
}

/// Everything the engine needs to run.
#[derive(Clone)]
pub struct ClientConfig {
    pub url_provider: Arc<dyn UrlProvider>,
    pub protocol: Subprotocol,
    /// A simple WebSocket client (`--protocol none`): offer no subprotocol and move raw frames
    /// (`Command::SendFrame`, `Event::Frame`); `protocol` is then unused.
    pub simple: bool,
    /// Send the token as `Authorization: Bearer` instead of the `access_token` query.
    pub token_in_header: bool,
    /// The HTTP proxy for the WebSocket (`wss` behind a corporate proxy).
    pub proxy: ProxyChoice,
    /// Rejoin the groups the user joined after a fresh connection.
    pub auto_rejoin: bool,
    pub ack_timeout: Duration,
    /// Retries of transient failures (same ackId each time).
    pub message_retries: u32,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub recovery_window: Duration,
    /// Pause between recovery attempts inside the window.
    pub recovery_interval: Duration,
    /// Delay before the first retry of a transient failure; doubles per retry.
    pub message_retry_delay: Duration,
    /// Longest wait for one WebSocket handshake (TCP, TLS and the HTTP upgrade).
    pub handshake_timeout: Duration,
    pub reconnect: Backoff,
    pub outbox_capacity: usize,
    /// Largest incoming WebSocket message accepted.
    pub max_incoming_message: usize,
    pub command_buffer: usize,
    /// Room for events waiting for the caller. They travel in batches (one per read burst, up
    /// to 256 events): the channel holds `event_buffer / 256` batches, at least one.
    pub event_buffer: usize,
}

impl ClientConfig {
    pub fn new(url_provider: Arc<dyn UrlProvider>) -> Self {
        ClientConfig {
            url_provider,
            protocol: Subprotocol::JsonReliable,
            simple: false,
            token_in_header: false,
            proxy: ProxyChoice::FromEnv,
            auto_rejoin: true,
            ack_timeout: Duration::from_secs(30),
            message_retries: 3,
            keepalive_interval: Duration::from_secs(20),
            keepalive_timeout: Duration::from_secs(120),
            recovery_window: Duration::from_secs(30),
            recovery_interval: Duration::from_secs(1),
            message_retry_delay: Duration::from_millis(800),
            handshake_timeout: Duration::from_secs(15),
            reconnect: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(30),
                max_attempts: None,
            },
            outbox_capacity: 1000,
            // The service caps client messages at 1 MiB, but server messages have no documented
            // cap; 4 MiB leaves room for a 1 MiB binary payload in base64 plus the envelope.
            max_incoming_message: 4 * 1024 * 1024,
            command_buffer: 1024,
            event_buffer: 4096,
        }
    }
}
