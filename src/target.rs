//! Turns the command line, environment and config profile into a connection target: a URL
//! provider for the engine, starting the embedded local service when no target is given (and
//! taking it over on the same port when the wpchat that hosted it quits).
//!
//! Precedence: command line > environment (`WebPubSubConnectionString`) > profile > defaults.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use thiserror::Error;
use url::Url;

use crate::auth::client_url::audience_of;
use crate::auth::connection_string::{ProviderSetupError, unix_now};
use crate::auth::negotiate::NegotiateSetupError;
use crate::auth::{
    ClientUrlError, ConnectionString, ConnectionStringError, ConnectionStringProvider, FixedUrl,
    NegotiateProvider, ProviderError, TokenOptions, UrlProvider, parse_client_url,
};
use crate::cli::{ProtocolArg, TargetArgs, TokenArgs};
use crate::client::ClientConfig;
use crate::config::{Config, Profile};
use crate::protocol::Subprotocol;
use crate::service::{self, RunningService, ServiceConfig};

/// The environment variable clap reads `--connection-string` from.
pub const CONNECTION_STRING_ENV: &str = "WebPubSubConnectionString";
/// Overrides the embedded service's port (tests and scripts that must not touch 8080).
pub const EMBEDDED_PORT_ENV: &str = "WPCHAT_EMBEDDED_PORT";
/// Hub used with the embedded service when none is asked for.
pub const EMBEDDED_HUB: &str = "chat";
/// Group joined on the embedded service when none is asked for.
pub const EMBEDDED_GROUP: &str = "lobby";
/// Roles minted for chat when none are asked for: join, leave and publish to any group.
pub const CHAT_ROLES: &[&str] = &["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"];
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

/// A resolved target: the engine's configuration and what the UI shows about it.
pub struct Target {
    pub client: ClientConfig,
    pub hub: String,
    /// The user id we expect to have (from the token or the `--user` flag), if known.
    pub user_id: Option<String>,
    /// Groups to join once connected.
    pub groups: Vec<String>,
    /// The embedded service, kept alive as long as the target.
    pub embedded: Option<RunningService>,
    /// On the embedded target, the local service this process took over after its host quit
    /// (see [`EmbeddedProvider`]); dropping the target stops it and ends further takeovers.
    pub takeover: Option<TakeoverGuard>,
    /// Where we connect, for status lines; never holds a secret.
    pub description: String,
    /// When a fixed URL's token expires (the UI warns ahead of it); `None` when tokens renew
    /// or the URL has none.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Whether each new connection gets a fresh token (false for a fixed client URL).
    pub renewable: bool,
    /// Things the user should know about how the target was chosen (shown once at start).
    pub notices: Vec<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("description", &self.description)
            .field("provider", &self.client.url_provider.describe())
            .field("protocol", &self.client.protocol)
            .field("hub", &self.hub)
            .field("user_id", &self.user_id)
            .field("groups", &self.groups)
            .field("embedded", &self.embedded.as_ref().map(|s| s.addr))
            .field("takeover", &self.takeover)
            .field("token_expires_at", &self.token_expires_at)
            .field("renewable", &self.renewable)
            .field("notices", &self.notices)
            .finish()
    }
}

/// Why no target could be resolved. Each message is one line and names what to fix.
#[derive(Debug, Error)]
pub enum TargetError {
    #[error("the client URL was given twice (as the argument and with --url); give it once")]
    UrlTwice,
    #[error("give only one target: a client URL, --connection-string or --negotiate")]
    Conflict,
    #[error("--hub is required with a connection string (the hub to connect to)")]
    MissingHub,
    #[error("--hub '{given}' does not match the client URL's hub '{in_url}'")]
    HubMismatch { given: String, in_url: String },
    #[error("no profile '{name}' in the config file (defined: {available})")]
    UnknownProfile { name: String, available: String },
    #[error(
        "profile '{0}' names more than one target; keep one of url, connection_string, connection_string_env, negotiate"
    )]
    ProfileConflict(String),
    #[error("profile '{profile}': environment variable {var} (connection_string_env) is not set")]
    MissingEnv { profile: String, var: String },
    #[error("unknown protocol '{0}' in the profile; use json or json.reliable")]
    Protocol(String),
    #[error(
        "wpchat token needs a connection string: --connection-string, {CONNECTION_STRING_ENV}, or a profile with one"
    )]
    TokenNeedsConnectionString,
    #[error(transparent)]
    ClientUrl(#[from] ClientUrlError),
    #[error(transparent)]
    ConnectionString(#[from] ConnectionStringError),
    #[error(transparent)]
    Setup(#[from] ProviderSetupError),
    #[error(transparent)]
    NegotiateSetup(#[from] NegotiateSetupError),
    #[error(transparent)]
    Negotiate(ProviderError),
    #[error("cannot start the local service: {0}")]
    Embedded(String),
}

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
    pub fn from_env() -> Self {
        let port = std::env::var(EMBEDDED_PORT_ENV)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(service::DEFAULT_PORT);
        EmbeddedSettings { port }
    }
}

/// Resolves the target: a client URL, a connection string, a negotiate endpoint, a profile, or
/// (none of these) the embedded local service.
pub async fn resolve(args: &TargetArgs, config: &Config) -> anyhow::Result<Target> {
    resolve_with(args, config, &EmbeddedSettings::from_env()).await
}

/// [`resolve`] with explicit embedded-service settings.
pub async fn resolve_with(
    args: &TargetArgs,
    config: &Config,
    embedded: &EmbeddedSettings,
) -> anyhow::Result<Target> {
    let profile = select_profile(args, config)?;
    let merged = Merged::new(args, profile.map(|(_, p)| p))?;
    let source = choose_source(args, profile)?;
    let negotiating = matches!(source, Source::Negotiate { .. });
    let mut target = match source {
        Source::Url(text) => url_target(&text, args, &merged)?,
        Source::ConnectionString { text, origin } => {
            let connection_string = ConnectionString::parse(&text)
                .map_err(TargetError::from)
                .with_context(|| origin.clone())?;
            let hub = merged.hub.clone().ok_or(TargetError::MissingHub)?;
            let options = TokenOptions {
                user_id: Some(merged.user.clone().unwrap_or_else(os_user_name)),
                roles: merged.roles_or_chat_roles(),
                groups: merged.groups.clone(),
                expires_minutes: merged.expires,
            };
            let provider = ConnectionStringProvider::new(connection_string, hub.clone(), options)
                .map_err(TargetError::from)?;
            renewable_target(provider, hub, merged.groups.clone())
        }
        Source::Negotiate { endpoint, headers } => {
            negotiate_target(&endpoint, &headers, &merged).await?
        }
        Source::Embedded => embedded_target(&merged, embedded).await?,
    };
    if !args.headers.is_empty() && !negotiating {
        target
            .notices
            .push("--header is only sent to a negotiate endpoint; ignored".to_string());
    }
    target.client.protocol = merged.protocol;
    target.client.auto_rejoin = !args.no_auto_rejoin;
    target.client.token_in_header = args.token_in_header;
    Ok(target)
}

/// Options after merging the command line over the profile.
struct Merged {
    hub: Option<String>,
    user: Option<String>,
    roles: Vec<String>,
    groups: Vec<String>,
    expires: u64,
    protocol: Subprotocol,
}

impl Merged {
    fn new(args: &TargetArgs, profile: Option<&Profile>) -> Result<Self, TargetError> {
        let from_profile = |pick: fn(&Profile) -> Option<&String>| profile.and_then(pick).cloned();
        let list = |cli: &Vec<String>, pick: fn(&Profile) -> &Vec<String>| {
            if cli.is_empty() {
                profile.map(pick).cloned().unwrap_or_default()
            } else {
                cli.clone()
            }
        };
        let protocol = match (args.protocol, profile.and_then(|p| p.protocol.as_deref())) {
            (Some(ProtocolArg::Json), _) => Subprotocol::Json,
            (Some(ProtocolArg::JsonReliable), _) => Subprotocol::JsonReliable,
            (None, Some(name)) => match name.trim() {
                "json" => Subprotocol::Json,
                "json.reliable" => Subprotocol::JsonReliable,
                other => Subprotocol::from_name(other)
                    .ok_or_else(|| TargetError::Protocol(other.chars().take(60).collect()))?,
            },
            (None, None) => Subprotocol::JsonReliable,
        };
        Ok(Merged {
            hub: args
                .hub
                .clone()
                .or_else(|| from_profile(|p| p.hub.as_ref())),
            user: args
                .user
                .clone()
                .or_else(|| from_profile(|p| p.user.as_ref())),
            roles: list(&args.roles, |p| &p.roles),
            groups: list(&args.groups, |p| &p.groups),
            expires: args
                .expires
                .or(profile.and_then(|p| p.expires))
                .unwrap_or(crate::auth::connection_string::DEFAULT_EXPIRES_MINUTES),
            protocol,
        })
    }

    fn roles_or_chat_roles(&self) -> Vec<String> {
        if self.roles.is_empty() {
            CHAT_ROLES.iter().map(|r| (*r).to_string()).collect()
        } else {
            self.roles.clone()
        }
    }
}

/// Where the client URL comes from.
enum Source {
    Url(String),
    ConnectionString {
        text: String,
        origin: String,
    },
    Negotiate {
        endpoint: String,
        headers: Vec<String>,
    },
    Embedded,
}

fn select_profile<'c>(
    args: &TargetArgs,
    config: &'c Config,
) -> Result<Option<(&'c str, &'c Profile)>, TargetError> {
    let Some(name) = args.profile.as_ref().or(config.default_profile.as_ref()) else {
        return Ok(None);
    };
    match config.profiles.get_key_value(name) {
        Some((name, profile)) => Ok(Some((name.as_str(), profile))),
        None => Err(TargetError::UnknownProfile {
            name: name.clone(),
            available: if config.profiles.is_empty() {
                "none".into()
            } else {
                config
                    .profiles
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}

fn choose_source(
    args: &TargetArgs,
    profile: Option<(&str, &Profile)>,
) -> Result<Source, TargetError> {
    if args.url.is_some() && args.url_arg.is_some() {
        return Err(TargetError::UrlTwice);
    }
    let cli_url = args.url.clone().or_else(|| args.url_arg.clone());
    // clap fills `connection_string` from the environment too; the environment ranks below an
    // explicit URL or negotiate endpoint, so only an explicit flag conflicts with them.
    let env_value = std::env::var(CONNECTION_STRING_ENV).ok();
    let cs_from_env = args.connection_string.is_some() && args.connection_string == env_value;
    let explicit = [
        cli_url.is_some(),
        args.negotiate.is_some(),
        args.connection_string.is_some() && !cs_from_env,
    ];
    if explicit.iter().filter(|given| **given).count() > 1 {
        return Err(TargetError::Conflict);
    }
    if let Some(url) = cli_url {
        return Ok(Source::Url(url));
    }
    if let Some(endpoint) = &args.negotiate {
        let headers = if args.headers.is_empty() {
            profile.map(|(_, p)| profile_headers(p)).unwrap_or_default()
        } else {
            args.headers.clone()
        };
        return Ok(Source::Negotiate {
            endpoint: endpoint.clone(),
            headers,
        });
    }
    if let Some(text) = &args.connection_string {
        let origin = if cs_from_env {
            CONNECTION_STRING_ENV.to_string()
        } else {
            "--connection-string".to_string()
        };
        return Ok(Source::ConnectionString {
            text: text.clone(),
            origin,
        });
    }
    let Some((name, profile)) = profile else {
        return Ok(Source::Embedded);
    };
    profile_source(name, profile, args)
}

fn profile_headers(profile: &Profile) -> Vec<String> {
    profile
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect()
}

fn profile_source(name: &str, profile: &Profile, args: &TargetArgs) -> Result<Source, TargetError> {
    let kinds = [
        profile.url.is_some(),
        profile.connection_string.is_some(),
        profile.connection_string_env.is_some(),
        profile.negotiate.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(TargetError::ProfileConflict(name.to_string()));
    }
    if let Some(url) = &profile.url {
        return Ok(Source::Url(url.clone()));
    }
    if let Some(text) = &profile.connection_string {
        return Ok(Source::ConnectionString {
            text: text.clone(),
            origin: format!("profile '{name}'"),
        });
    }
    if let Some(var) = &profile.connection_string_env {
        let text = std::env::var(var).map_err(|_| TargetError::MissingEnv {
            profile: name.to_string(),
            var: var.clone(),
        })?;
        return Ok(Source::ConnectionString {
            text,
            origin: format!("{var} (profile '{name}')"),
        });
    }
    if let Some(endpoint) = &profile.negotiate {
        let headers = if args.headers.is_empty() {
            profile_headers(profile)
        } else {
            args.headers.clone()
        };
        return Ok(Source::Negotiate {
            endpoint: endpoint.clone(),
            headers,
        });
    }
    Ok(Source::Embedded)
}

fn url_target(text: &str, args: &TargetArgs, merged: &Merged) -> Result<Target, TargetError> {
    let client_url = parse_client_url(text)?;
    if let Some(given) = &args.hub
        && !given.eq_ignore_ascii_case(&client_url.hub)
    {
        return Err(TargetError::HubMismatch {
            given: given.clone(),
            in_url: client_url.hub.clone(),
        });
    }
    let mut notices = Vec::new();
    let claims = client_url
        .access_token()
        .and_then(|token| crate::auth::token::decode_unverified(&token).ok());
    let token_expires_at = claims
        .as_ref()
        .and_then(|c| DateTime::from_timestamp(c.exp, 0));
    match (&claims, client_url.access_token()) {
        (_, None) => notices.push(
            "the client URL has no access_token; only hubs that allow anonymous clients accept it"
                .to_string(),
        ),
        (None, Some(_)) => notices.push(
            "the client URL's access_token is not a readable JWT; its expiry is unknown".into(),
        ),
        (Some(claims), Some(_)) => {
            if claims.exp < unix_now() {
                notices.push(format!(
                    "the client URL's token already expired at {}; get a fresh URL",
                    token_expires_at
                        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default()
                ));
            }
            let expected = audience_of(&client_url.url);
            let token_hub = claims
                .aud
                .rsplit_once("/client/hubs/")
                .map(|(_, hub)| hub.trim_end_matches('/'));
            match token_hub {
                Some(hub) if !hub.eq_ignore_ascii_case(&client_url.hub) => notices.push(format!(
                    "the client URL's token is for hub '{hub}', not '{}'; the service will refuse it",
                    client_url.hub
                )),
                _ if !claims
                    .aud
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(expected.trim_end_matches('/')) =>
                {
                    // A reverse proxy may rewrite the host, so a different host is only logged.
                    tracing::debug!(aud = %claims.aud, %expected, "token audience differs from the URL");
                }
                _ => {}
            }
        }
    }
    let user_id = claims
        .as_ref()
        .and_then(|c| c.sub.clone())
        .or_else(|| merged.user.clone());
    let provider = FixedUrl(client_url.url.clone());
    Ok(Target {
        description: provider.describe(),
        client: ClientConfig::new(Arc::new(provider)),
        hub: client_url.hub,
        user_id,
        groups: merged.groups.clone(),
        embedded: None,
        takeover: None,
        token_expires_at,
        renewable: false,
        notices,
    })
}

fn renewable_target(
    provider: ConnectionStringProvider,
    hub: String,
    groups: Vec<String>,
) -> Target {
    let user_id = provider.options().user_id.clone();
    Target {
        description: provider.describe(),
        client: ClientConfig::new(Arc::new(provider)),
        hub,
        user_id,
        groups,
        embedded: None,
        takeover: None,
        token_expires_at: None,
        renewable: true,
        notices: Vec::new(),
    }
}

/// Builds the negotiate provider and asks it once, so a wrong endpoint or credential fails at
/// start with a clear message and the status line knows the hub and user. A transient failure
/// is only a notice: the engine keeps asking.
async fn negotiate_target(
    endpoint: &str,
    headers: &[String],
    merged: &Merged,
) -> Result<Target, TargetError> {
    let provider = NegotiateProvider::new(endpoint, headers)?;
    let mut notices = Vec::new();
    let (mut hub, mut user_id) = (merged.hub.clone().unwrap_or_default(), merged.user.clone());
    match provider.negotiate().await {
        Ok(url) => {
            if let Ok(client_url) = parse_client_url(url.as_str()) {
                hub = client_url.hub.clone();
                if let Some(sub) = client_url
                    .access_token()
                    .and_then(|t| crate::auth::token::decode_unverified(&t).ok())
                    .and_then(|c| c.sub)
                {
                    user_id = Some(sub);
                }
            }
        }
        Err(error @ ProviderError::Permanent(_)) => return Err(TargetError::Negotiate(error)),
        Err(ProviderError::Transient(why)) => notices.push(format!("{why}; will keep trying")),
    }
    Ok(Target {
        description: provider.describe(),
        client: ClientConfig::new(Arc::new(provider)),
        hub,
        user_id,
        groups: merged.groups.clone(),
        embedded: None,
        takeover: None,
        token_expires_at: None,
        renewable: true,
        notices,
    })
}

/// No target: use the local service on `127.0.0.1:port` if one answers there, else start one
/// in this process (on any free port if something else holds that one).
async fn embedded_target(
    merged: &Merged,
    settings: &EmbeddedSettings,
) -> Result<Target, TargetError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, settings.port));
    let already_running = settings.port != 0
        && tokio::time::timeout(PROBE_TIMEOUT, service::probe(addr))
            .await
            .unwrap_or(false);
    let mut notices = Vec::new();
    let (endpoint_addr, access_key, running) = if already_running {
        (addr, service::DEV_ACCESS_KEY.to_string(), None)
    } else {
        let config = ServiceConfig {
            port: settings.port,
            ..ServiceConfig::default()
        };
        match service::start(config).await {
            Ok(running) => (running.addr, running.access_key.clone(), Some(running)),
            // Another wpchat starting at the same moment may have bound the port first.
            Err(_) if settings.port != 0 && answers_soon(addr).await => {
                (addr, service::DEV_ACCESS_KEY.to_string(), None)
            }
            Err(first) if settings.port != 0 => {
                let running = service::start(ServiceConfig {
                    port: 0,
                    ..ServiceConfig::default()
                })
                .await
                .map_err(|e| TargetError::Embedded(e.to_string()))?;
                tracing::info!(error = %first, "embedded service moved to a free port");
                notices.push(format!(
                    "port {} is in use by something that is not a wpchat service; started the local service on port {} instead",
                    settings.port,
                    running.addr.port()
                ));
                (running.addr, running.access_key.clone(), Some(running))
            }
            Err(error) => return Err(TargetError::Embedded(error.to_string())),
        }
    };
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
pub struct EmbeddedProvider {
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
    pub fn new(addr: SocketAddr, minter: ConnectionStringProvider) -> Self {
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
    pub fn guard(&self) -> TakeoverGuard {
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

/// The OS user name (`USER`, then `USERNAME`), or `me`.
pub fn os_user_name() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "me".to_string())
}

/// `wpchat token`'s output (the client URL, or the SDKs' JSON) and config warnings.
pub fn token_output(
    target: &TargetArgs,
    args: &TokenArgs,
) -> anyhow::Result<(String, Vec<String>)> {
    let (config, warnings) = crate::config::load(target.config.as_deref())?;
    let profile = select_profile(target, &config)?;
    let merged = Merged::new(target, profile.map(|(_, p)| p))?;
    let (text, origin) = match choose_source(target, profile)? {
        Source::ConnectionString { text, origin } => (text, origin),
        _ => return Err(TargetError::TokenNeedsConnectionString.into()),
    };
    let connection_string = ConnectionString::parse(&text)
        .map_err(TargetError::from)
        .with_context(|| origin.clone())?;
    let hub = merged.hub.clone().ok_or(TargetError::MissingHub)?;
    // Exactly what was asked, as the SDKs mint: no default user or roles here.
    let options = TokenOptions {
        user_id: merged.user.clone(),
        roles: merged.roles.clone(),
        groups: merged.groups.clone(),
        expires_minutes: merged.expires,
    };
    let provider = ConnectionStringProvider::new(connection_string, hub, options)
        .map_err(TargetError::from)?;
    let access = provider.client_access();
    let output = if args.json {
        serde_json::to_string_pretty(&access).context("cannot encode the token as JSON")?
    } else {
        access.url
    };
    Ok((output, warnings))
}

/// `wpchat token`: mint a client URL from a connection string and print it.
pub fn print_token(target: &TargetArgs, args: &TokenArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let (output, warnings) = token_output(target, args)?;
    let mut stderr = std::io::stderr().lock();
    for warning in warnings {
        let _ = writeln!(stderr, "wpchat: warning: {warning}");
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{output}").context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Hand-written so that `{:?}` of the command line never shows a token, key or header value.
impl std::fmt::Debug for TargetArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |text: &Option<String>| text.as_deref().map(crate::auth::redact_secrets);
        let header_names: Vec<&str> = self
            .headers
            .iter()
            .map(|h| match h.split_once(':') {
                Some((name, _)) if !name.trim().contains(char::is_whitespace) => name.trim(),
                _ => "?",
            })
            .collect();
        f.debug_struct("TargetArgs")
            .field("url_arg", &redact(&self.url_arg))
            .field("url", &redact(&self.url))
            .field(
                "connection_string",
                &self
                    .connection_string
                    .as_ref()
                    .map(|_| crate::auth::REDACTED),
            )
            // A negotiate query may hold a function key (`?code=`): show the path only.
            .field(
                "negotiate",
                &self.negotiate.as_deref().map(|n| match Url::parse(n) {
                    Ok(url) => crate::auth::negotiate::shown_endpoint(&url),
                    Err(_) => "(not a URL)".to_string(),
                }),
            )
            .field("header_names", &header_names)
            .field("hub", &self.hub)
            .field("user", &self.user)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("expires", &self.expires)
            .field("protocol", &self.protocol)
            .field("no_auto_rejoin", &self.no_auto_rejoin)
            .field("token_in_header", &self.token_in_header)
            .field("profile", &self.profile)
            .field("config", &self.config)
            .finish()
    }
}
