//! The TOML config file: profiles, UI settings and the key map; defaults embedded from
//! `assets/default-config.toml`.

/// The default configuration, printed by `wpchat --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../assets/default-config.toml");
