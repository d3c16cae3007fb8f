//! How the engine opens its connection, against the real local service: through an HTTP
//! CONNECT proxy, what a refused token (HTTP 401) looks like to the user, and how long it
//! waits before trying a refused token again.

#[path = "support/connect_proxy.rs"]
mod connect_proxy;
#[path = "support/engine.rs"]
mod engine;

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{WAIT, fast_timers, wait_for};
use tokio::net::TcpListener;
use url::Url;
use wpchat::auth::{
    Claims, ConnectionString, ConnectionStringProvider, FixedUrl, ProviderError, TokenOptions,
    UrlFuture, UrlProvider, mint,
};
use wpchat::client::{
    self, ClientConfig, ClientHandle, ConnState, Event, FailureKind, ProxyChoice,
};
use wpchat::service::{self, RunningService, ServiceConfig};

async fn service() -> RunningService {
    service::start(ServiceConfig {
        port: 0,
        ..ServiceConfig::default()
    })
    .await
    .expect("the service starts")
}

/// A CONNECT proxy on loopback that relays to the requested target and reports every request
/// head it saw.
async fn connect_proxy() -> (Url, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (port, seen) = connect_proxy::start(connect_proxy::Answer::Relay).await;
    (
        Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        seen,
    )
}

/// Waits until the state says the engine is waiting to retry after at least `attempts` failed
/// attempts, and returns when it retries and its `last_error`.
async fn retrying(handle: &mut ClientHandle, attempts: u32) -> (Instant, String) {
    let found = tokio::time::timeout(
        WAIT,
        handle.state.wait_for(|state| {
            matches!(state, ConnState::Reconnecting { attempt, .. } if *attempt >= attempts)
        }),
    )
    .await
    .expect("the engine kept retrying")
    .expect("the engine is running")
    .clone();
    match found {
        ConnState::Reconnecting {
            retry_at,
            last_error,
            ..
        } => (retry_at, last_error),
        other => panic!("unexpected state {other:?}"),
    }
}

async fn retrying_error(handle: &mut ClientHandle, attempts: u32) -> String {
    retrying(handle, attempts).await.1
}

#[tokio::test]
async fn connects_through_an_http_connect_proxy() {
    let service = service().await;
    let (proxy, mut seen) = connect_proxy().await;
    let connection_string = ConnectionString::parse(&service.connection_string()).unwrap();
    let provider =
        ConnectionStringProvider::new(connection_string, "chat", TokenOptions::default()).unwrap();
    let mut config = fast_timers(ClientConfig::new(Arc::new(provider)));
    config.proxy = ProxyChoice::Via(proxy);
    let mut handle = client::spawn(config);
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    let head = tokio::time::timeout(WAIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        head.starts_with(&format!("CONNECT {} HTTP/1.1\r\n", service.addr)),
        "{head}"
    );
}

#[tokio::test]
async fn an_unreachable_proxy_is_named_in_the_state() {
    let service = service().await;
    // A port that was free a moment ago: nothing listens there.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let connection_string = ConnectionString::parse(&service.connection_string()).unwrap();
    let provider =
        ConnectionStringProvider::new(connection_string, "chat", TokenOptions::default()).unwrap();
    let mut config = fast_timers(ClientConfig::new(Arc::new(provider)));
    config.proxy = ProxyChoice::Via(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    let mut handle = client::spawn(config);
    let error = retrying_error(&mut handle, 1).await;
    assert!(error.contains("cannot reach the proxy"), "{error}");
}

fn client_url(service: &RunningService, hub: &str, token: &str) -> Url {
    Url::parse(&format!(
        "ws://{}/client/hubs/{hub}?access_token={token}",
        service.addr
    ))
    .unwrap()
}

fn claims_for(service: &RunningService, hub: &str, exp: i64) -> Claims {
    Claims {
        aud: format!("http://{}/client/hubs/{hub}", service.addr),
        exp,
        ..Claims::default()
    }
}

fn now() -> i64 {
    wpchat::auth::connection_string::unix_now()
}

/// A refused token keeps being retried with backoff (it may be fixed on the service's side),
/// and the state says why each attempt failed.
async fn refused_with(url: Url) -> String {
    let mut handle = client::spawn(fast_timers(ClientConfig::new(Arc::new(FixedUrl(url)))));
    let error = retrying_error(&mut handle, 3).await;
    while let Ok(event) = handle.events.try_recv() {
        assert!(!matches!(event, Event::Connected { .. }), "{event:?}");
    }
    error
}

#[tokio::test]
async fn an_expired_token_says_when_it_expired() {
    let service = service().await;
    let token = mint(
        &claims_for(&service, "chat", now() - 3600),
        &service.access_key,
    );
    let error = refused_with(client_url(&service, "chat", &token)).await;
    assert!(error.contains("the token expired at"), "{error}");
    assert!(!error.contains(&token), "the token is never shown: {error}");
}

#[tokio::test]
async fn a_token_for_another_hub_names_both_hubs() {
    let service = service().await;
    let token = mint(
        &claims_for(&service, "ops", now() + 3600),
        &service.access_key,
    );
    let error = refused_with(client_url(&service, "chat", &token)).await;
    assert!(
        error.contains("the token is for hub 'ops', not 'chat'"),
        "{error}"
    );
}

/// A token for hub `chat` of `service`, valid for an hour, signed with another key.
fn wrongly_signed(service: &RunningService) -> String {
    mint(
        &claims_for(service, "chat", now() + 3600),
        "not-the-access-key-of-this-service-000000000",
    )
}

#[tokio::test]
async fn a_token_signed_with_another_key_says_bad_signature() {
    let service = service().await;
    let token = wrongly_signed(&service);
    let error = refused_with(client_url(&service, "chat", &token)).await;
    assert!(error.contains("bad signature"), "{error}");
}

/// The first `Reconnecting` state of an engine on `provider` whose longest backoff is an
/// hour, with the kind of failure reported before it.
async fn first_retry(provider: Arc<dyn UrlProvider>) -> (FailureKind, Duration) {
    let mut config = fast_timers(ClientConfig::new(provider));
    config.reconnect.max = Duration::from_secs(3600);
    let mut handle = client::spawn(config);
    let failed = wait_for(&mut handle, |e| matches!(e, Event::ConnectFailed { .. })).await;
    let Event::ConnectFailed { kind, .. } = failed else {
        unreachable!("matched above")
    };
    let (retry_at, _) = retrying(&mut handle, 1).await;
    (kind, retry_at.saturating_duration_since(Instant::now()))
}

#[tokio::test]
async fn a_refused_token_waits_the_longest_backoff_and_nothing_listening_does_not() {
    let service = service().await;
    let token = wrongly_signed(&service);
    let (kind, wait) = first_retry(Arc::new(FixedUrl(client_url(&service, "chat", &token)))).await;
    assert_eq!(kind, FailureKind::Unauthorized);
    assert!(wait > Duration::from_secs(1800), "{wait:?}");

    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let url = Url::parse(&format!("ws://127.0.0.1:{port}/client/hubs/chat")).unwrap();
    let (kind, wait) = first_retry(Arc::new(FixedUrl(url))).await;
    assert_eq!(kind, FailureKind::Unreachable);
    assert!(wait < Duration::from_secs(60), "{wait:?}");
}

/// A negotiate endpoint that refuses every time, as a provider.
struct Refusing;

impl UrlProvider for Refusing {
    fn client_url(&self) -> UrlFuture {
        Box::pin(async {
            Err(ProviderError::Permanent(
                "negotiate answered HTTP 401".into(),
            ))
        })
    }

    fn describe(&self) -> String {
        "refusing".into()
    }
}

#[tokio::test]
async fn a_provider_that_refuses_is_retried_at_the_longest_backoff_not_given_up() {
    let (kind, wait) = first_retry(Arc::new(Refusing)).await;
    assert_eq!(kind, FailureKind::Misconfigured);
    assert!(wait > Duration::from_secs(1800), "{wait:?}");
}
