//! `wpchat history export`: stored lines as JSONL (the `listen` keys plus `dir` and
//! `session`, payloads byte-exact, binary as base64), the same JSONL zstd-compressed, or as text (`ts⇥group⇥user⇥data`).

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{SecondsFormat, TimeZone, Utc};
use rusqlite::Connection;
use rusqlite::types::Value;
use serde::Serialize;
use serde_json::value::RawValue;

use super::open::HistoryError;
use super::record::{Dir, Kind};
use super::store::{LINE_COLUMNS, LINE_JOINS, StoredLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    #[default]
    Jsonl,
    /// The JSONL above compressed as one zstd frame: `zstd -d` gives back exactly that JSONL.
    JsonlZst,
    Text,
}

/// Which lines to export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Text(&'a str),
    Json(&'a RawValue),
    Base64(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    ts: String,
    from: &'static str,
    group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_user_id: Option<&'a str>,
    data_type: &'static str,
    data: Data<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_id: Option<u64>,
    dir: &'static str,
    /// The connection id the line was recorded under.
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
}

fn rfc3339(ts_ms: i64) -> String {
    Utc.timestamp_millis_opt(ts_ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A body as `data`: text and markers as a string, JSON as itself (unless it is not valid
/// JSON any more, then as a string), binary and protobuf as base64.
fn data(line: &StoredLine) -> Data<'_> {
    let text = std::str::from_utf8(&line.body);
    match (line.kind, text) {
        (Kind::Json, Ok(text)) => match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) if !text.contains(['\n', '\r']) => Data::Json(raw),
            _ => Data::Text(text),
        },
        (Kind::Binary | Kind::Protobuf, _) | (_, Err(_)) => Data::Base64(BASE64.encode(&line.body)),
        (_, Ok(text)) => Data::Text(text),
    }
}

fn write_line(
    out: &mut (impl Write + ?Sized),
    line: &StoredLine,
    format: ExportFormat,
) -> std::io::Result<()> {
    match format {
        ExportFormat::Jsonl | ExportFormat::JsonlZst => {
            let record = Line {
                ts: rfc3339(line.ts_ms),
                from: if line.group == "server" {
                    "server"
                } else {
                    "group"
                },
                group: &line.group,
                from_user_id: line.sender.as_deref(),
                data_type: line.kind.as_str(),
                data: data(line),
                sequence_id: line.seq.filter(|_| line.kind != Kind::HistoryGap),
                dir: if line.dir == Dir::Out { "out" } else { "in" },
                session: line.session.as_deref(),
            };
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")
        }
        ExportFormat::Text => {
            let body = match data(line) {
                Data::Text(text) => crate::text::sanitize_line(text),
                Data::Json(raw) => crate::text::sanitize_line(raw.get()),
                Data::Base64(encoded) => format!("<{}> {encoded}", line.kind.as_str()),
            };
            writeln!(
                out,
                "{}\t{}\t{}\t{}",
                rfc3339(line.ts_ms),
                crate::text::sanitize_line(&line.group),
                crate::text::sanitize_line(line.sender.as_deref().unwrap_or("")),
                body
            )
        }
    }
}

/// Writes `lines` (e.g. search hits) in `format`.
pub fn write_lines(
    lines: &[StoredLine],
    format: ExportFormat,
    out: &mut impl Write,
) -> Result<(), HistoryError> {
    compressed_if(format, out, |out| {
        for line in lines {
            write_line(out, line, format).map_err(HistoryError::Write)?;
        }
        Ok(())
    })
}

/// Runs `write` on `out`, or on a zstd encoder over `out` (finished afterwards, so the frame
/// is complete) when `format` asks for compression.
fn compressed_if<T>(
    format: ExportFormat,
    out: &mut impl Write,
    write: impl FnOnce(&mut dyn Write) -> Result<T, HistoryError>,
) -> Result<T, HistoryError> {
    if format != ExportFormat::JsonlZst {
        return write(out);
    }
    let mut encoder =
        zstd::Encoder::new(out, zstd::DEFAULT_COMPRESSION_LEVEL).map_err(HistoryError::Write)?;
    let written = write(&mut encoder)?;
    encoder.finish().map_err(HistoryError::Write)?;
    Ok(written)
}

/// The SQL and values of the lines `filter` chooses, oldest first.
fn slice(filter: &ExportFilter) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {LINE_COLUMNS} FROM msg m {LINE_JOINS} WHERE 1");
    let mut values = Vec::new();
    if !filter.groups.is_empty() {
        let marks = vec!["?"; filter.groups.len()].join(", ");
        sql.push_str(&format!(" AND b.name IN ({marks})"));
        values.extend(filter.groups.iter().cloned().map(Value::Text));
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(" AND m.ts >= ?");
        values.push(Value::Integer(since));
    }
    if let Some(until) = filter.until_ms {
        sql.push_str(" AND m.ts < ?");
        values.push(Value::Integer(until));
    }
    sql.push_str(" ORDER BY m.id");
    (sql, values)
}

/// The lines `filter` chooses, oldest first (what `replay` publishes again).
pub fn lines(conn: &Connection, filter: &ExportFilter) -> Result<Vec<StoredLine>, HistoryError> {
    let (sql, values) = slice(filter);
    let mut statement = conn.prepare(&sql)?;
    let lines = statement
        .query_map(rusqlite::params_from_iter(values), StoredLine::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines)
}

/// Writes the chosen lines, oldest first, to `out`; returns how many.
pub fn export(
    conn: &Connection,
    filter: &ExportFilter,
    format: ExportFormat,
    out: &mut impl Write,
) -> Result<u64, HistoryError> {
    let (sql, values) = slice(filter);
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(values))?;
    compressed_if(format, out, |out| {
        let mut count = 0;
        while let Some(row) = rows.next()? {
            let line = StoredLine::from_row(row)?;
            write_line(out, &line, format).map_err(HistoryError::Write)?;
            count += 1;
        }
        Ok(count)
    })
}
