//! `App::update`: Actions (keys, mouse, paste, ticks) and client Events in, State changes and
//! client Commands out. No I/O happens here; what the event loop must do besides sending
//! commands (clear the screen, suspend, read a file) comes out as an `Effect`.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use crossterm::event::KeyEvent;

use super::commands::{self, BinarySource, CommandError, SlashCommand};
use super::editor::Editor;
use super::keymap::{Action, Keymap};
use super::state::{
    Buffer, BufferKind, Clock, ConnStatus, Delivery, FailedSend, LineKind, LogLine, Membership,
    NO_SENDER, NoteLevel, Overlay, PendingOp, State, StatusNote, TokenExpiry, UiSettings,
};
use super::view;
use crate::client::{Command, ConnState, Direction, Event, OpId, OpOutcome};
use crate::protocol::{DataMessage, MessageSource, Payload, validate_group_name};
use crate::text::{sanitize, sanitize_line};

/// How long a status-bar note stays.
const NOTE_MS: i64 = 6_000;
/// Own-message echoes remembered per group.
const ECHO_MEMORY: usize = 256;
/// Messages one wheel notch scrolls.
const WHEEL_MESSAGES: usize = 3;
/// Failed sends kept for the retry key.
const FAILED_MEMORY: usize = 100;
/// A session loss this soon after a recovery means the recovery was refused.
const RECOVERY_REFUSAL_MS: i64 = 3_000;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

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
    ReadFile { group: String, path: String },
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

/// A row of the switcher.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchTarget {
    Buffer(usize),
    Join(String),
}

/// The application: state plus the key map.
pub struct App {
    state: State,
    keymap: Keymap,
    effects: Vec<Effect>,
    dirty: bool,
    /// A message landed in a buffer not shown (see [`Redraw::Background`]).
    background_dirty: bool,
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
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// Sets what the status bar shows before the service says more.
    pub fn set_target(&mut self, hub: &str, user_id: Option<&str>) {
        self.state.hub = sanitize_line(hub);
        if let Some(user) = user_id {
            self.set_user(user);
        }
    }

    /// A line for the `system` buffer from wpchat itself (start-up notices, config problems);
    /// an error also shows in the status bar.
    pub fn system_message(&mut self, text: &str, error: bool) {
        let text = sanitize_line(text);
        if error {
            self.system(LineKind::Error, text.clone());
            self.error(text);
        } else {
            self.system(LineKind::Notice, text);
        }
        self.dirty = true;
    }

    /// An error note in the status bar only (for a summary of lines already written).
    pub fn status_error(&mut self, text: &str) {
        self.error(sanitize_line(text));
    }

    /// Sets when the token of a fixed client URL expires (`None`: tokens renew, or no expiry),
    /// so that the status bar warns ahead of it.
    pub fn set_token_expiry(&mut self, expires_ms: Option<i64>) {
        self.state.token_expiry = expires_ms.map(|expires_ms| TokenExpiry {
            expires_ms,
            warned: false,
        });
        self.check_token_expiry();
    }

    /// Once inside the warning window: one system line, and a status bar that counts down.
    fn check_token_expiry(&mut self) {
        let now = self.state.clock.wall_ms;
        let Some(expiry) = self.state.token_expiry else {
            return;
        };
        if !expiry.warning_at(now) {
            return;
        }
        self.dirty = true;
        if expiry.warned {
            return;
        }
        if let Some(expiry) = &mut self.state.token_expiry {
            expiry.warned = true;
        }
        let at = self.state.clock.local(expiry.expires_ms).format("%H:%M:%S");
        let when = if now >= expiry.expires_ms {
            "expired"
        } else {
            "expires"
        };
        self.system(
            LineKind::Error,
            format!(
                "the client URL's token {when} at {at} and cannot be renewed: this connection \
                 keeps working, but the next fresh connection will fail. For fresh tokens, \
                 connect with --connection-string or --negotiate (or a profile with one)"
            ),
        );
    }

    pub fn should_quit(&self) -> bool {
        self.state.quit
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// True (once) when something visible changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        self.take_redraw() != Redraw::None
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

    /// A key press, through the key map.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Command> {
        match self.keymap.action_for(key) {
            Some(action) => self.update(action),
            None => Vec::new(),
        }
    }

    pub fn update(&mut self, msg: impl Into<Msg>) -> Vec<Command> {
        match msg.into() {
            Msg::Action(action) => self.on_action(action),
            // A message sets the flag itself: one for a background group only moves a badge.
            Msg::Client(Event::Message(message)) => {
                self.ingest(message);
                Vec::new()
            }
            Msg::Client(event) => {
                self.dirty = true;
                self.on_event(event)
            }
            Msg::Conn(conn) => {
                self.dirty = true;
                self.on_conn_state(conn);
                Vec::new()
            }
        }
    }

    /// Joins a group (also used for the groups given on the command line).
    pub fn join(&mut self, group: &str) -> Vec<Command> {
        if let Err(e) = validate_group_name(group) {
            self.error(format!("cannot join '{}': {e}", sanitize_line(group)));
            return Vec::new();
        }
        if let Some(index) = self.state.group_index(group) {
            self.switch_to(index);
            return Vec::new();
        }
        let mut buffer = Buffer::new(BufferKind::Group, group);
        buffer.membership = Membership::Joining;
        let at = self.state.group_count();
        self.state.buffers.insert(at, buffer);
        if self.state.current >= at {
            self.state.current += 1;
        }
        self.state.known_groups.retain(|g| g != group);
        self.switch_to(at);
        let op = self.next_op();
        self.state.pending.insert(
            op,
            PendingOp::Join {
                group: group.to_string(),
            },
        );
        vec![Command::Join {
            op,
            group: group.to_string(),
        }]
    }

    fn leave(&mut self, group: &str) -> Vec<Command> {
        let Some(index) = self.state.group_index(group) else {
            self.error(format!("not in group '{}'", sanitize_line(group)));
            return Vec::new();
        };
        self.state.buffers[index].membership = Membership::Leaving;
        let op = self.next_op();
        self.state.pending.insert(
            op,
            PendingOp::Leave {
                group: group.to_string(),
            },
        );
        vec![Command::Leave {
            op,
            group: group.to_string(),
        }]
    }

    fn next_op(&mut self) -> OpId {
        let op = self.state.next_op;
        self.state.next_op += 1;
        op
    }

    fn note(&mut self, text: impl Into<String>, level: NoteLevel) {
        self.state.note = Some(StatusNote {
            text: text.into(),
            level,
            until_ms: self.state.clock.wall_ms + NOTE_MS,
        });
        self.dirty = true;
    }

    fn info(&mut self, text: impl Into<String>) {
        self.note(text, NoteLevel::Info);
    }

    fn error(&mut self, text: impl Into<String>) {
        self.note(text, NoteLevel::Error);
    }

    fn set_user(&mut self, user: &str) {
        self.state.user_id = Some(user.to_string());
        self.state.me = self.state.names.intern(user);
    }

    /// Adds a notice line to a buffer (text already safe).
    fn notice(&mut self, buffer: usize, kind: LineKind, text: String) {
        let cap = self.state.settings.scrollback;
        let time_ms = self.state.clock.wall_ms;
        if let Some(b) = self.state.buffers.get_mut(buffer) {
            b.push(
                LogLine {
                    time_ms,
                    sender: NO_SENDER,
                    kind,
                    delivery: Delivery::None,
                    body: text.into_boxed_str(),
                },
                cap,
            );
        }
    }

    fn system(&mut self, kind: LineKind, text: String) {
        if let Some(index) = self.state.buffer_of_kind(BufferKind::System) {
            if index != self.state.current && kind == LineKind::Error {
                self.state.buffers[index].unread += 1;
            }
            self.notice(index, kind, text);
        }
    }

    fn switch_to(&mut self, index: usize) {
        if index >= self.state.buffers.len() {
            return;
        }
        if let Some(old) = self.state.buffers.get_mut(self.state.current) {
            old.first_unread = None;
        }
        self.state.current = index;
        let buffer = &mut self.state.buffers[index];
        buffer.unread = 0;
        buffer.mentions = 0;
        self.dirty = true;
    }

    fn remove_buffer(&mut self, index: usize) {
        if index >= self.state.buffers.len() {
            return;
        }
        let was_current = self.state.current == index;
        self.state.buffers.remove(index);
        // Leaving the group in view shows the one before it (as WeeChat does after /part),
        // not whatever slid into its place.
        if self.state.current > index || (was_current && index > 0) {
            self.state.current -= 1;
        }
        if self.state.current >= self.state.buffers.len() {
            self.state.current = self.state.buffers.len().saturating_sub(1);
        }
        if was_current && let Some(buffer) = self.state.buffers.get_mut(self.state.current) {
            buffer.unread = 0;
            buffer.mentions = 0;
        }
        self.dirty = true;
    }

    fn find_buffer(&self, kind: BufferKind, name: &str) -> Option<usize> {
        self.state
            .buffers
            .iter()
            .position(|b| b.kind == kind && b.name == name)
    }

    // ---------------------------------------------------------------- actions

    fn on_action(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Tick { wall_ms, mono } => {
                self.tick(wall_ms, mono);
                return Vec::new();
            }
            Action::Resize(columns, rows) => {
                self.state.size = (columns, rows);
                self.dirty = true;
                return Vec::new();
            }
            Action::FileLoaded {
                group,
                path,
                result,
            } => {
                self.dirty = true;
                return match result {
                    Ok(bytes) => self.send(&group, Payload::Binary(bytes)),
                    Err(why) => {
                        self.error(format!("/bin @{}: {why}", sanitize_line(&path)));
                        Vec::new()
                    }
                };
            }
            Action::Redraw => {
                self.effects.push(Effect::ClearScreen);
                self.dirty = true;
                return Vec::new();
            }
            Action::Suspend => {
                self.effects.push(Effect::Suspend);
                self.dirty = true;
                return Vec::new();
            }
            _ => {}
        }
        self.dirty = true;
        if action != Action::Interrupt {
            self.state.quit_armed = false;
        }
        if self.state.overlay != Overlay::None {
            return self.overlay_action(action);
        }
        if self.state.editor.search.is_some() {
            match action {
                Action::Insert(c) => {
                    self.state.editor.search_edit(|q| q.push(c));
                    return Vec::new();
                }
                Action::Backspace => {
                    self.state.editor.search_edit(|q| {
                        q.pop();
                    });
                    return Vec::new();
                }
                Action::HistorySearch => {
                    self.state.editor.history_search();
                    return Vec::new();
                }
                Action::Cancel | Action::Interrupt => {
                    self.state.editor.search = None;
                    return Vec::new();
                }
                Action::Submit => {
                    self.state.editor.search_accept();
                    return Vec::new();
                }
                _ => self.state.editor.search_accept(),
            }
        }
        let editor = &mut self.state.editor;
        match action {
            Action::GoToGroup(n) => {
                let index = usize::from(n).saturating_sub(1);
                if index < self.state.group_count() {
                    self.switch_to(index);
                } else {
                    self.info(format!("no group {n}"));
                }
            }
            Action::NextGroup => {
                let n = self.state.buffers.len();
                self.switch_to((self.state.current + 1) % n);
            }
            Action::PrevGroup => {
                let n = self.state.buffers.len();
                self.switch_to((self.state.current + n - 1) % n);
            }
            Action::NextActivity => self.next_activity(),
            Action::Switcher => {
                self.state.overlay = Overlay::Switcher {
                    query: String::new(),
                    selected: 0,
                }
            }
            Action::JoinPrompt => {
                self.state.overlay = Overlay::JoinPrompt {
                    input: Editor::default(),
                }
            }
            Action::LeavePrompt => {
                let buffer = self.state.current_buffer();
                if buffer.is_group() {
                    self.state.overlay = Overlay::LeaveConfirm {
                        group: buffer.name.clone(),
                    };
                } else {
                    self.error(format!("{} is not a group", buffer.display));
                }
            }
            Action::PageUp => self.scroll_page(true),
            Action::PageDown => self.scroll_page(false),
            Action::LineUp => self.scroll_lines(true, 1),
            Action::LineDown => self.scroll_lines(false, 1),
            Action::Wheel { up } => self.scroll_lines(up, WHEEL_MESSAGES),
            Action::ScrollTop => self.scroll_to_top_from(0),
            Action::ScrollLive => self.current_mut().anchor = None,
            Action::FirstUnread => match self.state.current_buffer().first_unread {
                Some(seq) => {
                    let first = self.state.current_buffer().first_seq;
                    self.scroll_to_top_from(seq.saturating_sub(first) as usize);
                }
                None => self.info("no unread messages here"),
            },
            Action::Search => {
                self.state.overlay = Overlay::Search {
                    query: String::new(),
                    found: None,
                }
            }
            Action::Submit => return self.submit(),
            Action::Newline => editor.insert_char('\n'),
            Action::Up => editor.up(),
            Action::Down => editor.down(),
            Action::HistorySearch => editor.history_search(),
            Action::Complete => self.complete(false),
            Action::CompleteBack => self.complete(true),
            Action::LineStart => editor.line_start(),
            Action::LineEnd => editor.line_end(),
            Action::WordLeft => editor.word_left(),
            Action::WordRight => editor.word_right(),
            Action::KillWordBack => editor.kill_word_back(),
            Action::KillLineBack => editor.kill_line_back(),
            Action::KillWordForward => editor.kill_word_forward(),
            Action::Yank => editor.yank(),
            Action::Left => editor.left(),
            Action::Right => editor.right(),
            Action::Backspace => editor.backspace(),
            Action::Delete => editor.delete(),
            Action::Home if editor.is_empty() => self.scroll_to_top_from(0),
            Action::Home => editor.line_start(),
            Action::End if editor.is_empty() => self.current_mut().anchor = None,
            Action::End => editor.line_end(),
            Action::Help => {
                self.state.overlay = Overlay::Help {
                    scroll: 0,
                    topic: None,
                }
            }
            Action::ToggleMouse => {
                self.state.mouse = !self.state.mouse;
                self.effects.push(Effect::SetMouse(self.state.mouse));
                let on = if self.state.mouse {
                    "on"
                } else {
                    "off: the terminal can select text"
                };
                self.info(format!("mouse capture {on}"));
            }
            Action::Cancel => self.state.note = None,
            Action::Interrupt => {
                if !editor.is_empty() {
                    editor.clear();
                } else if self.state.quit_armed {
                    self.state.quit = true;
                    return vec![Command::Shutdown];
                } else {
                    self.state.quit_armed = true;
                    self.info("press Ctrl+C again to quit");
                }
            }
            Action::ToggleGroups => self.state.show_groups = !self.state.show_groups,
            Action::Retry => return self.retry(),
            Action::ViewMessage => self.view_message(),
            Action::Insert('?') if editor.is_empty() => {
                self.state.overlay = Overlay::Help {
                    scroll: 0,
                    topic: None,
                }
            }
            Action::Insert(c) => editor.insert_char(c),
            Action::Paste(text) => {
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                // A copied line often brings its newline along: that is still one line.
                let text = match text.strip_suffix('\n') {
                    Some(line) if !line.contains('\n') => line.to_string(),
                    _ => text,
                };
                if text.contains('\n') {
                    self.state.overlay = Overlay::PasteConfirm { text };
                } else {
                    editor.insert_str(&text);
                }
            }
            Action::Click { column, row } => self.click(column, row),
            Action::Redraw
            | Action::Suspend
            | Action::Tick { .. }
            | Action::Resize(..)
            | Action::FileLoaded { .. } => {}
        }
        Vec::new()
    }

    fn current_mut(&mut self) -> &mut Buffer {
        let index = self.state.current.min(self.state.buffers.len() - 1);
        &mut self.state.buffers[index]
    }

    fn tick(&mut self, wall_ms: i64, mono: std::time::Instant) {
        self.state.clock.wall_ms = wall_ms;
        self.state.clock.mono = mono;
        if let Some(note) = &self.state.note
            && note.until_ms <= wall_ms
        {
            self.state.note = None;
            self.dirty = true;
        }
        let counting = matches!(
            self.state.conn,
            ConnStatus::Recovering { .. } | ConnStatus::Reconnecting { .. }
        );
        // The countdown in the status bar changes every second.
        if counting {
            self.dirty = true;
        }
        self.check_token_expiry();
    }

    fn next_activity(&mut self) {
        let n = self.state.buffers.len();
        let order = (1..n).map(|i| (self.state.current + i) % n);
        let target = order
            .clone()
            .find(|&i| self.state.buffers[i].mentions > 0)
            .or_else(|| order.clone().find(|&i| self.state.buffers[i].unread > 0));
        match target {
            Some(index) => self.switch_to(index),
            None => self.info("no activity elsewhere"),
        }
    }

    fn click(&mut self, column: u16, row: u16) {
        let areas = view::layout(&self.state);
        if let Some(groups) = areas.groups
            && column >= groups.x
            && column < groups.x + groups.width
            && row > groups.y
        {
            let rows = view::group_pane_rows(&self.state);
            if let Some(Some(index)) = rows.get(usize::from(row - groups.y - 1)) {
                self.switch_to(*index);
            }
        }
    }

    // ---------------------------------------------------------------- scrolling

    fn log_size(&self) -> (usize, usize) {
        let inner = view::layout(&self.state).log_inner;
        (usize::from(inner.width), usize::from(inner.height).max(1))
    }

    fn scroll_lines(&mut self, up: bool, n: usize) {
        let buffer = self.current_mut();
        let end = buffer.view_end();
        if buffer.lines.is_empty() {
            return;
        }
        if up {
            let new_end = end.saturating_sub(n).max(1);
            buffer.anchor = Some(buffer.first_seq + new_end as u64 - 1);
        } else {
            let new_end = end + n;
            buffer.anchor = if new_end >= buffer.lines.len() {
                None
            } else {
                Some(buffer.first_seq + new_end as u64 - 1)
            };
        }
    }

    fn scroll_page(&mut self, up: bool) {
        let (width, height) = self.log_size();
        let state = &self.state;
        let buffer = state.current_buffer();
        let end = buffer.view_end();
        let mut rows = 0;
        let mut moved = 0;
        if up {
            let mut index = end;
            while index > 1 && rows < height.saturating_sub(1) {
                index -= 1;
                rows += view::message_height(state, buffer, index, width);
                moved += 1;
            }
        } else {
            let mut index = end;
            while index < buffer.lines.len() && rows < height.saturating_sub(1) {
                rows += view::message_height(state, buffer, index, width);
                index += 1;
                moved += 1;
            }
        }
        self.scroll_lines(up, moved.max(1));
    }

    /// Scrolls so that line `from` is at the top of the log.
    fn scroll_to_top_from(&mut self, from: usize) {
        let (width, height) = self.log_size();
        let state = &self.state;
        let buffer = state.current_buffer();
        if buffer.lines.is_empty() {
            return;
        }
        let mut rows = 0;
        let mut index = from.min(buffer.lines.len() - 1);
        loop {
            rows += view::message_height(state, buffer, index, width);
            if rows >= height || index + 1 >= buffer.lines.len() {
                break;
            }
            index += 1;
        }
        let seq = buffer.first_seq + index as u64;
        let last = index + 1 >= buffer.lines.len();
        self.current_mut().anchor = if last { None } else { Some(seq) };
    }

    // ---------------------------------------------------------------- overlays

    fn overlay_action(&mut self, action: Action) -> Vec<Command> {
        let overlay = std::mem::take(&mut self.state.overlay);
        match overlay {
            Overlay::None => {}
            Overlay::Help { scroll, topic } => match action {
                Action::Up | Action::LineUp => {
                    self.state.overlay = Overlay::Help {
                        scroll: scroll.saturating_sub(1),
                        topic,
                    }
                }
                Action::Down | Action::LineDown => {
                    self.state.overlay = Overlay::Help {
                        scroll: scroll.saturating_add(1),
                        topic,
                    }
                }
                Action::PageUp => {
                    self.state.overlay = Overlay::Help {
                        scroll: scroll.saturating_sub(10),
                        topic,
                    }
                }
                Action::PageDown => {
                    self.state.overlay = Overlay::Help {
                        scroll: scroll.saturating_add(10),
                        topic,
                    }
                }
                _ => {}
            },
            Overlay::Viewer {
                title,
                text,
                scroll,
            } => {
                let scroll = match action {
                    Action::Up | Action::LineUp => scroll.saturating_sub(1),
                    Action::Down | Action::LineDown => scroll.saturating_add(1),
                    Action::PageUp => scroll.saturating_sub(10),
                    Action::PageDown => scroll.saturating_add(10),
                    _ => return Vec::new(),
                };
                self.state.overlay = Overlay::Viewer {
                    title,
                    text,
                    scroll,
                };
            }
            Overlay::Switcher {
                mut query,
                mut selected,
            } => {
                let items = switcher_items(&self.state, &query);
                match action {
                    Action::Cancel | Action::Switcher | Action::Interrupt => return Vec::new(),
                    Action::Insert(c) => {
                        query.push(c);
                        selected = 0;
                    }
                    Action::Backspace => {
                        query.pop();
                        selected = 0;
                    }
                    Action::Up | Action::PrevGroup | Action::CompleteBack => {
                        selected = selected.saturating_sub(1)
                    }
                    Action::Down | Action::NextGroup | Action::Complete => {
                        selected = (selected + 1).min(items.len().saturating_sub(1))
                    }
                    Action::Delete => {
                        if let Some((_, SwitchTarget::Buffer(index))) = items.get(selected)
                            && let Some(buffer) = self.state.buffers.get(*index)
                            && buffer.is_group()
                        {
                            self.state.overlay = Overlay::LeaveConfirm {
                                group: buffer.name.clone(),
                            };
                            return Vec::new();
                        }
                    }
                    Action::Submit => {
                        return match items.into_iter().nth(selected) {
                            Some((_, SwitchTarget::Buffer(index))) => {
                                self.switch_to(index);
                                Vec::new()
                            }
                            Some((_, SwitchTarget::Join(group))) => self.join(&group),
                            None => Vec::new(),
                        };
                    }
                    _ => {}
                }
                self.state.overlay = Overlay::Switcher { query, selected };
            }
            Overlay::JoinPrompt { mut input } => {
                match action {
                    Action::Cancel | Action::Interrupt => return Vec::new(),
                    Action::Submit => {
                        let group = input.text().trim().to_string();
                        if group.is_empty() {
                            return Vec::new();
                        }
                        if let Err(e) = validate_group_name(&group) {
                            self.error(format!("cannot join: {e}"));
                            self.state.overlay = Overlay::JoinPrompt { input };
                            return Vec::new();
                        }
                        return self.join(&group);
                    }
                    Action::Complete | Action::CompleteBack => {
                        let backwards = action == Action::CompleteBack;
                        if input.completing() {
                            input.cycle_completion(backwards);
                        } else {
                            let word = input.text().to_lowercase();
                            let candidates = self
                                .group_names()
                                .into_iter()
                                .filter(|g| g.to_lowercase().starts_with(&word))
                                .collect();
                            if !input.start_completion(candidates, backwards) {
                                // The service has no "list groups": only names seen here.
                                self.info("no group name seen here matches; type it in full");
                            }
                        }
                        // No trailing space in a group name.
                        let trimmed = input.text().trim_end().to_string();
                        input.set_text(&trimmed);
                    }
                    other => edit(&mut input, other),
                }
                self.state.overlay = Overlay::JoinPrompt { input };
            }
            Overlay::LeaveConfirm { group } => {
                if matches!(action, Action::Submit | Action::Insert('y' | 'Y')) {
                    return self.leave(&group);
                }
            }
            Overlay::PasteConfirm { text } => match action {
                Action::Submit => return self.send_typed(&text, true),
                Action::Insert('e') => self.state.editor.insert_str(&text),
                Action::Cancel | Action::Interrupt => {}
                _ => self.state.overlay = Overlay::PasteConfirm { text },
            },
            Overlay::Search { mut query, found } => {
                let mut found = found;
                match action {
                    Action::Cancel | Action::Interrupt => return Vec::new(),
                    Action::Insert(c) => {
                        query.push(c);
                        found = self.search_from(&query, None, true);
                    }
                    Action::Backspace => {
                        query.pop();
                        found = self.search_from(&query, None, true);
                    }
                    Action::Submit | Action::Up | Action::Search => {
                        found = self.search_from(&query, found, true).or(found);
                    }
                    Action::Down => {
                        found = self.search_from(&query, found, false).or(found);
                    }
                    _ => {}
                }
                if let Some(seq) = found {
                    self.current_mut().anchor = Some(seq);
                }
                self.state.overlay = Overlay::Search { query, found };
            }
        }
        Vec::new()
    }

    /// Finds the next line containing `query` (ASCII case-insensitive), older or newer than
    /// `from` (default: from the newest).
    fn search_from(&self, query: &str, from: Option<u64>, older: bool) -> Option<u64> {
        if query.is_empty() {
            return None;
        }
        let buffer = self.state.current_buffer();
        let needle = query.to_ascii_lowercase();
        let matches = |line: &LogLine| contains_ignore_ascii_case(&line.body, &needle);
        let len = buffer.lines.len();
        let start = from.map(|seq| seq.saturating_sub(buffer.first_seq) as usize);
        let found = if older {
            let end = start.unwrap_or(len).min(len);
            (0..end).rev().find(|&i| matches(&buffer.lines[i]))
        } else {
            let begin = start.map_or(0, |s| s + 1);
            (begin..len).find(|&i| matches(&buffer.lines[i]))
        };
        found.map(|i| buffer.first_seq + i as u64)
    }

    fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .state
            .buffers
            .iter()
            .filter(|b| b.is_group())
            .map(|b| b.name.clone())
            .chain(self.state.known_groups.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn complete(&mut self, backwards: bool) {
        if self.state.editor.completing() {
            self.state.editor.cycle_completion(backwards);
            return;
        }
        let (start, word) = self.state.editor.word_at_cursor();
        let before = &self.state.editor.text()[..start];
        let word_lower = word.to_lowercase();
        let mut candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            commands::COMMANDS
                .iter()
                .map(|(name, _, _)| name.to_string())
                .filter(|n| n.starts_with(&word_lower))
                .collect()
        } else if matches!(before, "/join " | "/leave " | "/part " | "/send ") {
            self.group_names()
                .into_iter()
                .filter(|g| g.to_lowercase().starts_with(&word_lower))
                .collect()
        } else {
            return self.complete_name(start, &word_lower, backwards);
        };
        candidates.sort();
        candidates.dedup();
        if !self.state.editor.start_completion(candidates, backwards) {
            self.info("no completion");
        }
    }

    /// Completes a user id (or a group name) in message text. Users come first, those who
    /// spoke most recently in this buffer before the rest; at the start of the line a user id
    /// gets a `: ` (as in IRC clients); `@` prefixes are kept.
    fn complete_name(&mut self, start: usize, word_lower: &str, backwards: bool) {
        let (at, bare) = match word_lower.strip_prefix('@') {
            Some(rest) => ("@", rest),
            None => ("", word_lower),
        };
        if bare.is_empty() {
            self.info("no completion");
            return;
        }
        let state = &self.state;
        let reserved = ["you", "server", "anonymous"];
        let me = state.user_id.as_deref().map(crate::text::sanitize_line);
        let matches = |name: &str| {
            name.to_lowercase().starts_with(bare)
                && !reserved.contains(&name)
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
        let suffix = if start == 0 && at.is_empty() { ":" } else { "" };
        let mut candidates: Vec<String> = users
            .into_iter()
            .map(|u| format!("{at}{u}{suffix}"))
            .collect();
        candidates.extend(
            self.group_names()
                .into_iter()
                .filter(|g| g.to_lowercase().starts_with(bare))
                .map(|g| format!("{at}{g}")),
        );
        if !self.state.editor.start_completion(candidates, backwards) {
            self.info("no completion");
        }
    }

    fn view_message(&mut self) {
        let state = &self.state;
        let buffer = state.current_buffer();
        let Some(index) = buffer.view_end().checked_sub(1) else {
            self.info("nothing to view");
            return;
        };
        let line = &buffer.lines[index];
        let time = state.clock.local(line.time_ms).format("%Y-%m-%d %H:%M:%S");
        let sender = state.sender_name(line.sender);
        let (kind, text) = match line.kind {
            LineKind::Json => ("json", pretty_json(&line.body)),
            LineKind::Protobuf => ("protobuf", protobuf_view(&line.body)),
            LineKind::Binary => {
                let bytes = BASE64.decode(line.body.as_bytes()).unwrap_or_default();
                (
                    "binary",
                    format!("{}\n\nbase64:\n{}", hex_dump(&bytes).trim_end(), line.body),
                )
            }
            _ => ("text", line.body.to_string()),
        };
        let title = format!("{sender} {time} · {kind}");
        self.state.overlay = Overlay::Viewer {
            title,
            text,
            scroll: 0,
        };
    }

    // ---------------------------------------------------------------- sending

    fn submit(&mut self) -> Vec<Command> {
        let text = self.state.editor.text().to_string();
        if text.trim().is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') && !text.starts_with("//") {
            return match commands::parse(&text) {
                Ok(command) => {
                    self.state.editor.take();
                    self.state.note = None;
                    self.run_command(command)
                }
                Err(e) => {
                    self.error(e.to_string());
                    Vec::new()
                }
            };
        }
        self.send_typed(&text, false)
    }

    /// Sends typed (or pasted) text to the current group in the input's data type.
    fn send_typed(&mut self, text: &str, pasted: bool) -> Vec<Command> {
        let text = text
            .strip_prefix('/')
            .filter(|t| t.starts_with('/'))
            .unwrap_or(text);
        let buffer = self.state.current_buffer();
        if !buffer.is_group() {
            let name = buffer.display.clone();
            self.error(format!(
                "{name} is not a group: switch to a group or use /send <group> <text>"
            ));
            return Vec::new();
        }
        let group = buffer.name.clone();
        match commands::payload_for(text, self.state.data_type) {
            Ok(payload) => {
                if !pasted {
                    self.state.editor.take();
                }
                self.state.note = None;
                self.send(&group, payload)
            }
            Err(e) => {
                if pasted {
                    self.state.editor.insert_str(text);
                }
                self.error(e.to_string());
                Vec::new()
            }
        }
    }

    /// Shows an own message as pending and asks the engine to send it.
    fn send(&mut self, group: &str, payload: Payload) -> Vec<Command> {
        let op = self.next_op();
        let (kind, body) = display_body(&payload);
        let (buffer_kind, buffer_name, body) = match self.state.group_index(group) {
            Some(_) => (BufferKind::Group, group.to_string(), body),
            None => (
                BufferKind::System,
                "system".to_string(),
                format!("→ {}: {body}", sanitize_line(group)),
            ),
        };
        let Some(index) = self.find_buffer(buffer_kind, &buffer_name) else {
            return Vec::new();
        };
        let hash = echo_hash(kind, &body);
        let line = LogLine {
            time_ms: self.state.clock.wall_ms,
            sender: self.state.me,
            kind,
            delivery: Delivery::Pending,
            body: body.into_boxed_str(),
        };
        let cap = self.state.settings.scrollback;
        let no_echo = self.state.no_echo;
        let buffer = &mut self.state.buffers[index];
        let seq = buffer.push(line, cap);
        buffer.anchor = None;
        if buffer_kind == BufferKind::Group {
            buffer.members_seen.insert(self.state.me);
        }
        if !no_echo && buffer_kind == BufferKind::Group {
            buffer.echo_expected.push_back(hash);
            if buffer.echo_expected.len() > ECHO_MEMORY {
                buffer.echo_expected.pop_front();
            }
        }
        self.state.pending.insert(
            op,
            PendingOp::Send {
                group: group.to_string(),
                seq,
                payload: payload.clone(),
            },
        );
        vec![Command::SendToGroup {
            op,
            group: group.to_string(),
            payload,
            no_echo,
            fire_and_forget: false,
        }]
    }

    fn retry(&mut self) -> Vec<Command> {
        let current = self.state.current_buffer().name.clone();
        let Some(position) = self.state.failed.iter().rposition(|f| f.group == current) else {
            self.info("no failed message to retry here");
            return Vec::new();
        };
        let failed = self.state.failed.remove(position);
        let op = self.next_op();
        if let Some(index) = self.state.group_index(&failed.group)
            && let Some(line) = self.state.buffers[index].line_mut(failed.seq)
        {
            line.delivery = Delivery::Pending;
        }
        self.state.pending.insert(
            op,
            PendingOp::Send {
                group: failed.group.clone(),
                seq: failed.seq,
                payload: failed.payload.clone(),
            },
        );
        vec![Command::SendToGroup {
            op,
            group: failed.group,
            payload: failed.payload,
            no_echo: self.state.no_echo,
            fire_and_forget: false,
        }]
    }

    fn run_command(&mut self, command: SlashCommand) -> Vec<Command> {
        match command {
            SlashCommand::Join(group) => self.join(&group),
            SlashCommand::Leave(None) => {
                let buffer = self.state.current_buffer();
                if buffer.is_group() {
                    let group = buffer.name.clone();
                    self.leave(&group)
                } else {
                    let name = buffer.display.clone();
                    self.error(format!("{name} is not a group; /leave <group>"));
                    Vec::new()
                }
            }
            SlashCommand::Leave(Some(group)) => self.leave(&group),
            SlashCommand::Send { group, text } => self.send(&group, Payload::Text(text)),
            SlashCommand::Json(payload) => self.send_current(payload),
            SlashCommand::Binary(BinarySource::Inline(bytes)) => {
                self.send_current(Payload::Binary(bytes))
            }
            SlashCommand::Binary(BinarySource::File(path)) => {
                let buffer = self.state.current_buffer();
                if buffer.is_group() {
                    let group = buffer.name.clone();
                    self.effects.push(Effect::ReadFile { group, path });
                } else {
                    self.error("switch to a group to send a file");
                }
                Vec::new()
            }
            SlashCommand::Event { name, payload } => {
                let op = self.next_op();
                self.state
                    .pending
                    .insert(op, PendingOp::Event { name: name.clone() });
                self.system(LineKind::Notice, format!("→ event {name}"));
                vec![Command::SendEvent {
                    op,
                    event: name,
                    payload,
                    fire_and_forget: false,
                }]
            }
            SlashCommand::Type(data_type) => {
                self.state.data_type = data_type;
                self.info(format!("typing {data_type} from now on"));
                Vec::new()
            }
            SlashCommand::NoEcho(on) => {
                self.state.no_echo = on;
                let what = if on { "on" } else { "off" };
                self.info(format!("noecho {what}"));
                Vec::new()
            }
            SlashCommand::Reconnect => {
                self.system(LineKind::Notice, "reconnecting on request".to_string());
                self.state.reconnect_requested = true;
                vec![Command::Reconnect]
            }
            SlashCommand::Clear => {
                let buffer = self.current_mut();
                buffer.first_seq = buffer.end_seq();
                buffer.lines.clear();
                buffer.anchor = None;
                buffer.first_unread = None;
                Vec::new()
            }
            SlashCommand::Search(query) => {
                let found = self.search_from(&query, None, true);
                if let Some(seq) = found {
                    self.current_mut().anchor = Some(seq);
                }
                self.state.overlay = Overlay::Search { query, found };
                Vec::new()
            }
            SlashCommand::Raw => {
                self.state.raw_frames = !self.state.raw_frames;
                if self.state.raw_frames {
                    let from = self.state.current_buffer();
                    self.state.before_frames = Some((from.kind, from.name.clone()));
                    self.state
                        .buffers
                        .push(Buffer::new(BufferKind::Frames, "frames"));
                    let index = self.state.buffers.len() - 1;
                    self.switch_to(index);
                } else if let Some(index) = self.state.buffer_of_kind(BufferKind::Frames) {
                    let viewing = self.state.current == index;
                    self.remove_buffer(index);
                    // Back to where /raw was typed, if that buffer is still there.
                    let back = self
                        .state
                        .before_frames
                        .take()
                        .and_then(|(kind, name)| self.find_buffer(kind, &name));
                    if let (true, Some(back)) = (viewing, back) {
                        self.switch_to(back);
                    }
                }
                vec![Command::InspectFrames(self.state.raw_frames)]
            }
            SlashCommand::Help(topic) => {
                if let Some(t) = &topic
                    && !commands::COMMANDS.iter().any(|(n, _, _)| n == t)
                {
                    self.error(CommandError::Unknown(sanitize_line(t)).to_string());
                    return Vec::new();
                }
                self.state.overlay = Overlay::Help { scroll: 0, topic };
                Vec::new()
            }
            SlashCommand::Quit => {
                self.state.quit = true;
                vec![Command::Shutdown]
            }
        }
    }

    fn send_current(&mut self, payload: Payload) -> Vec<Command> {
        let buffer = self.state.current_buffer();
        if !buffer.is_group() {
            let name = buffer.display.clone();
            self.error(format!("{name} is not a group: switch to a group first"));
            return Vec::new();
        }
        let group = buffer.name.clone();
        self.send(&group, payload)
    }

    // ---------------------------------------------------------------- client events

    fn on_conn_state(&mut self, conn: ConnState) {
        self.state.conn = match conn {
            ConnState::Connecting { attempt } => ConnStatus::Connecting { attempt },
            ConnState::Connected {
                connection_id,
                user_id,
                protocol,
            } => {
                self.state.connection_id = Some(sanitize_line(&connection_id));
                self.state.protocol = Some(protocol);
                self.state.last_conn_error = None;
                if let Some(user) = user_id {
                    self.set_user(&user);
                }
                ConnStatus::Connected
            }
            ConnState::Recovering { since, .. } => {
                self.state
                    .offline_since
                    .get_or_insert(self.state.clock.wall_ms);
                ConnStatus::Recovering { since }
            }
            ConnState::Reconnecting {
                retry_at,
                last_error,
                ..
            } => {
                self.state
                    .offline_since
                    .get_or_insert(self.state.clock.wall_ms);
                let last_error = sanitize_line(&last_error);
                // Say why in the system buffer, once per distinct error (not every retry).
                if !last_error.is_empty()
                    && self.state.last_conn_error.as_deref() != Some(last_error.as_str())
                {
                    self.system(
                        LineKind::Error,
                        format!("cannot connect: {last_error}; retrying"),
                    );
                    self.state.last_conn_error = Some(last_error.clone());
                }
                ConnStatus::Reconnecting {
                    retry_at,
                    last_error,
                }
            }
            ConnState::Stopped { reason } => ConnStatus::Offline {
                reason: sanitize_line(&reason),
            },
        };
    }

    fn on_event(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Connected {
                connection_id,
                user_id,
                protocol,
            } => {
                self.state.conn = ConnStatus::Connected;
                let connection_id = sanitize_line(&connection_id);
                if let Some(user) = &user_id {
                    self.set_user(user);
                }
                let user = self.state.names.name(self.state.me).to_string();
                self.system(
                    LineKind::Notice,
                    format!(
                        "connected as {user} · connection {connection_id} · {}",
                        protocol.short_name()
                    ),
                );
                self.state.connection_id = Some(connection_id);
                self.state.protocol = Some(protocol);
                self.state.offline_since = None;
            }
            Event::Recovered { offline, .. } => {
                self.state.conn = ConnStatus::Connected;
                self.gap_markers(offline, "recovered");
                self.state.recovered_at = Some((
                    self.state.clock.wall_ms,
                    self.state.clock.wall_ms - millis(offline),
                ));
                self.system(
                    LineKind::Notice,
                    format!("recovered after {} offline", human_duration(offline)),
                );
            }
            Event::SessionLost { .. } if std::mem::take(&mut self.state.reconnect_requested) => {
                // Asked for with /reconnect: a new session is what the user wanted.
                self.gap_markers(Duration::ZERO, "new session, as requested");
                self.system(
                    LineKind::Notice,
                    "new session after the requested reconnect".to_string(),
                );
            }
            Event::SessionLost { offline, reason } => {
                // A recovery that the service refuses right after the socket opened (it lost
                // the session, e.g. it restarted) is one outage, not "recovered" then "lost".
                let now = self.state.clock.wall_ms;
                let offline = match self.state.recovered_at.take() {
                    Some((at, since)) if now - at <= RECOVERY_REFUSAL_MS => {
                        self.drop_recovered_markers();
                        offline.max(Duration::from_millis(
                            u64::try_from(now - since).unwrap_or(0),
                        ))
                    }
                    _ => offline,
                };
                self.gap_markers(offline, "messages may be lost");
                self.system(
                    LineKind::Error,
                    format!(
                        "session lost after {} offline ({}); messages sent meanwhile may be lost",
                        human_duration(offline),
                        sanitize_line(&reason)
                    ),
                );
            }
            Event::Disconnected { reason } => {
                self.state
                    .offline_since
                    .get_or_insert(self.state.clock.wall_ms);
                self.system(
                    LineKind::Notice,
                    format!("disconnected: {}", sanitize_line(&reason)),
                );
            }
            Event::Message(message) => self.ingest(message),
            Event::Queued { op } => {
                if let Some(PendingOp::Send { group, seq, .. }) = self.state.pending.get(&op) {
                    let (group, seq) = (group.clone(), *seq);
                    if let Some(line) = self.own_line(&group, seq) {
                        line.delivery = Delivery::Queued;
                    }
                }
            }
            Event::OpResult { op, outcome } => self.op_result(op, outcome),
            Event::RejoinFailed { group, error } => {
                let shown = sanitize_line(&group);
                let why = sanitize_line(&error.to_string());
                if let Some(index) = self.state.group_index(&group) {
                    self.notice(index, LineKind::Error, format!("rejoin failed: {why}"));
                }
                self.system(LineKind::Error, format!("rejoining {shown} failed: {why}"));
                self.error(format!("rejoining {shown} failed: {why}"));
            }
            Event::ServiceDisconnected { message } => {
                let message = message.map_or_else(String::new, |m| sanitize_line(&m));
                self.system(
                    LineKind::Notice,
                    format!("the service closed the connection: {message}"),
                );
            }
            Event::Lag(lag) => self.state.lag = Some(lag),
            Event::Unrecognized { frame, error } => {
                let frame = crate::text::truncate(&sanitize_line(&frame), 200);
                self.system(
                    LineKind::Error,
                    format!("unrecognized frame ({}): {frame}", sanitize_line(&error)),
                );
            }
            Event::RawFrame { direction, text } => {
                if let Some(index) = self.state.buffer_of_kind(BufferKind::Frames) {
                    // The direction goes in the sender column, so a long frame wraps under
                    // itself instead of leaving the arrow alone on a row.
                    let kind = match direction {
                        Direction::In => LineKind::FrameIn,
                        Direction::Out => LineKind::FrameOut,
                    };
                    self.notice(index, kind, sanitize(&text));
                }
            }
        }
        Vec::new()
    }

    /// Takes back the "recovered" gap markers just written (the recovery did not hold).
    fn drop_recovered_markers(&mut self) {
        for index in 0..self.state.group_count() {
            let buffer = &mut self.state.buffers[index];
            let last = buffer.lines.back();
            if last.is_some_and(|l| l.kind == LineKind::Gap && l.body.ends_with("· recovered")) {
                buffer.lines.pop_back();
            }
        }
    }

    fn gap_markers(&mut self, offline: Duration, outcome: &str) {
        let now = self.state.clock.wall_ms;
        let since = now - i64::try_from(offline.as_millis()).unwrap_or(0);
        let clock = self.state.clock;
        let text = if offline < Duration::from_secs(1) {
            format!(
                "reconnected {} · {outcome}",
                clock.local(now).format("%H:%M:%S")
            )
        } else {
            format!(
                "offline {}–{} · {outcome}",
                clock.local(since).format("%H:%M:%S"),
                clock.local(now).format("%H:%M:%S")
            )
        };
        let groups: Vec<usize> = (0..self.state.group_count()).collect();
        for index in groups {
            self.notice(index, LineKind::Gap, text.clone());
        }
        self.state.offline_since = None;
    }

    fn own_line(&mut self, group: &str, seq: u64) -> Option<&mut LogLine> {
        let index = self
            .state
            .group_index(group)
            .or_else(|| self.state.buffer_of_kind(BufferKind::System))?;
        self.state.buffers[index].line_mut(seq)
    }

    fn op_result(&mut self, op: OpId, outcome: OpOutcome) {
        let Some(pending) = self.state.pending.remove(&op) else {
            return;
        };
        match (pending, outcome) {
            (PendingOp::Send { group, seq, .. }, OpOutcome::Done { round_trip, .. }) => {
                let ms = round_trip.map_or(u32::MAX, |d| {
                    u32::try_from(d.as_millis()).unwrap_or(u32::MAX - 1)
                });
                // An ack's round trip is as good a lag sample as a keepalive's, and comes
                // sooner.
                if let Some(round_trip) = round_trip {
                    self.state.lag = Some(round_trip);
                }
                if let Some(line) = self.own_line(&group, seq) {
                    line.delivery = Delivery::Acked(ms);
                }
            }
            (
                PendingOp::Send {
                    group,
                    seq,
                    payload,
                },
                OpOutcome::Failed(error),
            ) => {
                let name = self.state.names.intern(error.name());
                if let Some(line) = self.own_line(&group, seq) {
                    line.delivery = Delivery::Failed(name);
                }
                let why = sanitize_line(&error.to_string());
                let shown = sanitize_line(&group);
                let retry = self
                    .keymap
                    .label_of("retry")
                    .map_or_else(String::new, |k| format!(" ({k} retries)"));
                self.system(LineKind::Error, format!("message to {shown} failed: {why}"));
                self.error(format!("message to {shown} failed: {why}{retry}"));
                self.state.failed.push(FailedSend {
                    group,
                    seq,
                    payload,
                });
                if self.state.failed.len() > FAILED_MEMORY {
                    self.state.failed.remove(0);
                }
            }
            (PendingOp::Join { group }, OpOutcome::Done { .. }) => {
                if let Some(index) = self.state.group_index(&group) {
                    self.state.buffers[index].membership = Membership::Joined;
                    let shown = self.state.buffers[index].display.clone();
                    self.notice(index, LineKind::Notice, format!("joined {shown}"));
                }
            }
            (PendingOp::Join { group }, OpOutcome::Failed(error)) => {
                let why = sanitize_line(&error.to_string());
                let shown = sanitize_line(&group);
                if let Some(index) = self.state.group_index(&group) {
                    self.remove_buffer(index);
                }
                self.system(LineKind::Error, format!("joining {shown} failed: {why}"));
                self.error(format!("joining {shown} failed: {why}"));
            }
            (PendingOp::Leave { group }, OpOutcome::Done { .. }) => {
                let shown = sanitize_line(&group);
                if let Some(index) = self.state.group_index(&group) {
                    self.remove_buffer(index);
                }
                if !self.state.known_groups.contains(&group) {
                    self.state.known_groups.push(group);
                }
                self.system(LineKind::Notice, format!("left {shown}"));
            }
            (PendingOp::Leave { group }, OpOutcome::Failed(error)) => {
                let why = sanitize_line(&error.to_string());
                let shown = sanitize_line(&group);
                if let Some(index) = self.state.group_index(&group) {
                    self.state.buffers[index].membership = Membership::Joined;
                }
                self.system(LineKind::Error, format!("leaving {shown} failed: {why}"));
                self.error(format!("leaving {shown} failed: {why}"));
            }
            (PendingOp::Event { name }, OpOutcome::Done { .. }) => {
                self.system(LineKind::Notice, format!("event {name} delivered"));
            }
            (PendingOp::Event { name }, OpOutcome::Failed(error)) => {
                let why = sanitize_line(&error.to_string());
                self.system(LineKind::Error, format!("event {name} failed: {why}"));
                self.error(format!("event {name} failed: {why}"));
            }
        }
    }

    /// A data message from the service: sanitised once here, then stored.
    fn ingest(&mut self, message: DataMessage) {
        if let Some(seq) = message.sequence_id {
            self.state.last_seq = Some(seq);
        }
        let (index, sender, own) = match &message.source {
            MessageSource::Group {
                group,
                from_user_id,
            } => {
                let index = match self.state.group_index(group) {
                    Some(index) => index,
                    None => {
                        // Added to a group by the server: show it like a joined one.
                        self.dirty = true;
                        let at = self.state.group_count();
                        self.state
                            .buffers
                            .insert(at, Buffer::new(BufferKind::Group, group));
                        if self.state.current >= at {
                            self.state.current += 1;
                        }
                        at
                    }
                };
                let own = from_user_id.is_some() && *from_user_id == self.state.user_id;
                // Protobuf data carries no sender at all: say so rather than guess.
                let unknown = self.state.protocol.is_some_and(|p| p.is_protobuf());
                let sender = match from_user_id {
                    Some(user) => self.state.names.intern(user),
                    None if unknown => self.state.names.intern("(unknown sender)"),
                    None => self.state.names.intern("anonymous"),
                };
                (index, sender, own)
            }
            MessageSource::Server => {
                let index = self
                    .state
                    .buffer_of_kind(BufferKind::Server)
                    .unwrap_or_default();
                (index, self.state.names.intern("server"), false)
            }
        };
        let (kind, body) = display_body(&message.payload);
        let mention = !own && self.mentions_me(&body);
        let cap = self.state.settings.scrollback;
        let current = self.state.current;
        if index == current {
            self.dirty = true;
        } else {
            self.background_dirty = true;
        }
        let time_ms = self.state.clock.wall_ms;
        let buffer = &mut self.state.buffers[index];
        if own && !buffer.echo_expected.is_empty() {
            let hash = echo_hash(kind, &body);
            if let Some(position) = buffer.echo_expected.iter().position(|h| *h == hash) {
                buffer.echo_expected.remove(position);
                return;
            }
        }
        let seq = buffer.push(
            LogLine {
                time_ms,
                sender,
                kind,
                delivery: Delivery::None,
                body: body.into_boxed_str(),
            },
            cap,
        );
        buffer.members_seen.insert(sender);
        if index != current {
            buffer.unread += 1;
            if mention {
                buffer.mentions += 1;
            }
            buffer.first_unread.get_or_insert(seq);
        }
    }

    fn mentions_me(&self, body: &str) -> bool {
        match &self.state.user_id {
            Some(user) if user.len() >= 2 => mentions(body, user),
            _ => false,
        }
    }
}

/// True when `user` appears in `body` as a whole word (so `alice2` does not mention `alice`).
pub fn mentions(body: &str, user: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    body.match_indices(user).any(|(at, _)| {
        !is_word(body[..at].chars().next_back()) && !is_word(body[at + user.len()..].chars().next())
    })
}

/// Applies an editing action to a small prompt editor.
fn edit(input: &mut Editor, action: Action) {
    match action {
        Action::Insert(c) => input.insert_char(c),
        Action::Paste(text) => input.insert_str(text.lines().next().unwrap_or_default()),
        Action::Backspace => input.backspace(),
        Action::Delete => input.delete(),
        Action::Left => input.left(),
        Action::Right => input.right(),
        Action::LineStart | Action::Home => input.line_start(),
        Action::LineEnd | Action::End => input.line_end(),
        Action::WordLeft => input.word_left(),
        Action::WordRight => input.word_right(),
        Action::KillWordBack => input.kill_word_back(),
        Action::KillLineBack => input.kill_line_back(),
        Action::KillWordForward => input.kill_word_forward(),
        Action::Yank => input.yank(),
        _ => {}
    }
}

/// The switcher's rows for a query: buffers matching it (fuzzy), then "join <query>" when the
/// query names a group we are not in.
pub fn switcher_items(state: &State, query: &str) -> Vec<(String, SwitchTarget)> {
    let mut scored: Vec<(usize, String, SwitchTarget)> = state
        .buffers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            fuzzy_score(&b.name, query).map(|s| (s, b.display.clone(), SwitchTarget::Buffer(i)))
        })
        .chain(state.known_groups.iter().filter_map(|g| {
            fuzzy_score(g, query).map(|s| {
                (
                    s + 1000,
                    format!("join {}", sanitize_line(g)),
                    SwitchTarget::Join(g.clone()),
                )
            })
        }))
        .collect();
    scored.sort_by_key(|(score, _, _)| *score);
    let mut items: Vec<(String, SwitchTarget)> = scored
        .into_iter()
        .map(|(_, label, target)| (label, target))
        .collect();
    let query = query.trim();
    if !query.is_empty()
        && state.group_index(query).is_none()
        && !state.known_groups.iter().any(|g| g == query)
        && validate_group_name(query).is_ok()
    {
        items.push((
            format!("join {}", sanitize_line(query)),
            SwitchTarget::Join(query.to_string()),
        ));
    }
    items
}

/// Subsequence match, case-insensitive; lower scores are better (earlier, tighter matches).
fn fuzzy_score(name: &str, query: &str) -> Option<usize> {
    if query.is_empty() {
        return Some(0);
    }
    let name_lower = name.to_lowercase();
    if let Some(at) = name_lower.find(&query.to_lowercase()) {
        return Some(at);
    }
    let mut chars = name_lower.char_indices();
    let mut first = None;
    let mut last = 0;
    for q in query.to_lowercase().chars() {
        let (i, _) = chars.find(|(_, c)| *c == q)?;
        first.get_or_insert(i);
        last = i;
    }
    Some(100 + last - first.unwrap_or(0))
}

fn contains_ignore_ascii_case(haystack: &str, needle_lower: &str) -> bool {
    let needle = needle_lower.as_bytes();
    if needle.is_empty() {
        return true;
    }
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn echo_hash(kind: LineKind, body: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (kind as u8).hash(&mut hasher);
    body.hash(&mut hasher);
    hasher.finish()
}

/// How a payload is stored for display: sanitised text, compact JSON, or base64 bytes.
pub fn display_body(payload: &Payload) -> (LineKind, String) {
    match payload {
        Payload::Text(text) => (LineKind::Text, sanitize(text)),
        Payload::Json(raw) => (LineKind::Json, sanitize(&compact_json(raw.get()))),
        Payload::Binary(bytes) => (LineKind::Binary, BASE64.encode(bytes)),
        Payload::Protobuf(bytes) => (LineKind::Protobuf, BASE64.encode(bytes)),
    }
}

/// The viewer's text for a protobuf line (its body is the base64 of the whole `Any`): the type
/// URL and the value's size and hex; the value is never decoded (its type is unknown here).
fn protobuf_view(body: &str) -> String {
    let any = BASE64.decode(body.as_bytes()).unwrap_or_default();
    match crate::protocol::protobuf::unpack_any(&any) {
        Some((type_url, value)) => format!(
            "type URL: {}
value: {} bytes

{}

Any, base64:
{body}",
            sanitize_line(&type_url),
            value.len(),
            hex_dump(&value).trim_end()
        ),
        None => format!(
            "not a google.protobuf.Any ({} bytes)

{}",
            any.len(),
            hex_dump(&any).trim_end()
        ),
    }
}

/// JSON text without whitespace outside strings (the text is valid JSON from the decoder).
pub fn compact_json(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Indented JSON for the viewer, from compact JSON text (keys keep their order).
pub fn pretty_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

/// Hex dump with offsets and a printable column, for the viewer.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", row * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

/// "41 s", "3 min 2 s".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs} s")
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_compaction_and_pretty_printing() {
        assert_eq!(
            compact_json("{ \"a\" : [1, 2],\n \"b c\": \"x y\" }"),
            "{\"a\":[1,2],\"b c\":\"x y\"}"
        );
        assert_eq!(
            pretty_json("{\"a\":[1,{}],\"b\":\"x,y\"}"),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"x,y\"\n}"
        );
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("alice: disk full", "alice"));
        assert!(mentions("ping @alice!", "alice"));
        assert!(!mentions("alice2 is here", "alice"));
        assert!(!mentions("malice", "alice"));
    }

    #[test]
    fn fuzzy_matching_prefers_substrings() {
        assert_eq!(fuzzy_score("alerts", "ale"), Some(0));
        assert!(fuzzy_score("alerts", "ats").is_some());
        assert_eq!(fuzzy_score("ops", "x"), None);
    }
}
