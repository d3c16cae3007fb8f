//! The one event loop: terminal input, client events (drained in batches before one redraw),
//! the connection-state watch, a 1 s tick, and SIGTERM/SIGHUP. It redraws only when something
//! changed, at most ~60 times a second for what the service sends (~10 times when only the
//! badges of groups not shown changed; a key shows at once), and sleeps when nothing happens. Terminal input is polled first, so a flood cannot starve it.

use std::io::Stdout;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, EventStream, KeyEventKind, MouseButton, MouseEventKind,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::error::TrySendError;

use super::app::{App, Effect, Redraw};
use super::keymap::Action;
use super::terminal::TerminalGuard;
use super::view;
use crate::client::{ClientHandle, Command, ConnState, Event, OpError, OpOutcome};

/// Shortest time between two frames (~60 fps).
const FRAME: Duration = Duration::from_millis(16);
/// Shortest time between two frames when the user typed something: a key must show at once,
/// but a burst of input events (key repeat, a mouse wheel) still coalesces.
const INPUT_FRAME: Duration = Duration::from_millis(2);
/// Shortest time between two frames when only background badges changed.
const BACKGROUND_FRAME: Duration = Duration::from_millis(100);
/// Client events taken per wake-up before input is looked at again (~1 ms of work).
const EVENT_BATCH: usize = 512;
/// Files `/bin @file` may send (the service's message limit).
const MAX_FILE_BYTES: u64 = crate::protocol::MAX_CLIENT_MESSAGE_BYTES as u64;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Runs until the user quits, the engine stops for good, or a signal asks us to end.
pub async fn run(
    app: &mut App,
    handle: &mut ClientHandle,
    terminal: &mut Term,
    guard: &mut TerminalGuard,
) -> anyhow::Result<()> {
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut sigterm, mut sighup) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        )
    };
    let size = terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut events = Vec::with_capacity(EVENT_BATCH);
    let mut engine_open = true;
    let mut state_open = true;
    // What changed since the last frame.
    let mut pending = Redraw::Now;
    // The user did something since the last frame: draw it without waiting for a full frame.
    let mut typed = false;
    let mut last_draw: Option<Instant> = None;
    loop {
        pending = pending.max(app.take_redraw());
        let since_draw = last_draw.map_or(BACKGROUND_FRAME, |t| t.elapsed());
        let gap = match pending {
            Redraw::Now if typed => INPUT_FRAME,
            Redraw::Now => FRAME,
            Redraw::Background | Redraw::None => BACKGROUND_FRAME,
        };
        if pending != Redraw::None && since_draw >= gap {
            terminal.draw(|frame| view::draw(frame, app.state()))?;
            last_draw = Some(Instant::now());
            pending = Redraw::None;
            typed = false;
        }
        let dirty = pending != Redraw::None;
        let wait = gap.saturating_sub(since_draw);
        // Biased: input and signals first, so a flood of client events never delays a key
        // by more than one batch; the flood cannot starve the tick or the state watch either,
        // as they come before it.
        let commands: Vec<Command> = tokio::select! {
            biased;
            next = input.next() => match next {
                Some(Ok(event)) => {
                    typed = true;
                    app.update(now_tick());
                    on_terminal_event(app, event)
                }
                Some(Err(error)) => return Err(error.into()),
                None => break,
            },
            _ = recv_signal(&mut sigterm) => break,
            _ = recv_signal(&mut sighup) => break,
            changed = handle.state.changed(), if state_open => {
                match changed {
                    Ok(()) => {
                        let state = handle.state.borrow_and_update().clone();
                        app.update(state)
                    }
                    Err(_) => {
                        state_open = false;
                        Vec::new()
                    }
                }
            }
            _ = tick.tick() => app.update(now_tick()),
            received = handle.events.recv_many(&mut events, EVENT_BATCH), if engine_open => {
                if received == 0 {
                    engine_open = false;
                    let stopped = matches!(app.state().conn.status, super::state::ConnStatus::Offline { .. });
                    if !stopped {
                        app.update(ConnState::Stopped {
                            reason: "the connection engine stopped".to_string(),
                        });
                    }
                    Vec::new()
                } else {
                    // Stamp the batch with the current time (ticks alone are 1 s coarse).
                    app.update(now_tick());
                    let mut out = Vec::new();
                    for event in events.drain(..) {
                        out.extend(app.update(event));
                    }
                    out
                }
            }
            _ = tokio::time::sleep(wait), if dirty => Vec::new(),
        };
        send_commands(app, handle, commands).await;
        for effect in app.take_effects() {
            match effect {
                Effect::ClearScreen => {
                    terminal.clear()?;
                    pending = Redraw::Now;
                }
                Effect::Suspend => {
                    guard.suspend()?;
                    terminal.clear()?;
                    pending = Redraw::Now;
                }
                Effect::SetMouse(on) => guard.set_mouse(on),
                Effect::ReadFile { group, path } => {
                    let result = read_file(&path).await;
                    let commands = app.update(Action::FileLoaded {
                        group,
                        path,
                        result,
                    });
                    send_commands(app, handle, commands).await;
                }
            }
        }
        if app.should_quit() {
            break;
        }
    }
    Ok(())
}

fn now_tick() -> Action {
    let now = super::state::Clock::now();
    Action::Tick {
        wall_ms: now.wall_ms,
        mono: now.mono,
    }
}

async fn recv_signal(signal: &mut tokio::signal::unix::Signal) {
    signal.recv().await;
}

fn on_terminal_event(app: &mut App, event: TermEvent) -> Vec<Command> {
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => app.key(key),
        TermEvent::Paste(text) => app.update(Action::Paste(text)),
        TermEvent::Resize(columns, rows) => app.update(Action::Resize(columns, rows)),
        TermEvent::Mouse(mouse) => match mouse.kind {
            MouseEventKind::ScrollUp => app.update(Action::Wheel { up: true }),
            MouseEventKind::ScrollDown => app.update(Action::Wheel { up: false }),
            MouseEventKind::Down(MouseButton::Left) => app.update(Action::Click {
                column: mouse.column,
                row: mouse.row,
            }),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn op_of(command: &Command) -> Option<u64> {
    match command {
        Command::Join { op, .. }
        | Command::Leave { op, .. }
        | Command::SendToGroup { op, .. }
        | Command::SendEvent { op, .. } => Some(*op),
        Command::Reconnect | Command::InspectFrames(_) | Command::Shutdown => None,
    }
}

/// Hands commands to the engine. A full queue waits briefly (backpressure); a stopped engine
/// fails the operation so the user sees ✗ instead of a line pending forever.
pub async fn send_commands(app: &mut App, handle: &ClientHandle, commands: Vec<Command>) {
    for command in commands {
        let op = op_of(&command);
        let failed = match handle.commands.try_send(command) {
            Ok(()) => None,
            Err(TrySendError::Full(command)) => {
                match tokio::time::timeout(Duration::from_secs(2), handle.commands.send(command))
                    .await
                {
                    Ok(Ok(())) => None,
                    Ok(Err(_)) => Some(OpError::Stopped),
                    Err(_) => Some(OpError::Invalid(
                        "the connection engine is busy; try again".to_string(),
                    )),
                }
            }
            Err(TrySendError::Closed(_)) => Some(OpError::Stopped),
        };
        if let (Some(error), Some(op)) = (failed, op) {
            app.update(Event::OpResult {
                op,
                outcome: OpOutcome::Failed(error),
            });
        }
    }
}

async fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "the file has {} bytes; a message may carry at most {MAX_FILE_BYTES}",
            metadata.len()
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read the file: {e}"))
}
