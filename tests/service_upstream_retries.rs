//! U20's optional retries (`wpchat serve --upstream-retries`): a call that fails with 408, a
//! 5xx or a network error is made again after each pause with the same `ce-id`, and a 4xx is
//! not; without the switch nothing is retried. Pauses are milliseconds here.

#[path = "support/event_handler.rs"]
mod event_handler;
#[path = "support/service_client.rs"]
mod service_client;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use event_handler::*;
use serde_json::json;
use service_client::*;

/// The service with `handler` and retry pauses of 20 and 40 ms (or none).
async fn serve_retrying(handler: &EventHandler, retries: bool) -> wpchat::service::RunningService {
    let mut settings = every_hub(handler);
    if retries {
        settings.retry_delays = vec![Duration::from_millis(20), Duration::from_millis(40)];
    }
    serve_settings(settings).await
}

/// A handler whose first `failures` calls of event `flaky` answer `status`.
async fn flaky(failures: usize, status: u16) -> EventHandler {
    let seen = Arc::new(AtomicUsize::new(0));
    EventHandler::start_with(move |call| {
        (call.event() == "flaky" && seen.fetch_add(1, Ordering::SeqCst) < failures)
            .then(|| Reply::status(status))
    })
    .await
}

/// Sends event `flaky` with ackId 1 from a JSON client; returns that client and its first
/// frame back.
async fn send_flaky(service: &wpchat::service::RunningService) -> (Client, serde_json::Value) {
    let (mut client, _) = connect_to_hub(service, JSON, Some("u"), &[], &[]).await;
    client
        .send_json(event("flaky", "text", json!("hi"), 1))
        .await;
    let first = client.next_json().await;
    (client, first)
}

fn flaky_calls(handler: &EventHandler) -> Vec<Call> {
    handler
        .events()
        .into_iter()
        .filter(|c| c.event() == "flaky")
        .collect()
}

#[tokio::test]
async fn u20_a_5xx_is_retried_with_the_same_ce_id_until_the_handler_answers() {
    let handler = flaky(2, 503).await;
    let service = serve_retrying(&handler, true).await;
    let (mut client, reply) = send_flaky(&service).await;
    assert_eq!(reply["from"], "server", "{reply}");
    assert_eq!(reply["data"], "hi", "{reply}");
    assert_eq!(client.next_json().await["success"], true);
    let calls = flaky_calls(&handler);
    assert_eq!(calls.len(), 3, "two failures, then the answer");
    assert!(
        calls
            .iter()
            .all(|c| c.header("ce-id") == calls[0].header("ce-id"))
    );
}

#[tokio::test]
async fn u20_a_4xx_is_not_retried() {
    let handler = flaky(1, 429).await;
    let service = serve_retrying(&handler, true).await;
    let (_client, ack) = send_flaky(&service).await;
    failed_ack(&ack, 1);
    assert_eq!(flaky_calls(&handler).len(), 1);
}

#[tokio::test]
async fn u20_without_the_switch_a_5xx_fails_at_once() {
    let handler = flaky(1, 500).await;
    let service = serve_retrying(&handler, false).await;
    let (_client, ack) = send_flaky(&service).await;
    failed_ack(&ack, 1);
    assert_eq!(flaky_calls(&handler).len(), 1);
}
