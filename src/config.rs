//! The TOML config file: profiles, UI settings and the key map; defaults embedded from
//! `assets/default-config.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// The default configuration, printed by `wpchat --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../assets/default-config.toml");

/// The loaded configuration. `ui` and `keys` stay raw tables here: the TUI owns their meaning.
/// [`load`] fills them with the embedded defaults overlaid by the user's file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub ui: toml::Table,
    pub keys: toml::Table,
    pub history: HistorySettings,
    pub default_profile: Option<String>,
    pub profiles: BTreeMap<String, Profile>,
}

/// A named connection in `[profiles.NAME]`. Exactly one of `url`, `connection_string`,
/// `connection_string_env` or `negotiate` says where to connect. `Debug` hides secrets.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Profile {
    /// A client URL (its token cannot be renewed).
    pub url: Option<String>,
    /// An inline connection string; only allowed in a file other users cannot read.
    pub connection_string: Option<String>,
    /// The name of an environment variable holding the connection string.
    pub connection_string_env: Option<String>,
    /// An app server's negotiate endpoint.
    pub negotiate: Option<String>,
    /// Extra negotiate request headers, name → value.
    pub headers: BTreeMap<String, String>,
    pub hub: Option<String>,
    pub user: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    /// `json` or `json.reliable`.
    pub protocol: Option<String>,
    /// Minted token lifetime in minutes.
    pub expires: Option<u64>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |present: bool| present.then_some(crate::redact::REDACTED);
        let header_names: Vec<&String> = self.headers.keys().collect();
        f.debug_struct("Profile")
            .field(
                "url",
                &self.url.as_deref().map(crate::redact::redact_secrets),
            )
            .field(
                "connection_string",
                &hidden(self.connection_string.is_some()),
            )
            .field("connection_string_env", &self.connection_string_env)
            .field(
                "negotiate",
                &self.negotiate.as_deref().map(crate::redact::redact_secrets),
            )
            .field("header_names", &header_names)
            .field("hub", &self.hub)
            .field("user", &self.user)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("protocol", &self.protocol)
            .field("expires", &self.expires)
            .finish()
    }
}

const TOP_LEVEL_KEYS: &[&str] = &["ui", "keys", "history", "default_profile", "profiles"];

/// `[history]`: whether and how long chat history is kept on disk.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HistorySettings {
    /// Record what the chat sees and sends (`--no-history` turns it off for one run).
    pub enabled: bool,
    /// Messages older than this are pruned, e.g. "365d" (units s, m, h, d, w).
    pub max_age: String,
    /// The database is pruned, oldest first, to stay under this, e.g. "2GiB".
    pub max_size: String,
    /// Groups never recorded (globs, e.g. "telemetry-*").
    pub exclude: Vec<String>,
    /// What is recorded per group glob: "all", "mine" (own messages only) or "none"; when
    /// several globs match a group, the most private one wins.
    pub record: std::collections::BTreeMap<String, String>,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            enabled: true,
            max_age: "365d".into(),
            max_size: "2GiB".into(),
            exclude: Vec::new(),
            record: std::collections::BTreeMap::new(),
        }
    }
}

/// `90d` → (`90`, `d`): the leading digits and the unit after them.
fn number_and_unit(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(split)
}

/// Parses an age like `90d`, `12h`, `2w` into milliseconds.
pub fn parse_age(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text);
    let value: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not an age; use e.g. 90d, 12h, 2w"))?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" | "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{text}'; use s, m, h, d or w"
            ));
        }
    };
    value
        .checked_mul(unit_ms)
        .ok_or_else(|| format!("'{text}' is too long an age"))
}

/// Parses a size like `2GiB`, `500MB`, `1048576` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size; use e.g. 2GiB, 500MB"))?;
    let unit_bytes: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}'; use B, KB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    value
        .checked_mul(unit_bytes)
        .ok_or_else(|| format!("'{text}' is too large a size"))
}
const PROFILE_KEYS: &[&str] = &[
    "url",
    "connection_string",
    "connection_string_env",
    "negotiate",
    "headers",
    "hub",
    "user",
    "roles",
    "groups",
    "protocol",
    "expires",
];

/// Why the config file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(
        "the config file {path} (from --config or WPCHAT_CONFIG) does not exist; create it \
         (wpchat --print-default-config > FILE) or leave the option out"
    )]
    Missing { path: PathBuf },
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "the config file {path} holds a secret (profile '{profile}': {what}) but other users can read it; run `chmod 600 {path}`, or use connection_string_env"
    )]
    Readable {
        path: PathBuf,
        profile: String,
        what: &'static str,
    },
}

/// `config.toml` in the platform config directory (e.g. `~/.config/wpchat/config.toml`).
pub(crate) fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "wpchat").map(|d| d.config_dir().join("config.toml"))
}

/// The embedded defaults, parsed.
pub fn defaults() -> Config {
    // The embedded file is checked by a unit test, so this only falls back in theory.
    toml::from_str(DEFAULT_CONFIG).unwrap_or_default()
}

/// Loads `path` (or the default path), overlaying the embedded defaults. A missing default
/// file is not an error; a missing `--config`/`WPCHAT_CONFIG` file is (a typo must not quietly
/// mean the defaults). Unknown keys come back as warnings. Refuses an inline secret in a file that group
/// or others can read.
pub fn load(path: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let explicit = path.is_some();
    let Some(path) = path.map(Path::to_path_buf).or_else(default_path) else {
        return Ok((defaults(), warnings));
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if explicit {
                return Err(ConfigError::Missing { path });
            }
            tracing::debug!(path = %path.display(), "no config file; using defaults");
            return Ok((defaults(), warnings));
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let invalid = |message: String| ConfigError::Invalid {
        path: path.clone(),
        message: crate::redact::redact_secrets(&message)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    collect_unknown_keys(&table, &mut warnings);
    let user: Config = table
        .try_into()
        .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    if let Some((profile, what)) = inline_secret(&user) {
        refuse_if_shared(&path, profile, what)?;
    }
    let mut config = defaults();
    merge_tables(&mut config.ui, user.ui);
    merge_tables(&mut config.keys, user.keys);
    config.history = user.history;
    config.default_profile = user.default_profile;
    config.profiles = user.profiles;
    if let Some(name) = &config.default_profile
        && !config.profiles.contains_key(name)
    {
        warnings.push(format!(
            "default_profile '{name}' is not defined under [profiles]"
        ));
    }
    Ok((config, warnings))
}

fn collect_unknown_keys(table: &toml::Table, warnings: &mut Vec<String>) {
    for key in table.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            warnings.push(format!("unknown config key '{key}' (ignored)"));
        }
    }
    let Some(toml::Value::Table(profiles)) = table.get("profiles") else {
        return;
    };
    for (name, profile) in profiles {
        let toml::Value::Table(profile) = profile else {
            continue;
        };
        for key in profile.keys() {
            if !PROFILE_KEYS.contains(&key.as_str()) {
                warnings.push(format!(
                    "unknown key '{key}' in [profiles.{name}] (ignored)"
                ));
            }
        }
    }
}

/// The first profile holding a secret inline, and what the secret is.
fn inline_secret(config: &Config) -> Option<(&str, &'static str)> {
    config.profiles.iter().find_map(|(name, profile)| {
        if profile.connection_string.is_some() {
            Some((name.as_str(), "connection_string"))
        } else if !profile.headers.is_empty() {
            Some((name.as_str(), "headers"))
        } else {
            None
        }
    })
}

#[cfg(unix)]
fn refuse_if_shared(path: &Path, profile: &str, what: &'static str) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError::Readable {
            path: path.to_path_buf(),
            profile: profile.to_string(),
            what,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_path: &Path, _profile: &str, _what: &'static str) -> Result<(), ConfigError> {
    // Windows ACLs are not mode bits; the user profile directory is private by default.
    Ok(())
}

/// Overlays `user` on `base`, key by key; nested tables merge, other values replace.
fn merge_tables(base: &mut toml::Table, user: toml::Table) {
    for (key, value) in user {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
                merge_tables(existing, incoming);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_without_warnings() {
        let table: toml::Table = toml::from_str(DEFAULT_CONFIG).expect("default config is TOML");
        let mut warnings = Vec::new();
        collect_unknown_keys(&table, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let _: Config = table
            .try_into()
            .expect("default config has the right shape");
    }

    #[test]
    fn history_ages_and_sizes_parse_with_their_units() {
        assert_eq!(parse_age("90d"), Ok(90 * 86_400_000));
        assert_eq!(parse_age("2w"), Ok(14 * 86_400_000));
        assert_eq!(
            parse_age("soon"),
            Err("'soon' is not an age; use e.g. 90d, 12h, 2w".into())
        );
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn a_partial_history_table_keeps_the_other_defaults() {
        let config: Config = toml::from_str("[history]\nexclude = [\"telemetry-*\"]\n").unwrap();
        assert!(config.history.enabled);
        assert_eq!(config.history.max_size, "2GiB");
        assert_eq!(config.history.exclude, ["telemetry-*"]);
    }

    #[test]
    fn profile_debug_hides_secrets() {
        let profile = Profile {
            connection_string: Some("Endpoint=https://x;AccessKey=K3Y".into()),
            headers: BTreeMap::from([("Authorization".into(), "Bearer T0KEN".into())]),
            url: Some("wss://x/client/hubs/chat?access_token=JWT".into()),
            ..Profile::default()
        };
        let shown = format!("{profile:?}");
        assert!(
            !shown.contains("K3Y") && !shown.contains("T0KEN") && !shown.contains("JWT"),
            "{shown}"
        );
        assert!(shown.contains("Authorization"), "{shown}");
    }
}
