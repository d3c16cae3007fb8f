//! The one event loop: terminal input, client events (drained in batches before one redraw),
//! the connection-state watch, a 1 s tick, commands waiting for room in the engine's queue,
//! and files being read for `/bin @file`. It redraws only when something changed, at most
//! ~60 times a second for what the service sends (~10 times when only the badges of groups
//! not shown changed; a key shows at once), and sleeps when nothing happens.
//!
//! It never waits on anything slow: a full command queue holds the commands here (sent, in
//! order, through a `reserve()` branch as room appears) and a file is read in a task whose
//! result comes back as an Action. So a key always reaches the screen. The loop is generic
//! over the ratatui backend and the stream of terminal events, so a test can drive it turn by
//! turn with a `TestBackend` and a channel of key events.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyEventKind, MouseButton, MouseEventKind};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::mpsc::{Permit, Sender};
use tokio::task::JoinSet;
use tokio::time::{Interval, MissedTickBehavior};

use super::app::{App, Effect, Redraw};
use super::history::{Backlog, ChatHistory};
use super::history_reader::{self, HistoryAnswer};
use super::keymap::{Action, META_BURST};
use super::state::{Clock, ConnStatus};
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
/// How long a key held by the ESC-as-Meta decoder waits before it is typed after all.
const META_WAIT: Duration = META_BURST.saturating_add(Duration::from_millis(5));
/// Files `/bin @file` may send (the service's message limit).
const MAX_FILE_BYTES: u64 = crate::protocol::MAX_CLIENT_MESSAGE_BYTES as u64;

/// Whether the loop goes on after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The user quit, or the terminal input ended.
    Quit,
}

/// Commands waiting for room in the engine's queue, oldest first.
#[derive(Debug, Default)]
pub struct Outbox {
    held: VecDeque<Command>,
}

impl Outbox {
    /// Hands commands to the engine without waiting. A full queue holds them (and every later
    /// one, so that order is kept); a stopped engine fails the operation so the user sees ✗
    /// instead of a line pending forever.
    pub fn send(&mut self, app: &mut App, queue: &Sender<Command>, commands: Vec<Command>) {
        self.held.extend(commands);
        while let Some(command) = self.held.pop_front() {
            match queue.try_send(command) {
                Ok(()) => {}
                Err(TrySendError::Full(command)) => {
                    self.held.push_front(command);
                    return;
                }
                Err(TrySendError::Closed(command)) => fail_stopped(app, &command),
            }
        }
    }

    /// Commands held back by a full queue.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Room appeared (or the engine stopped): the oldest held command takes it, and as many
    /// more as fit follow.
    fn release(
        &mut self,
        app: &mut App,
        queue: &Sender<Command>,
        permit: Result<Permit<'_, Command>, SendError<()>>,
    ) {
        if let Ok(permit) = permit
            && let Some(command) = self.held.pop_front()
        {
            permit.send(command);
        }
        self.send(app, queue, Vec::new());
    }
}

/// The operation of a command that can no longer reach the engine fails as `Stopped`.
fn fail_stopped(app: &mut App, command: &Command) {
    let op = match command {
        Command::Join { op, .. }
        | Command::Leave { op, .. }
        | Command::SendToGroup { op, .. }
        | Command::SendEvent { op, .. }
        | Command::SendFrame { op, .. }
        | Command::Invoke { op, .. } => *op,
        Command::CancelInvocation { .. } => return,
        Command::Reconnect | Command::InspectFrames(_) | Command::Shutdown => return,
    };
    app.update(Event::OpResult {
        op,
        outcome: OpOutcome::Failed(OpError::Stopped),
    });
}

/// The loop's own state between turns: the terminal it draws on, where input comes from,
/// held commands, file reads in flight, and when it last drew.
pub struct EventLoop<B: Backend, I> {
    // Declared before the guard: the terminal is dropped before the guard restores it.
    terminal: Terminal<B>,
    guard: Option<TerminalGuard>,
    input: I,
    outbox: Outbox,
    file_reads: JoinSet<Action>,
    tick: Interval,
    engine_open: bool,
    state_open: bool,
    /// What changed since the last frame.
    pending: Redraw,
    /// The user did something since the last frame: draw it without waiting for a full frame.
    typed: bool,
    last_draw: Option<Instant>,
    /// How long until the pending frame is due (`None`: nothing to draw).
    frame_due: Option<Duration>,
    /// The history tap (`None`: history is off).
    history: Option<ChatHistory>,
    /// Backlogs being read from disk, off the loop.
    backlogs: JoinSet<Result<Vec<Backlog>, crate::history::HistoryError>>,
    /// Asked every tick: does this process host the embedded service (after a takeover)?
    hosting: Option<super::HostingProbe>,
    /// Searches and pages of stored history being read, off the loop.
    history_reads: JoinSet<HistoryAnswer>,
}

impl<B, I> EventLoop<B, I>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    I: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    /// A loop drawing on `terminal` and reading `input`. Must be called inside a tokio
    /// runtime (for the tick).
    pub fn new(terminal: Terminal<B>, input: I) -> Self {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        EventLoop {
            terminal,
            guard: None,
            input,
            outbox: Outbox::default(),
            file_reads: JoinSet::new(),
            tick,
            engine_open: true,
            state_open: true,
            pending: Redraw::Now,
            typed: false,
            last_draw: None,
            frame_due: Some(Duration::ZERO),
            history: None,
            backlogs: JoinSet::new(),
            hosting: None,
            history_reads: JoinSet::new(),
        }
    }

    /// Tells the App each second whether this process hosts the embedded local service.
    pub fn with_hosting_probe(mut self, probe: super::HostingProbe) -> Self {
        self.hosting = Some(probe);
        self
    }

    /// Records what the chat sees and sends, and shows backlogs from disk.
    pub fn with_history(mut self, history: ChatHistory) -> Self {
        self.history = Some(history);
        self
    }

    /// The terminal guard to suspend with (Ctrl+Z) and to switch mouse capture on.
    pub(crate) fn with_guard(mut self, guard: TerminalGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    pub fn terminal(&self) -> &Terminal<B> {
        &self.terminal
    }

    /// Commands held back by a full engine queue.
    pub fn held_commands(&self) -> usize {
        self.outbox.len()
    }

    /// Files being read for `/bin @file`.
    pub fn file_reads(&self) -> usize {
        self.file_reads.len()
    }

    /// Hands commands to the engine (held while its queue is full).
    pub fn send(&mut self, app: &mut App, handle: &ClientHandle, commands: Vec<Command>) {
        if let Some(history) = &mut self.history {
            history.on_commands(&commands, app.state().clock.wall_ms);
        }
        self.outbox.send(app, &handle.commands, commands);
    }

    /// Runs until the user quits, the input ends, or `stop` completes (a signal).
    pub async fn run(
        &mut self,
        app: &mut App,
        handle: &mut ClientHandle,
        stop: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let size = self.terminal.size()?;
        app.update(Action::Resize(size.width, size.height));
        tokio::pin!(stop);
        loop {
            let flow = tokio::select! {
                biased;
                () = &mut stop => Flow::Quit,
                flow = self.turn(app, handle) => flow?,
            };
            if flow == Flow::Quit {
                break;
            }
        }
        // What is still held goes out if there is room now; nothing waits any more.
        self.send(app, handle, Vec::new());
        self.close_history(app);
        Ok(())
    }

    /// Writes what the history still has queued (and the read markers) and stops recording.
    pub fn close_history(&mut self, app: &mut App) {
        if let Some(history) = self.history.take() {
            history.close(app);
        }
    }

    /// One turn: waits for the next thing to happen, handles it, and draws if a frame is
    /// due (a frame held back by the frame rate is what the next turn waits for first, at
    /// the latest). Input comes first, so a flood of client events never delays a key by more
    /// than one batch; the flood cannot starve the tick, the state watch, held commands or
    /// file reads either, as they come before it.
    pub async fn turn(&mut self, app: &mut App, handle: &mut ClientHandle) -> anyhow::Result<Flow> {
        let frame_due = self.frame_due;
        let commands: Vec<Command> = tokio::select! {
            biased;
            next = self.input.next() => match next {
                Some(Ok(event)) => {
                    self.typed = true;
                    app.update(now_tick());
                    on_terminal_event(app, event)
                }
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(Flow::Quit),
            },
            changed = handle.state.changed(), if self.state_open => match changed {
                Ok(()) => {
                    let state = handle.state.borrow_and_update().clone();
                    app.update(state)
                }
                Err(_) => {
                    self.state_open = false;
                    Vec::new()
                }
            },
            _ = self.tick.tick() => {
                if let Some(hosting) = &self.hosting {
                    app.set_hosting(hosting());
                }
                app.update(now_tick())
            }
            // A `[` after Esc waits to see whether it starts an Alt+arrow (ESC as Meta).
            () = tokio::time::sleep(META_WAIT), if app.holds_key() => app.update(now_tick()),
            permit = handle.commands.reserve(), if !self.outbox.is_empty() => {
                self.outbox.release(app, &handle.commands, permit);
                Vec::new()
            }
            Some(read) = self.file_reads.join_next(), if !self.file_reads.is_empty() => {
                // A read task only ends by returning its Action (it does not panic).
                read.map_or_else(|_| Vec::new(), |loaded| app.update(loaded))
            }
            Some(read) = self.backlogs.join_next(), if !self.backlogs.is_empty() => {
                show_backlogs(app, read);
                Vec::new()
            }
            Some(read) = self.history_reads.join_next(), if !self.history_reads.is_empty() => {
                // A read task only ends by returning its answer (it does not panic).
                if let Ok(answer) = read {
                    app.history_answer(answer);
                }
                Vec::new()
            }
            // Read in place: the batch goes back to the engine with its events, which it drops
            // (and whose payload strings it reuses) on its own thread.
            batch = handle.events.recv_batch(), if self.engine_open => match batch {
                Some(batch) => self.on_engine_events(app, &batch),
                None => self.engine_closed(app),
            },
            _ = tokio::time::sleep(frame_due.unwrap_or_default()), if frame_due.is_some() => Vec::new(),
        };
        self.send(app, handle, commands);
        self.run_effects(app)?;
        self.after_turn_history(app);
        self.frame_due = self.draw_if_due(app)?;
        Ok(if app.should_quit() {
            Flow::Quit
        } else {
            Flow::Continue
        })
    }

    /// Draws when something changed and its frame interval has passed; otherwise says how
    /// long until the pending frame is due (`None`: nothing to draw).
    fn draw_if_due(&mut self, app: &mut App) -> anyhow::Result<Option<Duration>> {
        self.pending = self.pending.max(app.take_redraw());
        let since_draw = self.last_draw.map_or(BACKGROUND_FRAME, |t| t.elapsed());
        let gap = match self.pending {
            Redraw::Now if self.typed => INPUT_FRAME,
            Redraw::Now => FRAME,
            Redraw::Background | Redraw::None => BACKGROUND_FRAME,
        };
        if self.pending != Redraw::None && since_draw >= gap {
            self.terminal.draw(|frame| view::draw(frame, app.state()))?;
            self.last_draw = Some(Instant::now());
            self.pending = Redraw::None;
            self.typed = false;
        }
        Ok((self.pending != Redraw::None).then(|| gap.saturating_sub(since_draw)))
    }

    fn engine_closed(&mut self, app: &mut App) -> Vec<Command> {
        self.engine_open = false;
        if !matches!(app.state().conn.status, ConnStatus::Offline { .. }) {
            app.update(ConnState::Stopped {
                reason: "the connection engine stopped".to_string(),
            });
        }
        Vec::new()
    }

    /// One batch of the engine's events (at most a few hundred: ~0.2 ms of work, so input is
    /// looked at again soon).
    fn on_engine_events(&mut self, app: &mut App, events: &[Event]) -> Vec<Command> {
        // Stamp the batch with the current time (ticks alone are 1 s coarse).
        app.update(now_tick());
        let mut out = Vec::new();
        let now_ms = app.state().clock.wall_ms;
        for event in events {
            if let Some(history) = &mut self.history {
                history.on_event(event, app, now_ms);
            }
            out.extend(app.engine_event(event));
        }
        out
    }

    /// Saves read markers, and starts reading the backlog of groups that just opened.
    fn after_turn_history(&mut self, app: &mut App) {
        let Some(history) = &mut self.history else {
            return;
        };
        history.after_batch(app);
        if let Some(read) = history.backlog_to_load(app) {
            self.backlogs.spawn_blocking(move || read.read());
        }
    }

    /// Backlogs being read from disk.
    pub fn backlog_reads(&self) -> usize {
        self.backlogs.len()
    }

    fn run_effects(&mut self, app: &mut App) -> anyhow::Result<()> {
        for effect in app.take_effects() {
            match effect {
                Effect::ClearScreen => {
                    self.terminal.clear()?;
                    self.pending = Redraw::Now;
                }
                Effect::Suspend => {
                    if let Some(guard) = &mut self.guard {
                        guard.suspend()?;
                    }
                    self.terminal.clear()?;
                    self.pending = Redraw::Now;
                }
                Effect::Highlight {
                    bell,
                    notify,
                    title,
                    text,
                } => {
                    if let Some(guard) = &mut self.guard {
                        guard.write_raw(&super::highlight::sequence(bell, notify, &title, &text));
                    }
                }
                Effect::SetMouse(on) => {
                    if let Some(guard) = &mut self.guard {
                        guard.set_mouse(on);
                    }
                }
                Effect::RecordHistory(on) => {
                    let said = match &mut self.history {
                        Some(history) => history.set_recording(on),
                        None => "history is off for this chat (no data directory)",
                    };
                    app.note(super::NoteLevel::Info, said);
                }
                Effect::History(request) => match &self.history {
                    Some(history) => {
                        let path = history.path().to_path_buf();
                        self.history_reads
                            .spawn_blocking(move || history_reader::answer(&path, request));
                    }
                    None => app.history_answer(history_reader::unavailable(request)),
                },
                Effect::OpenUrl(url) => {
                    // Detached: a browser that takes its time never holds up a key press.
                    if let Err(error) = open::that_detached(&url) {
                        let text = format!("cannot open {url}: {error}");
                        app.note(super::NoteLevel::Error, &crate::text::sanitize_line(&text));
                    }
                }
                Effect::ReadFile { group, path } => {
                    self.file_reads.spawn(async move {
                        let result = read_file(&path).await;
                        Action::FileLoaded {
                            group,
                            path,
                            result,
                        }
                    });
                }
            }
        }
        Ok(())
    }
}

/// Shows what a backlog read found; a database that cannot be read is said once.
fn show_backlogs(
    app: &mut App,
    read: Result<Result<Vec<Backlog>, crate::history::HistoryError>, tokio::task::JoinError>,
) {
    match read {
        Ok(Ok(backlogs)) => {
            for (group, lines, read_upto) in backlogs {
                app.load_backlog(&group, &lines, read_upto);
            }
        }
        Ok(Err(error)) => app.alert(&format!("cannot read history: {error}")),
        Err(_) => {}
    }
}

/// Completes on SIGTERM or SIGHUP: the chat then ends as if the user quit.
pub(crate) fn stop_signals() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = sighup.recv() => {}
        }
    })
}

fn now_tick() -> Action {
    let now = Clock::now();
    Action::Tick {
        wall_ms: now.wall_ms,
        mono: now.mono,
    }
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
