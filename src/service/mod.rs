//! The local Web PubSub-compatible service: client WebSocket endpoint, hubs, groups, acks,
//! reliable sessions and the REST data-plane subset.

use std::net::SocketAddr;
use std::process::ExitCode;

use thiserror::Error;

use crate::cli::ServeArgs;

/// The well-known development access key (the one Microsoft's emulator uses by default).
/// For local development only: anyone can mint tokens with it.
pub const DEV_ACCESS_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
/// The default port, as the official emulator's.
pub const DEFAULT_PORT: u16 = 8080;

/// How to run the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub host: String,
    /// 0 = any free port.
    pub port: u16,
    pub access_key: String,
    pub allow_anonymous: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            access_key: DEV_ACCESS_KEY.into(),
            allow_anonymous: false,
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

/// A service running in this process; stops when `shutdown` is called or it is dropped.
pub struct RunningService {
    pub addr: SocketAddr,
    pub access_key: String,
}

impl RunningService {
    /// `Endpoint=http://HOST:PORT;AccessKey=…;Version=1.0;`
    pub fn connection_string(&self) -> String {
        format!(
            "Endpoint=http://{};AccessKey={};Version=1.0;",
            self.addr, self.access_key
        )
    }

    /// Stops accepting, closes every connection, and waits for the tasks to end.
    pub async fn shutdown(self) {}
}

/// Starts the service on `config.host:config.port` and returns once it is listening.
pub async fn start(_config: ServiceConfig) -> Result<RunningService, ServiceError> {
    unimplemented!("the local service is not built yet")
}

/// Whether a Web PubSub-compatible service answers at `addr` (`HEAD /api/health`).
pub async fn probe(_addr: SocketAddr) -> bool {
    false
}

/// Runs `wpchat serve` until Ctrl+C or SIGTERM.
pub async fn serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the local service is not built yet")
}
