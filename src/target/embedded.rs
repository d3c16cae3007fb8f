//! The embedded target: with no target given, wpchat uses the local service on
//! `127.0.0.1:8080` if one answers there, else starts one in this process, and takes it over on
//! the same port when the wpchat that hosted it quits.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::{Merged, Target, TargetError, os_user_name};
use crate::auth::{
    ConnectionString, ConnectionStringProvider, ProviderError, TokenOptions, UrlProvider,
};
use crate::client::ClientConfig;
use crate::service::{self, RunningService, ServiceConfig};

/// Overrides the embedded service's port (tests and scripts that must not touch 8080).
pub(crate) const EMBEDDED_PORT_ENV: &str = "WPCHAT_EMBEDDED_PORT";
/// Hub used with the embedded service when none is asked for.
pub(crate) const EMBEDDED_HUB: &str = "chat";
/// Group joined on the embedded service when none is asked for.
pub(crate) const EMBEDDED_GROUP: &str = "lobby";
/// How long to wait for the local service to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The engine's recovery window on the embedded target. A reliable session lives in the memory
/// of the process that hosts the local service, so when that process quits the session is gone
/// and no recovery can succeed; waiting the usual 30 s would only delay the takeover. On
/// loopback a live service answers a recovery attempt at once, so 3 s (three attempts a second
/// apart) still rides out a brief hiccup.
pub const EMBEDDED_RECOVERY_WINDOW: Duration = Duration::from_secs(3);
/// How long to wait for the winner to answer after losing a race to host the local service
/// (bounded: a port held by an unrelated program never answers).
const RACE_GRACE: Duration = Duration::from_millis(1500);
/// Pause between probes within that grace.
const RACE_PROBE_PAUSE: Duration = Duration::from_millis(100);

/// Settings for the embedded local service (a test hook: the port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSettings {
    /// Port to look for (and start) the service on; 0 = start on any free port, no probe.
    pub port: u16,
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        EmbeddedSettings {
            port: service::DEFAULT_PORT,
        }
    }
}

impl EmbeddedSettings {
    /// The defaults, with the port taken from `WPCHAT_EMBEDDED_PORT` when set.
    pub(crate) fn from_env() -> Self {
        let port = std::env::var(EMBEDDED_PORT_ENV)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(service::DEFAULT_PORT);
        EmbeddedSettings { port }
    }
}
/// The local service the embedded target connects to.
struct LocalService {
    addr: SocketAddr,
    access_key: String,
    /// The service, when this process started it (it lives as long as the target).
    running: Option<RunningService>,
    /// Why it is not where it was expected, if so.
    notices: Vec<String>,
}

impl LocalService {
    /// One that another process hosts, signing with the development key.
    fn elsewhere(addr: SocketAddr) -> Self {
        LocalService {
            addr,
            access_key: service::DEV_ACCESS_KEY.to_string(),
            running: None,
            notices: Vec::new(),
        }
    }

    /// One this process started.
    fn started(running: RunningService) -> Self {
        LocalService {
            addr: running.addr,
            access_key: running.access_key.clone(),
            running: Some(running),
            notices: Vec::new(),
        }
    }
}

/// Uses the local service on `127.0.0.1:port` if one answers there, else starts one in this
/// process (on any free port if something else holds that one).
async fn find_or_start(settings: &EmbeddedSettings) -> Result<LocalService, TargetError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, settings.port));
    let already_running = settings.port != 0
        && tokio::time::timeout(PROBE_TIMEOUT, service::probe(addr))
            .await
            .unwrap_or(false);
    if already_running {
        return Ok(LocalService::elsewhere(addr));
    }
    let config = ServiceConfig {
        port: settings.port,
        ..ServiceConfig::default()
    };
    match service::start(config).await {
        Ok(running) => Ok(LocalService::started(running)),
        // Another wpchat starting at the same moment may have bound the port first.
        Err(_) if settings.port != 0 && answers_soon(addr).await => {
            Ok(LocalService::elsewhere(addr))
        }
        Err(first) if settings.port != 0 => {
            let running = service::start(ServiceConfig {
                port: 0,
                ..ServiceConfig::default()
            })
            .await
            .map_err(|e| TargetError::Embedded(e.to_string()))?;
            tracing::info!(error = %first, "embedded service moved to a free port");
            let mut local = LocalService::started(running);
            local.notices.push(format!(
                "port {} is in use by something that is not a wpchat service; started the local service on port {} instead",
                settings.port,
                local.addr.port()
            ));
            Ok(local)
        }
        Err(error) => Err(TargetError::Embedded(error.to_string())),
    }
}

/// No target: the local service (see [`find_or_start`]), with tokens minted for it here.
pub(super) async fn embedded_target(
    merged: &Merged,
    settings: &EmbeddedSettings,
) -> Result<Target, TargetError> {
    let LocalService {
        addr: endpoint_addr,
        access_key,
        running,
        notices,
    } = find_or_start(settings).await?;
    let endpoint = Url::parse(&format!("http://{endpoint_addr}"))
        .map_err(|e| TargetError::Embedded(e.to_string()))?;
    let hub = merged
        .hub
        .clone()
        .unwrap_or_else(|| EMBEDDED_HUB.to_string());
    // The default group is joined by the caller, not through the token: a `send` (which
    // clears the groups it publishes to) must not become a member and receive its own traffic.
    let groups = if merged.groups.is_empty() {
        vec![EMBEDDED_GROUP.to_string()]
    } else {
        merged.groups.clone()
    };
    let options = TokenOptions {
        user_id: Some(merged.user.clone().unwrap_or_else(os_user_name)),
        roles: merged.roles_or_chat_roles(),
        groups: merged.groups.clone(),
        expires_minutes: merged.expires,
    };
    let minter = ConnectionStringProvider::new(
        ConnectionString::new(endpoint, access_key),
        hub.clone(),
        options,
    )?;
    let user_id = minter.options().user_id.clone();
    let provider = EmbeddedProvider::new(endpoint_addr, minter);
    let takeover = provider.guard();
    let mut client = ClientConfig::new(Arc::new(provider));
    client.recovery_window = EMBEDDED_RECOVERY_WINDOW;
    Ok(Target {
        description: format!(
            "local service {endpoint_addr} hub {hub} ({})",
            if running.is_some() {
                "started by wpchat"
            } else {
                "already running"
            }
        ),
        client,
        hub,
        user_id,
        groups,
        embedded: running,
        takeover: Some(takeover),
        token_expires_at: None,
        renewable: true,
        notices,
    })
}

/// The URL provider of the embedded target. Before each new connection it checks that the
/// local service still answers on its port and, when it does not (the wpchat that hosted it
/// quit), starts it in this process on that same port, so every wpchat left finds it again.
/// Two wpchats may try at once: the loser's bind fails, and it connects to the winner.
pub(crate) struct EmbeddedProvider {
    addr: SocketAddr,
    minter: Arc<ConnectionStringProvider>,
    host: Arc<TakeoverHost>,
}

/// The service a takeover started, shared by the provider (which starts it) and the target's
/// [`TakeoverGuard`] (which stops it).
struct TakeoverHost {
    slot: std::sync::Mutex<TakeoverSlot>,
    /// One probe-and-start at a time within this process (engines may share a provider).
    turn: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct TakeoverSlot {
    service: Option<RunningService>,
    /// The target is gone: start nothing more.
    closed: bool,
}

impl TakeoverHost {
    fn slot(&self) -> std::sync::MutexGuard<'_, TakeoverSlot> {
        // The slot holds no invariant a panicking holder could break: keep using it.
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Held by the [`Target`]: dropping it stops a service this process took over and makes the
/// provider refuse further connections (the target is gone).
pub struct TakeoverGuard {
    host: Arc<TakeoverHost>,
    addr: SocketAddr,
}

impl TakeoverGuard {
    /// Whether this process now hosts the local service after a takeover.
    pub fn hosting(&self) -> bool {
        self.host.slot().service.is_some()
    }

    /// Stops a taken-over service and waits until its connections are closed.
    pub async fn shutdown(self) {
        let service = self.close();
        if let Some(service) = service {
            service.shutdown().await;
        }
    }

    fn close(&self) -> Option<RunningService> {
        let mut slot = self.host.slot();
        slot.closed = true;
        slot.service.take()
    }
}

/// Whether this process hosts the local service now (started it, or took it over since):
/// `Some(n)` with its `n` open connections (ours included), `None` when another one does.
pub type HostingProbe = Box<dyn Fn() -> Option<usize> + Send>;

impl super::Target {
    /// Whether (and later: whether still) this process hosts the local service; `None` when
    /// the target is not the embedded one.
    pub fn hosting_probe(&self) -> Option<HostingProbe> {
        let started = self
            .embedded
            .as_ref()
            .map(|service| service.connection_counter());
        let host = self.takeover.as_ref()?.host.clone();
        Some(Box::new(move || match &started {
            Some(count) => Some(count()),
            None => host
                .slot()
                .service
                .as_ref()
                .map(|service| service.connection_counter()()),
        }))
    }

    /// Stops a service this process hosts the way `serve` does on SIGTERM: every client gets
    /// a close frame with 1001 before the process exits, then looks for a new host.
    pub async fn close(mut self) {
        if let Some(service) = self.embedded.take() {
            service.shutdown().await;
        }
        if let Some(takeover) = self.takeover.take() {
            takeover.shutdown().await;
        }
    }
}

impl Drop for TakeoverGuard {
    fn drop(&mut self) {
        // Dropping the service signals it to stop and closes every connection with 1001.
        drop(self.close());
    }
}

impl std::fmt::Debug for TakeoverGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TakeoverGuard")
            .field("addr", &self.addr)
            .field("hosting", &self.hosting())
            .finish()
    }
}

impl EmbeddedProvider {
    /// A provider that mints with `minter` for the local service expected at `addr`.
    pub(crate) fn new(addr: SocketAddr, minter: ConnectionStringProvider) -> Self {
        EmbeddedProvider {
            addr,
            minter: Arc::new(minter),
            host: Arc::new(TakeoverHost {
                slot: std::sync::Mutex::new(TakeoverSlot::default()),
                turn: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The guard that owns whatever service this provider takes over; the target holds it.
    pub(crate) fn guard(&self) -> TakeoverGuard {
        TakeoverGuard {
            host: self.host.clone(),
            addr: self.addr,
        }
    }
}

/// Makes sure a local service answers on `addr`, starting one here if none does.
async fn ensure_service(host: &TakeoverHost, addr: SocketAddr) -> Result<(), ProviderError> {
    let _turn = host.turn.lock().await;
    if host.slot().closed {
        return Err(ProviderError::Permanent(
            "the embedded target was closed".into(),
        ));
    }
    if service::probe(addr).await {
        return Ok(());
    }
    let config = ServiceConfig {
        host: addr.ip().to_string(),
        port: addr.port(),
        ..ServiceConfig::default()
    };
    match service::start(config).await {
        Ok(running) => {
            let mut slot = host.slot();
            if slot.closed {
                drop(slot);
                drop(running);
                return Err(ProviderError::Permanent(
                    "the embedded target was closed".into(),
                ));
            }
            tracing::info!(
                %addr,
                "the local service stopped (the wpchat hosting it quit); this wpchat now hosts it, starting empty"
            );
            // A service we took over earlier cannot be here: it would have answered the probe.
            slot.service = Some(running);
            Ok(())
        }
        // Most likely another wpchat bound the port first: connect to it.
        Err(_) if answers_soon(addr).await => {
            tracing::info!(%addr, "another wpchat took over the local service; connecting to it");
            Ok(())
        }
        Err(error) => Err(ProviderError::Transient(format!(
            "the local service on {addr} does not answer and cannot be restarted here ({error})"
        ))),
    }
}

/// Whether a local service starts answering on `addr` within [`RACE_GRACE`] (after losing a
/// race to bind it, the winner may not be serving yet).
async fn answers_soon(addr: SocketAddr) -> bool {
    let keep_probing = async {
        while !service::probe(addr).await {
            tokio::time::sleep(RACE_PROBE_PAUSE).await;
        }
    };
    tokio::time::timeout(RACE_GRACE, keep_probing).await.is_ok()
}

impl UrlProvider for EmbeddedProvider {
    fn client_url(&self) -> crate::auth::UrlFuture {
        let (host, addr, minter) = (self.host.clone(), self.addr, self.minter.clone());
        Box::pin(async move {
            ensure_service(&host, addr).await?;
            minter.client_url().await
        })
    }

    fn describe(&self) -> String {
        format!("local service {} ({})", self.addr, self.minter.describe())
    }
}
