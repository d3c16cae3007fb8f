//! Issue 15, item 7: the wpchat hosting the embedded local service quits with a close
//! handshake (1001, as `serve` on SIGTERM), and says that it hosts.

#[path = "support/service_client.rs"]
mod service_client;

use std::time::Duration;

use service_client::Client;
use wpchat::config::Config;
use wpchat::target::{EmbeddedSettings, TargetOptions, resolve_with};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_host_closing_its_target_sends_every_client_a_1001_close() {
    let args = TargetOptions {
        user: Some("host".into()),
        ..TargetOptions::default()
    };
    let target = tokio::time::timeout(
        LIMIT,
        resolve_with(&args, &Config::default(), &EmbeddedSettings { port: 0 }),
    )
    .await
    .expect("resolves in time")
    .expect("the embedded target resolves");
    let hosting = target
        .hosting_probe()
        .expect("the embedded target has a probe");
    assert_eq!(
        hosting(),
        Some(0),
        "the wpchat that started the service hosts it, nobody on it yet"
    );
    let url = tokio::time::timeout(LIMIT, target.client.url_provider.client_url())
        .await
        .expect("a URL in time")
        .expect("a URL");
    let (mut guest, _connected) = Client::connect(url.as_str(), "json.webpubsub.azure.v1").await;
    assert_eq!(hosting(), Some(1), "the host counts the guest's connection");

    tokio::time::timeout(LIMIT, target.close())
        .await
        .expect("closing finishes in time");
    let (code, reason) = guest.close_frame().await;
    assert_eq!(code, 1001, "a close handshake, not a reset: {reason}");
}
