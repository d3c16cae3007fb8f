//! `wpchat bench`: publishers and subscribers on one group, in the spirit of `nats bench`.
//! Every payload carries its publisher, sequence number and send time, so subscribers can
//! count lost and duplicate messages and measure end-to-end latency.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::client::{
    self, ClientConfig, ClientHandle, Command, Connecting, Event, OpOutcome, Patience,
};
use crate::protocol::Payload;

/// Acked sends a publisher keeps in flight when no rate is set.
const WINDOW: usize = 512;
/// How long subscribers wait for stragglers after the last publisher finished.
const DRAIN: Duration = Duration::from_secs(5);
/// Longest wait for a connection or a join.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

/// What one run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub protocol: &'static str,
    pub publishers: u32,
    pub subscribers: u32,
    pub count: u64,
    pub size: usize,
    pub publish: SideStats,
    pub subscribe: SideStats,
    pub latency_ms: Latency,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub failed_sends: u64,
}

#[derive(Debug, Serialize, Default)]
pub(crate) struct SideStats {
    pub messages: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
}

#[derive(Debug, Serialize, Default)]
pub(crate) struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// What to measure: how many publishers and subscribers, and what each publisher sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BenchOptions {
    pub publishers: u32,
    pub subscribers: u32,
    /// Messages per publisher.
    pub count: u64,
    /// Payload size in bytes.
    pub size: usize,
    /// Messages per second per publisher (0 = as fast as acks allow).
    pub rate: u64,
    /// How patiently to make the first connection.
    pub connecting: Connecting,
}

impl BenchOptions {
    /// Says what is wrong with options that cannot measure anything.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if self.publishers == 0 || self.subscribers == 0 || self.count == 0 {
            bail!(
                "bench needs at least one publisher, one subscriber and one message \
                 (--publishers, --subscribers and --count must be 1 or more)"
            );
        }
        Ok(())
    }
}

/// Runs the benchmark, prints its summary (as JSON with `json`) and returns it: the caller
/// turns lost, duplicated or unsent messages into the exit code.
pub(crate) async fn run(
    config: &ClientConfig,
    options: &BenchOptions,
    json: bool,
) -> anyhow::Result<Summary> {
    options.check()?;
    let summary = measure(config, options).await?;
    let text = if json {
        serde_json::to_string_pretty(&summary)? + "\n"
    } else {
        summary_text(&summary)
    };
    // A closed stdout (`| head`) is the reader's choice, not a failure of the run.
    if let Err(error) = std::io::stdout().lock().write_all(text.as_bytes())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(error).context("cannot write to stdout");
    }
    Ok(summary)
}

/// Runs the benchmark against the target the engine configuration points at.
pub(crate) async fn measure(config: &ClientConfig, args: &BenchOptions) -> anyhow::Result<Summary> {
    let group = format!("bench-{:08x}", rand::random::<u32>());
    let epoch = Instant::now();
    let progress = Arc::new(AtomicU64::new(0));
    let expected = u64::from(args.publishers) * args.count * u64::from(args.subscribers);

    // Subscribers first, joined before anything is published.
    let mut done_rx = start_subscribers(config, args, &group, epoch, &progress).await?;

    let mut publishers = Vec::new();
    for _ in 0..args.publishers {
        publishers.push(connect(config, &args.connecting).await?);
    }
    let progress_task = show_progress(progress.clone(), expected);
    let publish_start = Instant::now();
    let mut publish_tasks = Vec::new();
    for (index, handle) in publishers.into_iter().enumerate() {
        let group = group.clone();
        let (count, size, rate) = (args.count, args.size, args.rate);
        publish_tasks.push(tokio::spawn(async move {
            publish(handle, group, index as u32, count, size, rate, epoch).await
        }));
    }
    let mut failed_sends = 0;
    for task in publish_tasks {
        failed_sends += task.await.context("a publisher task failed")??;
    }
    let publish_seconds = publish_start.elapsed().as_secs_f64();

    let mut total = Tally::new(args.publishers, epoch);
    let mut last_receive = publish_start;
    while let Some((tally, finished_at)) = done_rx.recv().await {
        total.merge(tally);
        last_receive = last_receive.max(finished_at);
    }
    if let Some(task) = progress_task {
        task.abort();
        eprint!("\r\x1b[2K");
    }
    let subscribe_seconds = (last_receive - publish_start)
        .as_secs_f64()
        .max(f64::EPSILON);
    let published = u64::from(args.publishers) * args.count - failed_sends;
    let received = total.unique;
    let quantile = |q: f64| total.latency_us.value_at_quantile(q) as f64 / 1000.0;
    Ok(Summary {
        protocol: config.protocol.short_name(),
        publishers: args.publishers,
        subscribers: args.subscribers,
        count: args.count,
        size: args.size,
        publish: side(published, publish_seconds, args.size),
        subscribe: side(received, subscribe_seconds, args.size),
        latency_ms: Latency {
            p50: quantile(0.5),
            p90: quantile(0.9),
            p99: quantile(0.99),
            max: total.latency_us.max() as f64 / 1000.0,
        },
        expected,
        received,
        lost: expected.saturating_sub(received),
        duplicates: total.duplicates,
        failed_sends,
    })
}

/// Connects and joins every subscriber, then lets each count what it receives; each sends its
/// tally and the time of its last message on the returned channel when done.
async fn start_subscribers(
    config: &ClientConfig,
    args: &BenchOptions,
    group: &str,
    epoch: Instant,
    progress: &Arc<AtomicU64>,
) -> anyhow::Result<mpsc::Receiver<(Tally, Instant)>> {
    let mut subscribers = Vec::new();
    for _ in 0..args.subscribers {
        let mut handle = connect(config, &args.connecting).await?;
        join(&mut handle, group).await?;
        subscribers.push(handle);
    }
    let (done_tx, done_rx) = mpsc::channel(subscribers.len());
    for handle in subscribers {
        let per_subscriber = u64::from(args.publishers) * args.count;
        let tally = Tally::new(args.publishers, epoch);
        tokio::spawn(subscribe(
            handle,
            tally,
            per_subscriber,
            progress.clone(),
            done_tx.clone(),
        ));
    }
    Ok(done_rx)
}

fn side(messages: u64, seconds: f64, size: usize) -> SideStats {
    let seconds = seconds.max(f64::EPSILON);
    SideStats {
        messages,
        seconds,
        msgs_per_sec: messages as f64 / seconds,
        mb_per_sec: messages as f64 * size as f64 / seconds / 1_000_000.0,
    }
}

/// One connection, made as patiently as asked (and within [`SETUP_TIMEOUT`] unless waiting).
async fn connect(config: &ClientConfig, connecting: &Connecting) -> anyhow::Result<ClientHandle> {
    let mut handle = client::spawn(config.clone());
    let limit = (connecting.patience == Patience::FailFast).then_some(SETUP_TIMEOUT);
    client::first_connection(&mut handle, connecting, limit, |line| {
        let _ = writeln!(std::io::stderr(), "wpchat: {line}");
    })
    .await?;
    Ok(handle)
}

async fn join(handle: &mut ClientHandle, group: &str) -> anyhow::Result<()> {
    handle
        .commands
        .send(Command::Join {
            op: 0,
            group: group.to_string(),
        })
        .await?;
    let wait = async {
        while let Some(event) = handle.events.recv().await {
            if let Event::OpResult { op: 0, outcome } = event {
                return match outcome {
                    OpOutcome::Done { .. } => Ok(()),
                    OpOutcome::Failed(error) => {
                        Err(anyhow::anyhow!("joining {group} failed: {error}"))
                    }
                };
            }
        }
        bail!("the connection engine ended while joining {group}")
    };
    tokio::time::timeout(SETUP_TIMEOUT, wait)
        .await
        .context("joining the bench group timed out")?
}

/// Payload: `publisher:sequence:sent_micros|` then padding up to `size` bytes.
fn payload(publisher: u32, sequence: u64, sent_micros: u64, size: usize) -> Payload {
    let mut text = format!("{publisher}:{sequence}:{sent_micros}|");
    if text.len() < size {
        text.extend(std::iter::repeat_n('x', size - text.len()));
    }
    Payload::Text(text)
}

fn parse_payload(text: &str) -> Option<(u32, u64, u64)> {
    let header = text.split('|').next()?;
    let mut parts = header.split(':');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

/// Publishes `count` messages, keeping at most `WINDOW` unacked. Returns the failed sends.
async fn publish(
    mut handle: ClientHandle,
    group: String,
    publisher: u32,
    count: u64,
    size: usize,
    rate: u64,
    epoch: Instant,
) -> anyhow::Result<u64> {
    let mut pacer =
        (rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64)));
    let (mut sent, mut done, mut failed) = (0u64, 0u64, 0u64);
    while done < count {
        while sent < count && (sent - done) < WINDOW as u64 {
            if let Some(pacer) = pacer.as_mut() {
                pacer.tick().await;
            }
            let micros = epoch.elapsed().as_micros() as u64;
            let command = Command::SendToGroup {
                op: sent,
                group: group.clone(),
                payload: payload(publisher, sent, micros, size),
                no_echo: true,
                fire_and_forget: false,
            };
            handle
                .commands
                .send(command)
                .await
                .context("the connection engine stopped")?;
            sent += 1;
            if pacer.is_some() {
                break;
            }
        }
        match handle.events.recv().await {
            Some(Event::OpResult { outcome, .. }) => {
                done += 1;
                if matches!(outcome, OpOutcome::Failed(_)) {
                    failed += 1;
                }
            }
            Some(_) => {}
            None => bail!("the connection engine stopped while publishing"),
        }
    }
    let _ = handle.commands.send(Command::Shutdown).await;
    Ok(failed)
}

/// What one subscriber saw.
struct Tally {
    seen: Vec<HashSet<u64>>,
    unique: u64,
    duplicates: u64,
    latency_us: Histogram<u64>,
    epoch: Instant,
}

impl Tally {
    fn new(publishers: u32, epoch: Instant) -> Self {
        Tally {
            seen: (0..publishers).map(|_| HashSet::new()).collect(),
            unique: 0,
            duplicates: 0,
            // Three significant figures up to an hour, in microseconds.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            epoch,
        }
    }

    fn record(&mut self, text: &str) {
        let Some((publisher, sequence, sent_micros)) = parse_payload(text) else {
            return;
        };
        let Some(seen) = self.seen.get_mut(publisher as usize) else {
            return;
        };
        if !seen.insert(sequence) {
            self.duplicates += 1;
            return;
        }
        self.unique += 1;
        let now = self.epoch.elapsed().as_micros() as u64;
        let _ = self
            .latency_us
            .record(now.saturating_sub(sent_micros).max(1));
    }

    fn merge(&mut self, other: Tally) {
        self.unique += other.unique;
        self.duplicates += other.duplicates;
        let _ = self.latency_us.add(&other.latency_us);
    }
}

async fn subscribe(
    mut handle: ClientHandle,
    mut tally: Tally,
    expected: u64,
    progress: Arc<AtomicU64>,
    done: mpsc::Sender<(Tally, Instant)>,
) {
    let mut last = Instant::now();
    while tally.unique < expected {
        let Ok(Some(batch)) = tokio::time::timeout(DRAIN, handle.events.recv_batch()).await else {
            break;
        };
        for event in batch.iter() {
            if let Event::Message(message) = event
                && let Payload::Text(text) = &message.payload
            {
                tally.record(text);
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }
        last = Instant::now();
    }
    let _ = handle.commands.send(Command::Shutdown).await;
    let _ = done.send((tally, last)).await;
}

fn show_progress(progress: Arc<AtomicU64>, expected: u64) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let now = progress.load(Ordering::Relaxed);
            let width = 30;
            let filled = (now.min(expected) * width / expected.max(1)) as usize;
            eprint!(
                "\r[{}{}] {now}/{expected}",
                "#".repeat(filled),
                "-".repeat(width as usize - filled)
            );
            let _ = std::io::stderr().flush();
        }
    }))
}

/// The summary as readable lines.
fn summary_text(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "wpchat bench: {} publisher(s), {} subscriber(s), {} msgs × {} B each, {}",
        s.publishers, s.subscribers, s.count, s.size, s.protocol
    );
    let _ = writeln!(
        text,
        "  publish    {:>10} msgs  {:>8.2} s  {:>12.0} msgs/s  {:>8.2} MB/s",
        s.publish.messages, s.publish.seconds, s.publish.msgs_per_sec, s.publish.mb_per_sec
    );
    let _ = writeln!(
        text,
        "  subscribe  {:>10} msgs  {:>8.2} s  {:>12.0} msgs/s  {:>8.2} MB/s",
        s.subscribe.messages, s.subscribe.seconds, s.subscribe.msgs_per_sec, s.subscribe.mb_per_sec
    );
    let _ = writeln!(
        text,
        "  latency    p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99, s.latency_ms.max
    );
    let _ = writeln!(
        text,
        "  delivery   expected {}  received {}  lost {}  duplicates {}  failed sends {}",
        s.expected, s.received, s.lost, s.duplicates, s.failed_sends
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_pads() {
        let Payload::Text(text) = payload(3, 42, 1234, 100) else {
            panic!()
        };
        assert_eq!(text.len(), 100);
        assert_eq!(parse_payload(&text), Some((3, 42, 1234)));
    }

    #[test]
    fn tally_counts_duplicates_once() {
        let mut tally = Tally::new(1, Instant::now());
        tally.record("0:1:0|xx");
        tally.record("0:1:0|xx");
        tally.record("0:2:0|xx");
        tally.record("garbage");
        assert_eq!((tally.unique, tally.duplicates), (2, 1));
    }
}
