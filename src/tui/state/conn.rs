//! The connection as the user sees it: status, ids, lag, the outage being bridged, and the
//! expiry of a token that cannot be renewed.

use std::time::{Duration, Instant};

use crate::protocol::Subprotocol;

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnStatus {
    Connecting {
        attempt: u32,
    },
    Connected,
    Recovering {
        since: Instant,
    },
    Reconnecting {
        retry_at: Instant,
        last_error: String,
    },
    Offline {
        reason: String,
    },
}

/// What the status bar shows for a simple connection instead of a subprotocol.
pub(crate) const SIMPLE_STATUS: &str = "simple WebSocket: no acks, no groups";

/// How long before a non-renewable token expires the status bar starts warning.
pub const TOKEN_WARNING_MS: i64 = 5 * 60 * 1000;

/// The expiry of a token that cannot be renewed (a fixed client URL): once it passes, the
/// current connection lives on but a service may refuse a new connection with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpiry {
    /// Wall time of expiry, Unix milliseconds.
    pub expires_ms: i64,
    /// The one-time system-buffer warning was written.
    pub warned: bool,
}

impl TokenExpiry {
    /// Whether the status bar warns at `now_ms` (from 5 minutes before expiry on).
    pub(crate) fn warning_at(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_ms - TOKEN_WARNING_MS
    }
}

/// Everything the UI knows about the connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub status: ConnStatus,
    pub connection_id: Option<String>,
    pub protocol: Option<Subprotocol>,
    pub lag: Option<Duration>,
    pub last_seq: Option<u64>,
    /// When the link went down (wall ms), for gap markers.
    pub offline_since: Option<i64>,
    /// The fixed client URL's token expiry, when it cannot be renewed.
    pub token_expiry: Option<TokenExpiry>,
    /// `/reconnect` was asked for: the session loss that follows is expected.
    pub reconnect_requested: bool,
    /// The last connection error written to the system buffer (each is written once).
    pub last_error: Option<String>,
    /// The last recovery: (wall ms when recovered, wall ms when the link went down).
    pub recovered_at: Option<(i64, i64)>,
    /// A simple WebSocket connection (`--protocol none`): raw frames, no groups or acks.
    pub simple: bool,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            status: ConnStatus::Connecting { attempt: 1 },
            connection_id: None,
            protocol: None,
            lag: None,
            last_seq: None,
            offline_since: None,
            token_expiry: None,
            reconnect_requested: false,
            last_error: None,
            recovered_at: None,
            simple: false,
        }
    }
}

impl Connection {
    /// A connection with this id is up: a different id is a new session, whose sequence ids
    /// start again (a recovered session keeps its id and its last sequence id), and whose
    /// round trip is not known yet.
    pub(crate) fn new_connection(&mut self, connection_id: String) {
        if self.connection_id.as_deref() != Some(connection_id.as_str()) {
            self.last_seq = None;
            self.lag = None;
        }
        self.connection_id = Some(connection_id);
    }
}
