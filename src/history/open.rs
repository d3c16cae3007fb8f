//! Where a profile's database lives, and opening it safely: the directory 0700 and the file
//! 0600 *before* SQLite opens it (SQLite gives its `-wal` file the database's mode), then the
//! pragmas and the schema migrations.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};
use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("cannot find a data directory for history (set XDG_DATA_HOME or HOME)")]
    NoDataDir,
    #[error("cannot create the history file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the history database {path} cannot be used: {source}; move it away to start a new one"
    )]
    Open {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no history yet at {0} (nothing was recorded for this profile)")]
    Missing(PathBuf),
    #[error(
        "another wpchat (pid {pid}) is recording this profile's history; this one only reads it"
    )]
    Busy { pid: u32 },
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    #[error("history database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// The schema, one migration per version; `user_version` holds the version. Never edit a
/// migration that has shipped: add one.
const SCHEMA_V1: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE buffer(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, kind INT NOT NULL,
                    read_marker INT, record INT NOT NULL DEFAULT 1);
CREATE TABLE usr(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE session(id INTEGER PRIMARY KEY, connection_id TEXT, user_id TEXT, protocol TEXT,
                     started INT, ended INT);
CREATE TABLE msg(id INTEGER PRIMARY KEY, buf INT NOT NULL, ts INT NOT NULL, kind INT NOT NULL,
                 dir INT NOT NULL, sender INT, session INT, seq INT, delivery INT, rtt_ms INT,
                 body BLOB NOT NULL);
CREATE INDEX msg_buf ON msg(buf, id);
CREATE VIRTUAL TABLE msg_fts USING fts5(body, content='', contentless_delete=1);
INSERT INTO meta(key, value) VALUES ('fts_watermark', 0);
";

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(SCHEMA_V1)])
}

/// The file name of a profile's history: the profile's name when it has a safe one, else a
/// hash of what identifies the target (endpoint host, hub, user), never a URL or token.
pub fn profile_key(profile: Option<&str>, identity: &str) -> String {
    match profile {
        Some(name)
            if !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            name.to_string()
        }
        _ => {
            let digest = Sha256::digest(identity.as_bytes());
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            format!("target-{hex}")
        }
    }
}

/// `$XDG_DATA_HOME/wpchat/history/<key>.db` (the platform data dir elsewhere).
pub fn database_path(key: &str) -> Result<PathBuf, HistoryError> {
    let dirs = directories::ProjectDirs::from("", "", "wpchat").ok_or(HistoryError::NoDataDir)?;
    Ok(dirs.data_dir().join("history").join(format!("{key}.db")))
}

/// Opens (creating if needed) the database for writing: directory 0700, file 0600, WAL, the
/// schema at its latest version.
pub fn open(path: &Path) -> Result<Connection, HistoryError> {
    create_private(path).map_err(|source| HistoryError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    let opened = || -> Result<Connection, rusqlite_migration::Error> {
        let mut conn = Connection::open(path)?;
        // auto_vacuum only takes effect before the first table exists.
        conn.execute_batch(
            "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA journal_size_limit=67108864; PRAGMA busy_timeout=5000;",
        )?;
        migrations().to_latest(&mut conn)?;
        Ok(conn)
    };
    opened().map_err(|source| HistoryError::Open {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Opens an existing database read-only (search, export, stats, the backlog reader).
pub fn open_read(path: &Path) -> Result<Connection, HistoryError> {
    if !path.exists() {
        return Err(HistoryError::Missing(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|conn| {
        conn.execute_batch("PRAGMA busy_timeout=5000;")?;
        Ok(conn)
    });
    conn.map_err(|source| HistoryError::Open {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Creates the directory (0700) and an empty file (0600) unless they exist; an existing file
/// other users could read is tightened to 0600.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
