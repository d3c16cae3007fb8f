//! Keys → `Action`s: the defaults declared with each action (UX.md), overridden per action by
//! the config's `[keys]` table (`next_group = ["ctrl-n", "alt-down"]`). The help overlay is
//! generated from the live map.

mod action;
mod chord;
mod meta;

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use thiserror::Error;

pub use action::Action;
pub use chord::KeyChord;
pub(crate) use meta::{BURST as META_BURST, MetaDecoder};

use action::{BINDINGS, Binding};

/// Why the `[keys]` table could not be used.
#[derive(Debug, Error, PartialEq)]
pub enum KeymapError {
    #[error("[keys]: unknown action '{0}'; see `wpchat --print-default-config` for the names")]
    UnknownAction(String),
    #[error("[keys]: cannot read key '{0}'; write keys like \"ctrl-n\", \"alt-enter\", \"f1\"")]
    BadKey(String),
    #[error("[keys]: '{0}' must be a key string or a list of key strings")]
    BadValue(String),
}

/// One row of the help overlay.
#[derive(Debug, Clone, PartialEq)]
pub struct HelpRow {
    pub keys: String,
    pub description: String,
}

/// The live key map.
#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<KeyChord, Action>,
    /// The bindings with their live keys, in help order.
    rows: Vec<(&'static Binding, Vec<KeyChord>)>,
    conflicts: Vec<String>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::from_table(&toml::Table::new()).unwrap_or_else(|_| Keymap {
            map: HashMap::new(),
            rows: Vec::new(),
            conflicts: Vec::new(),
        })
    }
}

impl Keymap {
    /// The defaults with the config's `[keys]` table applied (an action listed there loses
    /// its default keys).
    pub(crate) fn from_table(table: &toml::Table) -> Result<Self, KeymapError> {
        for name in table.keys() {
            if Action::from_name(name).is_none() {
                return Err(KeymapError::UnknownAction(name.clone()));
            }
        }
        let mut rows = Vec::new();
        for binding in BINDINGS {
            rows.push((binding, keys_of(binding, table.get(binding.name))?));
        }
        let conflicts = settle_conflicts(&mut rows, |name| table.contains_key(name));
        let map = rows
            .iter()
            .flat_map(|(binding, keys)| keys.iter().map(|key| (*key, binding.action.clone())))
            .collect();
        Ok(Keymap {
            map,
            rows,
            conflicts,
        })
    }

    /// Keys that two actions claimed, one line each saying which action kept the key.
    pub(crate) fn conflicts(&self) -> &[String] {
        &self.conflicts
    }

    /// The action for a key press: a bound action, else a typed character, else nothing.
    pub fn action_for(&self, key: KeyEvent) -> Option<Action> {
        let chord = KeyChord::new(key.code, key.modifiers);
        if let Some(action) = self.map.get(&chord) {
            return Some(action.clone());
        }
        match key.code {
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(Action::Insert(c))
            }
            _ => None,
        }
    }

    /// Rows for the help overlay, from the live bindings.
    pub(crate) fn help_rows(&self) -> Vec<HelpRow> {
        self.rows
            .iter()
            .map(|(binding, keys)| HelpRow {
                keys: if keys.is_empty() {
                    format!("({})", binding.name)
                } else {
                    keys.iter()
                        .map(KeyChord::label)
                        .collect::<Vec<_>>()
                        .join(" ")
                },
                description: binding.help().to_string(),
            })
            .collect()
    }

    /// The label of the first key bound to an action, for hints (`F1 help`).
    pub(crate) fn label_of(&self, name: &str) -> Option<String> {
        self.rows
            .iter()
            .find(|(binding, _)| binding.name == name)
            .and_then(|(_, keys)| keys.first().map(KeyChord::label))
    }
}

/// Gives each key claimed by two actions to one of them: a binding from the config beats a
/// default; between equals the later one wins. The loser's row loses the key, so that the help
/// overlay shows the live map. Returns one line per conflict.
fn settle_conflicts(
    rows: &mut [(&'static Binding, Vec<KeyChord>)],
    configured: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut owners: HashMap<KeyChord, usize> = HashMap::new();
    let mut conflicts = Vec::new();
    for row in 0..rows.len() {
        let (binding, keys) = &rows[row];
        let mut lost = Vec::new();
        for key in keys.clone() {
            let Some(&earlier) = owners.get(&key) else {
                owners.insert(key, row);
                continue;
            };
            let (earlier_binding, _) = rows[earlier];
            let (winner, loser) = if configured(earlier_binding.name) && !configured(binding.name) {
                (earlier, row)
            } else {
                (row, earlier)
            };
            conflicts.push(format!(
                "[keys]: {} is bound to both '{}' and '{}'; '{}' keeps it",
                key.label(),
                earlier_binding.name,
                binding.name,
                rows[winner].0.name
            ));
            owners.insert(key, winner);
            lost.push((loser, key));
        }
        for (loser, key) in lost {
            rows[loser].1.retain(|k| *k != key);
        }
    }
    conflicts
}

/// The keys of a binding: its defaults, or what the config's `[keys]` entry says.
fn keys_of(binding: &Binding, entry: Option<&toml::Value>) -> Result<Vec<KeyChord>, KeymapError> {
    let bad_value = || KeymapError::BadValue(binding.name.to_string());
    match entry {
        None => binding.keys.iter().map(|k| KeyChord::parse(k)).collect(),
        Some(toml::Value::String(k)) => Ok(vec![KeyChord::parse(k)?]),
        Some(toml::Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map_or_else(|| Err(bad_value()), KeyChord::parse))
            .collect(),
        Some(_) => Err(bad_value()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_follow_ux() {
        let keymap = Keymap::default();
        assert_eq!(
            keymap.conflicts(),
            [] as [String; 0],
            "no default key is bound twice"
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('3'), KeyModifiers::ALT)),
            Some(Action::GoToGroup(3))
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('0'), KeyModifiers::ALT)),
            Some(Action::GoToGroup(10))
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('N'), KeyModifiers::CONTROL)),
            Some(Action::NextGroup)
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Enter, KeyModifiers::ALT)),
            Some(Action::Newline)
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
            Some(Action::Insert('Q'))
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::CompleteBack)
        );
    }

    #[test]
    fn config_replaces_an_actions_keys() {
        let table: toml::Table = toml::from_str("next_group = \"alt-n\"\nhelp = [\"f2\"]").unwrap();
        let keymap = Keymap::from_table(&table).unwrap();
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('n'), KeyModifiers::ALT)),
            Some(Action::NextGroup)
        );
        assert_eq!(
            keymap.action_for(key(KeyCode::F(1), KeyModifiers::NONE)),
            None
        );
        assert!(keymap.help_rows().iter().any(|r| r.keys == "F2"));
    }

    #[test]
    fn a_key_bound_twice_goes_to_the_configured_action_and_help_says_so() {
        let table: toml::Table = toml::from_str("join = \"ctrl-n\"").unwrap();
        let keymap = Keymap::from_table(&table).unwrap();
        assert_eq!(
            keymap.action_for(key(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(Action::JoinPrompt)
        );
        assert_eq!(
            keymap.conflicts(),
            ["[keys]: Ctrl+N is bound to both 'next_group' and 'join'; 'join' keeps it"]
        );
        let rows = keymap.help_rows();
        let with_ctrl_n: Vec<&str> = rows
            .iter()
            .filter(|r| r.keys.split(' ').any(|k| k == "Ctrl+N"))
            .map(|r| r.description.as_str())
            .collect();
        assert_eq!(with_ctrl_n.len(), 1, "{rows:?}");
    }

    #[test]
    fn config_errors_name_the_problem() {
        let table: toml::Table = toml::from_str("fly = \"f3\"").unwrap();
        assert_eq!(
            Keymap::from_table(&table).unwrap_err(),
            KeymapError::UnknownAction("fly".into())
        );
        let table: toml::Table = toml::from_str("help = \"hyper-x\"").unwrap();
        assert_eq!(
            Keymap::from_table(&table).unwrap_err().to_string(),
            "[keys]: cannot read key 'hyper-x'; write keys like \"ctrl-n\", \"alt-enter\", \"f1\""
        );
        let table: toml::Table = toml::from_str("help = 3").unwrap();
        assert_eq!(
            Keymap::from_table(&table).unwrap_err().to_string(),
            "[keys]: 'help' must be a key string or a list of key strings"
        );
    }
}
