//! The local Web PubSub-compatible service: client WebSocket endpoint, hubs, groups, acks,
//! reliable sessions and the REST data-plane subset.
//!
//! Choices where the public material leaves room (protocol.md §12), kept here in one place:
//! bad tokens get HTTP 401 with a plain-text reason (and leave no state behind: a hub is
//! created only for an admitted socket or a remembered REST membership, and leaves the
//! registry when neither remains; a REST call on an unused hub creates nothing, only
//! "add a user to a group" keeps one); a refused recovery is upgraded and then
//! closed with 1008; a REST close sends `system/disconnected` with the reason and closes
//! with 1008 (the session cannot be recovered); shutdown closes with 1001; a client close
//! with 1000 or with no status code ends a reliable session (any other code, or a dropped
//! socket, keeps it for recovery); no second `connected` after recovery; REST user-group
//! membership applies to the user's current connections and is remembered for the user's
//! later ones; `/api/` operations not implemented here answer 501; a session remembers its
//! last 65 536 successful ackIds; sockets are pinged every 20 s and dropped after six silent
//! intervals.
//!
//! Reliable buffer accounting (the cloud service's exact rule is not public): the replay
//! buffer holds every un-acked data message in order, both those still in this service's
//! outbound queue and those already written to the socket, and all of it is replayed on
//! recovery. The 1000-message / 16 MB cap (protocol.md §5.4) counts only the written, un-acked
//! part (in flight on the network). At the cap the socket writer holds further data frames
//! back (flow control); if the client then sends no `sequenceAck` for 3 s
//! (`RELIABLE_ACK_GRACE`), the session is closed with 1008 "The reliable message buffer is
//! full." Frames still waiting in the outbound queue are bounded like any connection's:
//! `outbound_queue_frames` frames or 16 MB; past that the connection is closed with 1008
//! `SlowClient` (for a reliable session too: it cannot be recovered). A detached session
//! keeps up to the same queue bound for replay, then ends as buffer-full.
//!
//! Backpressure: when a recipient's queue passes half its bound, the publishing socket stops
//! reading (its own TCP window then slows the publisher) until the queue is down to a quarter,
//! for at most `PUBLISHER_BACKPRESSURE` (250 ms) per episode. So a reader that keeps up but
//! lags a burst is not closed, while a receiver that cannot drain a quarter of its queue in
//! that time stops holding anyone back and is closed as `SlowClient` when its queue is full.
//! REST sends are never held back.
//!
//! Layout: `admission` (the pure decision on an upgrade request, before any state exists),
//! `hub` (connections, groups, users, fan-out; hubs leave the registry when unused),
//! `session` (one connection's queue, reliable buffer and ackIds), `permissions` (roles and
//! wildcard patterns), `ws` (client endpoint and socket loops), `rest` (REST subset and
//! health), `upstream` (event handlers: connect before the upgrade, user events from the
//! socket loops, connected/disconnected in the background). `wpchat serve` itself is
//! `cmd::serve`.

mod admission;
mod hub;
pub mod inputs;
mod listener;
mod permissions;
mod rest;
mod session;
pub mod upstream;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{delete, get, head, post, put};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use hub::{Registry, Shared};
pub use listener::OpenFileLimit;
use session::{CloseCause, Limits};

/// The well-known development access key (the one Microsoft's emulator uses by default).
/// For local development only: anyone can mint tokens with it.
pub const DEV_ACCESS_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
/// The default port, as the official emulator's.
pub const DEFAULT_PORT: u16 = 8080;
/// How long a dropped reliable session waits for recovery (protocol.md §5).
pub(crate) const DEFAULT_RECOVERY_WINDOW: Duration = Duration::from_secs(30);
/// How often the service pings each socket (the cloud service's default keepalive).
pub(crate) const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// Frames a connection's outbound queue holds before it is closed as a slow client.
pub(crate) const DEFAULT_OUTBOUND_QUEUE_FRAMES: usize = 8192;
/// Written but un-acked data messages a reliable session may have in flight (protocol.md §5).
pub(crate) const RELIABLE_BUFFER_MESSAGES: usize = 1000;
/// Written but un-acked bytes a reliable session may have in flight (protocol.md §5).
pub(crate) const RELIABLE_BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// How long a reliable session at its in-flight cap, with more to send, may go without an
/// ack before it is closed as buffer-full (SDKs ack at least every second).
pub(crate) const RELIABLE_ACK_GRACE: Duration = Duration::from_secs(3);
/// How long, per episode, a publishing socket stops reading while a recipient's queue is past
/// half its bound; a recipient that has not drained to a quarter by then is left to overflow.
pub(crate) const PUBLISHER_BACKPRESSURE: Duration = Duration::from_millis(250);

/// How to run the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub host: String,
    /// 0 = any free port.
    pub port: u16,
    pub access_key: String,
    pub allow_anonymous: bool,
    /// How long a dropped reliable session is kept for recovery (30 s; tests shorten it).
    pub recovery_window: Duration,
    /// Frames queued for one connection before it counts as a slow client and is closed.
    pub outbound_queue_frames: usize,
    /// WebSocket ping interval; a socket that sends nothing (not even a pong) for six
    /// intervals counts as dropped.
    pub keepalive_interval: Duration,
    /// How long a client may take to send a request's headers (a WebSocket upgrade's
    /// included); a socket that sends nothing is closed after it too. 10 s; tests shorten it.
    pub header_timeout: Duration,
    /// Event handlers (none by default: `event` requests fail, simple clients get 1011).
    pub upstream: upstream::UpstreamSettings,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            access_key: DEV_ACCESS_KEY.into(),
            allow_anonymous: false,
            recovery_window: DEFAULT_RECOVERY_WINDOW,
            outbound_queue_frames: DEFAULT_OUTBOUND_QUEUE_FRAMES,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            header_timeout: listener::HEADER_READ_TIMEOUT,
            upstream: upstream::UpstreamSettings::default(),
        }
    }
}

/// Why the service could not start.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

struct Running {
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    registry: Arc<Registry>,
}

/// A service running in this process; stops when `shutdown` is called or it is dropped.
pub struct RunningService {
    pub addr: SocketAddr,
    pub access_key: String,
    /// The open-file limit `start` raised, which bounds how many sockets fit.
    pub open_files: OpenFileLimit,
    running: Option<Running>,
}

fn shutdown_cause() -> CloseCause {
    CloseCause {
        code: 1001,
        reason: "ServiceShutdown: the local service is stopping.".into(),
        discard_queued: false,
    }
}

impl RunningService {
    /// `Endpoint=http://HOST:PORT;AccessKey=…;Version=1.0;` (an unspecified bind address is
    /// given as 127.0.0.1, which is where a local client reaches it).
    pub fn connection_string(&self) -> String {
        format!(
            "Endpoint=http://{};AccessKey={};Version=1.0;",
            reachable(self.addr),
            self.access_key
        )
    }

    /// How many hubs the service holds: those with a connection (or a session waiting for
    /// recovery) or a remembered user-group membership.
    pub fn hub_count(&self) -> usize {
        self.running
            .as_ref()
            .map_or(0, |running| running.registry.hub_count())
    }

    /// Counts the open client connections of every hub, for as long as the counter is kept
    /// (0 once the service stopped).
    pub fn connection_counter(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let registry = self
            .running
            .as_ref()
            .map(|running| running.registry.clone());
        move || {
            registry
                .as_ref()
                .map_or(0, |registry| registry.connection_count())
        }
    }

    /// Runs the abuse-protection check of every event handler of `hub` now: each handler's
    /// URL template with `Ok` or why it failed (empty when no handler is configured).
    pub async fn check_event_handlers(&self, hub: &str) -> Vec<(String, Result<(), String>)> {
        let Some(upstream) = self
            .running
            .as_ref()
            .and_then(|running| running.registry.shared.upstream.clone())
        else {
            return Vec::new();
        };
        upstream.check_handlers(hub).await
    }

    /// Stops accepting, closes every connection, and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let _ = running.stop.send(true);
        running.registry.close_all(&shutdown_cause());
        let _ = tokio::time::timeout(Duration::from_secs(3), running.server).await;
        let _ = tokio::time::timeout(
            Duration::from_secs(3),
            running.registry.shared.sockets_finished(),
        )
        .await;
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            running.registry.close_all(&shutdown_cause());
        }
    }
}

/// The address a local client should use for `addr`.
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

fn router(registry: Arc<Registry>) -> Router {
    let api = Router::new()
        .without_v07_checks()
        .route("/api/hubs/{hub}/:send", post(rest::send_to_all))
        .route("/api/hubs/{hub}/:generateToken", post(rest::generate_token))
        .route(
            "/api/hubs/{hub}/:closeConnections",
            post(rest::close_all_connections),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}/:send",
            post(rest::send_to_group),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}/:closeConnections",
            post(rest::close_group_connections),
        )
        .route(
            "/api/hubs/{hub}/groups/{group}/connections",
            get(rest::list_group_connections),
        )
        .route("/api/hubs/{hub}/groups/{group}", head(rest::group_exists))
        .route(
            "/api/hubs/{hub}/groups/{group}/connections/{connection_id}",
            put(rest::add_connection_to_group).delete(rest::remove_connection_from_group),
        )
        .route(
            "/api/hubs/{hub}/users/{user}/:send",
            post(rest::send_to_user),
        )
        .route(
            "/api/hubs/{hub}/users/{user}/:closeConnections",
            post(rest::close_user_connections),
        )
        .route("/api/hubs/{hub}/users/{user}", head(rest::user_exists))
        .route(
            "/api/hubs/{hub}/users/{user}/groups",
            delete(rest::remove_user_from_all_groups),
        )
        .route(
            "/api/hubs/{hub}/users/{user}/groups/{group}",
            put(rest::add_user_to_group).delete(rest::remove_user_from_group),
        )
        .route(
            "/api/hubs/{hub}/connections/{connection_id}/:send",
            post(rest::send_to_connection),
        )
        .route(
            "/api/hubs/{hub}/connections/{connection_id}",
            head(rest::connection_exists).delete(rest::close_connection),
        )
        .route(
            "/api/hubs/{hub}/connections/{connection_id}/groups",
            delete(rest::remove_connection_from_all_groups),
        )
        .route(
            "/api/hubs/{hub}/permissions/{permission}/connections/{connection_id}",
            put(rest::grant_permission)
                .delete(rest::revoke_permission)
                .head(rest::check_permission),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            registry.clone(),
            rest::authorize,
        ));
    Router::new()
        .without_v07_checks()
        .route("/client/hubs/{hub}", get(ws::client_hub_path))
        .route("/client/", get(ws::client_hub_query))
        .route("/client", get(ws::client_hub_query))
        .route("/api/health", get(rest::health))
        .merge(api)
        .fallback(rest::not_found)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .with_state(registry)
}

/// Starts the service on `config.host:config.port` and returns once it is listening.
pub async fn start(config: ServiceConfig) -> Result<RunningService, ServiceError> {
    let bind_error = |source| ServiceError::Bind {
        addr: format!("{}:{}", config.host, config.port),
        source,
    };
    let open_files = listener::raise_open_file_limit();
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let limits = Limits {
        queue_frames: config.outbound_queue_frames.max(1),
        queue_bytes: RELIABLE_BUFFER_BYTES,
        reliable_messages: RELIABLE_BUFFER_MESSAGES,
        reliable_bytes: RELIABLE_BUFFER_BYTES,
        ack_grace: RELIABLE_ACK_GRACE,
        backpressure: PUBLISHER_BACKPRESSURE,
    };
    let mut shared = Shared::new(
        config.access_key.clone(),
        config.allow_anonymous,
        config.recovery_window,
        config.keepalive_interval.max(Duration::from_millis(10)),
        limits,
    );
    shared.upstream = Some(upstream::start(
        config.upstream.clone(),
        &config.host,
        &config.access_key,
    ));
    let shared = Arc::new(shared);
    let registry = Arc::new(Registry::new(shared));
    let app = router(registry.clone());
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(listener::accept_loop(
        listener,
        app,
        config.header_timeout,
        stopped,
    ));
    tracing::info!(%addr, "local Web PubSub service listening");
    Ok(RunningService {
        addr,
        access_key: config.access_key,
        open_files,
        running: Some(Running {
            stop,
            server,
            registry,
        }),
    })
}

/// Whether a Web PubSub-compatible service answers at `addr` (`HEAD /api/health`, answered
/// with the `x-wpchat-service` header that only this service sends).
pub async fn probe(addr: SocketAddr) -> bool {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request =
            format!("HEAD /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::with_capacity(512);
        let mut chunk = [0u8; 512];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") && response.len() < 8192 {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
        let ok_status = text.starts_with("http/1.1 200") || text.starts_with("http/1.0 200");
        let ours = text
            .lines()
            .any(|line| line.starts_with(&format!("{}:", rest::SERVICE_HEADER)));
        Some(ok_status && ours)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ask).await,
        Ok(Some(true))
    )
}
