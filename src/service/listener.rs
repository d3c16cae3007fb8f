//! The accept loop and each socket's HTTP/1 connection, hardened for many and hostile
//! clients: a request's headers must arrive within `HEADER_READ_TIMEOUT` (an upgrade that
//! never finishes, a socket that never sends, an idle keep-alive), headers are bounded by
//! `MAX_HEADER_BYTES` (431 past that), and running out of file descriptors is logged once in
//! a while with a count instead of every second. The open-file limit is raised at start.

use std::io;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a client may take, by default, to send a request's headers, from accept or from
/// the end of its previous request. A WebSocket upgrade is one request, so this bounds the handshake.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a request line plus headers may take; larger gets 431.
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long the accept loop waits after a failure that is not one client's (out of file
/// descriptors, out of memory) before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How often, at most, such failures are logged while they go on.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);
/// The open-file limit the service asks for: enough for tens of thousands of sockets.
const WANTED_OPEN_FILES: u64 = 1 << 20;

/// What raising the process's open-file (socket) limit achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before the service started.
    pub before: u64,
    /// The soft limit now (at most the hard limit, which only root can raise).
    pub now: u64,
}

impl OpenFileLimit {
    /// One line for the `serve` banner: how many sockets the service can hold.
    pub fn describe(&self) -> String {
        if self.now > self.before {
            format!(
                "Open-file limit raised from {} to {}: room for about {} connections.",
                self.before,
                self.now,
                self.now.saturating_sub(64)
            )
        } else if self.now >= 16_384 {
            format!(
                "Open-file limit {}: room for about {} connections.",
                self.now,
                self.now - 64
            )
        } else {
            format!(
                "Open-file limit {} (the hard limit): only about {} connections fit. Raise the hard limit (`ulimit -Hn`, or LimitNOFILE= for a systemd unit) to hold more.",
                self.now,
                self.now.saturating_sub(64)
            )
        }
    }
}

/// Raises the soft open-file limit as far as the hard limit allows.
pub(crate) fn raise_open_file_limit() -> OpenFileLimit {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft);
    let now = match rlimit::increase_nofile_limit(WANTED_OPEN_FILES) {
        Ok(now) => now,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            before
        }
    };
    if now > before {
        tracing::info!(before, now, "raised the open-file limit");
    }
    OpenFileLimit { before, now }
}

/// Accepts sockets until `stop` turns true, serving each with `app`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut failures = AcceptFailures::default();
    let mut stopped = stop.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped_signal(&mut stopped) => return,
        };
        match accepted {
            Ok((tcp, _)) => {
                // Small frames (acks, chat lines) must not wait for Nagle's algorithm.
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve_connection(
                    tcp,
                    app.clone(),
                    header_timeout,
                    stop.clone(),
                ));
            }
            // One client's socket died between SYN and accept: nothing to do.
            Err(error) if is_one_clients(&error) => {}
            Err(error) => {
                failures.record(&error);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Resolves once the service is stopping (or gone).
async fn stopped_signal(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

fn is_one_clients(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Counts accept failures so that a long run of them is one log line per interval.
#[derive(Default)]
struct AcceptFailures {
    last_logged: Option<Instant>,
    since_logged: u64,
}

impl AcceptFailures {
    fn record(&mut self, error: &io::Error) {
        self.since_logged += 1;
        if self
            .last_logged
            .is_some_and(|at| at.elapsed() < ACCEPT_ERROR_LOG_EVERY)
        {
            return;
        }
        let hint = if error.raw_os_error() == Some(24) {
            " (out of file descriptors: raise the open-file limit, `ulimit -n`)"
        } else {
            ""
        };
        tracing::error!(%error, failures = self.since_logged, "cannot accept new connections{hint}; retrying");
        self.last_logged = Some(Instant::now());
        self.since_logged = 0;
    }
}

/// One socket: HTTP/1 requests until it closes or upgrades to a WebSocket.
async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let connection = builder
        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        }
        () = stopped_signal(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(3), connection).await;
        }
    }
}
