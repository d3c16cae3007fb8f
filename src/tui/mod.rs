//! The terminal UI: pure `State` + `App::update`, a pure view, and one event loop.
//!
//! `run` wires them: config → target → engine → initial joins → terminal guard → loop.

pub(crate) mod app;
pub(crate) mod commands;
pub(crate) mod editor;
pub mod event_loop;
pub(crate) mod format;
pub mod highlight;
pub mod history;
pub mod history_reader;
pub(crate) mod keymap;
pub(crate) mod layout;
pub(crate) mod links;
pub mod overlay;
pub mod session;
pub mod state;
pub(crate) mod terminal;
pub mod view;

use std::time::Duration;

use anyhow::Context;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub use app::{App, Effect, Msg, Redraw};
pub use history::HistoryStart;
pub use keymap::{Action, Keymap};
pub use state::{Clock, Hyperlinks, LineKind, NoteLevel, State, UiSettings};

use crate::client::{self, ClientConfig, Command};
use crate::config::Config;
use event_loop::EventLoop;
use history::ChatHistory;

/// The group joined when none is given.
pub const DEFAULT_GROUP: &str = "lobby";

/// The `[ui]` settings and the key map from the config. A bad setting or binding does not stop
/// the chat: it keeps its default, and the problem comes back as a message for the user.
pub fn ui_from_config(config: &Config) -> (UiSettings, Keymap, Vec<String>) {
    let (settings, mut problems) = lenient(&config.ui, UiSettings::from_table, UiSettings::default);
    let (keymap, key_problems) = lenient(&config.keys, Keymap::from_table, Keymap::default);
    problems.extend(key_problems);
    problems.extend(keymap.conflicts().iter().cloned());
    (settings, keymap, problems)
}

/// The status note that counts every config problem the system buffer shows at start: the
/// `[ui]`/`[keys]` ones and the config file's own warnings (notices starting `config: `).
fn config_problems_note(notices: &[String], problems: &[String]) -> Option<String> {
    let file_warnings = notices.iter().filter(|n| n.starts_with("config: ")).count();
    let total = file_warnings + problems.len();
    (total > 1).then(|| format!("{total} problems in the config; see the system buffer"))
}

/// Parses `table` entry by entry, dropping (and reporting) the entries `parse` refuses.
fn lenient<T, E: std::fmt::Display>(
    table: &toml::Table,
    parse: impl Fn(&toml::Table) -> Result<T, E>,
    fallback: impl FnOnce() -> T,
) -> (T, Vec<String>) {
    let mut good = toml::Table::new();
    let mut problems = Vec::new();
    for (key, value) in table {
        let single = toml::Table::from_iter([(key.clone(), value.clone())]);
        match parse(&single) {
            Ok(_) => {
                good.insert(key.clone(), value.clone());
            }
            Err(error) => problems.push(format!("{error} (ignored)")),
        }
    }
    match parse(&good) {
        Ok(parsed) => (parsed, problems),
        Err(error) => {
            problems.push(format!("{error} (using all defaults)"));
            (fallback(), problems)
        }
    }
}

/// Whether this process hosts the embedded local service, asked each second: `Some(n)` with
/// its `n` open connections (ours included), `None` when another process hosts it.
pub type HostingProbe = Box<dyn Fn() -> Option<usize> + Send>;

/// Everything the chat needs from the command line, the config file and the resolved target.
/// Built by `cmd::chat`, so that no clap type reaches the UI.
pub struct ChatStart {
    /// The `[ui]` and `[keys]` tables are read from here.
    pub config: Config,
    /// The engine's configuration; `None` runs offline (`--offline`), over stored history.
    pub client: Option<ClientConfig>,
    pub hub: String,
    /// The user id we expect to have, if known.
    pub user_id: Option<String>,
    /// Groups to join at start; none means [`DEFAULT_GROUP`].
    pub groups: Vec<String>,
    /// When a fixed (not renewable) token expires, in ms since the epoch.
    pub token_expires_at_ms: Option<i64>,
    /// Lines for the `system` buffer at start, in order (log file, target, config warnings).
    pub notices: Vec<String>,
    /// Where history is kept (`None`: no history at all).
    pub history: Option<HistoryStart>,
    /// Whether this process hosts the embedded local service (`None`: another target).
    pub hosting: Option<HostingProbe>,
}

/// Runs the chat UI until the user quits.
pub async fn run(mut start: ChatStart) -> anyhow::Result<()> {
    let simple = start.client.as_ref().is_some_and(|client| client.simple);
    let offline = start.client.is_none();
    let mut handle = match start.client.take() {
        Some(config) => client::spawn(config),
        None => history_reader::offline_handle(),
    };
    let mut app = app_for(&start);
    let groups = std::mem::take(&mut start.groups);
    let session_path = start
        .history
        .as_ref()
        .and_then(|h| session::path_for(&h.path));
    let initial = initial_commands(&mut app, groups, simple, offline, session_path.as_deref());

    let mut event_loop = event_loop_for(&mut app, &mut start)?;
    event_loop.send(&mut app, &handle, initial);
    let stop = event_loop::stop_signals().context("cannot listen for SIGTERM and SIGHUP")?;
    let result = event_loop.run(&mut app, &mut handle, stop).await;
    // Restores the terminal before the goodbye below.
    drop(event_loop);
    if let Some(path) = &session_path
        && let Err(error) = session::SavedSession::of(&app).save(path)
    {
        tracing::warn!(%error, path = %path.display(), "cannot save the session");
    }

    // Close the connection with 1000 and give the engine a moment to say goodbye.
    if !app.should_quit() {
        let _ = handle.commands.try_send(Command::Shutdown);
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while handle.events.recv().await.is_some() {}
    })
    .await;
    result
}

/// The App with the config's settings and keys, the start notices and config problems shown.
fn app_for(start: &ChatStart) -> App {
    let (mut settings, keymap, problems) = ui_from_config(&start.config);
    if settings.hyperlinks == Hyperlinks::Auto {
        let known = links::terminal_supports_hyperlinks(|name| std::env::var(name).ok());
        settings.hyperlinks = if known {
            Hyperlinks::On
        } else {
            Hyperlinks::Off
        };
    }
    let mut app = App::new(settings, keymap, Clock::now());
    app.set_target(&start.hub, start.user_id.as_deref());
    for notice in &start.notices {
        app.system(LineKind::Notice, notice);
    }
    for problem in &problems {
        tracing::warn!(%problem, "config");
        app.alert(&format!("config: {problem}"));
    }
    if let Some(note) = config_problems_note(&start.notices, &problems) {
        app.note(NoteLevel::Error, &note);
    }
    app.set_token_expiry(start.token_expires_at_ms);
    if let Some(hosting) = &start.hosting {
        app.set_hosting(hosting());
    }
    app
}

/// Joins the start groups (or opens them offline), restores the saved session, and shows the
/// first group; returns the commands to send once the loop runs.
fn initial_commands(
    app: &mut App,
    groups: Vec<String>,
    simple: bool,
    offline: bool,
    session_path: Option<&std::path::Path>,
) -> Vec<Command> {
    let groups = if simple {
        app.start_simple();
        Vec::new()
    } else if groups.is_empty() {
        vec![DEFAULT_GROUP.to_string()]
    } else {
        groups
    };
    let mut initial = Vec::new();
    if offline {
        app.open_offline(&groups);
    }
    for group in groups.iter().filter(|_| !offline) {
        initial.extend(app.join(group));
    }
    if let Some(saved) = session_path.and_then(session::SavedSession::load) {
        initial.extend(app.restore_session(&saved));
    }
    // Each join shows its group; start on the first one, as given.
    if app.state().group_count() > 0 {
        app.update(Action::GoToGroup(1));
    }
    initial
}

/// The terminal set up and the event loop around it, with history and the hosting probe.
fn event_loop_for(
    app: &mut App,
    start: &mut ChatStart,
) -> anyhow::Result<EventLoop<CrosstermBackend<std::io::Stdout>, terminal::TermInput>> {
    let guard = terminal::TerminalGuard::enter(app.state().settings.mouse)
        .context("cannot set up the terminal (is this an interactive terminal?)")?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("cannot draw on the terminal")?;
    let input = terminal::TermInput::start().context("cannot start reading the keyboard")?;
    let mut event_loop = EventLoop::new(terminal, input).with_guard(guard);
    if let Some(history_start) = &start.history {
        let (history, problems) = ChatHistory::start(history_start, &start.config.history);
        for problem in problems {
            app.system(LineKind::Notice, &problem);
        }
        event_loop = event_loop.with_history(history);
    }
    if let Some(hosting) = start.hosting.take() {
        event_loop = event_loop.with_hosting_probe(hosting);
    }
    Ok(event_loop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_count_covers_every_config_line() {
        let notices = [
            "log: wpchat.log".to_string(),
            "config: unknown key 'x'".to_string(),
        ];
        let problems = ["[ui]: 'a' bad".to_string(), "[keys]: 'b' bad".to_string()];
        assert_eq!(
            config_problems_note(&notices, &problems).as_deref(),
            Some("3 problems in the config; see the system buffer")
        );
        assert_eq!(config_problems_note(&notices, &[]), None);
    }
}
