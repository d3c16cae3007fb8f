//! `App::update`: Actions (keys, mouse, paste, ticks) and client Events in, State changes and
//! client Commands out. The App is the only writer of State. No I/O happens here; what the
//! event loop must do besides sending commands (clear the screen, suspend, read a file) comes
//! out as an `Effect`.
//!
//! This file dispatches; each concern has its own file: `input` (editor actions), `scroll`,
//! `groups` (join, leave, switch), `sending` (and retry), `slash` (commands), `engine` (the
//! only reader of client Events) and `completion`.

mod backlog;
mod completion;
mod engine;
mod events;
mod groups;
mod history_view;
mod input;
mod scroll;
mod sending;
mod simple;
mod slash;

use crossterm::event::KeyEvent;

use super::keymap::{Action, Keymap, MetaDecoder};
use super::overlay::{Help, JoinPrompt, Outcome, Overlay, Search, Switcher, Viewer};
use super::state::{
    Buffer, BufferKind, Clock, Delivery, LineKind, LogLine, NO_SENDER, NoteLevel, Notify, State,
    StatusNote, UiSettings,
};
use crate::client::{Command, ConnState, Event};
use crate::text::sanitize_line;

/// How long a status-bar note stays.
const NOTE_MS: i64 = 6_000;

/// Input to `App::update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Action(Action),
    Client(Event),
    Conn(ConnState),
}

impl From<Action> for Msg {
    fn from(action: Action) -> Self {
        Msg::Action(action)
    }
}

impl From<Event> for Msg {
    fn from(event: Event) -> Self {
        Msg::Client(event)
    }
}

impl From<ConnState> for Msg {
    fn from(state: ConnState) -> Self {
        Msg::Conn(state)
    }
}

/// Work for the event loop beyond sending commands.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    ClearScreen,
    Suspend,
    SetMouse(bool),
    /// Read a file for `/bin @file`; the result comes back as `Action::FileLoaded`.
    ReadFile {
        group: String,
        path: String,
    },
    /// `/history on|off`: resume or pause recording history for this session.
    RecordHistory(bool),
    /// A mention, a highlight word or a message in a watched group: ring the bell and/or send
    /// a desktop notification (title and text already safe, see `tui::highlight`).
    Highlight {
        bell: bool,
        notify: Notify,
        title: String,
        text: String,
    },
    /// Read stored history; the answer comes back through `App::history_answer`.
    History(super::history_reader::HistoryRequest),
    /// `/open n`: open a link from a message with the platform's opener (no shell).
    OpenUrl(String),
}

/// How soon the screen should show what changed since the last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Redraw {
    /// Nothing changed.
    None,
    /// Only counters of buffers not shown changed (badges, the status bar's unread list): a
    /// flood into a background group need not redraw the screen at full rate.
    Background,
    /// Something in view changed.
    Now,
}

/// The application: state plus the key map.
pub struct App {
    state: State,
    keymap: Keymap,
    effects: Vec<Effect>,
    dirty: bool,
    /// A message landed in a buffer not shown (see [`Redraw::Background`]).
    background_dirty: bool,
    /// When the bell last rang (highlights are rate-limited).
    last_highlight_ms: Option<i64>,
    meta: MetaDecoder,
    /// Older lines of a buffer paged in from disk.
    history_paging: history_view::HistoryPaging,
    /// Where a received message's body is sanitised before it is stored (reused).
    ingest_body: String,
}

impl App {
    pub fn new(settings: UiSettings, keymap: Keymap, clock: Clock) -> Self {
        let hint = keymap
            .label_of("help")
            .map_or_else(|| "/help".to_string(), |k| format!("{k} help"));
        let state = State::new(settings, clock, keymap.help_rows(), hint);
        App {
            state,
            keymap,
            effects: Vec::new(),
            dirty: true,
            background_dirty: false,
            last_highlight_ms: None,
            meta: MetaDecoder::default(),
            history_paging: history_view::HistoryPaging::default(),
            ingest_body: String::new(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Sets what the status bar shows before the service says more.
    pub fn set_target(&mut self, hub: &str, user_id: Option<&str>) {
        self.state.hub = sanitize_line(hub);
        if let Some(user) = user_id {
            self.set_user(user);
        }
    }

    pub fn should_quit(&self) -> bool {
        self.state.quit
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// What changed since the last call (and forgets it).
    pub fn take_redraw(&mut self) -> Redraw {
        let now = std::mem::replace(&mut self.dirty, false);
        let background = std::mem::replace(&mut self.background_dirty, false);
        match (now, background) {
            (true, _) => Redraw::Now,
            (false, true) => Redraw::Background,
            (false, false) => Redraw::None,
        }
    }

    /// A key press, through the ESC-as-Meta decoder and the key map.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Command> {
        let keymap = &self.keymap;
        let keys = self.meta.feed(key, self.state.clock.mono, |k| {
            keymap.action_for(k).is_some()
        });
        keys.into_iter().flat_map(|k| self.mapped_key(k)).collect()
    }

    fn mapped_key(&mut self, key: KeyEvent) -> Vec<Command> {
        match self.keymap.action_for(key) {
            Some(action) => self.update(action),
            None => Vec::new(),
        }
    }

    /// Whether a key is held back to see if it starts an escape sequence; the event loop
    /// ticks again shortly after, so that it is typed if nothing follows.
    pub fn holds_key(&self) -> bool {
        self.meta.holds_key()
    }

    pub fn update(&mut self, msg: impl Into<Msg>) -> Vec<Command> {
        match msg.into() {
            Msg::Action(action) => self.on_action(action),
            Msg::Client(event) => self.on_event(event),
            Msg::Conn(conn) => {
                self.dirty = true;
                self.on_conn_state(conn);
                Vec::new()
            }
        }
    }

    // The ways to tell the user something: a `note` in the status bar, a line in the
    // `system` buffer, or an `alert` (both, for errors the user must not miss).

    /// A one-line note in the status bar; it disappears after a few seconds.
    pub(crate) fn note(&mut self, level: NoteLevel, text: &str) {
        self.state.note = Some(StatusNote {
            text: sanitize_line(text),
            level,
            until_ms: self.state.clock.wall_ms + NOTE_MS,
        });
        self.dirty = true;
    }

    /// A line in the `system` buffer; an error line also counts as unread there.
    pub(crate) fn system(&mut self, kind: LineKind, text: &str) {
        if let Some(index) = self.state.buffer_of_kind(BufferKind::System) {
            if index != self.state.current && kind == LineKind::Error {
                self.state.buffers[index].unread += 1;
            }
            self.append_line(index, kind, sanitize_line(text));
        }
        self.dirty = true;
    }

    /// An error both in the `system` buffer and in the status bar.
    pub fn alert(&mut self, text: &str) {
        self.system(LineKind::Error, text);
        self.note(NoteLevel::Error, text);
    }

    /// Adds a line from wpchat itself to a buffer (text already safe).
    fn append_line(&mut self, buffer: usize, kind: LineKind, text: String) {
        self.append_from(buffer, NO_SENDER, kind, text);
    }

    /// Adds a line from `sender` (interned) to a buffer (text already safe).
    fn append_from(&mut self, buffer: usize, sender: u32, kind: LineKind, text: String) {
        let cap = self.state.settings.scrollback;
        let time_ms = self.state.clock.wall_ms;
        if let Some(b) = self.state.buffers.get_mut(buffer) {
            let line = LogLine {
                time_ms,
                sender,
                kind,
                delivery: Delivery::None,
                body: text.into_boxed_str(),
            };
            b.push(line, cap);
        }
    }

    fn set_user(&mut self, user: &str) {
        self.state.user_id = Some(user.to_string());
        self.state.me = self.state.names.intern(user);
    }

    fn current_mut(&mut self) -> &mut Buffer {
        let index = self.state.current.min(self.state.buffers.len() - 1);
        &mut self.state.buffers[index]
    }

    fn on_action(&mut self, action: Action) -> Vec<Command> {
        let action = match self.housekeeping(action) {
            Ok(commands) => return commands,
            Err(action) => action,
        };
        self.dirty = true;
        if action != Action::Interrupt {
            self.state.quit_armed = false;
        }
        if self.state.overlay != Overlay::None {
            let overlay = std::mem::take(&mut self.state.overlay);
            let outcome = overlay.handle(action, &self.state);
            return self.apply(outcome);
        }
        if self.state.editor.search.is_some() && self.history_search_key(&action) {
            return Vec::new();
        }
        self.main_action(action)
    }

    /// Actions that are not the user's doing in the main screen (time, size, a file read, the
    /// terminal); gives any other action back.
    fn housekeeping(&mut self, action: Action) -> Result<Vec<Command>, Action> {
        match action {
            Action::Tick { wall_ms, mono } => self.tick(wall_ms, mono),
            Action::Resize(columns, rows) => {
                self.state.size = (columns, rows);
                self.dirty = true;
            }
            Action::FileLoaded {
                group,
                path,
                result,
            } => return Ok(self.file_loaded(&group, &path, result)),
            Action::Redraw => {
                self.effects.push(Effect::ClearScreen);
                self.dirty = true;
            }
            Action::Suspend => {
                self.effects.push(Effect::Suspend);
                self.dirty = true;
            }
            other => return Err(other),
        }
        Ok(Vec::new())
    }

    /// An action on the main screen (no overlay open), by concern.
    fn main_action(&mut self, action: Action) -> Vec<Command> {
        let empty_input = self.state.editor.is_empty();
        match action {
            Action::Submit => return self.submit(),
            Action::Retry => return self.retry(),
            Action::Interrupt => return self.interrupt(),
            Action::GoToGroup(_)
            | Action::NextGroup
            | Action::PrevGroup
            | Action::NextActivity
            | Action::MoveGroupUp
            | Action::MoveGroupDown
            | Action::Click { .. } => self.navigate(action),
            Action::PageUp
            | Action::PageDown
            | Action::LineUp
            | Action::LineDown
            | Action::Wheel { .. }
            | Action::ScrollTop
            | Action::ScrollLive
            | Action::FirstUnread => self.scroll(action),
            Action::Home | Action::End if empty_input => self.scroll(action),
            Action::Insert('?') if empty_input => self.open(Action::Help),
            Action::JoinPrompt | Action::LeavePrompt if self.is_simple() => self.no_groups(),
            Action::Switcher
            | Action::JoinPrompt
            | Action::LeavePrompt
            | Action::Search
            | Action::Help
            | Action::ViewMessage => self.open(action),
            Action::Complete => self.complete(false),
            Action::CompleteBack => self.complete(true),
            Action::ToggleMouse => self.toggle_mouse(),
            Action::ToggleGroups => {
                self.state.settings.show_groups = !self.state.settings.show_groups
            }
            Action::Cancel => self.state.note = None,
            other => self.edit(other),
        }
        Vec::new()
    }

    /// Opens the overlay an action asks for.
    fn open(&mut self, action: Action) {
        self.state.overlay = match action {
            Action::Switcher => Overlay::Switcher(Switcher::default()),
            Action::JoinPrompt => Overlay::JoinPrompt(JoinPrompt::default()),
            Action::Search => Overlay::Search(Search::default()),
            Action::Help => Overlay::Help(Help::default()),
            Action::LeavePrompt => return self.leave_prompt(),
            Action::ViewMessage => match Viewer::newest_visible(&self.state) {
                Some(viewer) => Overlay::Viewer(viewer),
                None => return self.note(NoteLevel::Info, "nothing to view"),
            },
            _ => return,
        };
    }

    /// Carries out what an overlay asked for.
    fn apply(&mut self, outcome: Outcome) -> Vec<Command> {
        match outcome {
            Outcome::Show(overlay) => self.state.overlay = overlay,
            Outcome::ShowWithNote(overlay, level, text) => {
                self.state.overlay = overlay;
                self.note(level, &text);
            }
            Outcome::ShowAt(overlay, seq) => {
                self.current_mut().scroll_to(Some(seq));
                self.state.overlay = overlay;
            }
            Outcome::Close => {}
            Outcome::SwitchTo(index) => self.switch_to(index),
            Outcome::Join(group) => return self.join(&group),
            Outcome::Leave(group) => return self.leave(&group),
            Outcome::SendPaste(text) => return self.send_typed(&text, true),
            Outcome::EditPaste(text) => self.state.editor.insert_str(&text),
            Outcome::Ask(overlay, request) => {
                self.state.overlay = overlay;
                self.effects.push(Effect::History(request));
            }
        }
        Vec::new()
    }

    fn toggle_mouse(&mut self) {
        let settings = &mut self.state.settings;
        settings.mouse = !settings.mouse;
        let on = settings.mouse;
        self.effects.push(Effect::SetMouse(on));
        let what = if on {
            "on"
        } else {
            "off: the terminal can select text"
        };
        self.note(NoteLevel::Info, &format!("mouse capture {what}"));
    }

    /// Ctrl+C: clears the input; on an empty input, the second one quits.
    fn interrupt(&mut self) -> Vec<Command> {
        if !self.state.editor.is_empty() {
            self.state.editor.clear();
        } else if self.state.quit_armed {
            return self.quit();
        } else {
            self.state.quit_armed = true;
            match self.unsent() {
                0 if self.hosts_others() => self.note(
                    NoteLevel::Info,
                    "this wpchat hosts the local service: quitting moves everyone to another \
                     wpchat; press Ctrl+C again to quit",
                ),
                0 => self.note(NoteLevel::Info, "press Ctrl+C again to quit"),
                unsent => {
                    self.state.quit_unsent_warned = true;
                    let text = format!("{unsent} unsent, quit anyway? press Ctrl+C again");
                    self.note(NoteLevel::Error, &text);
                }
            }
        }
        Vec::new()
    }

    /// Whether this process hosts the embedded local service (`Some` with its open
    /// connections, ours included; `None`: another process does); becoming the host after a
    /// takeover is said in the `system` buffer.
    pub fn set_hosting(&mut self, connections: Option<usize>) {
        let hosting = connections.is_some();
        self.state.hosted_connections = connections.unwrap_or(0);
        let before = self.state.hosting.replace(hosting);
        if before == Some(false) && hosting {
            self.system(
                LineKind::Notice,
                "the wpchat that hosted the local service quit: this one hosts it now (it started \
                 empty); quitting this one moves everyone again",
            );
            self.note(NoteLevel::Info, "this wpchat now hosts the local service");
        }
    }

    /// Whether quitting would move anyone: this process hosts the service and someone other
    /// than our own connection is on it.
    fn hosts_others(&self) -> bool {
        let ours = usize::from(self.state.conn.status == super::state::ConnStatus::Connected);
        self.state.hosting == Some(true) && self.state.hosted_connections > ours
    }

    /// Quits, unless messages are still unsent and the user was not told yet: then says so
    /// (as an error, so that a typed `/quit` stays in the input to be confirmed with Enter).
    pub(super) fn quit(&mut self) -> Vec<Command> {
        let unsent = self.unsent();
        if unsent > 0 && !self.state.quit_unsent_warned {
            self.state.quit_unsent_warned = true;
            let text = format!("{unsent} unsent, quit anyway? /quit again to quit");
            self.note(NoteLevel::Error, &text);
            return Vec::new();
        }
        self.state.quit = true;
        vec![Command::Shutdown]
    }

    /// Own messages queued while offline: quitting loses them.
    fn unsent(&self) -> usize {
        self.state.ops.queued.len()
    }

    fn tick(&mut self, wall_ms: i64, mono: std::time::Instant) {
        self.state.clock.wall_ms = wall_ms;
        self.state.clock.mono = mono;
        if let Some(key) = self.meta.flush(mono) {
            self.mapped_key(key);
        }
        if let Some(note) = &self.state.note
            && note.until_ms <= wall_ms
        {
            self.state.note = None;
            self.dirty = true;
        }
        let counting = matches!(
            self.state.conn.status,
            super::state::ConnStatus::Recovering { .. }
                | super::state::ConnStatus::Reconnecting { .. }
        );
        // The countdown in the status bar changes every second.
        if counting {
            self.dirty = true;
        }
        self.check_token_expiry();
    }
}
