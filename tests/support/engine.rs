//! What the engine tests share: fast timers, so drops and retries take milliseconds, and
//! bounded waits for engine events, so a bug fails a test instead of hanging CI.
#![allow(dead_code)]

use std::time::Duration;

use wpchat::client::{Backoff, ClientConfig, ClientHandle, Event};
use wpchat::protocol::Payload;

/// Every wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// `config` with reconnects, recovery attempts and message retries a few milliseconds apart.
/// The ack timeout is left to each test: it depends on how much traffic the test makes.
pub fn fast_timers(mut config: ClientConfig) -> ClientConfig {
    config.recovery_interval = Duration::from_millis(50);
    config.message_retry_delay = Duration::from_millis(20);
    config.handshake_timeout = Duration::from_secs(5);
    config.reconnect = Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        max_attempts: None,
    };
    config
}

/// The next event, whatever it is.
pub async fn next_event(handle: &mut ClientHandle) -> Event {
    match tokio::time::timeout(WAIT, handle.events.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the engine ended"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// Skips events until one matches.
pub async fn wait_for(handle: &mut ClientHandle, wanted: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, handle.events.recv())
            .await
            .expect("the expected event did not come in time")
            .expect("the engine ended");
        if wanted(&event) {
            return event;
        }
    }
}

/// The texts of the next `count` messages, in arrival order, and how many recoveries happened
/// meanwhile; fails if the session is lost or they do not all come within `limit`.
pub async fn texts_across_drops(
    handle: &mut ClientHandle,
    count: usize,
    limit: Duration,
) -> (Vec<String>, usize) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut received = Vec::with_capacity(count);
    let mut recoveries = 0;
    while received.len() < count {
        let event = tokio::time::timeout_at(deadline, handle.events.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} messages arrived", received.len()))
            .expect("the engine runs");
        match event {
            Event::Message(message) => match message.payload {
                Payload::Text(text) => received.push(text),
                other => panic!("not text: {other:?}"),
            },
            Event::Recovered { .. } => recoveries += 1,
            Event::SessionLost { reason, .. } => panic!("the session was lost: {reason}"),
            _ => {}
        }
    }
    (received, recoveries)
}

/// The end of a publish-while-cutting run: the publisher and the cutter finished, every text
/// `m0`, `m1`, … arrived exactly once and in order, and the cuts forced recoveries.
pub async fn assert_exactly_once_in_order(
    tasks: [tokio::task::JoinHandle<()>; 2],
    received: &[String],
    recoveries: usize,
) {
    for task in tasks {
        tokio::time::timeout(WAIT, task)
            .await
            .expect("the task ends in time")
            .expect("the task succeeds");
    }
    let expected: Vec<String> = (0..received.len()).map(|i| format!("m{i}")).collect();
    assert!(received == expected, "every message exactly once, in order");
    assert!(recoveries >= 1, "the cuts forced recoveries");
}
