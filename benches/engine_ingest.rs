//! How fast the engine turns a flood of reliable group messages into `Event::Message`s,
//! as a fraction of the bare reader (the ceiling) on the same firehose in the same run.
//!
//! The in-bench firehose (benches/support/firehose.rs) writes `connected` and N pre-encoded
//! reliable group frames (100-byte text) to each connection. First the bare reader reads them
//! (tokio-tungstenite, a borrowing serde parse, a `sequenceAck` every 1000), then the real
//! engine does, drained through `ClientHandle.events` with `recv_batch`. Both clocks run from
//! before the connect to the last message. The two alternate for `BENCH_ROUNDS` rounds
//! (default 3) and the median ratio is the result; each run also says the process's CPU per
//! message (the firehose's writing included, the same in both). `ENGINE_INGEST_MESSAGES` sets
//! N (default 1 M).

#[path = "support/firehose.rs"]
mod firehose;

use std::sync::Arc;
use std::time::{Duration, Instant};

use firehose::{Firehose, GIVE_UP, Measured, median, own_cpu, proc_stat, rounds};
use url::Url;
use wpchat::auth::FixedUrl;
use wpchat::client::{self, ClientConfig, Event};

const DEFAULT_MESSAGES: u64 = 1_000_000;

/// The engine reads the whole flood; the wall clock from spawn to the last message, or `None`
/// when it gave up.
async fn engine(firehose: &Firehose) -> Option<Duration> {
    let url = Url::parse(&firehose.url()).expect("url");
    let started = Instant::now();
    let mut handle = client::spawn(ClientConfig::new(Arc::new(FixedUrl(url))));
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let mut received = 0u64;
    while received < firehose.count {
        let batch = match tokio::time::timeout_at(deadline, handle.events.recv_batch()).await {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                println!("the engine ended after {received} messages");
                return None;
            }
            Err(_) => {
                println!(
                    "gave up after {GIVE_UP:?}: {received} of {} messages",
                    firehose.count
                );
                return None;
            }
        };
        received += batch
            .iter()
            .filter(|event| matches!(event, Event::Message(_)))
            .count() as u64;
    }
    let elapsed = started.elapsed();
    let _ = handle.commands.send(client::Command::Shutdown).await;
    Some(elapsed)
}

async fn run() {
    let firehose = Firehose::announced("ENGINE_INGEST_MESSAGES", DEFAULT_MESSAGES).await;
    let count = firehose.count;
    let mut ratios = Vec::new();
    for round in 1..=rounds() {
        let bare = firehose.bare().await;
        let cpu = own_cpu();
        let Some(elapsed) = engine(&firehose).await else {
            return;
        };
        let engine = Measured::new(count, elapsed, own_cpu() - cpu);
        ratios.push(engine.rate / bare.rate);
        println!(
            "round {round}: bare reader {bare}; engine {engine} = {:.2} x",
            engine.rate / bare.rate
        );
    }
    println!(
        "engine_ingest: {count} messages, median {:.2} x the bare reader (load average {})",
        median(ratios),
        proc_stat::load_average()
    );
}

fn main() {
    firehose::run_bench(run());
}
