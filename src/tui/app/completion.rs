//! Tab completion in the input: command names, group names after the commands that take one,
//! and user ids (recent speakers first) or group names in message text.

use super::App;
use crate::tui::commands;
use crate::tui::state::{NO_SENDER, NoteLevel, State};

/// Names that are never completed as user ids.
const RESERVED: [&str; 3] = ["you", "server", "anonymous"];

impl App {
    pub(super) fn complete(&mut self, backwards: bool) {
        let editor = &mut self.state.editor;
        if editor.completing() {
            editor.cycle_completion(backwards);
            return;
        }
        let (start, word) = editor.word_at_cursor();
        let before = &editor.text()[..start];
        let word_lower = word.to_lowercase();
        let candidates = if start == 0 && word.starts_with('/') {
            let mut names: Vec<String> = commands::COMMANDS
                .iter()
                .map(|command| command.name.to_string())
                .filter(|n| n.starts_with(&word_lower))
                .collect();
            names.sort();
            names.dedup();
            names
        } else if matches!(before, "/join " | "/leave " | "/part " | "/send ") {
            groups_starting(&self.state, &word_lower)
        } else if let Some(words) = argument_words(before) {
            words
                .into_iter()
                .filter(|w| w.starts_with(&word_lower))
                .collect()
        } else {
            name_candidates(&self.state, start, &word_lower)
        };
        if !self.state.editor.start_completion(candidates, backwards) {
            self.note(NoteLevel::Info, "no completion");
        }
    }
}

/// The words a command's first argument may be, for the commands that take a fixed set.
fn argument_words(before: &str) -> Option<Vec<String>> {
    let fixed: &[&str] = match before {
        "/type " => &["text", "json", "binary"],
        "/noecho " | "/history " => &["on", "off"],
        "/help " => {
            let names = commands::COMMANDS
                .iter()
                .map(|c| c.name.trim_start_matches('/'));
            let mut names: Vec<String> = names.map(str::to_string).collect();
            names.sort();
            return Some(names);
        }
        _ => return None,
    };
    Some(fixed.iter().map(|w| w.to_string()).collect())
}

fn groups_starting(state: &State, prefix: &str) -> Vec<String> {
    state
        .group_names()
        .into_iter()
        .filter(|g| g.to_lowercase().starts_with(prefix))
        .collect()
}

/// Completes a user id (or a group name) in message text. Users come first, those who spoke
/// most recently in this buffer before the rest; at the start of the line a user id gets a
/// `:` (as in IRC clients); `@` prefixes are kept.
fn name_candidates(state: &State, start: usize, word_lower: &str) -> Vec<String> {
    let (at, bare) = match word_lower.strip_prefix('@') {
        Some(rest) => ("@", rest),
        None => ("", word_lower),
    };
    if bare.is_empty() {
        return Vec::new();
    }
    let suffix = if start == 0 && at.is_empty() { ":" } else { "" };
    let mut candidates: Vec<String> = users_starting(state, bare)
        .into_iter()
        .map(|u| format!("{at}{u}{suffix}"))
        .collect();
    candidates.extend(
        groups_starting(state, bare)
            .into_iter()
            .map(|g| format!("{at}{g}")),
    );
    candidates
}

/// User ids starting with `prefix`: recent speakers in this buffer, then everyone seen.
fn users_starting(state: &State, prefix: &str) -> Vec<String> {
    let me = state.user_id.as_deref().map(crate::text::sanitize_line);
    let matches = |name: &str| {
        name.to_lowercase().starts_with(prefix)
            && !RESERVED.contains(&name)
            && Some(name) != me.as_deref()
    };
    // Recent speakers first: walk back through this buffer's newest lines.
    let mut users: Vec<String> = Vec::new();
    for line in state.current_buffer().lines.iter().rev().take(1000) {
        if line.sender == NO_SENDER {
            continue;
        }
        let name = state.names.name(line.sender);
        if matches(name) && !users.iter().any(|u| u == name) {
            users.push(name.to_string());
        }
    }
    // Then everyone seen in any group (the interner also holds error names).
    let mut others: Vec<String> = state
        .buffers
        .iter()
        .flat_map(|b| b.members_seen.iter())
        .map(|&id| state.names.name(id))
        .filter(|n| matches(n) && !users.iter().any(|u| u == n))
        .map(str::to_string)
        .collect();
    others.sort();
    others.dedup();
    users.extend(others);
    users
}
