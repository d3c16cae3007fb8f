//! The `[ui]` settings: read once from the config, then the only place each setting (and each
//! toggle the user flips at run time: data type, echo, mouse, group pane) is stored.

use thiserror::Error;

use crate::protocol::DataType;

/// Settings from the config's `[ui]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct UiSettings {
    /// Messages kept per buffer.
    pub scrollback: usize,
    pub show_groups: bool,
    pub group_pane_width: u16,
    pub mouse: bool,
    /// Rows one message may take before it is cut (the full text is one key away).
    pub max_message_lines: usize,
    pub nick_width: u16,
    /// chrono format of the timestamp column.
    pub time_format: String,
    pub data_type: DataType,
    pub no_echo: bool,
    /// Words that highlight a message as a mention of your user id does (any case).
    pub highlight_words: Vec<String>,
    /// Ring the terminal bell on a highlight.
    pub bell: bool,
    /// Send a desktop notification on a highlight.
    pub notify: Notify,
    /// Groups where every message notifies, not only highlights.
    pub notify_groups: Vec<String>,
    /// Links drawn as OSC 8 terminal hyperlinks; `Auto` is decided once at start (and, if
    /// still `Auto` when drawn, means off).
    pub hyperlinks: Hyperlinks,
}

/// Whether links in the log are terminal hyperlinks (OSC 8), clickable where supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hyperlinks {
    /// On when the terminal is known to support them (see `tui::run`).
    Auto,
    On,
    Off,
}

/// How a highlight reaches the desktop: terminals understand one of two escape sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Off,
    /// `OSC 9 ; text` (iTerm2, WezTerm, Windows Terminal, kitty, foot).
    Osc9,
    /// `OSC 777 ; notify ; title ; text` (urxvt, VTE terminals: GNOME Terminal, Tilix).
    Osc777,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            scrollback: 10_000,
            show_groups: true,
            group_pane_width: 18,
            mouse: true,
            max_message_lines: 8,
            nick_width: 10,
            time_format: "%H:%M".to_string(),
            data_type: DataType::Text,
            no_echo: false,
            highlight_words: Vec::new(),
            bell: true,
            notify: Notify::Off,
            notify_groups: Vec::new(),
            hyperlinks: Hyperlinks::Auto,
        }
    }
}

/// Why the `[ui]` table could not be used.
#[derive(Debug, Error, PartialEq)]
pub enum UiConfigError {
    #[error("[ui]: unknown setting '{0}'; see `wpchat --print-default-config`")]
    Unknown(String),
    #[error("[ui]: '{key}' {expected}")]
    BadValue { key: String, expected: &'static str },
    #[error("[ui]: '{key}' must be {names}")]
    Choice { key: String, names: String },
}

impl UiSettings {
    /// Reads the `[ui]` table; missing settings keep their defaults.
    pub(crate) fn from_table(table: &toml::Table) -> Result<Self, UiConfigError> {
        let mut settings = UiSettings::default();
        let bad = |key: &str, expected| UiConfigError::BadValue {
            key: key.to_string(),
            expected,
        };
        for (key, value) in table {
            let int = |min: i64, max: i64| match value.as_integer() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(bad(key, "must be a whole number in range")),
            };
            let boolean = || {
                value
                    .as_bool()
                    .ok_or_else(|| bad(key, "must be true or false"))
            };
            match key.as_str() {
                "scrollback" => settings.scrollback = int(100, 10_000_000)? as usize,
                "group_pane" => settings.show_groups = boolean()?,
                "group_pane_width" => settings.group_pane_width = int(8, 60)? as u16,
                "mouse" => settings.mouse = boolean()?,
                "max_message_lines" => settings.max_message_lines = int(1, 1000)? as usize,
                "nick_width" => settings.nick_width = int(4, 40)? as u16,
                "no_echo" => settings.no_echo = boolean()?,
                "time_format" => {
                    let format = value
                        .as_str()
                        .ok_or_else(|| bad(key, "must be a string like \"%H:%M\""))?;
                    let invalid = chrono::format::StrftimeItems::new(format)
                        .any(|item| matches!(item, chrono::format::Item::Error));
                    if invalid {
                        return Err(bad(key, "is not a valid strftime format (try \"%H:%M\")"));
                    }
                    settings.time_format = format.to_string();
                }
                "data_type" => settings.data_type = choice(key, value, DATA_TYPES)?,
                "highlight_words" => settings.highlight_words = strings(key, value)?,
                "notify_groups" => settings.notify_groups = strings(key, value)?,
                "bell" => settings.bell = boolean()?,
                "notify" => settings.notify = choice(key, value, NOTIFY)?,
                "hyperlinks" => settings.hyperlinks = choice(key, value, HYPERLINKS)?,
                other => return Err(UiConfigError::Unknown(other.to_string())),
            }
        }
        Ok(settings)
    }
}

const DATA_TYPES: &[(&str, DataType)] = &[
    ("text", DataType::Text),
    ("json", DataType::Json),
    ("binary", DataType::Binary),
];
const NOTIFY: &[(&str, Notify)] = &[
    ("off", Notify::Off),
    ("osc9", Notify::Osc9),
    ("osc777", Notify::Osc777),
];
const HYPERLINKS: &[(&str, Hyperlinks)] = &[
    ("auto", Hyperlinks::Auto),
    ("on", Hyperlinks::On),
    ("off", Hyperlinks::Off),
];

/// One of the named `options` (`notify = "osc9"`); the error lists them.
fn choice<T: Copy>(
    key: &str,
    value: &toml::Value,
    options: &[(&str, T)],
) -> Result<T, UiConfigError> {
    let found = options
        .iter()
        .find(|(name, _)| value.as_str() == Some(name));
    found.map(|(_, option)| *option).ok_or_else(|| {
        let quoted: Vec<String> = options
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        let (last, rest) = quoted.split_last().expect("options are named");
        UiConfigError::Choice {
            key: key.to_string(),
            names: format!("{} or {last}", rest.join(", ")),
        }
    })
}

/// A list of non-empty strings (`["deploy", "oncall"]`).
fn strings(key: &str, value: &toml::Value) -> Result<Vec<String>, UiConfigError> {
    let bad = || UiConfigError::BadValue {
        key: key.to_string(),
        expected: "must be a list of non-empty strings, like [\"deploy\"]",
    };
    let list = value.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|item| match item.as_str() {
            Some(word) if !word.trim().is_empty() => Ok(word.trim().to_string()),
            _ => Err(bad()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::Keymap;

    fn default_tables() -> (toml::Table, toml::Table) {
        let config: toml::Table = toml::from_str(crate::config::DEFAULT_CONFIG).unwrap();
        let table = |name: &str| match config.get(name) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        };
        (table("ui"), table("keys"))
    }

    #[test]
    fn embedded_default_config_matches_the_built_in_defaults() {
        let (ui, keys) = default_tables();
        assert_eq!(UiSettings::from_table(&ui), Ok(UiSettings::default()));
        let from_file = Keymap::from_table(&keys).unwrap();
        assert_eq!(from_file.help_rows(), Keymap::default().help_rows());
        assert_eq!(keys.len(), Keymap::default().help_rows().len());
    }

    fn parsed(text: &str) -> Result<UiSettings, UiConfigError> {
        UiSettings::from_table(&toml::from_str(text).unwrap())
    }

    #[test]
    fn ui_settings_errors_name_the_setting() {
        let errors = [
            (
                "scrollback = -1",
                "[ui]: 'scrollback' must be a whole number in range",
            ),
            (
                "time_format = \"%Q%\"",
                "[ui]: 'time_format' is not a valid strftime format (try \"%H:%M\")",
            ),
            (
                "hyperlinks = \"yes\"",
                "[ui]: 'hyperlinks' must be \"auto\", \"on\" or \"off\"",
            ),
            (
                "notify = 9",
                "[ui]: 'notify' must be \"off\", \"osc9\" or \"osc777\"",
            ),
        ];
        for (text, error) in errors {
            assert_eq!(parsed(text).unwrap_err().to_string(), error);
        }
        assert_eq!(
            parsed("hyperlinks = \"on\"").map(|s| s.hyperlinks),
            Ok(Hyperlinks::On)
        );
        assert_eq!(
            parsed("colour = 1"),
            Err(UiConfigError::Unknown("colour".into()))
        );
    }
}
