//! `wpchat token`: a client access token minted from a connection string (given, from the
//! environment, or from a profile), exactly as the server SDKs mint it.

use anyhow::Context;

use super::{Merged, Source, TargetError, TargetOptions, choose_source, select_profile};
use crate::auth::{ClientAccess, ConnectionString, ConnectionStringProvider, TokenOptions};
use crate::config::Config;

/// Mints a client URL and token for the connection string the options and `config` name.
pub fn client_access(options: &TargetOptions, config: &Config) -> anyhow::Result<ClientAccess> {
    let profile = select_profile(options, config)?;
    let merged = Merged::new(options, profile.map(|(_, p)| p))?;
    let (text, origin) = match choose_source(options, profile)? {
        Source::ConnectionString { text, origin } => (text, origin),
        _ => return Err(TargetError::TokenNeedsConnectionString.into()),
    };
    let connection_string = ConnectionString::parse(&text)
        .map_err(TargetError::from)
        .with_context(|| origin.clone())?;
    let hub = merged.hub.clone().ok_or(TargetError::MissingHub)?;
    // As the SDKs mint, no default roles; but the user defaults as the chat's does (the OS
    // user, else `me`), so a URL minted here connects as the same user the chat would.
    let token = TokenOptions {
        user_id: Some(merged.user.clone().unwrap_or_else(super::os_user_name)),
        roles: merged.roles.clone(),
        groups: merged.groups.clone(),
        expires_minutes: merged.expires,
    };
    let provider =
        ConnectionStringProvider::new(connection_string, hub, token).map_err(TargetError::from)?;
    Ok(provider.client_access())
}
