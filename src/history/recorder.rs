//! The recorder: `try_record` on the event loop only stamps an id and puts the record on a
//! bounded queue; a writer thread drains the queue into one transaction per batch and, when
//! the queue is empty, feeds the full-text index behind the writes. A full queue drops the
//! record and counts it per group; the count is written later as one `history_gap` row.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};

use super::open::{HistoryError, open};
use super::record::{Delivery, Kind, Record, RecordRef, Session};
use super::retention;
use super::store::{self, Ids, Inserter};

/// How the recorder is sized. The defaults absorb a 0.5 s disk stall at the insert rate.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// Records the queue holds at most.
    pub queue_records: usize,
    /// Bytes of bodies the queue holds at most.
    pub queue_bytes: usize,
    /// Rows per transaction at most.
    pub batch_rows: usize,
    /// How long one transaction may keep taking rows.
    pub batch_time: Duration,
    /// Rows indexed per idle step.
    pub fts_step: usize,
    /// A pause after each batch: only tests use it, to play a slow disk.
    pub slow_disk: Option<Duration>,
    /// Messages older than this many ms are pruned while idle.
    pub max_age_ms: Option<i64>,
    /// The oldest messages are pruned while idle until the database is under this.
    pub max_bytes: Option<u64>,
    /// The writer thread's nice value (Linux: per thread), e.g. 10 in the chat: under a flood
    /// the writer then drops (and counts) rather than take a core from the engine and the UI.
    pub writer_nice: Option<i32>,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            queue_records: 256 * 1024,
            queue_bytes: 64 * 1024 * 1024,
            batch_rows: 10_000,
            batch_time: Duration::from_millis(20),
            fts_step: 2_000,
            slow_disk: None,
            max_age_ms: None,
            max_bytes: None,
            writer_nice: None,
        }
    }
}

/// What the writer thread is told to do.
enum Job {
    Insert(i64, Record),
    Delivery {
        id: i64,
        delivery: Delivery,
    },
    ReadMarker {
        group: String,
        id: i64,
    },
    /// A new connection session: the rows after it belong to it.
    SessionStarted(Session),
    /// The connection closed: no session until the next one starts.
    SessionEnded(i64),
    /// Answered once everything queued before it is committed (and indexed).
    Flush(SyncSender<()>),
}

/// Messages dropped in one group while the queue was full.
#[derive(Debug, Clone, Copy)]
struct Dropped {
    count: u64,
    /// When the loss began: the `history_gap` row sits there.
    first_ts: i64,
}

/// What the recorder did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Records the writer committed.
    pub written: u64,
    /// Records dropped because the queue was full.
    pub dropped: u64,
}

/// The event loop's handle on the writer thread.
pub struct Recorder {
    queue: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    next_id: i64,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    written: Arc<AtomicU64>,
    dropped_total: u64,
    dropped: HashMap<String, Dropped>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("next_id", &self.next_id)
            .field("dropped", &self.dropped_total)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Opens the database at `path` (creating it) and starts the writer thread.
    pub fn start(path: &Path, options: RecorderOptions) -> Result<Recorder, HistoryError> {
        let mut conn = open(path)?;
        store::take_lease(&mut conn, chrono::Utc::now().timestamp_millis())?;
        // Past the index's watermark too: after everything was pruned or forgotten, ids the
        // index already counts as done must not be handed out again.
        let next_id = store::max_id(&conn)?.max(store::watermark(&conn)?) + 1;
        let (queue, jobs) = sync_channel(options.queue_records);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            conn,
            jobs,
            ids: Ids::default(),
            queued_bytes: queued_bytes.clone(),
            written: written.clone(),
            options: options.clone(),
            last_beat: Instant::now(),
            session: None,
        };
        let nice = options.writer_nice;
        let writer = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                if let Some(nice) = nice {
                    set_this_thread_nice(nice);
                }
                writer.run()
            })
            .map_err(|source| HistoryError::Create {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Recorder {
            queue: Some(queue),
            writer: Some(writer),
            next_id,
            queued_bytes,
            max_bytes: options.queue_bytes,
            written,
            dropped_total: 0,
            dropped: HashMap::new(),
        })
    }

    /// The id the next record will get: every line recorded from now on has at least this id.
    pub fn next_id(&self) -> i64 {
        self.next_id
    }

    /// Queues `record` without waiting and returns its history id; `None` when the queue was
    /// full and the record was dropped (and counted for its group).
    pub fn try_record(&mut self, record: Record) -> Option<i64> {
        let id = self.admit(&record.group, record.ts_ms, record.weight())?;
        self.queue_admitted(id, record)
    }

    /// [`Recorder::try_record`] for a message borrowed from the event that carries it: it is
    /// copied only if the queue has room, so a flood that keeps the queue full costs a
    /// counter increment per message, not a copy and its free.
    pub fn try_record_borrowed(&mut self, record: RecordRef<'_>) -> Option<i64> {
        let id = self.admit(record.group, record.ts_ms, record.weight())?;
        self.queue_admitted(id, record.to_record())
    }

    /// The id for a record of `weight` if the queue has room for it, after the pending
    /// `history_gap` rows (written only when the record fits behind them, so that a run of
    /// drops ends in one row); otherwise counts the drop.
    fn admit(&mut self, group: &str, ts_ms: i64, weight: usize) -> Option<i64> {
        if !self.dropped.is_empty() {
            self.write_gaps_leaving(weight);
        }
        if self.dropped.is_empty() && self.has_room(weight) {
            let id = self.next_id;
            self.next_id += 1;
            return Some(id);
        }
        self.count_drop(group, ts_ms);
        None
    }

    /// Queues an admitted record; a full channel still drops it (and counts it).
    fn queue_admitted(&mut self, id: i64, record: Record) -> Option<i64> {
        match self.offer(id, record) {
            Ok(()) => Some(id),
            Err(Job::Insert(_, record)) => {
                self.count_drop(&record.group, record.ts_ms);
                None
            }
            Err(_) => None,
        }
    }

    fn count_drop(&mut self, group: &str, ts_ms: i64) {
        self.dropped_total += 1;
        // Looked up by `&str` first: the group's name is copied once per run of drops.
        match self.dropped.get_mut(group) {
            Some(gap) => gap.count += 1,
            None => {
                let gap = Dropped {
                    count: 1,
                    first_ts: ts_ms,
                };
                self.dropped.insert(group.to_string(), gap);
            }
        }
    }

    /// Whether the queue's byte budget has room for `weight` more.
    fn has_room(&self, weight: usize) -> bool {
        self.queue.is_some() && self.queued_bytes.load(Ordering::Relaxed) + weight <= self.max_bytes
    }

    /// A later ack state of one of our own messages.
    pub fn set_delivery(&mut self, id: i64, delivery: Delivery) {
        if let Some(queue) = &self.queue {
            let _ = queue.try_send(Job::Delivery { id, delivery });
        }
    }

    /// A connection session began (a new connection id): it gets a `session` row, and the
    /// lines recorded after it name it. Ends the previous session if it was still open.
    pub fn start_session(&mut self, session: Session) {
        if let Some(queue) = &self.queue {
            // Rare and small: waiting for room keeps lines from landing in the wrong session.
            let _ = queue.send(Job::SessionStarted(session));
        }
    }

    /// The connection closed at `ended_ms`.
    pub fn end_session(&mut self, ended_ms: i64) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(Job::SessionEnded(ended_ms));
        }
    }

    /// The user read `group` up to the line with history id `id`.
    pub fn set_read_marker(&mut self, group: &str, id: i64) {
        if let Some(queue) = &self.queue {
            let _ = queue.try_send(Job::ReadMarker {
                group: group.to_string(),
                id,
            });
        }
    }

    /// Writes the pending `history_gap` rows: if the queue has room for them, or (`wait`)
    /// once it has.
    pub fn write_gaps(&mut self, wait: bool) {
        if wait {
            for (group, gap) in std::mem::take(&mut self.dropped) {
                let id = self.next_id;
                self.next_id += 1;
                self.offer_waiting(id, gap_record(&group, gap));
            }
        } else {
            self.write_gaps_leaving(0);
        }
    }

    /// Writes the pending `history_gap` rows that fit with `reserve` bytes left over. One
    /// group at a time, stopping at the first that does not fit: while a flood keeps the
    /// queue full this runs on every record, so the room is checked before a row is built.
    fn write_gaps_leaving(&mut self, reserve: usize) {
        while let Some((group, gap)) = self.dropped.iter().next() {
            if !self.has_room(gap_weight(group) + reserve) {
                return;
            }
            let record = gap_record(group, *gap);
            let group = record.group.clone();
            let id = self.next_id;
            if self.offer(id, record).is_err() {
                return;
            }
            self.next_id += 1;
            self.dropped.remove(&group);
        }
    }

    /// Queues `record` if there is room; gives its job back if not.
    fn offer(&mut self, id: i64, record: Record) -> Result<(), Job> {
        let weight = record.weight();
        let job = Job::Insert(id, record);
        let Some(queue) = &self.queue else {
            return Err(job);
        };
        if self.queued_bytes.load(Ordering::Relaxed) + weight > self.max_bytes {
            return Err(job);
        }
        self.queued_bytes.fetch_add(weight, Ordering::Relaxed);
        queue.try_send(job).map_err(|error| {
            self.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
            match error {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            }
        })
    }

    /// Queues `record`, waiting for room (never on the event loop's hot path).
    fn offer_waiting(&mut self, id: i64, record: Record) -> bool {
        let Some(queue) = &self.queue else {
            return false;
        };
        self.queued_bytes
            .fetch_add(record.weight(), Ordering::Relaxed);
        queue.send(Job::Insert(id, record)).is_ok()
    }

    /// Messages dropped so far and not yet written as a `history_gap` row, per group.
    pub fn unsaved(&self) -> u64 {
        self.dropped.values().map(|d| d.count).sum()
    }

    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped_total,
        }
    }

    /// Waits until everything queued so far is committed and indexed (tests, the CLI, quit).
    pub fn flush(&mut self) {
        self.write_gaps(true);
        if let Some(queue) = &self.queue {
            let (done, wait) = sync_channel(1);
            if queue.send(Job::Flush(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    /// Writes what is queued (gaps included) and stops the writer thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.flush();
        self.queue = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sets the calling thread's nice value; a failure leaves it as is.
#[cfg(target_os = "linux")]
fn set_this_thread_nice(nice: i32) {
    // SAFETY: setpriority takes plain integers and touches no memory of ours; `who` = 0 with
    // PRIO_PROCESS is the calling thread on Linux (the nice value is per thread there).
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
}

/// Elsewhere the nice value is per process: the writer keeps the caller's priority.
#[cfg(not(target_os = "linux"))]
fn set_this_thread_nice(_nice: i32) {}

/// The longest text of a `history_gap` row (a count of `u64::MAX`).
const GAP_TEXT_MAX: usize = "history:  messages not saved".len() + 20;

/// What a `history_gap` row of `group` weighs at most in the queue's byte budget.
fn gap_weight(group: &str) -> usize {
    super::record::weight_of(group, None, GAP_TEXT_MAX)
}

/// The `history_gap` row of a run of drops: `seq` holds the count, so that stats and tests
/// can add the losses up.
fn gap_record(group: &str, gap: Dropped) -> Record {
    let text = format!("history: {} messages not saved", gap.count);
    let mut record = Record::marker(group, gap.first_ts, Kind::HistoryGap, &text);
    record.seq = Some(gap.count);
    record
}

/// The writer thread's side.
struct Writer {
    conn: Connection,
    jobs: Receiver<Job>,
    ids: Ids,
    queued_bytes: Arc<AtomicUsize>,
    written: Arc<AtomicU64>,
    options: RecorderOptions,
    last_beat: Instant,
    /// The `session` row of the connection being recorded.
    session: Option<i64>,
}

/// How often the writer renews its lease.
const HEARTBEAT: Duration = Duration::from_secs(2);

impl Writer {
    fn run(mut self) {
        let mut carry = None;
        loop {
            let first = match carry.take() {
                Some(job) => job,
                None => match self.jobs.recv_timeout(Duration::from_millis(200)) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.heartbeat();
                        if !self.idle() {
                            self.retention();
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            let mut flushes = Vec::new();
            if let Err(error) = self.batch(first, &mut flushes) {
                tracing::error!(%error, "history: a batch could not be written");
                // The batch rolled back: ids it cached may name rows that do not exist.
                self.ids = Ids::default();
                self.session = None;
            }
            if !flushes.is_empty() {
                self.catch_up_index();
                for done in flushes {
                    let _ = done.send(());
                }
            }
            self.heartbeat();
            if let Some(pause) = self.options.slow_disk {
                std::thread::sleep(pause);
            }
            // An empty queue leaves time to index.
            match self.jobs.try_recv() {
                Ok(job) => carry = Some(job),
                Err(_) => {
                    self.idle();
                }
            }
        }
        self.catch_up_index();
        if let Some(open) = self.session.take() {
            let now = chrono::Utc::now().timestamp_millis();
            if let Err(error) = store::end_session(&self.conn, open, now) {
                tracing::warn!(%error, "history: could not close the session row");
            }
        }
        if let Err(error) = store::release_lease(&self.conn) {
            tracing::warn!(%error, "history: could not release the lease");
        }
    }

    /// Renews the lease every [`HEARTBEAT`], so a second wpchat sees this one is alive.
    fn heartbeat(&mut self) {
        if self.last_beat.elapsed() >= HEARTBEAT {
            self.last_beat = Instant::now();
            let now_ms = chrono::Utc::now().timestamp_millis();
            if let Err(error) = store::renew_lease(&self.conn, now_ms) {
                tracing::warn!(%error, "history: could not renew the lease");
            }
        }
    }

    /// One transaction: `first` and whatever follows, up to the batch's size and time.
    fn batch(&mut self, first: Job, flushes: &mut Vec<SyncSender<()>>) -> rusqlite::Result<()> {
        // Immediate: the write lock is ours before the cached ids are checked.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        self.ids.revalidate(&tx)?;
        let rows = Batch {
            tx: &tx,
            inserter: Inserter::new(&tx)?,
            ids: &mut self.ids,
            session: &mut self.session,
            queued_bytes: &self.queued_bytes,
        }
        .run(first, &self.jobs, &self.options, flushes)?;
        tx.commit()?;
        self.written.fetch_add(rows, Ordering::Relaxed);
        Ok(())
    }

    /// Indexes one step past the watermark; `true` if there may be more to index.
    fn idle(&mut self) -> bool {
        store::index_step(&mut self.conn, self.options.fts_step).unwrap_or_else(|error| {
            tracing::error!(%error, "history: indexing failed");
            false
        })
    }

    /// One chunk of pruning by age and size, only when nothing else is to do.
    fn retention(&mut self) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (age, size) = (self.options.max_age_ms, self.options.max_bytes);
        if age.is_none() && size.is_none() {
            return;
        }
        if let Err(error) = retention::retention_step(&mut self.conn, now_ms, age, size) {
            tracing::error!(%error, "history: pruning failed");
        }
    }

    fn catch_up_index(&mut self) {
        while let Ok(true) = store::index_step(&mut self.conn, self.options.fts_step) {}
    }
}

/// What one transaction of the writer works with.
struct Batch<'a> {
    tx: &'a Transaction<'a>,
    inserter: Inserter<'a>,
    ids: &'a mut Ids,
    session: &'a mut Option<i64>,
    queued_bytes: &'a AtomicUsize,
}

impl Batch<'_> {
    /// Applies `first` and the jobs that follow it until the batch is full, its time is up,
    /// the queue is empty or a flush asks for a commit; returns the rows inserted.
    fn run(
        mut self,
        first: Job,
        jobs: &Receiver<Job>,
        options: &RecorderOptions,
        flushes: &mut Vec<SyncSender<()>>,
    ) -> rusqlite::Result<u64> {
        let started = Instant::now();
        let mut rows = 0u64;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Insert(id, record) => {
                    self.queued_bytes
                        .fetch_sub(record.weight(), Ordering::Relaxed);
                    self.inserter.insert(self.ids, id, &record, *self.session)?;
                    rows += 1;
                }
                Job::Flush(done) => {
                    flushes.push(done);
                    break;
                }
                other => self.apply(other)?,
            }
            if rows as usize >= options.batch_rows || started.elapsed() >= options.batch_time {
                break;
            }
            next = jobs.try_recv().ok();
        }
        Ok(rows)
    }

    /// The jobs other than inserts and flushes.
    fn apply(&mut self, job: Job) -> rusqlite::Result<()> {
        let tx = self.tx;
        match job {
            Job::Delivery { id, delivery } => {
                tx.execute(
                    "UPDATE msg SET delivery = ?2 WHERE id = ?1",
                    params![id, delivery as i64],
                )?;
            }
            Job::ReadMarker { group, id } => {
                let buf = self.ids.buffer(tx, &group)?;
                tx.execute(
                    "UPDATE buffer SET read_marker = max(coalesce(read_marker, 0), ?2) WHERE id = ?1",
                    params![buf, id],
                )?;
            }
            Job::SessionStarted(session) => {
                if let Some(open) = self.session.take() {
                    store::end_session(tx, open, session.started_ms)?;
                }
                *self.session = Some(store::begin_session(tx, &session)?);
            }
            Job::SessionEnded(ended_ms) => {
                if let Some(open) = self.session.take() {
                    store::end_session(tx, open, ended_ms)?;
                }
            }
            Job::Insert(..) | Job::Flush(_) => {}
        }
        Ok(())
    }
}
