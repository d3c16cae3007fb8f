//! The chat's tap into history: what the event loop sees (received messages, own sends and
//! their acks, gaps and session losses) becomes records for the recorder, which never blocks;
//! read markers are saved as the user reads; backlogs are read when a group opens.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::app::App;
use crate::client::{Command, Event, OpId, OpOutcome};
use crate::config::HistorySettings;
use crate::history::{
    self, Delivery, Dir, Kind, Record, RecordRef, Recorder, RecorderOptions, Session, StoredLine,
};
use crate::protocol::{MessageSource, Payload};

/// Lines of backlog shown when a group opens.
pub(crate) const BACKLOG_LINES: usize = 200;
/// Shortest time between two updates of the "messages not saved" note.
const UNSAVED_NOTE_MS: i64 = 250;
/// Own sends remembered per group to recognise their echo.
const ECHO_MEMORY: usize = 256;

/// The chat's recorder queue, by bytes of records: an eighth of the recorder's default.
/// Under a flood the writer (which yields the CPU to the UI) falls behind and the queue
/// stays full, at about 330 bytes of RSS a 100-byte message: the default's 256 k records
/// cost ~86 MB on top of the scrollback, this ~16 MB (47 k such messages, beyond which
/// drops are counted).
const QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Never the bound: a record weighs more than 64 bytes, so the byte budget refuses records
/// before the channel fills. A full channel would make `try_record` spin and yield to the
/// (lower-priority) writer on the UI thread; a refused record costs nothing.
const QUEUE_RECORDS: usize = QUEUE_BYTES / 64;

/// The writer thread's nice value: low enough that the UI and the engine win the CPU, not so
/// low that an idle writer starves behind other programs. Under a flood the writer (SQLite
/// and the full-text index, about 4 µs of CPU a message) would otherwise take a core from the
/// engine and the UI, so the chat pushed back on the socket and keys waited; below them, it
/// drops (and counts) what it cannot keep up with instead.
const WRITER_NICE: i32 = 10;

/// Where the chat's history lives and whether this run records.
#[derive(Debug, Clone)]
pub struct HistoryStart {
    pub path: PathBuf,
    /// `false` with `--no-history` or `[history] enabled = false`: backlog only.
    pub record: bool,
}

/// The recorder and what the event loop remembers to feed it.
pub struct ChatHistory {
    path: PathBuf,
    recorder: Option<Recorder>,
    /// The connection id of the session being recorded.
    session: Option<String>,
    /// Groups recorded not at all, and groups where only own messages are.
    excluded: GlobSet,
    mine_only: GlobSet,
    /// Own sends waiting for their ack: history id, group and body.
    sends: HashMap<OpId, (i64, String, Vec<u8>)>,
    /// Own sends that failed (group, body, history id), newest last: a retry sends the same
    /// group and body again, and updates that row instead of adding one.
    failed: VecDeque<(String, Vec<u8>, i64)>,
    /// Bodies of own sends whose echo is not recorded again, per group.
    echoes: HashMap<String, VecDeque<Vec<u8>>>,
    /// The newest history id per group, and whether the user has seen it.
    newest: HashMap<String, i64>,
    /// Read markers saved so far, per group.
    saved_read: HashMap<String, i64>,
    /// Open groups whose backlog was loaded (a group closed and opened again loads again).
    loaded: HashSet<String>,
    /// Where a backlog stops: what was recorded after its group opened is in its buffer
    /// already (an own line sent just as the group opened would otherwise show twice). Per
    /// group, the first history id after its join; for groups opened otherwise, the first id
    /// of this run.
    joined_at: HashMap<String, i64>,
    run_started_at: Option<i64>,
    /// Messages not saved, as last told to the user, and when (wall ms).
    told_unsaved: u64,
    told_unsaved_ms: i64,
    /// `/history off`: nothing is recorded until `/history on`.
    paused: bool,
}

/// The globs of `patterns` (found under `key` in `[history]`); a bad one is left out and said.
fn globs<'a>(
    key: &str,
    patterns: impl Iterator<Item = &'a String>,
    problems: &mut Vec<String>,
) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        match Glob::new(pattern) {
            Ok(glob) => {
                builder.add(glob);
            }
            Err(error) => problems.push(format!("[history] {key} '{pattern}': {error}")),
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

/// The groups recorded not at all (`exclude`, and `record` globs set to "none") and those
/// where only own messages are (`record` globs set to "mine").
fn record_rules(settings: &HistorySettings, problems: &mut Vec<String>) -> (GlobSet, GlobSet) {
    let with = |policy: &'static str| {
        let record = settings.record.iter();
        record
            .filter(move |(_, p)| *p == policy)
            .map(|(glob, _)| glob)
    };
    for (pattern, policy) in &settings.record {
        if !["all", "mine", "none"].contains(&policy.as_str()) {
            problems.push(format!(
                "[history] record '{pattern}' = '{policy}': use \"all\", \"mine\" or \"none\" (recording all)"
            ));
        }
    }
    let none = settings.exclude.iter().chain(with("none"));
    let excluded = globs("exclude", none, problems);
    let mine_only = globs("record", with("mine"), problems);
    (excluded, mine_only)
}

impl ChatHistory {
    /// Starts recording (unless `start.record` is off). Problems come back as lines for the
    /// user; history being unavailable never stops the chat.
    pub fn start(start: &HistoryStart, settings: &HistorySettings) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let (excluded, mine_only) = record_rules(settings, &mut problems);
        let mut options = RecorderOptions {
            queue_records: QUEUE_RECORDS,
            queue_bytes: QUEUE_BYTES,
            writer_nice: Some(WRITER_NICE),
            ..RecorderOptions::default()
        };
        match crate::config::parse_age(&settings.max_age) {
            Ok(age) => options.max_age_ms = Some(age),
            Err(error) => problems.push(format!("[history] max_age: {error} (not pruning by age)")),
        }
        match crate::config::parse_size(&settings.max_size) {
            Ok(size) => options.max_bytes = Some(size),
            Err(error) => problems.push(format!("[history] max_size: {error} (no size cap)")),
        }
        let recorder = if start.record {
            match Recorder::start(&start.path, options) {
                Ok(recorder) => Some(recorder),
                Err(error) => {
                    problems.push(format!("history is not recorded: {error}"));
                    None
                }
            }
        } else {
            problems.push("history: not recording this session".into());
            None
        };
        let run_started_at = recorder.as_ref().map(Recorder::next_id);
        let history = ChatHistory {
            path: start.path.clone(),
            joined_at: HashMap::new(),
            run_started_at,
            recorder,
            session: None,
            excluded,
            mine_only,
            sends: HashMap::new(),
            failed: VecDeque::new(),
            echoes: HashMap::new(),
            newest: HashMap::new(),
            saved_read: HashMap::new(),
            loaded: HashSet::new(),
            told_unsaved: 0,
            told_unsaved_ms: i64::MIN,
            paused: false,
        };
        (history, problems)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `/history on|off`; returns what to tell the user.
    pub(crate) fn set_recording(&mut self, on: bool) -> &'static str {
        self.paused = !on;
        match (on, self.recorder.is_some()) {
            (_, false) => "history is not being recorded in this chat (see the system buffer)",
            (true, true) => "history: recording",
            (false, true) => "history: paused for this session (/history on resumes)",
        }
    }

    /// The recorder, if `group` is recorded now; `own`: for our own message or a marker,
    /// which groups recording only "mine" keep too.
    fn recording(&mut self, group: &str, own: bool) -> Option<&mut Recorder> {
        // Empty sets (the default) are not asked: a glob match costs an allocation, and this
        // runs for every message of a flood.
        let excluded = !self.excluded.is_empty() && self.excluded.is_match(group);
        let mine_only = !own && !self.mine_only.is_empty() && self.mine_only.is_match(group);
        if self.paused || excluded || mine_only {
            return None;
        }
        self.recorder.as_mut()
    }

    /// Own sends in `commands` are recorded as outgoing, pending their ack; a join marks where
    /// its group's backlog will stop.
    pub(crate) fn on_commands(&mut self, commands: &[Command], now_ms: i64) {
        for command in commands {
            let (op, group, payload) = match command {
                Command::SendToGroup {
                    op, group, payload, ..
                } => (op, group, payload),
                Command::Join { group, .. } => {
                    if let Some(recorder) = &self.recorder {
                        self.joined_at.insert(group.clone(), recorder.next_id());
                    }
                    continue;
                }
                _ => continue,
            };
            let (kind, body) = payload_record(payload);
            let retried = self
                .failed
                .iter()
                .rposition(|(g, b, _)| g == group && *b == body)
                .and_then(|at| self.failed.remove(at));
            let mut record = Record::message(group, now_ms, kind, Dir::Out, body.clone());
            record.delivery = Some(Delivery::Pending);
            let Some(recorder) = self.recording(group, true) else {
                continue;
            };
            let id = match retried {
                Some((_, _, id)) => {
                    recorder.set_delivery(id, Delivery::Pending);
                    Some(id)
                }
                None => recorder.try_record(record),
            };
            if let Some(id) = id {
                self.sends.insert(*op, (id, group.clone(), body.clone()));
                self.set_newest(group, id);
                let echoes = self.echoes.entry(group.clone()).or_default();
                echoes.push_back(body);
                if echoes.len() > ECHO_MEMORY {
                    echoes.pop_front();
                }
            }
        }
    }

    /// Records what `event` says, before the App sees it.
    pub(crate) fn on_event(&mut self, event: &Event, app: &App, now_ms: i64) {
        match event {
            Event::Message(message) => {
                let (group, sender) = match &message.source {
                    MessageSource::Group {
                        group,
                        from_user_id,
                    } => (&**group, from_user_id.as_deref()),
                    MessageSource::Server => ("server", None),
                };
                let (kind, body) = payload_bytes(&message.payload);
                let own = sender.is_some() && sender == app.state().user_id.as_deref();
                if own && self.is_echo(group, body) {
                    return;
                }
                let record = RecordRef {
                    group,
                    ts_ms: now_ms,
                    kind,
                    dir: Dir::In,
                    sender,
                    seq: message.sequence_id,
                    body,
                };
                if let Some(id) = self
                    .recording(group, own)
                    .and_then(|r| r.try_record_borrowed(record))
                {
                    self.set_newest(group, id);
                }
            }
            Event::Connected {
                connection_id,
                user_id,
                protocol,
            } => self.session_started(connection_id, user_id.as_deref(), protocol.name(), now_ms),
            Event::Queued { op } => self.delivery(*op, Delivery::Queued, false),
            Event::OpResult { op, outcome } => {
                let delivery = match outcome {
                    OpOutcome::Done { .. } => Delivery::Acked,
                    OpOutcome::Failed(_) => Delivery::Failed,
                };
                self.delivery(*op, delivery, true);
            }
            Event::Recovered { offline, .. } => {
                let text = format!("recovered after {} ms offline", offline.as_millis());
                self.marker_in_groups(app, now_ms, &text);
            }
            Event::SessionLost { offline, .. } => {
                let text = format!(
                    "session lost after {} ms offline; messages may be missing",
                    offline.as_millis()
                );
                self.marker_in_groups(app, now_ms, &text);
            }
            _ => {}
        }
    }

    /// A new connection id starts a `session` row, which the lines after it point to (a
    /// recovered connection keeps its id, and its session).
    fn session_started(
        &mut self,
        connection_id: &str,
        user_id: Option<&str>,
        protocol: &str,
        now_ms: i64,
    ) {
        if self.session.as_deref() == Some(connection_id) {
            return;
        }
        self.session = Some(connection_id.to_string());
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.start_session(Session {
                connection_id: connection_id.to_string(),
                user_id: user_id.map(str::to_string),
                protocol: Some(protocol.to_string()),
                started_ms: now_ms,
            });
        }
    }

    /// Remembers `id` as the newest line of `group` (a group's name is copied once, not for
    /// every message of a flood).
    fn set_newest(&mut self, group: &str, id: i64) {
        match self.newest.get_mut(group) {
            Some(newest) => *newest = id,
            None => {
                self.newest.insert(group.to_string(), id);
            }
        }
    }

    fn is_echo(&mut self, group: &str, body: &[u8]) -> bool {
        let Some(echoes) = self.echoes.get_mut(group) else {
            return false;
        };
        match echoes.iter().position(|sent| sent == body) {
            Some(at) => {
                echoes.remove(at);
                true
            }
            None => false,
        }
    }

    fn delivery(&mut self, op: OpId, delivery: Delivery, done: bool) {
        let id = if done {
            let sent = self.sends.remove(&op);
            let id = sent.as_ref().map(|(id, _, _)| *id);
            if let Some((id, group, body)) = sent
                && delivery == Delivery::Failed
            {
                self.failed.push_back((group, body, id));
                if self.failed.len() > ECHO_MEMORY {
                    self.failed.pop_front();
                }
            }
            id
        } else {
            self.sends.get(&op).map(|(id, _, _)| *id)
        };
        if let (Some(id), Some(recorder)) = (id, self.recorder.as_mut()) {
            recorder.set_delivery(id, delivery);
        }
    }

    fn marker_in_groups(&mut self, app: &App, now_ms: i64, text: &str) {
        for group in open_groups(app) {
            if let Some(recorder) = self.recording(&group, true) {
                recorder.try_record(Record::marker(&group, now_ms, Kind::Gap, text));
            }
        }
    }

    /// After a batch: groups the user has read up to their newest line get their read marker
    /// saved; and the user hears once about messages that could not be saved.
    pub(crate) fn after_batch(&mut self, app: &mut App) {
        let Some(recorder) = self.recorder.as_mut() else {
            return;
        };
        for buffer in &app.state().buffers {
            let Some(newest) = self.newest.get(&buffer.name) else {
                continue;
            };
            if buffer.unread == 0 && self.saved_read.get(&buffer.name) != Some(newest) {
                recorder.set_read_marker(&buffer.name, *newest);
                self.saved_read.insert(buffer.name.clone(), *newest);
            }
        }
        let dropped = recorder.stats().dropped;
        let now_ms = app.state().clock.wall_ms;
        // A new count redraws the whole screen: under a flood that would be every frame, so
        // the count is told again at most every UNSAVED_NOTE_MS (the 1 s tick catches up).
        let due = now_ms.saturating_sub(self.told_unsaved_ms) >= UNSAVED_NOTE_MS;
        if dropped > self.told_unsaved && due {
            self.told_unsaved = dropped;
            self.told_unsaved_ms = now_ms;
            app.note(
                crate::tui::NoteLevel::Error,
                &format!("history: {dropped} messages not saved (the disk cannot keep up)"),
            );
        }
    }

    /// Groups open in the App whose backlog has not been loaded yet, as a read to run off the
    /// event loop; `None` when there are none.
    pub(crate) fn backlog_to_load(&mut self, app: &App) -> Option<BacklogRead> {
        let open = open_groups(app);
        self.loaded.retain(|group| open.contains(group));
        let mut groups = Vec::new();
        for group in open {
            if !self.loaded.contains(&group) {
                self.loaded.insert(group.clone());
                let before = self.joined_at.remove(&group).or(self.run_started_at);
                groups.push((group, before));
            }
        }
        (!groups.is_empty()).then(|| BacklogRead {
            path: self.path.clone(),
            groups,
        })
    }

    /// Writes what is queued and the read markers, and stops the writer.
    pub(crate) fn close(mut self, app: &mut App) {
        self.after_batch(app);
        if let Some(recorder) = self.recorder.take() {
            recorder.close();
        }
    }
}

/// One group's lines from disk and its saved read marker.
pub(crate) type Backlog = (String, Vec<StoredLine>, Option<i64>);

/// The backlogs of groups that just opened, each up to where it opened.
pub(crate) struct BacklogRead {
    path: PathBuf,
    /// Each group, and the history id its backlog stops before.
    groups: Vec<(String, Option<i64>)>,
}

impl BacklogRead {
    /// Each group's backlog and saved read marker, read with a connection of its own (run off
    /// the event loop). A missing database is an empty backlog.
    pub(crate) fn read(&self) -> Result<Vec<Backlog>, history::HistoryError> {
        let conn = match history::open_read(&self.path) {
            Ok(conn) => conn,
            Err(history::HistoryError::Missing(_)) => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        self.groups
            .iter()
            .map(|(group, before)| {
                let lines = history::backlog(&conn, group, *before, BACKLOG_LINES)?;
                let marker = history::read_marker(&conn, group)?;
                Ok((group.clone(), lines, marker))
            })
            .collect()
    }
}

/// The groups that have a buffer.
fn open_groups(app: &App) -> Vec<String> {
    let buffers = app.state().buffers.iter();
    buffers
        .filter(|b| b.is_group())
        .map(|b| b.name.clone())
        .collect()
}

/// A payload as a record's kind and raw bytes.
fn payload_record(payload: &Payload) -> (Kind, Vec<u8>) {
    let (kind, body) = payload_bytes(payload);
    (kind, body.to_vec())
}

/// A payload as a record's kind and its raw bytes, borrowed.
fn payload_bytes(payload: &Payload) -> (Kind, &[u8]) {
    let body = match payload {
        Payload::Text(text) => text.as_bytes(),
        Payload::Json(raw) => raw.get().as_bytes(),
        Payload::Binary(bytes) | Payload::Protobuf(bytes) => bytes,
    };
    (Kind::from(payload.data_type()), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::{Clock, Keymap, UiSettings};

    #[test]
    fn a_backlog_holds_only_what_earlier_runs_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        let mut earlier = Recorder::start(&path, RecorderOptions::default()).unwrap();
        let line = Record::message("lobby", 1, Kind::Text, Dir::In, b"from before".to_vec());
        earlier.try_record(line).unwrap();
        earlier.close();

        let start = HistoryStart {
            path: path.clone(),
            record: true,
        };
        let (mut history, _) = ChatHistory::start(&start, &HistorySettings::default());
        let mut app = App::new(UiSettings::default(), Keymap::default(), Clock::now());
        app.set_target("chat", Some("alice"));
        let _ = app.join("lobby");
        // Sent as the group opened, and on disk before its backlog is read: the buffer shows
        // it live, so the backlog must not bring it a second time.
        let send = Command::SendToGroup {
            op: 1,
            group: "lobby".into(),
            payload: Payload::Text("sent just now".into()),
            no_echo: false,
            fire_and_forget: false,
        };
        history.on_commands(&[send], 2);
        history.recorder.as_mut().unwrap().flush();

        let read = history.backlog_to_load(&app).expect("lobby just opened");
        let backlogs = read.read().unwrap();
        let [(group, lines, _)] = backlogs.as_slice() else {
            panic!("one group's backlog: {backlogs:?}");
        };
        assert_eq!(group, "lobby");
        let bodies: Vec<&[u8]> = lines.iter().map(|l| &l.body[..]).collect();
        assert_eq!(bodies, [b"from before"]);
        assert!(history.backlog_to_load(&app).is_none(), "read once");
    }
}
