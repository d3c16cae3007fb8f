//! Questions the chat asks of stored history (search, the lines around a hit or a time, an
//! older or newer page) and their answers. The App asks with an `Effect`; the event loop
//! answers on a blocking task with a read-only connection of its own, never on the loop.

use std::path::Path;

use crate::history::{self, HistoryError, Query, StoredLine};

/// Lines read on each side of a search hit or a time.
pub(crate) const AROUND_LINES: usize = 100;
/// Lines read per older or newer page.
pub(crate) const PAGE_LINES: usize = 500;
/// Search results shown at most.
pub(crate) const SEARCH_RESULTS: usize = 50;

/// What the App wants read from disk.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryRequest {
    /// The newest matches of a search (`text` is what the user typed, `query` its parse).
    Search { text: String, query: Query },
    /// `group`'s lines around the line `id`.
    Around { group: String, id: i64 },
    /// `group`'s lines around the first line at or after `ts_ms`.
    AtTime { group: String, ts_ms: i64 },
    /// A page of `group`'s lines older than `before`.
    Older { group: String, before: i64 },
    /// A page of `group`'s lines older than `before`, for its buffer (scrolled to the top).
    BufferOlder { group: String, before: i64 },
    /// A page of `group`'s lines newer than `after`.
    Newer { group: String, after: i64 },
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryAnswer {
    /// Matches, newest first, and how many rows the index has not caught up with.
    Found {
        text: String,
        result: Result<(Vec<StoredLine>, u64), String>,
    },
    /// Lines of `group`, oldest first, for the request `asked`; `focus` is the line to show
    /// (a hit, the line at a time).
    Page {
        asked: HistoryRequest,
        result: Result<(Vec<StoredLine>, Option<i64>), String>,
    },
}

/// Answers `request` from the database at `path` (blocking: run it off the event loop).
pub fn answer(path: &Path, request: HistoryRequest) -> HistoryAnswer {
    let conn = history::open_read(path);
    match request {
        HistoryRequest::Search { text, query } => {
            let result = conn
                .and_then(|conn| history::search(&conn, &query, SEARCH_RESULTS))
                .map(|found| (found.hits, found.behind))
                .map_err(|error| said(&error));
            HistoryAnswer::Found { text, result }
        }
        asked => {
            let result = conn
                .and_then(|conn| page(&conn, &asked))
                .map_err(|error| said(&error));
            HistoryAnswer::Page { asked, result }
        }
    }
}

/// A handle on no engine, for `--offline`: sends fail at once as not delivered, and the
/// connection state never changes.
pub(crate) fn offline_handle() -> crate::client::ClientHandle {
    let (commands, _) = tokio::sync::mpsc::channel(1);
    let (_, events) = crate::client::event_channel(1);
    let (_, state) = tokio::sync::watch::channel(crate::client::ConnState::Stopped {
        reason: OFFLINE.into(),
    });
    crate::client::ClientHandle {
        commands,
        events,
        state,
    }
}

/// What the status bar says offline.
pub(crate) const OFFLINE: &str = "--offline: browsing stored history, not connected";

/// The answer when this chat has no history at all.
pub(crate) fn unavailable(request: HistoryRequest) -> HistoryAnswer {
    let why = "history is off for this chat (no data directory)".to_string();
    match request {
        HistoryRequest::Search { text, .. } => HistoryAnswer::Found {
            text,
            result: Err(why),
        },
        asked => HistoryAnswer::Page {
            asked,
            result: Err(why),
        },
    }
}

/// The lines a page request asks for, and the line to focus.
fn page(
    conn: &rusqlite::Connection,
    asked: &HistoryRequest,
) -> Result<(Vec<StoredLine>, Option<i64>), HistoryError> {
    Ok(match asked {
        HistoryRequest::Around { group, id } => {
            (history::around(conn, group, *id, AROUND_LINES)?, Some(*id))
        }
        HistoryRequest::AtTime { group, ts_ms } => match history::line_at(conn, group, *ts_ms)? {
            Some(id) => (history::around(conn, group, id, AROUND_LINES)?, Some(id)),
            None => (Vec::new(), None),
        },
        HistoryRequest::Older { group, before } | HistoryRequest::BufferOlder { group, before } => {
            (
                history::backlog(conn, group, Some(*before), PAGE_LINES)?,
                None,
            )
        }
        HistoryRequest::Newer { group, after } => {
            (history::newer(conn, group, *after, PAGE_LINES)?, None)
        }
        HistoryRequest::Search { .. } => (Vec::new(), None),
    })
}

/// An error as the user reads it: no history yet is not a failure, just nothing found.
fn said(error: &HistoryError) -> String {
    match error {
        HistoryError::Missing(_) => "no history recorded yet for this profile".to_string(),
        other => format!("cannot read history: {other}"),
    }
}
