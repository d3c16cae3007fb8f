//! The engine's ingest path costs one heap allocation per received message (the text of its
//! payload; group names and user ids are shared, the frame is parsed in place), plus about a
//! hundredth amortized: events go to the caller in batches whose buffers are reused, so what
//! is left is the sequence acks and the growth of buffers. A caller that reads whole batches
//! in place (`listen`, `bench`) gives the payload strings back, and the engine writes new
//! payloads into them: no allocation per message at all. A counting global allocator watches
//! the real engine read a flood of reliable group messages from the benches' in-process
//! firehose.

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

/// How the caller takes the events.
#[derive(Clone, Copy)]
enum Reading {
    /// `recv_many`: the events become the caller's, and so do their payloads.
    Taken,
    /// `recv_batch`: read in place and given back, so the engine reuses their payload strings.
    InPlace,
}

/// Receives `count` messages from the engine.
async fn receive(handle: &mut client::ClientHandle, reading: Reading, count: u64) {
    let mut batch = Vec::with_capacity(1024);
    let wait = Duration::from_secs(60);
    let messages = |events: &[Event]| {
        events
            .iter()
            .filter(|event| matches!(event, Event::Message(_)))
            .count() as u64
    };
    let mut received = 0;
    while received < count {
        received += match reading {
            Reading::Taken => {
                let n = tokio::time::timeout(wait, handle.events.recv_many(&mut batch, 1024))
                    .await
                    .expect("the flood keeps coming");
                assert!(n > 0, "the engine ended after {received} messages");
                let n = messages(&batch);
                batch.clear();
                n
            }
            Reading::InPlace => {
                let events = tokio::time::timeout(wait, handle.events.recv_batch())
                    .await
                    .expect("the flood keeps coming")
                    .unwrap_or_else(|| panic!("the engine ended after {received} messages"));
                messages(&events)
            }
        };
    }
}

/// The allocator's count is the whole process's: the tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Heap allocations per message while the engine reads a flood read the `reading` way.
async fn allocations_per_message(reading: Reading) -> f64 {
    let _alone = ONE_AT_A_TIME.lock().await;
    let firehose = Firehose::start(WARM_UP + MEASURED + 10_000).await;
    let url = Url::parse(&firehose.url()).expect("url");
    let mut handle = client::spawn(ClientConfig::new(Arc::new(FixedUrl(url))));
    receive(&mut handle, reading, WARM_UP).await;
    let before = allocations();
    receive(&mut handle, reading, MEASURED).await;
    let allocations = allocations() - before;
    let per_message = allocations as f64 / MEASURED as f64;
    println!("{allocations} allocations for {MEASURED} messages = {per_message:.3} per message");
    let _ = handle.commands.send(client::Command::Shutdown).await;
    per_message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_costs_one_allocation_per_message_and_a_hundredth_amortized() {
    let per_message = allocations_per_message(Reading::Taken).await;
    assert!(
        per_message <= 1.0 + AMORTIZED,
        "{per_message:.3} heap allocations per received message (at most {})",
        1.0 + AMORTIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_whole_batches_costs_no_allocation_per_message() {
    let per_message = allocations_per_message(Reading::InPlace).await;
    assert!(
        per_message <= AMORTIZED,
        "{per_message:.3} heap allocations per received message (at most {AMORTIZED}): \
         the payload strings of batches read in place should be reused"
    );
}
