//! Turns target options (from the command line and environment) and a config profile into a
//! connection target: a URL provider for the engine. `embedded` holds the local service used
//! when no target is given; `token` mints what `wpchat token` prints.
//!
//! Precedence: command line > environment (`WebPubSubConnectionString`) > profile > defaults.

mod embedded;
mod token;

use std::sync::Arc;

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
use crate::client::ClientConfig;
use crate::config::{Config, Profile};
use crate::protocol::Subprotocol;
use crate::service::RunningService;

use embedded::embedded_target;
pub use embedded::{EMBEDDED_RECOVERY_WINDOW, EmbeddedSettings, TakeoverGuard};
pub use token::client_access;

/// The environment variable `--connection-string` is read from.
pub(crate) const CONNECTION_STRING_ENV: &str = "WebPubSubConnectionString";
/// Roles minted for chat when none are asked for: join, leave and publish to any group.
pub(crate) const CHAT_ROLES: &[&str] = &["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"];

/// What the user asked for about the target, before the profile and defaults are merged in.
/// `Debug` is written by hand so that it never shows a token, access key or header value.
#[derive(Clone, Default)]
pub struct TargetOptions {
    /// A client URL (wss://…/client/hubs/HUB?access_token=…).
    pub url: Option<String>,
    /// A connection string (Endpoint=…;AccessKey=…); tokens are minted locally. It may come
    /// from `WebPubSubConnectionString`, which ranks below an explicit URL or negotiate endpoint.
    pub connection_string: Option<String>,
    /// An app server endpoint answering GET with {"url": CLIENT_URL}.
    pub negotiate: Option<String>,
    /// Extra headers for the negotiate request, as `Name: value`.
    pub headers: Vec<String>,
    pub hub: Option<String>,
    /// User id put in minted tokens.
    pub user: Option<String>,
    /// Roles put in minted tokens.
    pub roles: Vec<String>,
    /// Groups to join at connect.
    pub groups: Vec<String>,
    /// Minted token lifetime in minutes.
    pub expires: Option<u64>,
    pub protocol: Option<Subprotocol>,
    /// A simple WebSocket client (`--protocol none`): no subprotocol, raw frames.
    pub simple: bool,
    /// Do not rejoin groups after a fresh reconnect.
    pub no_auto_rejoin: bool,
    /// Send the token in an Authorization header instead of the query string.
    pub token_in_header: bool,
    /// Profile from the config file.
    pub profile: Option<String>,
    /// Config file (default: the platform config dir).
    pub config: Option<std::path::PathBuf>,
    /// A script that must fail fast: a negotiate endpoint that cannot answer at start (nothing
    /// listening, a name that does not resolve, a 5xx) ends resolution instead of being retried.
    pub fail_fast: bool,
}

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
    /// (see `EmbeddedProvider`); dropping the target stops it and ends further takeovers.
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
pub(crate) enum TargetError {
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
    #[error(
        "unknown protocol '{0}' in the profile; use json, json.reliable, protobuf or protobuf.reliable"
    )]
    Protocol(String),
    #[error(
        "no connection string to mint a token from: give --connection-string, set {CONNECTION_STRING_ENV}, or use a profile with one"
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
    #[error("{0}; pass --wait to keep trying")]
    NegotiateUnavailable(String),
    #[error("cannot start the local service: {0}")]
    Embedded(String),
}

/// Resolves the target: a client URL, a connection string, a negotiate endpoint, a profile, or
/// (none of these) the embedded local service.
pub async fn resolve(options: &TargetOptions, config: &Config) -> anyhow::Result<Target> {
    resolve_with(options, config, &EmbeddedSettings::from_env()).await
}

/// [`resolve`] with explicit embedded-service settings.
pub async fn resolve_with(
    options: &TargetOptions,
    config: &Config,
    embedded: &EmbeddedSettings,
) -> anyhow::Result<Target> {
    let profile = select_profile(options, config)?;
    let merged = Merged::new(options, profile.map(|(_, p)| p))?;
    let source = choose_source(options, profile)?;
    let negotiating = matches!(source, Source::Negotiate { .. });
    let mut target = match source {
        Source::Url(text) => url_target(&text, options, &merged)?,
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
            negotiate_target(&endpoint, &headers, &merged, options.fail_fast).await?
        }
        Source::Embedded => embedded_target(&merged, embedded).await?,
    };
    if !options.headers.is_empty() && !negotiating {
        target
            .notices
            .push("--header is only sent to a negotiate endpoint; ignored".to_string());
    }
    target.client.protocol = merged.protocol;
    target.client.simple = options.simple;
    target.client.auto_rejoin = !options.no_auto_rejoin;
    target.client.token_in_header = options.token_in_header;
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
    fn new(options: &TargetOptions, profile: Option<&Profile>) -> Result<Self, TargetError> {
        let from_profile = |pick: fn(&Profile) -> Option<&String>| profile.and_then(pick).cloned();
        let list = |cli: &Vec<String>, pick: fn(&Profile) -> &Vec<String>| {
            if cli.is_empty() {
                profile.map(pick).cloned().unwrap_or_default()
            } else {
                cli.clone()
            }
        };
        let protocol = match (
            options.protocol,
            profile.and_then(|p| p.protocol.as_deref()),
        ) {
            (Some(protocol), _) => protocol,
            (None, Some(name)) => Subprotocol::from_short_name(name)
                .or_else(|| Subprotocol::from_name(name))
                .ok_or_else(|| TargetError::Protocol(name.trim().chars().take(60).collect()))?,
            (None, None) => Subprotocol::JsonReliable,
        };
        Ok(Merged {
            hub: options
                .hub
                .clone()
                .or_else(|| from_profile(|p| p.hub.as_ref())),
            user: options
                .user
                .clone()
                .or_else(|| from_profile(|p| p.user.as_ref())),
            roles: list(&options.roles, |p| &p.roles),
            groups: list(&options.groups, |p| &p.groups),
            expires: options
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
    options: &TargetOptions,
    config: &'c Config,
) -> Result<Option<(&'c str, &'c Profile)>, TargetError> {
    let Some(name) = options.profile.as_ref().or(config.default_profile.as_ref()) else {
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
    options: &TargetOptions,
    profile: Option<(&str, &Profile)>,
) -> Result<Source, TargetError> {
    let cli_url = options.url.clone();
    // clap fills `connection_string` from the environment too; the environment ranks below an
    // explicit URL or negotiate endpoint, so only an explicit flag conflicts with them.
    let env_value = std::env::var(CONNECTION_STRING_ENV).ok();
    let cs_from_env = options.connection_string.is_some() && options.connection_string == env_value;
    let explicit = [
        cli_url.is_some(),
        options.negotiate.is_some(),
        options.connection_string.is_some() && !cs_from_env,
    ];
    if explicit.iter().filter(|given| **given).count() > 1 {
        return Err(TargetError::Conflict);
    }
    if let Some(url) = cli_url {
        return Ok(Source::Url(url));
    }
    if let Some(endpoint) = &options.negotiate {
        let headers = if options.headers.is_empty() {
            profile.map(|(_, p)| profile_headers(p)).unwrap_or_default()
        } else {
            options.headers.clone()
        };
        return Ok(Source::Negotiate {
            endpoint: endpoint.clone(),
            headers,
        });
    }
    if let Some(text) = &options.connection_string {
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
    profile_source(name, profile, options)
}

fn profile_headers(profile: &Profile) -> Vec<String> {
    profile
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect()
}

fn profile_source(
    name: &str,
    profile: &Profile,
    options: &TargetOptions,
) -> Result<Source, TargetError> {
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
        let headers = if options.headers.is_empty() {
            profile_headers(profile)
        } else {
            options.headers.clone()
        };
        return Ok(Source::Negotiate {
            endpoint: endpoint.clone(),
            headers,
        });
    }
    Ok(Source::Embedded)
}

fn url_target(text: &str, options: &TargetOptions, merged: &Merged) -> Result<Target, TargetError> {
    let client_url = parse_client_url(text)?;
    if let Some(given) = &options.hub
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
    fail_fast: bool,
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
        Err(error @ (ProviderError::Permanent(_) | ProviderError::Refused(_))) => {
            return Err(TargetError::Negotiate(error));
        }
        Err(ProviderError::Transient(why)) if fail_fast => {
            return Err(TargetError::NegotiateUnavailable(why));
        }
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

/// The OS user name (`USER`, then `USERNAME`), or `me`.
pub(crate) fn os_user_name() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "me".to_string())
}

/// The name of a `Name: value` header, or `?` when it has none.
fn header_name(header: &str) -> &str {
    match header.split_once(':') {
        Some((name, _)) if !name.trim().contains(char::is_whitespace) => name.trim(),
        _ => "?",
    }
}

/// Hand-written so that `{:?}` of the options never shows a token, key or header value.
impl std::fmt::Debug for TargetOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// What `{:?}` shows: the options with every secret blanked or reduced to a name.
        #[derive(Debug)]
        #[allow(dead_code)] // read only through the derived Debug
        struct TargetOptions<'a> {
            url: Option<String>,
            connection_string: Option<&'static str>,
            negotiate: Option<String>,
            header_names: Vec<&'a str>,
            hub: &'a Option<String>,
            user: &'a Option<String>,
            roles: &'a [String],
            groups: &'a [String],
            expires: Option<u64>,
            protocol: Option<Subprotocol>,
            simple: bool,
            no_auto_rejoin: bool,
            token_in_header: bool,
            profile: &'a Option<String>,
            config: &'a Option<std::path::PathBuf>,
            fail_fast: bool,
        }
        TargetOptions {
            url: self.url.as_deref().map(crate::redact::redact_secrets),
            connection_string: self
                .connection_string
                .as_ref()
                .map(|_| crate::redact::REDACTED),
            // A negotiate query may hold a function key (`?code=`): show the path only.
            negotiate: self.negotiate.as_deref().map(|n| match Url::parse(n) {
                Ok(url) => crate::auth::negotiate::shown_endpoint(&url),
                Err(_) => "(not a URL)".to_string(),
            }),
            header_names: self.headers.iter().map(|h| header_name(h)).collect(),
            hub: &self.hub,
            user: &self.user,
            roles: &self.roles,
            groups: &self.groups,
            expires: self.expires,
            protocol: self.protocol,
            simple: self.simple,
            no_auto_rejoin: self.no_auto_rejoin,
            token_in_header: self.token_in_header,
            profile: &self.profile,
            config: &self.config,
            fail_fast: self.fail_fast,
        }
        .fmt(f)
    }
}
