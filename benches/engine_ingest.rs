//! How fast the engine turns a flood of reliable group messages into `Event::Message`s,
//! as a fraction of the bare reader (the ceiling) on the same firehose in the same run.
//!
//! The in-bench firehose (benches/support/firehose.rs) writes `connected` and N pre-encoded
//! reliable group frames (100-byte text) to each connection. First the bare reader reads them
//! (tokio-tungstenite, a borrowing serde parse, a `sequenceAck` every 1000), then the real
//! engine does, drained through `ClientHandle.events` with `recv_many`. Both clocks run from
//! before the connect to the last message. `ENGINE_INGEST_MESSAGES` sets N (default 1 M).

#[path = "support/firehose.rs"]
mod firehose;

use std::sync::Arc;
use std::time::{Duration, Instant};

use firehose::{Firehose, GIVE_UP, rate};
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
    let mut batch = Vec::with_capacity(1024);
    let mut received = 0u64;
    while received < firehose.count {
        let n = match tokio::time::timeout_at(deadline, handle.events.recv_many(&mut batch, 1024))
            .await
        {
            Ok(n) => n,
            Err(_) => {
                println!(
                    "gave up after {GIVE_UP:?}: {received} of {} messages",
                    firehose.count
                );
                return None;
            }
        };
        if n == 0 {
            println!("the engine ended after {received} messages");
            return None;
        }
        for event in batch.drain(..) {
            if let Event::Message(_) = event {
                received += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let _ = handle.commands.send(client::Command::Shutdown).await;
    Some(elapsed)
}

async fn run() {
    let (firehose, bare_rate) =
        firehose::with_ceiling("ENGINE_INGEST_MESSAGES", DEFAULT_MESSAGES).await;
    let count = firehose.count;
    if let Some(elapsed) = engine(&firehose).await {
        let engine_rate = rate(count, elapsed);
        println!(
            "engine_ingest: {count} messages in {:.3} s = {engine_rate:.0} msgs/s = {:.2} x the bare reader",
            elapsed.as_secs_f64(),
            engine_rate / bare_rate
        );
    }
}

fn main() {
    firehose::run_bench(run());
}
