//! The terminal UI: pure `State` + `App::update`, a pure view, and one event loop.
//!
//! `run` wires them: config → target → engine → initial joins → terminal guard → loop.

pub(crate) mod app;
pub(crate) mod commands;
pub(crate) mod editor;
pub mod event_loop;
pub(crate) mod format;
pub mod history;
pub mod history_reader;
pub(crate) mod keymap;
pub(crate) mod layout;
pub mod overlay;
pub mod state;
pub(crate) mod terminal;
pub mod view;

use std::time::Duration;

use anyhow::Context;
use crossterm::event::EventStream;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub use app::{App, Effect, Msg, Redraw};
pub use history::HistoryStart;
pub use keymap::{Action, Keymap};
pub use state::{Clock, LineKind, NoteLevel, State, UiSettings};

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
    (settings, keymap, problems)
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
}

/// Runs the chat UI until the user quits.
pub async fn run(start: ChatStart) -> anyhow::Result<()> {
    let (settings, keymap, problems) = ui_from_config(&start.config);
    let offline = start.client.is_none();
    let mut handle = match start.client {
        Some(config) => client::spawn(config),
        None => history_reader::offline_handle(),
    };

    let mut app = App::new(settings, keymap, Clock::now());
    app.set_target(&start.hub, start.user_id.as_deref());
    for notice in &start.notices {
        app.system(LineKind::Notice, notice);
    }
    for problem in &problems {
        tracing::warn!(%problem, "config");
        app.alert(&format!("config: {problem}"));
    }
    if problems.len() > 1 {
        app.note(
            NoteLevel::Error,
            &format!(
                "{} problems in the config's [ui]/[keys]; see the system buffer",
                problems.len()
            ),
        );
    }
    app.set_token_expiry(start.token_expires_at_ms);
    let groups = if start.groups.is_empty() {
        vec![DEFAULT_GROUP.to_string()]
    } else {
        start.groups
    };
    let mut initial = Vec::new();
    if offline {
        app.open_offline(&groups);
    }
    for group in groups.iter().filter(|_| !offline) {
        initial.extend(app.join(group));
    }
    // Each join shows its group; start on the first one, as given.
    if app.state().group_count() > 0 {
        app.update(Action::GoToGroup(1));
    }

    let guard = terminal::TerminalGuard::enter(app.state().settings.mouse)
        .context("cannot set up the terminal (is this an interactive terminal?)")?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("cannot draw on the terminal")?;
    let mut event_loop = EventLoop::new(terminal, EventStream::new()).with_guard(guard);
    if let Some(history_start) = &start.history {
        let (history, problems) = ChatHistory::start(history_start, &start.config.history);
        for problem in problems {
            app.system(LineKind::Notice, &problem);
        }
        event_loop = event_loop.with_history(history);
    }
    event_loop.send(&mut app, &handle, initial);
    let stop = event_loop::stop_signals().context("cannot listen for SIGTERM and SIGHUP")?;
    let result = event_loop.run(&mut app, &mut handle, stop).await;
    // Restores the terminal before the goodbye below.
    drop(event_loop);

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
