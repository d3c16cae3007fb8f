//! Retention: pruning by age and by size (while the writer is idle, or from `wpchat history
//! prune`) and forgetting a group or everything, chunk by chunk so that no transaction holds
//! the writer for long.
//!
//! Deleting from the contentless full-text index leaves tombstones; FTS5 counts each one as a
//! page of merge work and would merge (rewrite) whole index levels in the deleting
//! transaction, seconds at a million rows. The deletes therefore run with FTS5's automerge
//! off, and the index reclaims the space later, in the merges that indexing and the idle
//! retention steps do anyway.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::open::HistoryError;
use super::store::{used_bytes, watermark};

/// Rows deleted per transaction, so that a prune never holds the writer for long.
const DELETE_CHUNK: usize = 10_000;

/// FTS5's default `automerge`, restored after each chunk of deletes.
const FTS_AUTOMERGE: i64 = 4;

/// Deletes the index entries of the rows `ids` selects, with automerge off for the deletes.
/// FTS5 flushes its pending deletes before it applies a setting, so turning automerge back
/// on in the same transaction writes the tombstones without merging.
fn delete_index_entries(
    tx: &Transaction<'_>,
    ids: &str,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    let automerge = "INSERT INTO msg_fts(msg_fts, rank) VALUES ('automerge', ?1)";
    tx.execute(automerge, [0])?;
    let mark = watermark(tx)?;
    let mut all = values.to_vec();
    all.push(&mark);
    let n = all.len();
    tx.execute(
        &format!("DELETE FROM msg_fts WHERE rowid IN ({ids}) AND rowid <= ?{n}"),
        all.as_slice(),
    )?;
    tx.execute(automerge, [FTS_AUTOMERGE])?;
    Ok(())
}

/// Deletes the oldest rows chosen by `filter` (a `WHERE` on `msg` taking `?1`), at most one
/// chunk, index entries first; returns how many went. The chunk is found once, as the id of
/// its last row; both deletes then stay below that id.
fn delete_chunk(
    conn: &mut Connection,
    filter: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<usize, HistoryError> {
    let tx = conn.transaction()?;
    let last: Option<i64> = tx.query_row(
        &format!(
            "SELECT max(id) FROM (SELECT id FROM msg WHERE {filter} ORDER BY id LIMIT {DELETE_CHUNK})"
        ),
        [value],
        |r| r.get(0),
    )?;
    let Some(last) = last else {
        return Ok(0);
    };
    let in_chunk = format!("{filter} AND id <= ?2");
    delete_index_entries(
        &tx,
        &format!("SELECT id FROM msg WHERE {in_chunk}"),
        &[value, &last],
    )?;
    let deleted = tx.execute(
        &format!("DELETE FROM msg WHERE {in_chunk}"),
        params![value, last],
    )?;
    tx.commit()?;
    Ok(deleted)
}

/// Deletes every row chosen by `filter`, chunk by chunk, and gives the space back.
fn delete_where(
    conn: &mut Connection,
    filter: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<u64, HistoryError> {
    let mut total = 0;
    loop {
        let deleted = delete_chunk(conn, filter, value)?;
        total += deleted as u64;
        if deleted < DELETE_CHUNK {
            break;
        }
    }
    vacuum(conn)?;
    Ok(total)
}

/// Gives the free pages back to the file system. The pragma frees one page per row it
/// returns, so every row is stepped through.
fn vacuum(conn: &Connection) -> rusqlite::Result<()> {
    let mut statement = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = statement.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// One step of retention while idle: a chunk older than `max_age_ms`, else the oldest chunk
/// while the file is over `max_bytes`. `true` if it deleted something (there may be more).
pub(crate) fn retention_step(
    conn: &mut Connection,
    now_ms: i64,
    max_age_ms: Option<i64>,
    max_bytes: Option<u64>,
) -> Result<bool, HistoryError> {
    let mut deleted = 0;
    if let Some(age) = max_age_ms {
        deleted = delete_chunk(conn, "ts < ?1", &(now_ms.saturating_sub(age)))?;
    }
    if deleted == 0
        && let Some(cap) = max_bytes
    {
        let used = used_bytes(conn)?;
        if used > cap {
            // Deleted index entries are only freed when their segments merge, so the size
            // lags the deletes: take the share of rows that is over the cap (and 5 % more),
            // never "until the size drops", which would empty the database.
            let rows: i64 = conn.query_row("SELECT count(*) FROM msg", [], |r| r.get(0))?;
            let share = (rows as f64 * ((used - cap) as f64 / used as f64 + 0.05)).ceil() as i64;
            let oldest_kept: Option<i64> = conn
                .query_row(
                    "SELECT id FROM msg ORDER BY id LIMIT 1 OFFSET ?1",
                    [share.clamp(1, DELETE_CHUNK as i64)],
                    |r| r.get(0),
                )
                .optional()?;
            deleted = delete_chunk(conn, "id < ?1", &oldest_kept.unwrap_or(i64::MAX))?;
            conn.execute_batch("INSERT INTO msg_fts(msg_fts, rank) VALUES ('merge', 500);")?;
        }
    }
    if deleted > 0 {
        vacuum(conn)?;
    }
    Ok(deleted > 0)
}

/// Deletes every message older than `cutoff_ms`.
pub fn prune_older_than(conn: &mut Connection, cutoff_ms: i64) -> Result<u64, HistoryError> {
    delete_where(conn, "ts < ?1", &cutoff_ms)
}

/// Deletes everything stored for `group`, its buffer row included.
pub fn forget_group(conn: &mut Connection, group: &str) -> Result<u64, HistoryError> {
    conn.execute_batch("PRAGMA secure_delete=ON;")?;
    let deleted = delete_where(
        conn,
        "buf = (SELECT id FROM buffer WHERE name = ?1)",
        &group,
    )?;
    conn.execute("DELETE FROM buffer WHERE name = ?1", [group])?;
    Ok(deleted)
}

/// Deletes all history of the profile: the index is emptied at once (FTS5's `delete-all`),
/// not row by row.
pub fn forget_all(conn: &mut Connection) -> Result<u64, HistoryError> {
    conn.execute_batch("PRAGMA secure_delete=ON;")?;
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO msg_fts(msg_fts) VALUES ('delete-all')", [])?;
    let deleted = tx.execute("DELETE FROM msg", [])?;
    tx.execute_batch("DELETE FROM buffer; DELETE FROM usr; DELETE FROM session;")?;
    tx.commit()?;
    vacuum(conn)?;
    Ok(deleted as u64)
}
