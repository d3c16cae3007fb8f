//! The UI's pure state: buffers (groups, `server`, `system`) with bounded scrollback, unread
//! and mention counts, the input editor, overlays, the connection as the user sees it, and the
//! operations waiting for an outcome. Changed only by `App::update`; read by the view.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Offset, Utc};
use thiserror::Error;

use super::editor::Editor;
use super::keymap::HelpRow;
use crate::client::OpId;
use crate::protocol::{DataType, Payload, Subprotocol};

/// Sender id meaning "nobody" (system lines, anonymous senders are interned as `anonymous`).
pub const NO_SENDER: u32 = u32::MAX;

/// Settings from the config's `[ui]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct UiSettings {
    /// Messages kept per buffer.
    pub scrollback: usize,
    pub show_groups: bool,
    pub group_pane_width: u16,
    pub mouse: bool,
    /// Rows one message may take before it is cut (the full text is one key away).
    pub max_message_lines: usize,
    pub nick_width: u16,
    /// chrono format of the timestamp column.
    pub time_format: String,
    pub data_type: DataType,
    pub no_echo: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            scrollback: 10_000,
            show_groups: true,
            group_pane_width: 18,
            mouse: true,
            max_message_lines: 8,
            nick_width: 10,
            time_format: "%H:%M".to_string(),
            data_type: DataType::Text,
            no_echo: false,
        }
    }
}

/// Why the `[ui]` table could not be used.
#[derive(Debug, Error, PartialEq)]
pub enum UiConfigError {
    #[error("[ui]: unknown setting '{0}'; see `wpchat --print-default-config`")]
    Unknown(String),
    #[error("[ui]: '{key}' {expected}")]
    BadValue { key: String, expected: &'static str },
}

impl UiSettings {
    /// Reads the `[ui]` table; missing settings keep their defaults.
    pub fn from_table(table: &toml::Table) -> Result<Self, UiConfigError> {
        let mut settings = UiSettings::default();
        let bad = |key: &str, expected| UiConfigError::BadValue {
            key: key.to_string(),
            expected,
        };
        for (key, value) in table {
            let int = |min: i64, max: i64| match value.as_integer() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(bad(key, "must be a whole number in range")),
            };
            let boolean = || {
                value
                    .as_bool()
                    .ok_or_else(|| bad(key, "must be true or false"))
            };
            match key.as_str() {
                "scrollback" => settings.scrollback = int(100, 10_000_000)? as usize,
                "group_pane" => settings.show_groups = boolean()?,
                "group_pane_width" => settings.group_pane_width = int(8, 60)? as u16,
                "mouse" => settings.mouse = boolean()?,
                "max_message_lines" => settings.max_message_lines = int(1, 1000)? as usize,
                "nick_width" => settings.nick_width = int(4, 40)? as u16,
                "no_echo" => settings.no_echo = boolean()?,
                "time_format" => {
                    let format = value
                        .as_str()
                        .ok_or_else(|| bad(key, "must be a string like \"%H:%M\""))?;
                    let invalid = chrono::format::StrftimeItems::new(format)
                        .any(|item| matches!(item, chrono::format::Item::Error));
                    if invalid {
                        return Err(bad(key, "is not a valid strftime format (try \"%H:%M\")"));
                    }
                    settings.time_format = format.to_string();
                }
                "data_type" => {
                    settings.data_type = match value.as_str() {
                        Some("text") => DataType::Text,
                        Some("json") => DataType::Json,
                        Some("binary") => DataType::Binary,
                        _ => return Err(bad(key, "must be \"text\", \"json\" or \"binary\"")),
                    }
                }
                other => return Err(UiConfigError::Unknown(other.to_string())),
            }
        }
        Ok(settings)
    }
}

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
    pub fn day_of(&self, ms: i64) -> i64 {
        (ms + i64::from(self.offset.local_minus_utc()) * 1000).div_euclid(86_400_000)
    }
}

/// Strings seen over and over (user ids, error names), stored once; lines keep a `u32`.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    /// Sanitised display form, by id.
    names: Vec<Box<str>>,
}

impl Interner {
    /// The id of a raw (untrusted) string, sanitising it the first time.
    pub fn intern(&mut self, raw: &str) -> u32 {
        if let Some(id) = self.ids.get(raw) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names
            .push(crate::text::sanitize_line(raw).into_boxed_str());
        self.ids.insert(raw.into(), id);
        id
    }

    pub fn get(&self, raw: &str) -> Option<u32> {
        self.ids.get(raw).copied()
    }

    /// The display form of an id ("" for `NO_SENDER`).
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }
}

/// What a log line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Text,
    Json,
    /// `body` is the data in standard base64.
    Binary,
    Protobuf,
    /// Connection events, joins, leaves.
    Notice,
    Error,
    /// "offline … · recovered" after a reconnect.
    Gap,
    /// A raw frame received (the `frames` buffer, while `/raw` is on).
    FrameIn,
    /// A raw frame sent.
    FrameOut,
}

/// Delivery of an own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not an own message.
    None,
    Pending,
    /// Sent while offline; flushed after reconnect.
    Queued,
    /// Acked, with the round trip in milliseconds (`u32::MAX` when unknown).
    Acked(u32),
    /// Failed; the interned error name.
    Failed(u32),
}

/// One message or notice. Kept small: the scrollback may hold millions.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub time_ms: i64,
    pub sender: u32,
    pub kind: LineKind,
    pub delivery: Delivery,
    /// Sanitised text (JSON compact, binary as base64).
    pub body: Box<str>,
}

/// What a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    Group,
    Server,
    System,
    /// Raw frames, while `/raw` is on.
    Frames,
}

/// Whether we are in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Joining,
    Joined,
    Leaving,
}

/// A log: a group, or the `server` / `system` / `frames` buffers.
#[derive(Debug, Clone)]
pub struct Buffer {
    pub kind: BufferKind,
    pub membership: Membership,
    /// The raw name (what commands use).
    pub name: String,
    /// The sanitised name (what is shown).
    pub display: String,
    pub lines: VecDeque<LogLine>,
    /// Sequence number of `lines[0]`; sequence numbers survive eviction.
    pub first_seq: u64,
    pub unread: u32,
    pub mentions: u32,
    /// Sequence of the newest line shown while scrolled up; `None` follows live.
    pub anchor: Option<u64>,
    /// First line that arrived while the buffer was not in view.
    pub first_unread: Option<u64>,
    pub members_seen: HashSet<u32>,
    /// Hashes of own messages whose echo should not be shown twice.
    pub echo_expected: VecDeque<u64>,
}

impl Buffer {
    pub fn new(kind: BufferKind, name: &str) -> Self {
        Buffer {
            kind,
            membership: Membership::Joined,
            name: name.to_string(),
            display: crate::text::sanitize_line(name),
            lines: VecDeque::new(),
            first_seq: 0,
            unread: 0,
            mentions: 0,
            anchor: None,
            first_unread: None,
            members_seen: HashSet::new(),
            echo_expected: VecDeque::new(),
        }
    }

    /// Sequence number the next line will get.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }

    /// Appends a line, dropping the oldest beyond `cap`; returns its sequence number.
    pub fn push(&mut self, line: LogLine, cap: usize) -> u64 {
        let seq = self.end_seq();
        self.lines.push_back(line);
        while self.lines.len() > cap.max(1) {
            self.lines.pop_front();
            self.first_seq += 1;
        }
        if let Some(anchor) = self.anchor
            && anchor < self.first_seq
        {
            self.anchor = Some(self.first_seq);
        }
        seq
    }

    pub fn line_mut(&mut self, seq: u64) -> Option<&mut LogLine> {
        let index = seq.checked_sub(self.first_seq)?;
        self.lines.get_mut(usize::try_from(index).ok()?)
    }

    /// Index one past the newest visible line.
    pub fn view_end(&self) -> usize {
        match self.anchor {
            None => self.lines.len(),
            Some(seq) => (seq.saturating_sub(self.first_seq) as usize + 1).min(self.lines.len()),
        }
    }

    /// Lines below the view while scrolled up ("n new ↓").
    pub fn below_view(&self) -> usize {
        self.lines.len() - self.view_end()
    }

    pub fn is_group(&self) -> bool {
        self.kind == BufferKind::Group
    }
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnStatus {
    Connecting {
        attempt: u32,
    },
    Connected,
    Recovering {
        since: Instant,
    },
    Reconnecting {
        retry_at: Instant,
        last_error: String,
    },
    Offline {
        reason: String,
    },
}

/// An operation waiting for its outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingOp {
    Send {
        group: String,
        seq: u64,
        payload: Payload,
    },
    Join {
        group: String,
    },
    Leave {
        group: String,
    },
    Event {
        name: String,
    },
}

/// A send that failed, kept for the retry key.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedSend {
    pub group: String,
    pub seq: u64,
    pub payload: Payload,
}

/// Overlays drawn over the main screen; one at a time.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help {
        scroll: u16,
        /// Only this command's help, from `/help cmd`.
        topic: Option<String>,
    },
    Switcher {
        query: String,
        selected: usize,
    },
    JoinPrompt {
        input: Editor,
    },
    LeaveConfirm {
        group: String,
    },
    PasteConfirm {
        text: String,
    },
    Search {
        query: String,
        /// Sequence of the line found.
        found: Option<u64>,
    },
    Viewer {
        title: String,
        text: String,
        scroll: u16,
    },
}

/// How long before a non-renewable token expires the status bar starts warning.
pub const TOKEN_WARNING_MS: i64 = 5 * 60 * 1000;

/// The expiry of a token that cannot be renewed (a fixed client URL): once it passes, the
/// current connection lives on but the next fresh connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpiry {
    /// Wall time of expiry, Unix milliseconds.
    pub expires_ms: i64,
    /// The one-time system-buffer warning was written.
    pub warned: bool,
}

impl TokenExpiry {
    /// Whether the status bar warns at `now_ms` (from 5 minutes before expiry on).
    pub fn warning_at(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_ms - TOKEN_WARNING_MS
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
    pub settings: UiSettings,
    pub buffers: Vec<Buffer>,
    pub current: usize,
    pub names: Interner,
    /// Our user id as the service reported it (raw) and its interned id.
    pub user_id: Option<String>,
    pub me: u32,
    pub hub: String,
    pub conn: ConnStatus,
    pub connection_id: Option<String>,
    pub protocol: Option<Subprotocol>,
    pub lag: Option<Duration>,
    pub last_seq: Option<u64>,
    pub clock: Clock,
    pub editor: Editor,
    pub overlay: Overlay,
    pub note: Option<StatusNote>,
    pub data_type: DataType,
    pub no_echo: bool,
    pub raw_frames: bool,
    pub mouse: bool,
    pub show_groups: bool,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub pending: HashMap<OpId, PendingOp>,
    pub failed: Vec<FailedSend>,
    pub next_op: OpId,
    /// Ctrl+C was pressed on an empty input; the next one quits.
    pub quit_armed: bool,
    pub quit: bool,
    /// Groups seen but not joined (for the switcher and completion).
    pub known_groups: Vec<String>,
    pub help: Vec<HelpRow>,
    pub help_hint: String,
    /// When the link went down (wall ms), for gap markers.
    pub offline_since: Option<i64>,
    /// The fixed client URL's token expiry, when it cannot be renewed.
    pub token_expiry: Option<TokenExpiry>,
    /// `/reconnect` was asked for: the session loss that follows is expected.
    pub reconnect_requested: bool,
    /// The last connection error written to the system buffer (each is written once).
    pub last_conn_error: Option<String>,
    /// The last recovery: (wall ms when recovered, wall ms when the link went down).
    pub recovered_at: Option<(i64, i64)>,
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
            conn: ConnStatus::Connecting { attempt: 1 },
            connection_id: None,
            protocol: None,
            lag: None,
            last_seq: None,
            clock,
            editor: Editor::default(),
            overlay: Overlay::None,
            note: None,
            data_type: settings.data_type,
            no_echo: settings.no_echo,
            raw_frames: false,
            mouse: settings.mouse,
            show_groups: settings.show_groups,
            size: (80, 24),
            pending: HashMap::new(),
            failed: Vec::new(),
            next_op: 1,
            quit_armed: false,
            quit: false,
            known_groups: Vec::new(),
            help,
            help_hint,
            offline_since: None,
            token_expiry: None,
            reconnect_requested: false,
            last_conn_error: None,
            recovered_at: None,
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

    /// Number of group buffers (they come first).
    pub fn group_count(&self) -> usize {
        self.buffers.iter().take_while(|b| b.is_group()).count()
    }

    pub fn sender_name(&self, id: u32) -> &str {
        if id == NO_SENDER {
            ""
        } else {
            self.names.name(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::Keymap;

    fn default_tables() -> (toml::Table, toml::Table) {
        let config: toml::Table = toml::from_str(crate::config::DEFAULT_CONFIG).unwrap();
        let table = |name: &str| match config.get(name) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        };
        (table("ui"), table("keys"))
    }

    #[test]
    fn embedded_default_config_matches_the_built_in_defaults() {
        let (ui, keys) = default_tables();
        assert_eq!(UiSettings::from_table(&ui), Ok(UiSettings::default()));
        let from_file = Keymap::from_table(&keys).unwrap();
        assert_eq!(from_file.help_rows(), Keymap::default().help_rows());
        assert_eq!(keys.len(), Keymap::default().help_rows().len());
    }

    #[test]
    fn ui_settings_errors_name_the_setting() {
        let table: toml::Table = toml::from_str("scrollback = -1").unwrap();
        assert!(matches!(
            UiSettings::from_table(&table),
            Err(UiConfigError::BadValue { key, .. }) if key == "scrollback"
        ));
        let table: toml::Table = toml::from_str("time_format = \"%Q%\"").unwrap();
        assert!(UiSettings::from_table(&table).is_err());
        let table: toml::Table = toml::from_str("colour = 1").unwrap();
        assert_eq!(
            UiSettings::from_table(&table),
            Err(UiConfigError::Unknown("colour".into()))
        );
    }

    #[test]
    fn a_log_line_is_small() {
        // The scrollback may hold millions of lines: keep the per-line overhead small.
        assert!(
            std::mem::size_of::<LogLine>() <= 48,
            "{}",
            std::mem::size_of::<LogLine>()
        );
    }
}
