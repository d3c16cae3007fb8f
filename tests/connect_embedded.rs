//! With no target at all, wpchat uses the local service: it reuses one already answering on the
//! configured port, starts one in-process otherwise, and moves to a free port (with a notice)
//! when something else holds that port. Needs the real local service (`service::start`).

use std::time::Duration;

use wpchat::auth::connection_string::unix_now;
use wpchat::auth::token::verify;
use wpchat::cli::TargetArgs;
use wpchat::config::Config;
use wpchat::service::{self, DEV_ACCESS_KEY, ServiceConfig};
use wpchat::target::{EmbeddedSettings, Target, resolve_with};

const LIMIT: Duration = Duration::from_secs(30);

async fn resolve_embedded(args: &TargetArgs, port: u16) -> Target {
    tokio::time::timeout(
        LIMIT,
        resolve_with(args, &Config::default(), &EmbeddedSettings { port }),
    )
    .await
    .expect("resolve finishes in time")
    .expect("the embedded target resolves")
}

async fn minted_url(target: &Target) -> url::Url {
    tokio::time::timeout(LIMIT, target.client.url_provider.client_url())
        .await
        .expect("the provider answers in time")
        .expect("the provider mints a URL")
}

fn token_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .expect("the URL carries a token")
}

#[tokio::test]
async fn no_target_starts_the_local_service_and_points_at_it() {
    let args = TargetArgs {
        user: Some("carol".into()),
        ..TargetArgs::default()
    };
    let target = resolve_embedded(&args, 0).await;
    let service = target
        .embedded
        .as_ref()
        .expect("the service runs in-process");
    let url = minted_url(&target).await;
    assert_eq!(url.scheme(), "ws");
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_eq!(url.port(), Some(service.addr.port()));
    assert_eq!(url.path(), "/client/hubs/chat");
    let aud = format!("http://{}/client/hubs/chat", service.addr);
    let claims = verify(&token_of(&url), &service.access_key, &aud, unix_now(), 0)
        .expect("the token verifies with the service's key");
    assert_eq!(claims.sub.as_deref(), Some("carol"));
    assert_eq!(claims.groups, vec!["lobby"]);
    assert_eq!(
        claims.roles,
        vec!["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]
    );
    assert_eq!(target.hub, "chat");
    assert_eq!(target.groups, vec!["lobby"]);
    assert!(target.renewable);
    assert!(target.notices.is_empty(), "{:?}", target.notices);
    if let Some(service) = target.embedded {
        tokio::time::timeout(LIMIT, service.shutdown())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_running_service_is_reused() {
    let running = tokio::time::timeout(
        LIMIT,
        service::start(ServiceConfig {
            port: 0,
            ..ServiceConfig::default()
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let port = running.addr.port();
    let args = TargetArgs {
        hub: Some("ops".into()),
        groups: vec!["alerts".into()],
        ..TargetArgs::default()
    };
    let target = resolve_embedded(&args, port).await;
    assert!(target.embedded.is_none(), "the running service is reused");
    let url = minted_url(&target).await;
    assert_eq!(url.port(), Some(port));
    assert_eq!(url.path(), "/client/hubs/ops");
    let aud = format!("http://127.0.0.1:{port}/client/hubs/ops");
    let claims = verify(&token_of(&url), DEV_ACCESS_KEY, &aud, unix_now(), 0).unwrap();
    assert_eq!(claims.groups, vec!["alerts"]);
    assert!(
        target.description.contains("already running"),
        "{}",
        target.description
    );
    tokio::time::timeout(LIMIT, running.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_port_held_by_something_else_moves_to_a_free_port() {
    // Holds the port but never speaks HTTP, like an unrelated program.
    let squatter = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = squatter.local_addr().unwrap().port();
    let target = resolve_embedded(&TargetArgs::default(), port).await;
    let service = target.embedded.as_ref().expect("a service was started");
    assert_ne!(service.addr.port(), port);
    assert_eq!(minted_url(&target).await.port(), Some(service.addr.port()));
    assert!(
        target
            .notices
            .iter()
            .any(|n| n.contains(&port.to_string()) && n.contains("not a wpchat service")),
        "{:?}",
        target.notices
    );
    drop(squatter);
    if let Some(service) = target.embedded {
        tokio::time::timeout(LIMIT, service.shutdown())
            .await
            .unwrap();
    }
}
