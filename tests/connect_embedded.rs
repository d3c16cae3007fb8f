//! With no target at all, wpchat uses the local service: it reuses one already answering on the
//! configured port, starts one in-process otherwise, and moves to a free port (with a notice)
//! when something else holds that port; when the wpchat hosting it quits, another takes it
//! over on the same port. Needs the real local service (`service::start`) and engine.

use std::net::SocketAddr;
use std::time::Duration;

#[path = "support/engine_peer.rs"]
mod engine_peer;

use engine_peer::{LIMIT, Peer, local_service};
use wpchat::auth::connection_string::unix_now;
use wpchat::auth::token::verify;
use wpchat::client::Event;
use wpchat::config::Config;
use wpchat::service::{self, DEV_ACCESS_KEY, ServiceConfig};
use wpchat::target::TargetOptions;
use wpchat::target::{EMBEDDED_RECOVERY_WINDOW, EmbeddedSettings, Target, resolve_with};

async fn resolve_embedded(args: &TargetOptions, port: u16) -> Target {
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
    let args = TargetOptions {
        user: Some("carol".into()),
        ..TargetOptions::default()
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
    // The default group is joined by the caller (target.groups), not minted into the token.
    assert!(claims.groups.is_empty(), "{:?}", claims.groups);
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
    let running = local_service(ServiceConfig::default()).await;
    let port = running.addr.port();
    let args = TargetOptions {
        hub: Some("ops".into()),
        groups: vec!["alerts".into()],
        ..TargetOptions::default()
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
    let target = resolve_embedded(&TargetOptions::default(), port).await;
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

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn as_user(user: &str) -> TargetOptions {
    TargetOptions {
        user: Some(user.into()),
        ..TargetOptions::default()
    }
}

async fn probe_until(addr: SocketAddr, answering: bool) {
    tokio::time::timeout(LIMIT, async {
        while service::probe(addr).await != answering {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the service at {addr} never became answering={answering}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_host_quits_another_wpchat_takes_over_the_local_service() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let host = resolve_embedded(&as_user("alice"), port).await;
    assert!(
        host.embedded.is_some(),
        "the first wpchat hosts the service"
    );
    let mut guest = resolve_embedded(&as_user("bob"), port).await;
    assert!(guest.embedded.is_none(), "the second reuses it");
    assert_eq!(guest.client.recovery_window, EMBEDDED_RECOVERY_WINDOW);

    let mut host_engine = Peer::spawn(host.client.clone());
    let mut guest_engine = Peer::spawn(guest.client.clone());
    host_engine.connected().await;
    let first_id = guest_engine.connected().await;
    host_engine.join(1, "lobby").await;
    guest_engine.join(1, "lobby").await;
    host_engine.send(2, "lobby", "before").await;
    guest_engine.received("lobby", "before").await;

    // The host quits: its engine stops and its target (with the service) goes away.
    host_engine.stop().await;
    drop(host);

    let (event, before) = guest_engine
        .wait_for(|e| matches!(e, Event::Connected { .. }))
        .await;
    assert!(
        before
            .iter()
            .any(|e| matches!(e, Event::SessionLost { .. })),
        "the old session is reported lost: {before:?}"
    );
    let Event::Connected { connection_id, .. } = event else {
        panic!("expected Connected: {event:?}");
    };
    assert_ne!(connection_id, first_id, "a fresh connection");
    assert!(
        guest.takeover.as_ref().is_some_and(|t| t.hosting()),
        "the guest now hosts the service: {guest:?}"
    );
    assert!(service::probe(addr).await, "on the same port");

    // Rejoined lobby (the engine's auto-rejoin), and a new group works end to end.
    guest_engine.send(3, "lobby", "after takeover").await;
    guest_engine.received("lobby", "after takeover").await;
    guest_engine.join(4, "later").await;

    // A wpchat started now finds the taken-over service and talks with the guest.
    let newcomer = resolve_embedded(&as_user("carol"), port).await;
    assert!(newcomer.embedded.is_none(), "{newcomer:?}");
    let mut newcomer_engine = Peer::spawn(newcomer.client.clone());
    newcomer_engine.connected().await;
    newcomer_engine.join(1, "later").await;
    guest_engine.send(5, "later", "hello carol").await;
    newcomer_engine.received("later", "hello carol").await;
    guest_engine.received("later", "hello carol").await;

    // Dropping the guest's target stops the service it took over.
    newcomer_engine.stop().await;
    guest_engine.stop().await;
    drop(newcomer);
    let takeover = guest
        .takeover
        .take()
        .expect("the embedded target has a guard");
    tokio::time::timeout(LIMIT, takeover.shutdown())
        .await
        .expect("the taken-over service stops in time");
    probe_until(addr, false).await;
}

#[tokio::test]
async fn a_closed_embedded_target_takes_nothing_over() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut target = resolve_embedded(&TargetOptions::default(), port).await;
    let provider = target.client.url_provider.clone();
    if let Some(service) = target.embedded.take() {
        tokio::time::timeout(LIMIT, service.shutdown())
            .await
            .unwrap();
    }
    // Still open: the next connection restarts the service here.
    minted_url(&target).await;
    assert!(target.takeover.as_ref().is_some_and(|t| t.hosting()));
    drop(target);
    probe_until(addr, false).await;
    let refused = tokio::time::timeout(LIMIT, provider.client_url())
        .await
        .expect("the provider answers in time");
    assert!(
        matches!(&refused, Err(wpchat::auth::ProviderError::Permanent(why)) if why == "the embedded target was closed"),
        "{refused:?}"
    );
    assert!(!service::probe(addr).await, "nothing was started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_wpchats_racing_to_take_over_share_one_service() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let host = resolve_embedded(&TargetOptions::default(), port).await;
    let left = resolve_embedded(&TargetOptions::default(), port).await;
    let right = resolve_embedded(&TargetOptions::default(), port).await;
    drop(host);
    probe_until(addr, false).await;
    let (a, b) = tokio::join!(minted_url(&left), minted_url(&right));
    assert_eq!((a.port(), b.port()), (Some(port), Some(port)));
    let hosts = [&left, &right]
        .iter()
        .filter(|t| t.takeover.as_ref().is_some_and(|g| g.hosting()))
        .count();
    assert_eq!(hosts, 1, "exactly one wpchat hosts: {left:?} {right:?}");
    assert!(service::probe(addr).await);
    drop(left);
    drop(right);
    probe_until(addr, false).await;
}
