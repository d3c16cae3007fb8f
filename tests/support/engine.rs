//! What the engine tests share: fast timers, so drops and retries take milliseconds, and
//! bounded waits for engine events, so a bug fails a test instead of hanging CI.
#![allow(dead_code)]

use std::time::Duration;

use wpchat::client::{Backoff, ClientConfig, ClientHandle, Event};

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
