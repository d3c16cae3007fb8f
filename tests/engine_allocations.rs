//! The engine's ingest path costs one heap allocation per received message (the text of its
//! payload; group names and user ids are shared, the frame is parsed in place), plus about a
//! hundredth amortized: events go to the caller in batches whose buffers are reused, so what
//! is left is the sequence acks and the growth of buffers. A counting global allocator watches the real engine read a
//! flood of reliable group messages from the benches' in-process firehose.

#[path = "../benches/support/firehose.rs"]
#[allow(dead_code)]
mod firehose;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Arc;
use std::time::Duration;

use counting_alloc::{Counting, allocations};
use firehose::Firehose;
use url::Url;
use wpchat::auth::FixedUrl;
use wpchat::client::{self, ClientConfig, Event};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Messages read before counting starts: connection set-up, buffers and channels growing.
const WARM_UP: u64 = 20_000;
/// Messages counted.
const MEASURED: u64 = 100_000;
/// Allocations per message allowed on top of the payload's one, amortized (measured:
/// 0.009-0.018, more when a loaded machine makes read bursts and so sequence acks smaller;
/// 0.02-0.03 before events went over in batches).
const AMORTIZED: f64 = 0.03;

/// Receives `count` messages from the engine.
async fn receive(handle: &mut client::ClientHandle, batch: &mut Vec<Event>, count: u64) {
    let mut received = 0;
    while received < count {
        let n = tokio::time::timeout(
            Duration::from_secs(60),
            handle.events.recv_many(batch, 1024),
        )
        .await
        .expect("the flood keeps coming");
        assert!(n > 0, "the engine ended after {received} messages");
        for event in batch.drain(..) {
            if let Event::Message(_) = event {
                received += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_costs_one_allocation_per_message_and_a_hundredth_amortized() {
    let firehose = Firehose::start(WARM_UP + MEASURED + 10_000).await;
    let url = Url::parse(&firehose.url()).expect("url");
    let mut handle = client::spawn(ClientConfig::new(Arc::new(FixedUrl(url))));
    let mut batch = Vec::with_capacity(1024);
    receive(&mut handle, &mut batch, WARM_UP).await;
    let before = allocations();
    receive(&mut handle, &mut batch, MEASURED).await;
    let allocations = allocations() - before;
    let per_message = allocations as f64 / MEASURED as f64;
    println!("{allocations} allocations for {MEASURED} messages = {per_message:.3} per message");
    let _ = handle.commands.send(client::Command::Shutdown).await;
    assert!(
        per_message <= 1.0 + AMORTIZED,
        "{per_message:.3} heap allocations per received message (at most {})",
        1.0 + AMORTIZED
    );
}
