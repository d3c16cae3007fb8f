//! `wpchat history replay`: a recorded slice of a group published again into a hub, with the
//! recorded pauses between messages (scaled by `--speed`), each waited for its ack. The
//! destination is the local service unless `--to` names another.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use crate::client::{self, Command, Event, OpOutcome};
use crate::config::Config;
use crate::history::{self, ExportFilter, replay};
use crate::target::TargetOptions;

/// How long to wait for the acks still missing after the last message went out.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Where the slice goes.
pub(crate) struct Destination {
    /// A connection string or a client URL; `None`: the local service.
    pub to: Option<String>,
    pub hub: String,
}

impl Destination {
    fn target_options(self) -> TargetOptions {
        let mut options = TargetOptions {
            hub: Some(self.hub),
            user: Some("replay".into()),
            ..TargetOptions::default()
        };
        match self.to {
            Some(url) if url.starts_with("ws://") || url.starts_with("wss://") => {
                options.url = Some(url);
            }
            Some(connection_string) => options.connection_string = Some(connection_string),
            // No target flags at all is the local service (the embedded target).
            None => {}
        }
        options
    }
}

/// Publishes the slice `filter` chooses; returns what to tell the user.
pub(crate) async fn run(
    path: &Path,
    config: &Config,
    filter: ExportFilter,
    speed: &str,
    into: Destination,
) -> anyhow::Result<String> {
    let speed = replay::parse_speed(speed).map_err(anyhow::Error::msg)?;
    let group = filter.groups.first().cloned().unwrap_or_default();
    let lines = history::lines(&history::open_read(path)?, &filter)?;
    let schedule = replay::schedule(&lines, speed);
    if schedule.is_empty() {
        bail!("nothing to replay: no stored messages of group '{group}' in that time");
    }
    let hub = into.hub.clone();
    let target = crate::target::resolve(&into.target_options(), config).await?;
    let mut handle = client::spawn(target.client.clone());
    let total = schedule.len();
    let (mut acked, mut failed) = (0usize, 0usize);
    let started = Instant::now();
    let mut due = started;
    let mut pending = schedule.into_iter().enumerate().peekable();
    let mut last_sent = started;
    while acked + failed < total {
        let next_due = pending.peek().map(|(_, item)| due + item.pause);
        let give_up = last_sent + ACK_WAIT;
        tokio::select! {
            () = tokio::time::sleep_until(next_due.unwrap_or(give_up)) => {
                let Some((index, item)) = pending.next() else {
                    break;
                };
                due += item.pause;
                let send = Command::SendToGroup {
                    op: index as u64 + 1,
                    group: group.clone(),
                    payload: item.payload,
                    no_echo: true,
                    fire_and_forget: false,
                };
                handle.commands.send(send).await.context("the connection engine stopped")?;
                last_sent = Instant::now();
            }
            event = handle.events.recv() => match event {
                Some(Event::OpResult { outcome: OpOutcome::Done { .. }, .. }) => acked += 1,
                Some(Event::OpResult { outcome: OpOutcome::Failed(error), op }) => {
                    failed += 1;
                    crate::pipe::note(&format!("message {op} was not published: {error}"));
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    let _ = handle.commands.try_send(Command::Shutdown);
    drop(target);
    let missing = total - acked - failed;
    let mut said = format!(
        "replayed {acked} of {total} messages of '{}' into hub '{}' in {:.1} s",
        crate::text::sanitize_line(&group),
        crate::text::sanitize_line(&hub),
        started.elapsed().as_secs_f64()
    );
    if failed + missing > 0 {
        said.push_str(&format!("; {failed} failed, {missing} got no answer"));
        bail!(said);
    }
    Ok(said)
}
