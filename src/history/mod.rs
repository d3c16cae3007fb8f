//! Persistent chat history: one SQLite database per profile, written by a recorder thread
//! behind a bounded queue (drop-and-count when the disk cannot keep up), read back for the
//! backlog, searched with a small query language, exported, pruned and forgotten.
//!
//! This room knows nothing of the engine or the UI: the TUI's event loop turns what it sees
//! into [`Record`]s and hands them to [`Recorder::try_record`], which never blocks.

mod export;
mod open;
mod record;
mod recorder;
pub mod replay;
mod retention;
pub mod search;
mod store;

pub use export::{ExportFilter, ExportFormat, export, lines, write_lines};
pub use open::{HistoryError, database_path, open, open_read, profile_key};
pub use record::{Delivery, Dir, Kind, Record, RecordRef, Session};
pub use recorder::{Recorder, RecorderOptions, RecorderStats};
pub use retention::{forget_all, forget_group, prune_older_than};
pub use search::{Found, Hit, Query, SearchError, plan, search};
pub use store::{
    Stats, StoredLine, around, backlog, group_names, integrity_ok, line_at, newer, read_marker,
    set_read_marker, stats,
};
