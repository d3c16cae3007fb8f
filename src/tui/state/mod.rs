//! The UI's pure state, split by concern: buffers and their lines, the connection, the
//! operations in flight, and the settings. Changed only by `App::update`; read by the view.

mod buffers;
mod conn;
mod lines;
mod ops;
mod settings;

use std::time::Instant;

use chrono::{DateTime, FixedOffset, Offset, Utc};

pub(crate) use buffers::mentions;
pub use buffers::{
    Buffer, BufferKind, Delivery, Interner, LineKind, LogLine, Membership, NO_SENDER,
};
pub(crate) use conn::SIMPLE_STATUS;
pub use conn::{ConnStatus, Connection, TOKEN_WARNING_MS, TokenExpiry};
pub use lines::{LineRef, Lines};
pub use ops::{FailedSend, Ops, PendingOp};
pub use settings::{Hyperlinks, Notify, UiConfigError, UiSettings};

use super::editor::Editor;
use super::keymap::HelpRow;
pub use super::overlay::Overlay;

/// The time as the UI knows it: injected by ticks so that rendering never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Wall clock, Unix milliseconds.
    pub wall_ms: i64,
    /// Monotonic time, to count down retries.
    pub mono: Instant,
    /// Offset of the local time zone.
    pub offset: FixedOffset,
}

impl Clock {
    /// The current time in the local zone.
    pub fn now() -> Self {
        let local = chrono::Local::now();
        Clock {
            wall_ms: local.timestamp_millis(),
            mono: Instant::now(),
            offset: *local.offset(),
        }
    }

    /// A fixed clock for tests and benchmarks (UTC).
    pub fn fixed(wall_ms: i64, mono: Instant) -> Self {
        Clock {
            wall_ms,
            mono,
            offset: Utc.fix(),
        }
    }

    pub fn local(&self, ms: i64) -> DateTime<FixedOffset> {
        DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .with_timezone(&self.offset)
    }

    /// Day number in the local zone, for day separators.
    pub(crate) fn day_of(&self, ms: i64) -> i64 {
        (ms + i64::from(self.offset.local_minus_utc()) * 1000).div_euclid(86_400_000)
    }
}

/// Severity of a status-bar note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteLevel {
    Info,
    Error,
}

/// A one-line note in the status bar (command errors, hints).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusNote {
    pub text: String,
    pub level: NoteLevel,
    /// Wall time after which it disappears.
    pub until_ms: i64,
}

/// Everything the view draws.
#[derive(Debug, Clone)]
pub struct State {
    /// The `[ui]` settings, with the toggles the user flipped since.
    pub settings: UiSettings,
    pub buffers: Vec<Buffer>,
    pub current: usize,
    pub names: Interner,
    /// Our user id as the service reported it (raw) and its interned id.
    pub user_id: Option<String>,
    pub me: u32,
    pub hub: String,
    pub conn: Connection,
    pub clock: Clock,
    pub editor: Editor,
    pub overlay: Overlay,
    pub note: Option<StatusNote>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub ops: Ops,
    /// Ctrl+C was pressed on an empty input; the next one quits.
    pub quit_armed: bool,
    /// Whether this process hosts the embedded local service (`None`: not that target).
    pub hosting: Option<bool>,
    /// Open connections on the service this process hosts (ours included).
    pub hosted_connections: usize,
    /// The user was told that quitting loses unsent messages; the next quit goes ahead.
    pub quit_unsent_warned: bool,
    pub quit: bool,
    /// Groups seen but not joined (for the switcher and completion).
    pub known_groups: Vec<String>,
    pub help: Vec<HelpRow>,
    pub help_hint: String,
    /// The buffer shown when `/raw` opened the frames buffer, to return to.
    pub before_frames: Option<(BufferKind, String)>,
}

impl State {
    pub fn new(settings: UiSettings, clock: Clock, help: Vec<HelpRow>, help_hint: String) -> Self {
        let mut names = Interner::default();
        let me = names.intern("you");
        State {
            buffers: vec![
                Buffer::new(BufferKind::Server, "server"),
                Buffer::new(BufferKind::System, "system"),
            ],
            current: 0,
            names,
            user_id: None,
            me,
            hub: String::new(),
            conn: Connection::default(),
            clock,
            editor: Editor::default(),
            overlay: Overlay::None,
            note: None,
            size: (80, 24),
            ops: Ops::default(),
            quit_armed: false,
            quit_unsent_warned: false,
            hosting: None,
            hosted_connections: 0,
            quit: false,
            known_groups: Vec::new(),
            help,
            help_hint,
            before_frames: None,
            settings,
        }
    }

    pub fn current_buffer(&self) -> &Buffer {
        // `current` is kept in range by every change to `buffers`; the fallback is the
        // always-present server buffer.
        self.buffers
            .get(self.current)
            .unwrap_or_else(|| &self.buffers[self.buffers.len().saturating_sub(2)])
    }

    /// Index of the buffer of a group.
    pub fn group_index(&self, group: &str) -> Option<usize> {
        self.buffers
            .iter()
            .position(|b| b.is_group() && b.name == group)
    }

    pub fn buffer_of_kind(&self, kind: BufferKind) -> Option<usize> {
        self.buffers.iter().position(|b| b.kind == kind)
    }

    /// Index of the buffer of this kind and (raw) name.
    pub(crate) fn find_buffer(&self, kind: BufferKind, name: &str) -> Option<usize> {
        self.buffers
            .iter()
            .position(|b| b.kind == kind && b.name == name)
    }

    /// Number of group buffers (they come first).
    pub fn group_count(&self) -> usize {
        self.buffers.iter().take_while(|b| b.is_group()).count()
    }

    /// Whether the raw frame inspector (`/raw`) is on: its buffer exists exactly then.
    pub(crate) fn raw_frames(&self) -> bool {
        self.buffer_of_kind(BufferKind::Frames).is_some()
    }

    pub(crate) fn sender_name(&self, id: u32) -> &str {
        if id == NO_SENDER {
            ""
        } else {
            self.names.name(id)
        }
    }

    /// Whether a message body names us or holds a highlight word (as a whole word in any case;
    /// ids shorter than 2 never match).
    pub(crate) fn mentions_me(&self, body: &str) -> bool {
        let me = self.user_id.iter().filter(|user| user.len() >= 2);
        me.chain(&self.settings.highlight_words)
            .any(|word| mentions(body, word))
    }

    /// Group names joined or seen, sorted, for completion.
    pub(crate) fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .buffers
            .iter()
            .filter(|b| b.is_group())
            .map(|b| b.name.clone())
            .chain(self.known_groups.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
