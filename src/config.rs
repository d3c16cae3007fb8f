//! The TOML config file: profiles, UI settings and the key map; defaults embedded from
//! `assets/default-config.toml`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The default configuration, printed by `wpchat --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../assets/default-config.toml");

/// The loaded configuration. `ui` and `keys` stay raw tables here: the TUI owns their meaning.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub ui: toml::Table,
    pub keys: toml::Table,
    pub default_profile: Option<String>,
    pub profiles: BTreeMap<String, toml::Table>,
}
