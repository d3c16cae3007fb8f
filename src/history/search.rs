//! Search over stored history: the query language of history.md (`words`, `"phrase"`,
//! `pre*`, `OR`, `-word`, `in:` `from:` `before:` `after:` `on:` `type:` `is:mine`) parsed
//! into a [`Query`], then run as SQL. Every term is quoted before it reaches FTS5, so no user
//! text can raise an FTS syntax error; rows not yet indexed are scanned with `instr`.

use chrono::{NaiveDate, TimeZone, Utc};
use rusqlite::Connection;
use rusqlite::types::Value;
use thiserror::Error;

use super::open::HistoryError;
use super::record::Kind;
use super::store::{LINE_COLUMNS, LINE_JOINS, StoredLine, watermark};

/// A search hit: the stored line.
pub type Hit = StoredLine;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SearchError {
    #[error("'{0}' is not a date; use YYYY-MM-DD, e.g. before:2026-11-30")]
    BadDate(String),
    #[error("type:{0} is not a message type; use type:text, json, binary or protobuf")]
    BadType(String),
    #[error("is:{0} is not known; only is:mine is")]
    BadIs(String),
    #[error("'{0}:' needs a value, e.g. in:lobby")]
    Empty(String),
}

/// One word, phrase or prefix to match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub prefix: bool,
}

impl Term {
    /// The term as an FTS5 string: always quoted, inner quotes doubled.
    fn fts(&self) -> String {
        let quoted = format!("\"{}\"", self.text.replace('"', "\"\""));
        if self.prefix { quoted + "*" } else { quoted }
    }
}

/// A parsed search: every clause must match (a clause is alternatives joined by `OR`), no
/// negative term may, and the filters narrow the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub clauses: Vec<Vec<Term>>,
    pub negatives: Vec<Term>,
    pub group: Option<String>,
    pub from: Option<String>,
    /// Milliseconds: only rows before this.
    pub before_ms: Option<i64>,
    /// Milliseconds: only rows at or after this.
    pub after_ms: Option<i64>,
    pub kind: Option<Kind>,
    pub mine: bool,
}

/// The words of a query: quoted phrases stay whole (their quotes are kept, marked), and a
/// `key:"…"` value may be quoted too.
fn words(input: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    for c in input.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if !current.is_empty() || quoted {
                    out.push((std::mem::take(&mut current), quoted));
                }
                quoted = false;
            }
            // Control characters never reach SQL or the screen; they separate words.
            c if c.is_control() => current.push(' '),
            c => current.push(c),
        }
    }
    if !current.is_empty() || quoted {
        out.push((current, quoted));
    }
    out
}

/// The start of `date`'s UTC day in ms.
fn day_start(date: &str) -> Result<i64, SearchError> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| SearchError::BadDate(date.to_string()))?;
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    Ok(Utc.from_utc_datetime(&midnight).timestamp_millis())
}

const DAY_MS: i64 = 86_400_000;

impl Query {
    /// Parses the search syntax. Only a bad modifier value is an error; anything else is text
    /// to look for.
    pub fn parse(input: &str) -> Result<Query, SearchError> {
        let mut query = Query::default();
        let mut join_next = false;
        for (word, quoted) in words(input) {
            if !quoted && word == "OR" {
                join_next = !query.clauses.is_empty();
                continue;
            }
            if !quoted && query.modifier(&word)? {
                join_next = false;
                continue;
            }
            let (negative, body) = match word.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest),
                _ => (false, word.as_str()),
            };
            let (text, prefix) = match body.strip_suffix('*') {
                Some(stem) if !quoted || stem.ends_with('"') => (stem, true),
                _ => (body, false),
            };
            let text = text.trim().to_string();
            if text.is_empty() {
                continue;
            }
            let term = Term { text, prefix };
            if negative {
                query.negatives.push(term);
            } else if join_next {
                query.clauses.last_mut().expect("a clause").push(term);
            } else {
                query.clauses.push(vec![term]);
            }
            join_next = false;
        }
        Ok(query)
    }

    /// Applies `key:value` if `word` is one; `false` when it is plain text.
    fn modifier(&mut self, word: &str) -> Result<bool, SearchError> {
        let Some((key, value)) = word.split_once(':') else {
            return Ok(false);
        };
        let known = ["in", "from", "before", "after", "on", "type", "is"];
        if !known.contains(&key) {
            return Ok(false);
        }
        if value.is_empty() {
            return Err(SearchError::Empty(key.to_string()));
        }
        match key {
            "in" => self.group = Some(value.to_string()),
            "from" => self.from = Some(value.to_string()),
            "before" => self.before_ms = Some(day_start(value)?),
            "after" => self.after_ms = Some(day_start(value)? + DAY_MS),
            "on" => {
                let start = day_start(value)?;
                self.after_ms = Some(start);
                self.before_ms = Some(start + DAY_MS);
            }
            "type" => {
                self.kind = Some(match value {
                    "text" => Kind::Text,
                    "json" => Kind::Json,
                    "binary" => Kind::Binary,
                    "protobuf" => Kind::Protobuf,
                    other => return Err(SearchError::BadType(other.to_string())),
                })
            }
            _ if value == "mine" => self.mine = true,
            _ => return Err(SearchError::BadIs(value.to_string())),
        }
        Ok(true)
    }

    /// The FTS5 expression of the positive clauses (`None` when there are none).
    pub fn fts_expression(&self) -> Option<String> {
        if self.clauses.is_empty() {
            return None;
        }
        let clauses: Vec<String> = self
            .clauses
            .iter()
            .map(|alternatives| {
                let terms: Vec<String> = alternatives.iter().map(Term::fts).collect();
                format!("({})", terms.join(" OR "))
            })
            .collect();
        let mut expression = clauses.join(" AND ");
        for negative in &self.negatives {
            expression.push_str(" NOT ");
            expression.push_str(&negative.fts());
        }
        Some(expression)
    }

    /// The `WHERE` conditions of the filters on `msg m`, with their values.
    fn filters(&self, sql: &mut String, values: &mut Vec<Value>) {
        if let Some(group) = &self.group {
            sql.push_str(" AND m.buf = (SELECT id FROM buffer WHERE name = ?)");
            values.push(Value::Text(group.clone()));
        }
        if let Some(from) = &self.from {
            sql.push_str(" AND m.sender = (SELECT id FROM usr WHERE name = ?)");
            values.push(Value::Text(from.clone()));
        }
        if let Some(before) = self.before_ms {
            sql.push_str(" AND m.ts < ?");
            values.push(Value::Integer(before));
        }
        if let Some(after) = self.after_ms {
            sql.push_str(" AND m.ts >= ?");
            values.push(Value::Integer(after));
        }
        if let Some(kind) = self.kind {
            sql.push_str(" AND m.kind = ?");
            values.push(Value::Integer(kind as i64));
        }
        if self.mine {
            sql.push_str(" AND m.dir = 1");
        }
    }

    /// Text conditions for rows the index does not hold yet: a case-insensitive substring
    /// test per term.
    fn scan_conditions(&self, sql: &mut String, values: &mut Vec<Value>) {
        let contains = "instr(lower(CAST(m.body AS TEXT)), ?)";
        if !self.clauses.is_empty() || !self.negatives.is_empty() {
            sql.push_str(&format!(
                " AND m.kind IN ({}, {})",
                Kind::Text as i64,
                Kind::Json as i64
            ));
        }
        for alternatives in &self.clauses {
            let tests: Vec<String> = alternatives
                .iter()
                .map(|term| {
                    values.push(Value::Text(term.text.to_lowercase()));
                    format!("{contains} > 0")
                })
                .collect();
            sql.push_str(&format!(" AND ({})", tests.join(" OR ")));
        }
        for negative in &self.negatives {
            values.push(Value::Text(negative.text.to_lowercase()));
            sql.push_str(&format!(" AND {contains} = 0"));
        }
    }

    /// The SQL over indexed rows; the index drives (`fts CROSS JOIN msg`), newest first.
    fn indexed_sql(&self, expression: String, limit: usize) -> (String, Vec<Value>) {
        let mut sql = format!(
            "SELECT {LINE_COLUMNS} FROM msg_fts f CROSS JOIN msg m ON m.id = f.rowid {LINE_JOINS}
             WHERE msg_fts MATCH ?"
        );
        let mut values = vec![Value::Text(expression)];
        self.filters(&mut sql, &mut values);
        sql.push_str(" ORDER BY f.rowid DESC LIMIT ?");
        values.push(Value::Integer(limit as i64));
        (sql, values)
    }

    /// The SQL over rows scanned directly: ids above `above` (the unindexed tail), or all of
    /// them when the query has no positive words.
    fn scan_sql(&self, above: i64, limit: usize) -> (String, Vec<Value>) {
        let mut sql = format!("SELECT {LINE_COLUMNS} FROM msg m {LINE_JOINS} WHERE m.id > ?");
        let mut values = vec![Value::Integer(above)];
        self.filters(&mut sql, &mut values);
        self.scan_conditions(&mut sql, &mut values);
        sql.push_str(" ORDER BY m.id DESC LIMIT ?");
        values.push(Value::Integer(limit as i64));
        (sql, values)
    }
}

/// What a search found, newest first, and how far the index lags.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// Rows written but not yet indexed (scanned instead).
    pub behind: u64,
}

fn run(conn: &Connection, (sql, values): (String, Vec<Value>)) -> Result<Vec<Hit>, HistoryError> {
    let mut statement = conn.prepare_cached(&sql)?;
    let hits = statement
        .query_map(rusqlite::params_from_iter(values), StoredLine::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(hits)
}

/// The newest `limit` lines matching `query`.
pub fn search(conn: &Connection, query: &Query, limit: usize) -> Result<Found, HistoryError> {
    let mark = watermark(conn)?;
    let behind: i64 = conn.query_row("SELECT count(*) FROM msg WHERE id > ?1", [mark], |r| {
        r.get(0)
    })?;
    let Some(expression) = query.fts_expression() else {
        // No positive words: a filtered scan, newest first.
        return Ok(Found {
            hits: run(conn, query.scan_sql(0, limit))?,
            behind: behind as u64,
        });
    };
    let mut hits = run(conn, query.scan_sql(mark, limit))?;
    if hits.len() < limit {
        hits.extend(run(
            conn,
            query.indexed_sql(expression, limit - hits.len()),
        )?);
    }
    Ok(Found {
        hits,
        behind: behind as u64,
    })
}

/// SQLite's plan for the indexed part of `query` (the detail column of `EXPLAIN QUERY PLAN`).
pub fn plan(conn: &Connection, query: &Query) -> Result<Vec<String>, HistoryError> {
    let expression = query.fts_expression().unwrap_or_else(|| "\"\"".into());
    let (sql, values) = query.indexed_sql(expression, 50);
    let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let details = statement
        .query_map(rusqlite::params_from_iter(values), |row| {
            row.get::<_, String>(3)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str) -> Term {
        Term {
            text: text.into(),
            prefix: false,
        }
    }

    #[test]
    fn words_phrases_prefixes_or_and_negatives() {
        let query = Query::parse(r#"deploy "rolled back" err* -flaky a OR b"#).unwrap();
        assert_eq!(
            query.clauses,
            vec![
                vec![term("deploy")],
                vec![term("rolled back")],
                vec![Term {
                    text: "err".into(),
                    prefix: true
                }],
                vec![term("a"), term("b")],
            ]
        );
        assert_eq!(query.negatives, vec![term("flaky")]);
        assert_eq!(
            query.fts_expression().unwrap(),
            r#"("deploy") AND ("rolled back") AND ("err"*) AND ("a" OR "b") NOT "flaky""#
        );
    }

    #[test]
    fn modifiers_become_filters() {
        let query = Query::parse("in:ops from:alice on:2026-11-30 type:json is:mine disk").unwrap();
        assert_eq!(query.group.as_deref(), Some("ops"));
        assert_eq!(query.from.as_deref(), Some("alice"));
        assert_eq!(query.after_ms, Some(1_795_996_800_000));
        assert_eq!(query.before_ms, Some(1_795_996_800_000 + DAY_MS));
        assert_eq!(query.kind, Some(Kind::Json));
        assert!(query.mine);
        assert_eq!(query.clauses, vec![vec![term("disk")]]);
    }

    #[test]
    fn a_bad_modifier_value_says_what_to_write() {
        assert_eq!(
            Query::parse("before:yesterday").unwrap_err().to_string(),
            "'yesterday' is not a date; use YYYY-MM-DD, e.g. before:2026-11-30"
        );
        assert_eq!(
            Query::parse("type:xml").unwrap_err(),
            SearchError::BadType("xml".into())
        );
        // An unknown key is just text (a URL, a time).
        let query = Query::parse("https://example.com 14:05").unwrap();
        assert_eq!(query.clauses.len(), 2);
    }

    #[test]
    fn fts_operators_and_quotes_in_user_text_stay_text() {
        let query = Query::parse(r#"NEAR( a AND "b"" c\x1b[2J ) ^x"#).unwrap();
        let expression = query.fts_expression().unwrap();
        // Every term is inside quotes; no bare operator remains.
        for clause in &query.clauses {
            for term in clause {
                assert!(expression.contains(&term.fts()), "{expression}");
            }
        }
        assert!(!expression.chars().any(char::is_control));
    }
}
