//! The terminal UI: pure `State` + `App::update`, a pure view, and one event loop.
//!
//! `run` wires them: config → target → engine → initial joins → terminal guard → loop.

pub mod app;
pub mod commands;
pub mod editor;
pub mod event_loop;
pub mod keymap;
pub mod state;
pub mod terminal;
pub mod view;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub use app::{App, Effect, Msg};
pub use keymap::{Action, Keymap};
pub use state::{Clock, State, UiSettings};

use crate::cli::TargetArgs;
use crate::client::{self, Command};
use crate::config::Config;

/// The group joined when none is given.
pub const DEFAULT_GROUP: &str = "lobby";

/// The one place the TUI gets its configuration from.
fn load_config(_target: &TargetArgs) -> anyhow::Result<Config> {
    Ok(Config::default())
}

/// Runs the chat UI until the user quits.
pub async fn run(target_args: TargetArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&target_args)?;
    let settings = UiSettings::from_table(&config.ui)?;
    let keymap = Keymap::from_table(&config.keys)?;
    let target = crate::target::resolve(&target_args, &config).await?;
    let mut handle = client::spawn(target.client.clone());

    let mut app = App::new(settings, keymap, Clock::now());
    app.set_target(&target.hub, target.user_id.as_deref());
    let groups = if target.groups.is_empty() {
        vec![DEFAULT_GROUP.to_string()]
    } else {
        target.groups.clone()
    };
    let mut initial = Vec::new();
    for group in &groups {
        initial.extend(app.join(group));
    }

    let mut guard = terminal::TerminalGuard::enter(app.state().mouse)
        .context("cannot set up the terminal (is this an interactive terminal?)")?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("cannot draw on the terminal")?;
    event_loop::send_commands(&mut app, &handle, initial).await;
    let result = event_loop::run(&mut app, &mut handle, &mut terminal, &mut guard).await;
    drop(terminal);
    drop(guard);

    // Close the connection with 1000 and give the engine a moment to say goodbye.
    if !app.should_quit() {
        let _ = handle.commands.try_send(Command::Shutdown);
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while handle.events.recv().await.is_some() {}
    })
    .await;
    drop(target);
    result.map(|()| ExitCode::SUCCESS)
}
