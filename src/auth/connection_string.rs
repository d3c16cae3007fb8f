//! Connection strings (`Endpoint=…;AccessKey=…;Version=1.0;[Port=…;]`) and client tokens minted
//! from them exactly as the official server SDKs mint them (protocol.md §1–§2).

use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;
use url::Url;

use super::client_url::{client_audience, client_base_url, validate_hub};
use super::provider::{ProviderError, UrlFuture, UrlProvider};
use super::token::{Claims, mint};

/// The SDKs' default token lifetime.
pub const DEFAULT_EXPIRES_MINUTES: u64 = 60;

/// A parsed connection string. `Debug` never shows the access key.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    endpoint: Url,
    access_key: String,
}

impl std::fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionString")
            .field("endpoint", &self.endpoint.as_str())
            .field("access_key", &crate::redact::REDACTED)
            .finish()
    }
}

/// What is wrong with a connection string. Messages name the part, never the key's value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConnectionStringError {
    #[error("the connection string is empty; expected Endpoint=https://…;AccessKey=…;Version=1.0;")]
    Empty,
    #[error("the connection string has no Endpoint=…; copy it from the portal's Keys page")]
    MissingEndpoint,
    #[error("the connection string has no AccessKey=…; copy it from the portal's Keys page")]
    MissingAccessKey,
    #[error("the connection string's Endpoint is not a valid URL ({0})")]
    BadEndpoint(String),
    #[error("the connection string's Endpoint scheme is '{0}'; use https:// (or http:// locally)")]
    EndpointScheme(String),
    #[error("the connection string's Port '{0}' is not a port number (1-65535)")]
    BadPort(String),
}

impl FromStr for ConnectionString {
    type Err = ConnectionStringError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ConnectionString::parse(text)
    }
}

impl ConnectionString {
    /// Parses like the server SDKs: split on `;`, each part on its first `=`, keys
    /// case-insensitive (the last of a repeated key wins); `Endpoint` and `AccessKey` required;
    /// `Version` and unknown keys ignored; `https://` added to an endpoint with no scheme;
    /// `Port` applied to the endpoint. Parts with no `=` are skipped, as the JS SDK does.
    pub fn parse(text: &str) -> Result<Self, ConnectionStringError> {
        if text.trim().is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let (mut endpoint, mut access_key, mut port) = (None, None, None);
        for part in text.split(';') {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(value),
                "accesskey" => access_key = Some(value),
                "port" => port = Some(value),
                _ => {}
            }
        }
        let endpoint = endpoint
            .filter(|e| !e.is_empty())
            .ok_or(ConnectionStringError::MissingEndpoint)?;
        let access_key = access_key
            .filter(|k| !k.is_empty())
            .ok_or(ConnectionStringError::MissingAccessKey)?;
        let has_scheme = endpoint.contains("://");
        let with_scheme = if has_scheme {
            endpoint.to_string()
        } else {
            format!("https://{endpoint}")
        };
        let mut endpoint = Url::parse(&with_scheme)
            .map_err(|e| ConnectionStringError::BadEndpoint(e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ConnectionStringError::EndpointScheme(
                endpoint.scheme().chars().take(40).collect(),
            ));
        }
        if endpoint.host_str().is_none_or(str::is_empty) {
            return Err(ConnectionStringError::BadEndpoint("no host".into()));
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            let number: u16 =
                port.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConnectionStringError::BadPort(port.chars().take(20).collect())
                })?;
            let _ = endpoint.set_port(Some(number));
        }
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        Ok(ConnectionString {
            endpoint,
            access_key: access_key.to_string(),
        })
    }

    /// `Endpoint=…;AccessKey=…;Version=1.0;` for a running service.
    pub fn new(endpoint: Url, access_key: impl Into<String>) -> Self {
        ConnectionString {
            endpoint,
            access_key: access_key.into(),
        }
    }

    /// The `http(s)` endpoint, with the port applied.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The access key. Handle with care: never show or log it.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The client token's `aud` for `hub`.
    pub fn audience(&self, hub: &str) -> String {
        client_audience(&self.endpoint, hub)
    }

    /// `ws(s)://…/client/hubs/{hub}`, the SDKs' `baseUrl`.
    pub fn base_url(&self, hub: &str) -> String {
        client_base_url(&self.endpoint, hub)
    }

    /// Mints a client token and URL for `hub` at unix time `now`, like the SDKs'
    /// `get_client_access_token` / `getClientAccessToken`.
    pub fn client_access(&self, hub: &str, options: &TokenOptions, now: i64) -> ClientAccess {
        let minutes = i64::try_from(options.expires_minutes).unwrap_or(i64::MAX / 120);
        let claims = Claims {
            aud: self.audience(hub),
            iat: Some(now),
            exp: now.saturating_add(minutes.saturating_mul(60)),
            nbf: None,
            sub: options.user_id.clone(),
            roles: options.roles.clone(),
            groups: options.groups.clone(),
        };
        let token = mint(&claims, &self.access_key);
        let base_url = self.base_url(hub);
        let url = format!("{base_url}?access_token={token}");
        ClientAccess {
            base_url,
            token,
            url,
        }
    }
}

/// What to put in a minted client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOptions {
    pub user_id: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub expires_minutes: u64,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            user_id: None,
            roles: Vec::new(),
            groups: Vec::new(),
            expires_minutes: DEFAULT_EXPIRES_MINUTES,
        }
    }
}

/// The server SDKs' answer: `{"baseUrl", "token", "url"}`. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ClientAccess {
    #[serde(rename = "baseUrl")]
    pub base_url: String,
    pub token: String,
    pub url: String,
}

impl std::fmt::Debug for ClientAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAccess")
            .field("base_url", &self.base_url)
            .field("token", &crate::redact::REDACTED)
            .finish()
    }
}

/// Kept here too: the client side reads the clock through this path.
pub use super::token::unix_now;

/// Mints a fresh token for every new connection, so reconnects keep working after the first
/// token would have expired.
#[derive(Clone)]
pub struct ConnectionStringProvider {
    connection_string: ConnectionString,
    hub: String,
    options: TokenOptions,
}

impl std::fmt::Debug for ConnectionStringProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionStringProvider")
            .field("connection_string", &self.connection_string)
            .field("hub", &self.hub)
            .field("options", &self.options)
            .finish()
    }
}

/// Why a connection-string provider cannot be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProviderSetupError {
    #[error(transparent)]
    Hub(#[from] super::client_url::HubError),
    #[error("invalid group '{group}' for the token: {reason}")]
    Group { group: String, reason: String },
    #[error("--expires must be at least 1 minute")]
    Expires,
}

impl ConnectionStringProvider {
    pub fn new(
        connection_string: ConnectionString,
        hub: impl Into<String>,
        options: TokenOptions,
    ) -> Result<Self, ProviderSetupError> {
        let hub = hub.into();
        validate_hub(&hub)?;
        for group in &options.groups {
            crate::protocol::validate_group_name(group).map_err(|e| ProviderSetupError::Group {
                group: group.chars().take(80).collect(),
                reason: e.to_string(),
            })?;
        }
        if options.expires_minutes == 0 {
            return Err(ProviderSetupError::Expires);
        }
        Ok(ConnectionStringProvider {
            connection_string,
            hub,
            options,
        })
    }

    pub fn connection_string(&self) -> &ConnectionString {
        &self.connection_string
    }

    pub fn hub(&self) -> &str {
        &self.hub
    }

    pub fn options(&self) -> &TokenOptions {
        &self.options
    }

    /// Mints now.
    pub fn client_access(&self) -> ClientAccess {
        self.connection_string
            .client_access(&self.hub, &self.options, unix_now())
    }
}

impl UrlProvider for ConnectionStringProvider {
    fn client_url(&self) -> UrlFuture {
        let access = self.client_access();
        let result = Url::parse(&access.url).map_err(|e| {
            ProviderError::Permanent(format!("the minted client URL is not valid: {e}"))
        });
        Box::pin(async move { result })
    }

    fn describe(&self) -> String {
        let host = self.connection_string.endpoint.host_str().unwrap_or("?");
        match &self.options.user_id {
            Some(user) => format!("{host} hub {} as {user} (connection string)", self.hub),
            None => format!("{host} hub {} (connection string)", self.hub),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

    #[test]
    fn parses_the_portal_form() {
        let cs = ConnectionString::parse(&format!(
            "Endpoint=https://x.webpubsub.azure.com;AccessKey={KEY};Version=1.0;"
        ))
        .unwrap();
        assert_eq!(cs.endpoint().as_str(), "https://x.webpubsub.azure.com/");
        assert_eq!(cs.access_key(), KEY);
        assert!(!format!("{cs:?}").contains(KEY));
    }

    #[test]
    fn mints_sdk_claims() {
        let cs = ConnectionString::parse(&format!(
            "endpoint=http://localhost;port=8080;accesskey={KEY}"
        ))
        .unwrap();
        let options = TokenOptions {
            user_id: Some("alice".into()),
            roles: vec!["webpubsub.sendToGroup".into()],
            groups: vec!["lobby".into()],
            expires_minutes: 5,
        };
        let access = cs.client_access("chat", &options, 1_000);
        assert_eq!(access.base_url, "ws://localhost:8080/client/hubs/chat");
        let claims = crate::auth::token::verify(
            &access.token,
            KEY,
            "http://localhost:8080/client/hubs/chat",
            1_000,
            0,
        )
        .unwrap();
        assert_eq!(claims.exp - claims.iat.unwrap(), 300);
        assert_eq!(claims.sub.as_deref(), Some("alice"));
        assert_eq!(claims.groups, vec!["lobby".to_string()]);
    }
}
