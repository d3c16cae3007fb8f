//! `wpchat history …`: search, export, stats, prune and forget on the database the chat uses
//! for the same profile or target flags (found without connecting anywhere).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::cli::{ExportFormatArg, HistoryAction, HistoryArgs};
use crate::config::Config;
use crate::history::{self, ExportFilter, ExportFormat, Query};
use crate::target::TargetOptions;

/// The database of the profile or target the options name: a profile's own name, a hash of
/// the endpoint, hub and user for an explicit target, `local` for the embedded service.
pub(crate) fn database_for(options: &TargetOptions, config: &Config) -> anyhow::Result<PathBuf> {
    Ok(history::database_path(&history_key(options, config))?)
}

fn history_key(options: &TargetOptions, config: &Config) -> String {
    let endpoint = if let Some(url) = options.url.as_deref().or(options.negotiate.as_deref()) {
        Some(url_identity(url))
    } else {
        options.connection_string.as_deref().map(|text| {
            crate::auth::ConnectionString::parse(text)
                .map(|parsed| url_identity(parsed.endpoint().as_str()))
                .unwrap_or_else(|_| "unparsable-connection-string".into())
        })
    };
    let who = format!(
        "{}|{}",
        options.hub.as_deref().unwrap_or(""),
        options.user.as_deref().unwrap_or("")
    );
    match endpoint {
        Some(endpoint) => history::profile_key(None, &format!("{endpoint}|{who}")),
        None => match options.profile.as_ref().or(config.default_profile.as_ref()) {
            Some(profile) => history::profile_key(Some(profile), &format!("profile:{profile}")),
            None if who == "|" => "local".into(),
            None => history::profile_key(None, &format!("local|{who}")),
        },
    }
}

/// Host and path of a URL, never its query (where tokens live).
fn url_identity(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => format!("{}{}", url.host_str().unwrap_or(""), url.path()),
        Err(_) => "unparsable-url".into(),
    }
}

/// A time given as YYYY-MM-DD, RFC 3339, or an age (`2h` = two hours ago), in ms.
fn parse_time(text: &str, now: DateTime<Utc>) -> anyhow::Result<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        return Ok(Utc.from_utc_datetime(&midnight).timestamp_millis());
    }
    let age = crate::config::parse_age(text.trim_start_matches('-')).map_err(|_| {
        anyhow::anyhow!(
            "'{text}' is not a time; use YYYY-MM-DD, an RFC 3339 time, or an age such as 2h or 7d"
        )
    })?;
    Ok(now.timestamp_millis() - age)
}

/// The groups and the `--since`/`--until` times of an export or a replay.
fn time_filter(
    groups: Vec<String>,
    since: Option<String>,
    until: Option<String>,
) -> anyhow::Result<ExportFilter> {
    let now = Utc::now();
    Ok(ExportFilter {
        groups,
        since_ms: since.map(|t| parse_time(&t, now)).transpose()?,
        until_ms: until.map(|t| parse_time(&t, now)).transpose()?,
    })
}

pub async fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let options = TargetOptions::from(args.target);
    let (config, warnings) = super::load_config(&options)?;
    super::print_warnings(warnings);
    let path = database_for(&options, &config)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.action {
        HistoryAction::Export {
            groups,
            since,
            until,
            format,
        } => {
            let filter = time_filter(groups, since, until)?;
            let format = match format {
                ExportFormatArg::Jsonl => ExportFormat::Jsonl,
                ExportFormatArg::JsonlZst => ExportFormat::JsonlZst,
                ExportFormatArg::Text => ExportFormat::Text,
            };
            let conn = open_read(&path)?;
            history::export(&conn, &filter, format, &mut out)?;
        }
        HistoryAction::Search { query, json, limit } => {
            let query = Query::parse(&query.join(" "))?;
            let conn = open_read(&path)?;
            let found = history::search(&conn, &query, limit)?;
            let format = if json {
                ExportFormat::Jsonl
            } else {
                ExportFormat::Text
            };
            history::write_lines(&found.hits, format, &mut out)?;
            if found.behind > 0 {
                crate::pipe::note(&format!(
                    "the search index is {} messages behind (they were scanned instead)",
                    found.behind
                ));
            }
            if found.hits.is_empty() {
                out.flush()?;
                return Ok(ExitCode::from(1));
            }
        }
        HistoryAction::Stats => {
            let conn = open_read(&path)?;
            print_stats(&mut out, &path, &history::stats(&conn)?)?;
        }
        HistoryAction::Prune { older_than } => {
            let age = crate::config::parse_age(&older_than).map_err(anyhow::Error::msg)?;
            let mut conn = history::open(&path)?;
            let cutoff = Utc::now().timestamp_millis() - age;
            let deleted = history::prune_older_than(&mut conn, cutoff)?;
            writeln!(out, "deleted {deleted} messages older than {older_than}")?;
        }
        HistoryAction::Replay {
            group,
            since,
            until,
            speed,
            to,
            to_hub,
        } => {
            let filter = time_filter(vec![group], since, until)?;
            let into = super::history_replay::Destination { to, hub: to_hub };
            let done = super::history_replay::run(&path, &config, filter, &speed, into).await?;
            writeln!(out, "{done}")?;
        }
        HistoryAction::Forget { group, all } => {
            let mut conn = history::open(&path)?;
            let deleted = match group {
                Some(group) if !all => history::forget_group(&mut conn, &group)?,
                _ => history::forget_all(&mut conn)?,
            };
            writeln!(out, "deleted {deleted} messages")?;
        }
    }
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Opens `path` to read; a profile with no history says which profiles have one, and how the
/// chat's target flags choose the profile (they go before the command).
fn open_read(path: &std::path::Path) -> anyhow::Result<rusqlite::Connection> {
    match history::open_read(path) {
        Err(history::HistoryError::Missing(_)) => {
            let mut others: Vec<String> = std::fs::read_dir(path.parent().unwrap_or(path))
                .into_iter()
                .flatten()
                .filter_map(|entry| {
                    let name = entry.ok()?.file_name().into_string().ok()?;
                    name.strip_suffix(".db").map(str::to_string)
                })
                .collect();
            others.sort();
            let found = if others.is_empty() {
                "no profile has any yet".to_string()
            } else {
                format!("profiles with history: {}", others.join(", "))
            };
            anyhow::bail!(
                "no history yet at {} ({found}). A chat started with --url, --negotiate or \
                 --connection-string records under that target: give the same flags before the \
                 command, as in `wpchat history --connection-string … --hub HUB --user USER \
                 stats`, or --profile NAME",
                path.display()
            )
        }
        opened => Ok(opened?),
    }
}

fn print_stats(
    out: &mut impl Write,
    path: &std::path::Path,
    stats: &history::Stats,
) -> std::io::Result<()> {
    let when = |ts: Option<i64>| {
        ts.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map_or("-".to_string(), |t| {
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            })
    };
    writeln!(out, "database: {}", path.display())?;
    writeln!(out, "messages: {}", stats.messages)?;
    writeln!(out, "notices and markers: {}", stats.notes)?;
    writeln!(out, "groups: {}", stats.groups)?;
    writeln!(out, "first: {}", when(stats.first_ts))?;
    writeln!(out, "last: {}", when(stats.last_ts))?;
    writeln!(out, "size: {} bytes", stats.file_bytes)?;
    writeln!(out, "not indexed yet: {}", stats.unindexed)?;
    writeln!(out, "not saved (dropped under load): {}", stats.not_saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_dates_rfc3339_or_ages() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let noon = now.timestamp_millis();
        assert_eq!(parse_time("2h", now).unwrap(), noon - 7_200_000);
        assert_eq!(parse_time("2026-11-30", now).unwrap(), noon - 43_200_000);
        assert_eq!(parse_time("2026-11-30T12:00:00Z", now).unwrap(), noon);
        assert!(
            parse_time("teatime", now)
                .unwrap_err()
                .to_string()
                .contains("YYYY-MM-DD")
        );
    }

    #[test]
    fn a_target_key_never_holds_the_token() {
        let options = TargetOptions {
            url: Some("wss://h.example/client/hubs/chat?access_token=SECRET".into()),
            ..TargetOptions::default()
        };
        let key = history_key(&options, &Config::default());
        assert!(
            key.starts_with("target-") && !key.contains("SECRET"),
            "{key}"
        );
        let other = TargetOptions {
            url: Some("wss://h.example/client/hubs/chat?access_token=OTHER".into()),
            ..TargetOptions::default()
        };
        // A renewed token is the same target.
        assert_eq!(history_key(&other, &Config::default()), key);
        assert_eq!(
            history_key(&TargetOptions::default(), &Config::default()),
            "local"
        );
        let profile = TargetOptions {
            profile: Some("work".into()),
            ..TargetOptions::default()
        };
        assert_eq!(history_key(&profile, &Config::default()), "work");
    }
}
