//! File logging for the chat and the scriptable modes: `tracing` events go to `wpchat.log`
//! under the platform state directory (never to the terminal, which the TUI owns), through a
//! non-blocking writer whose guard `main` keeps alive. `wpchat serve` logs to stderr instead.

use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::util::SubscriberInitExt;

/// The environment variable holding the log filter (`info`, `debug`, `wpchat=debug,warn`…).
pub(crate) const LOG_ENV: &str = "WPCHAT_LOG";
/// The filter used when `WPCHAT_LOG` is unset or invalid.
pub(crate) const DEFAULT_FILTER: &str = "info";
/// The log file's name inside the log directory.
pub(crate) const LOG_FILE: &str = "wpchat.log";
/// Log lines waiting for the writer thread; past this, lines are dropped rather than block the
/// caller. tracing-appender's default of 128 000 costs 4 MB of resident memory up front, a
/// quarter of `listen`'s whole footprint.
const LOG_QUEUE_LINES: usize = 4096;

/// Why no log file could be set up. Logging is optional: callers continue without it.
#[derive(Debug, Error)]
pub enum LoggingError {
    #[error("no home directory to keep a log file in")]
    NoDirectory,
    #[error("cannot create the log directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the log file in {dir}: {source}")]
    Open {
        dir: PathBuf,
        source: tracing_appender::rolling::InitError,
    },
    #[error("a logger is already installed")]
    AlreadyInstalled,
}

/// An installed file log. Dropping it flushes and stops the writer thread, so `main` holds it
/// until the end.
#[must_use = "dropping the guard stops logging"]
pub struct FileLog {
    /// Where the log goes.
    pub path: PathBuf,
    /// Things the user should know about the log set-up (e.g. a bad `WPCHAT_LOG`).
    pub notices: Vec<String>,
    _guard: WorkerGuard,
}

/// The directory for the log: the platform state dir (`~/.local/state/wpchat` on Linux), else
/// the local data dir (macOS and Windows have no state dir).
pub(crate) fn log_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "wpchat")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf(),
    )
}

/// Installs the global file logger in the platform state directory (`log_dir`).
pub fn init() -> Result<FileLog, LoggingError> {
    let dir = log_dir().ok_or(LoggingError::NoDirectory)?;
    init_in(&dir)
}

/// Installs the global file logger writing to `dir/wpchat.log`.
pub(crate) fn init_in(dir: &Path) -> Result<FileLog, LoggingError> {
    let (writer, guard, path) = open_writer(dir)?;
    let (filter, notices) = filter_from(std::env::var(LOG_ENV).ok().as_deref());
    file_subscriber(writer, filter)
        .try_init()
        .map_err(|_| LoggingError::AlreadyInstalled)?;
    log_panics();
    Ok(FileLog {
        path,
        notices,
        _guard: guard,
    })
}

/// The file log's subscriber: plain text, each line stamped with the time and the process id,
/// since every chat and scriptable mode of a user appends to the same file.
pub(crate) fn file_subscriber(
    writer: NonBlocking,
    filter: EnvFilter,
) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_timer(TimeAndPid(std::process::id()))
        .with_env_filter(filter)
        .finish()
}

/// The default timestamp followed by `pid=N`.
struct TimeAndPid(u32);

impl FormatTime for TimeAndPid {
    fn format_time(&self, writer: &mut Writer<'_>) -> std::fmt::Result {
        SystemTime.format_time(writer)?;
        write!(writer, " pid={}", self.0)
    }
}

/// Installs a logger writing to stderr, for `wpchat serve` (a foreground service whose
/// operator reads its log there). The filter comes from `RUST_LOG`, else `info`.
pub fn init_stderr() {
    // Only fails when a logger is already installed, which then keeps logging.
    // Colours only for a terminal: a redirected log stays plain text.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
        )
        .try_init();
}

/// Chains a panic hook that records the panic in the log (secrets redacted) before the
/// previous hook (the terminal restore, the default message) runs.
fn log_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = crate::redact::redact_secrets(&info.to_string());
        tracing::error!(panic = %message, "wpchat panicked");
        previous(info);
    }));
}

/// Opens `dir/wpchat.log` for appending behind a non-blocking writer. The directory is made
/// private (0700) and the file 0600 on Unix: the log names users and groups.
pub(crate) fn open_writer(dir: &Path) -> Result<(NonBlocking, WorkerGuard, PathBuf), LoggingError> {
    create_private_dir(dir).map_err(|source| LoggingError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(LOG_FILE);
    create_private_file(&path).map_err(|source| LoggingError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::NEVER)
        .filename_prefix(LOG_FILE)
        .build(dir)
        .map_err(|source| LoggingError::Open {
            dir: dir.to_path_buf(),
            source,
        })?;
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(appender);
    Ok((writer, guard, path))
}

/// The filter for a `WPCHAT_LOG` value; an invalid one falls back to `info` with a notice.
pub(crate) fn filter_from(value: Option<&str>) -> (EnvFilter, Vec<String>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (EnvFilter::new(DEFAULT_FILTER), Vec::new()),
        Some(value) => match EnvFilter::try_new(value) {
            Ok(filter) => (filter, Vec::new()),
            Err(error) => (
                EnvFilter::new(DEFAULT_FILTER),
                vec![format!(
                    "{LOG_ENV}='{}' is not a log filter ({error}); logging at {DEFAULT_FILTER}",
                    crate::text::sanitize_line(value)
                )],
            ),
        },
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncreatable_directory_is_an_error_not_a_panic() {
        let temp = tempfile::tempdir().expect("temp dir");
        let file = temp.path().join("not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        let result = open_writer(&file.join("logs"));
        let error = result.expect_err("no directory under a file");
        assert!(matches!(error, LoggingError::CreateDir { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with(&format!(
                "cannot create the log directory {}",
                file.join("logs").display()
            )),
            "{error}"
        );
    }

    #[test]
    fn the_log_file_is_created_private() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("state").join("wpchat");
        let (_writer, _guard, path) = open_writer(&dir).expect("writer");
        assert_eq!(path, dir.join(LOG_FILE));
        assert!(path.is_file());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }

    #[test]
    fn each_log_line_names_its_process() {
        let temp = tempfile::tempdir().expect("temp dir");
        let (writer, guard, path) = open_writer(temp.path()).expect("writer");
        let subscriber = file_subscriber(writer, EnvFilter::new("info"));
        tracing::subscriber::with_default(subscriber, || tracing::info!("connected"));
        drop(guard); // flushes the writer thread
        let log = std::fs::read_to_string(path).expect("log");
        let line = log.lines().find(|l| l.contains("connected")).expect("line");
        assert!(
            line.contains(&format!(" pid={} ", std::process::id())),
            "{line}"
        );
    }

    #[test]
    fn a_bad_filter_falls_back_to_info_with_a_notice() {
        let (filter, notices) = filter_from(Some("wpchat=[[["));
        assert_eq!(filter.to_string(), DEFAULT_FILTER);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains(LOG_ENV));
        let (filter, notices) = filter_from(Some("debug"));
        assert_eq!(filter.to_string(), "debug");
        assert!(notices.is_empty());
        let (filter, _) = filter_from(None);
        assert_eq!(filter.to_string(), DEFAULT_FILTER);
    }
}
