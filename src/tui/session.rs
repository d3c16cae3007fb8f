//! What a restart brings back (WeeChat's layout and input history): the open groups in their
//! order, the input history and each group's draft, in a small JSON file beside the log in the
//! platform state dir, one per history database (so per profile or target). Read at start,
//! written at exit; a missing or unreadable file only means a fresh start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::app::App;
use super::state::BufferKind;

/// Input lines kept across restarts.
const SAVED_HISTORY: usize = 200;

/// The saved part of a chat session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedSession {
    /// Open groups, in the pane's order.
    pub groups: Vec<String>,
    /// Input history, oldest first.
    pub input_history: Vec<String>,
    /// Unsent drafts by group.
    pub drafts: BTreeMap<String, String>,
}

/// The session file for the history database at `database` (`local.db` → `local.session.json`
/// in the state dir), or `None` without a state dir.
pub fn path_for(database: &Path) -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "wpchat")?;
    let dir = dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir());
    let stem = database.file_stem()?.to_string_lossy();
    Some(dir.join(format!("{stem}.session.json")))
}

impl SavedSession {
    /// Reads the file; `None` when there is none or it cannot be read (a fresh start).
    pub fn load(path: &Path) -> Option<SavedSession> {
        let text = std::fs::read_to_string(path).ok()?;
        match serde_json::from_str(&text) {
            Ok(session) => Some(session),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "session file ignored");
                None
            }
        }
    }

    /// Writes the file (through a temporary file, so a crash leaves the old one whole).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)
    }

    /// What `app` would bring back next time.
    pub fn of(app: &App) -> SavedSession {
        let state = app.state();
        let groups = state.buffers.iter().filter(|b| b.kind == BufferKind::Group);
        let mut drafts = BTreeMap::new();
        for (index, buffer) in state.buffers.iter().enumerate() {
            let draft = if index == state.current {
                state.editor.text()
            } else {
                buffer.draft.as_str()
            };
            if buffer.kind == BufferKind::Group && !draft.trim().is_empty() {
                drafts.insert(buffer.name.clone(), draft.to_string());
            }
        }
        let history = state.editor.history();
        SavedSession {
            groups: groups.map(|b| b.name.clone()).collect(),
            input_history: history[history.len().saturating_sub(SAVED_HISTORY)..].to_vec(),
            drafts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_file_round_trips_and_a_broken_one_is_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("local.session.json");
        let session = SavedSession {
            groups: vec!["ops".into(), "lobby".into()],
            input_history: vec!["hello".into()],
            drafts: BTreeMap::from([("ops".to_string(), "half".to_string())]),
        };
        session.save(&path).unwrap();
        assert_eq!(SavedSession::load(&path), Some(session));
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(SavedSession::load(&path), None);
        assert_eq!(SavedSession::load(&dir.path().join("missing.json")), None);
    }
}
