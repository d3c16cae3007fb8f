//! The SQL of history: inserting rows, feeding the full-text index behind the writes, reading
//! a group's last lines, stats, retention and forgetting.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::open::HistoryError;
use super::record::{Delivery, Dir, Kind, Record, Session};

/// Buffer and user ids the writer has seen, so a row costs no lookup.
#[derive(Default)]
pub(crate) struct Ids {
    buffers: HashMap<String, i64>,
    users: HashMap<String, i64>,
    /// SQLite's `data_version` when the cache was last known good.
    data_version: Option<i64>,
}

impl Ids {
    /// Forgets the cached ids if another connection committed since the last check (a
    /// `wpchat history forget` may have deleted the rows they name). Call it inside an
    /// immediate transaction, so no other writer can slip in between.
    pub(crate) fn revalidate(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if self.data_version != Some(version) {
            self.buffers.clear();
            self.users.clear();
            self.data_version = Some(version);
        }
        Ok(())
    }

    pub(crate) fn buffer(&mut self, tx: &Transaction<'_>, name: &str) -> rusqlite::Result<i64> {
        interned(&mut self.buffers, tx, "buffer", name)
    }

    fn user(&mut self, tx: &Transaction<'_>, name: &str) -> rusqlite::Result<i64> {
        interned(&mut self.users, tx, "usr", name)
    }
}

/// The id of `name` in `table` (`buffer` or `usr`), inserted the first time it is seen.
fn interned(
    cache: &mut HashMap<String, i64>,
    tx: &Transaction<'_>,
    table: &str,
    name: &str,
) -> rusqlite::Result<i64> {
    if let Some(id) = cache.get(name) {
        return Ok(*id);
    }
    // `buffer.kind` is 0 (a group) for every buffer recorded so far; `usr` has no kind.
    let insert = if table == "buffer" {
        "INSERT INTO buffer(name, kind) VALUES (?1, 0) ON CONFLICT(name) DO NOTHING"
    } else {
        "INSERT INTO usr(name) VALUES (?1) ON CONFLICT(name) DO NOTHING"
    };
    tx.execute(insert, [name])?;
    let id = tx.query_row(
        &format!("SELECT id FROM {table} WHERE name = ?1"),
        [name],
        |r| r.get(0),
    )?;
    cache.insert(name.to_string(), id);
    Ok(id)
}

pub(crate) fn max_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(id), 0) FROM msg", [], |r| r.get(0))
}

/// The message insert of one batch, prepared once for all its rows.
pub(crate) struct Inserter<'tx> {
    tx: &'tx Transaction<'tx>,
    statement: rusqlite::CachedStatement<'tx>,
}

impl<'tx> Inserter<'tx> {
    pub(crate) fn new(tx: &'tx Transaction<'tx>) -> rusqlite::Result<Inserter<'tx>> {
        let statement = tx.prepare_cached(
            "INSERT INTO msg(id, buf, ts, kind, dir, sender, seq, delivery, body, session)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        Ok(Inserter { tx, statement })
    }

    pub(crate) fn insert(
        &mut self,
        ids: &mut Ids,
        id: i64,
        record: &Record,
        session: Option<i64>,
    ) -> rusqlite::Result<()> {
        let buf = ids.buffer(self.tx, &record.group)?;
        let sender = match &record.sender {
            Some(name) => Some(ids.user(self.tx, name)?),
            None => None,
        };
        self.statement.execute(params![
            id,
            buf,
            record.ts_ms,
            record.kind as i64,
            record.dir as i64,
            sender,
            record.seq.map(|s| s as i64),
            record.delivery.map(|d| d as i64),
            record.body,
            session,
        ])?;
        Ok(())
    }
}

/// Starts a `session` row (one per connection session); returns its id for the rows after it.
pub(crate) fn begin_session(tx: &Transaction<'_>, session: &Session) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO session(connection_id, user_id, protocol, started) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        session.connection_id,
        session.user_id,
        session.protocol,
        session.started_ms
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Closes the `session` row `id` at `ended_ms` (a later end never moves it).
pub(crate) fn end_session(conn: &Connection, id: i64, ended_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE session SET ended = ?2 WHERE id = ?1 AND ended IS NULL",
        params![id, ended_ms],
    )?;
    Ok(())
}

/// The id up to which the full-text index is complete.
pub(crate) fn watermark(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'fts_watermark'",
        [],
        |r| r.get(0),
    )
}

/// Indexes up to `step` rows past the watermark; `true` if there may be more.
pub(crate) fn index_step(conn: &mut Connection, step: usize) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let from = watermark(&tx)?;
    let upto: Option<i64> = tx.query_row(
        "SELECT max(id) FROM (SELECT id FROM msg WHERE id > ?1 ORDER BY id LIMIT ?2)",
        params![from, step as i64],
        |r| r.get(0),
    )?;
    let Some(upto) = upto else {
        return Ok(false);
    };
    tx.execute(
        "INSERT INTO msg_fts(rowid, body)
         SELECT id, CAST(body AS TEXT) FROM msg WHERE id > ?1 AND id <= ?2 AND kind IN (?3, ?4)",
        params![from, upto, Kind::Text as i64, Kind::Json as i64],
    )?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'fts_watermark'",
        [upto],
    )?;
    tx.commit()?;
    Ok(true)
}

/// One stored line, as the backlog, search and export read it: its history id and what was
/// recorded (`line.group`, `line.body`… read through to the record).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLine {
    pub id: i64,
    pub record: Record,
    /// The connection id of the session it was recorded in, when one was known.
    pub session: Option<String>,
}

impl std::ops::Deref for StoredLine {
    type Target = Record;

    fn deref(&self) -> &Record {
        &self.record
    }
}

/// The columns [`StoredLine::from_row`] reads, for `FROM msg m`.
pub(crate) const LINE_COLUMNS: &str =
    "m.id, b.name, m.ts, m.kind, m.dir, u.name, m.seq, m.delivery, m.body, s.connection_id";
/// The joins that name a line's buffer and sender.
pub(crate) const LINE_JOINS: &str = "CROSS JOIN buffer b ON b.id = m.buf LEFT JOIN usr u ON u.id = m.sender \
     LEFT JOIN session s ON s.id = m.session";

impl StoredLine {
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredLine> {
        let record = Record {
            group: row.get(1)?,
            ts_ms: row.get(2)?,
            kind: Kind::from_db(row.get(3)?),
            dir: if row.get::<_, i64>(4)? == 1 {
                Dir::Out
            } else {
                Dir::In
            },
            sender: row.get(5)?,
            seq: row.get::<_, Option<i64>>(6)?.map(|s| s as u64),
            delivery: row.get::<_, Option<i64>>(7)?.map(Delivery::from_db),
            body: row.get(8)?,
        };
        Ok(StoredLine {
            id: row.get(0)?,
            record,
            session: row.get(9)?,
        })
    }
}

/// The last `limit` lines of `group` older than `before` (all when `None`), oldest first.
pub fn backlog(
    conn: &Connection,
    group: &str,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<StoredLine>, HistoryError> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM msg m {LINE_JOINS}
         WHERE m.buf = (SELECT id FROM buffer WHERE name = ?1) AND m.id < ?2
         ORDER BY m.id DESC LIMIT ?3"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut lines = statement
        .query_map(
            params![group, before.unwrap_or(i64::MAX), limit as i64],
            StoredLine::from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    lines.reverse();
    Ok(lines)
}

/// Up to `limit` lines of `group` newer than `after`, oldest first.
pub fn newer(
    conn: &Connection,
    group: &str,
    after: i64,
    limit: usize,
) -> Result<Vec<StoredLine>, HistoryError> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM msg m {LINE_JOINS}
         WHERE m.buf = (SELECT id FROM buffer WHERE name = ?1) AND m.id > ?2
         ORDER BY m.id LIMIT ?3"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let lines = statement
        .query_map(params![group, after, limit as i64], StoredLine::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines)
}

/// The lines of `group` around the line `id`: up to `each` before it, the line itself (if
/// it is still there) and up to `each` after, oldest first.
pub fn around(
    conn: &Connection,
    group: &str,
    id: i64,
    each: usize,
) -> Result<Vec<StoredLine>, HistoryError> {
    let mut lines = backlog(conn, group, Some(id), each)?;
    lines.extend(newer(conn, group, id - 1, each + 1)?);
    Ok(lines)
}

/// The id of `group`'s first line at or after `ts_ms` (its last line when none is that new).
pub fn line_at(conn: &Connection, group: &str, ts_ms: i64) -> Result<Option<i64>, HistoryError> {
    let from = first_id_at(conn, ts_ms)?;
    let mut at = conn.prepare_cached(
        "SELECT id FROM msg WHERE buf = (SELECT id FROM buffer WHERE name = ?1) AND id >= ?2
         ORDER BY id LIMIT 1",
    )?;
    if let Some(id) = at
        .query_row(params![group, from], |r| r.get::<_, i64>(0))
        .optional()?
    {
        return Ok(Some(id));
    }
    let last = backlog(conn, group, None, 1)?;
    Ok(last.first().map(|line| line.id))
}

/// The smallest id whose row (or the next row after it) is at or after `ts_ms`. `ts` is
/// non-decreasing in id order but has no index of its own: a binary search over ids costs a
/// few dozen primary-key lookups instead of a scan.
fn first_id_at(conn: &Connection, ts_ms: i64) -> Result<i64, HistoryError> {
    let (low, high): (Option<i64>, Option<i64>) =
        // Two subqueries: `min(id), max(id)` together would scan the table.
        conn.query_row(
            "SELECT (SELECT min(id) FROM msg), (SELECT max(id) FROM msg)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    let (Some(mut low), Some(high)) = (low, high) else {
        return Ok(0);
    };
    let mut high = high + 1;
    let mut next_ts =
        conn.prepare_cached("SELECT ts FROM msg WHERE id >= ?1 ORDER BY id LIMIT 1")?;
    while low < high {
        let mid = low + (high - low) / 2;
        let ts: Option<i64> = next_ts.query_row([mid], |r| r.get(0)).optional()?;
        if ts.is_none_or(|ts| ts >= ts_ms) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Ok(low)
}

/// The names of the groups with stored lines, the most recently active first.
pub fn group_names(conn: &Connection) -> Result<Vec<String>, HistoryError> {
    let mut statement = conn.prepare(
        "SELECT b.name FROM buffer b
         ORDER BY (SELECT max(m.id) FROM msg m WHERE m.buf = b.id) DESC NULLS LAST",
    )?;
    let names = statement
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// The id of the last line the user read in `group`, if saved.
pub fn read_marker(conn: &Connection, group: &str) -> Result<Option<i64>, HistoryError> {
    Ok(conn
        .query_row(
            "SELECT read_marker FROM buffer WHERE name = ?1",
            [group],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

/// Saves the read marker directly (tools and tests; the chat goes through the recorder).
pub fn set_read_marker(conn: &Connection, group: &str, id: i64) -> Result<(), HistoryError> {
    conn.execute(
        "UPDATE buffer SET read_marker = ?2 WHERE name = ?1",
        params![group, id],
    )?;
    Ok(())
}

/// What `wpchat history stats` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub messages: u64,
    /// Rows that are not messages: notices, errors, and the markers of gaps and of messages
    /// not saved.
    pub notes: u64,
    pub groups: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// Messages written but not yet in the full-text index.
    pub unindexed: u64,
    /// Messages the recorder could not save (sum of `history_gap` rows).
    pub not_saved: u64,
    pub file_bytes: u64,
}

pub fn stats(conn: &Connection) -> Result<Stats, HistoryError> {
    let (rows, first_ts, last_ts): (i64, Option<i64>, Option<i64>) =
        conn.query_row("SELECT count(*), min(ts), max(ts) FROM msg", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    // Data kinds are numbered first (`Kind::Text` to `Kind::Protobuf`); notices, errors and
    // the gap markers follow.
    let messages: i64 = conn.query_row(
        "SELECT count(*) FROM msg WHERE kind <= ?1",
        [Kind::Protobuf as i64],
        |r| r.get(0),
    )?;
    let groups: i64 = conn.query_row("SELECT count(*) FROM buffer", [], |r| r.get(0))?;
    let unindexed: i64 = conn.query_row(
        "SELECT count(*) FROM msg WHERE id > ?1",
        [watermark(conn)?],
        |r| r.get(0),
    )?;
    let not_saved: i64 = conn.query_row(
        "SELECT coalesce(sum(seq), 0) FROM msg WHERE kind = ?1",
        [Kind::HistoryGap as i64],
        |r| r.get(0),
    )?;
    Ok(Stats {
        messages: messages as u64,
        notes: (rows - messages) as u64,
        groups: groups as u64,
        first_ts,
        last_ts,
        unindexed: unindexed as u64,
        not_saved: not_saved as u64,
        file_bytes: used_bytes(conn)?,
    })
}

/// Bytes the database's live pages take (free pages not counted).
pub(crate) fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * page_size) as u64)
}

/// SQLite's `quick_check` and the full-text index's own integrity check both pass (the
/// latter is a write command: `conn` must be writable).
pub fn integrity_ok(conn: &Connection) -> Result<bool, HistoryError> {
    let quick: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    let fts = conn.execute(
        "INSERT INTO msg_fts(msg_fts, rank) VALUES ('integrity-check', 0)",
        [],
    );
    Ok(quick == "ok" && fts.is_ok())
}

/// A lease whose heartbeat is older than this is stale (its holder died without a word).
const LEASE_STALE_MS: i64 = 10_000;

/// Takes the recording lease for this process, unless a live process holds it.
pub(crate) fn take_lease(conn: &mut Connection, now_ms: i64) -> Result<(), HistoryError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let held: Option<(i64, i64)> = tx
        .query_row("SELECT value FROM meta WHERE key = 'lease'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|lease| {
            let (pid, beat) = lease.split_once(':')?;
            Some((pid.parse().ok()?, beat.parse().ok()?))
        });
    let me = std::process::id();
    if let Some((pid, beat)) = held
        && pid != i64::from(me)
        && now_ms - beat < LEASE_STALE_MS
        && alive(pid)
    {
        return Err(HistoryError::Busy { pid: pid as u32 });
    }
    renew_lease(&tx, now_ms)?;
    tx.commit()?;
    Ok(())
}

/// Whether process `pid` runs (a zombie, killed but not yet reaped, does not). Without
/// `/proc` every holder counts as alive, and only the heartbeat says when it is gone.
fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => !std::path::Path::new("/proc/self").exists(),
    }
}

/// The lease holder's heartbeat.
pub(crate) fn renew_lease(conn: &Connection, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('lease', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [format!("{}:{now_ms}", std::process::id())],
    )?;
    Ok(())
}

/// Gives the lease up (on a clean close).
pub(crate) fn release_lease(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM meta WHERE key = 'lease' AND value LIKE ?1",
        [format!("{}:%", std::process::id())],
    )?;
    Ok(())
}
