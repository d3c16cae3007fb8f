//! The negotiate provider against a tiny app server on 127.0.0.1:0: a fresh URL per call, the
//! extra headers sent, and failures mapped to the right kind with messages that never show a
//! header value; end to end, the real engine re-negotiates for every fresh connection to the
//! real local service and rejoins its groups.

#[path = "support/engine_peer.rs"]
mod engine_peer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use engine_peer::{Peer, local_service};
use wpchat::auth::connection_string::unix_now;
use wpchat::auth::{ConnectionString, NegotiateProvider, ProviderError, TokenOptions, UrlProvider};
use wpchat::client::{Command, ConnState, Event};
use wpchat::config::Config;
use wpchat::service::{RunningService, ServiceConfig};
use wpchat::target::{Target, TargetOptions};

const BEARER: &str = "Bearer S3CRET-BEARER-VALUE";
const LIMIT: Duration = Duration::from_secs(20);

async fn app_server() -> String {
    let calls = Arc::new(AtomicU32::new(0));
    let negotiate = {
        let calls = calls.clone();
        move |headers: HeaderMap| {
            let calls = calls.clone();
            async move {
                let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some(BEARER)
                    && headers.get("x-tenant").and_then(|v| v.to_str().ok()) == Some("blue");
                if !authorized {
                    return (StatusCode::UNAUTHORIZED, "who are you?").into_response();
                }
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                axum::Json(serde_json::json!({
                    "url": format!("wss://contoso.webpubsub.azure.com/client/hubs/chat?access_token=t{n}")
                }))
                .into_response()
            }
        }
    };
    let router = Router::new()
        .route("/negotiate", get(negotiate))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response() }),
        )
        .route(
            "/busy",
            get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response() }),
        )
        .route("/html", get(|| async { "<html>not json</html>" }))
        .route(
            "/nourl",
            get(|| async { axum::Json(serde_json::json!({"endpoint": "x"})) }),
        )
        .route(
            "/badurl",
            get(|| async { axum::Json(serde_json::json!({"url": "ftp://h/client/hubs/chat"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn headers() -> Vec<String> {
    vec![format!("Authorization: {BEARER}"), "X-Tenant: blue".into()]
}

async fn ask(provider: &NegotiateProvider) -> Result<url::Url, ProviderError> {
    tokio::time::timeout(LIMIT, provider.client_url())
        .await
        .expect("negotiate answers within the limit")
}

fn assert_secret_free(text: &str) {
    assert!(!text.contains("S3CRET"), "header value leaked: {text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn each_call_gets_a_fresh_url_and_sends_the_headers() {
    let base = app_server().await;
    let provider =
        NegotiateProvider::new(&format!("{base}/negotiate?code=FUNCKEY"), &headers()).unwrap();
    let first = ask(&provider).await.unwrap();
    let second = ask(&provider).await.unwrap();
    assert_eq!(first.scheme(), "wss");
    assert!(first.as_str().ends_with("access_token=t1"), "{first}");
    assert!(second.as_str().ends_with("access_token=t2"), "{second}");
    let shown = format!("{provider:?} {}", provider.describe());
    assert_secret_free(&shown);
    assert!(!shown.contains("FUNCKEY"), "{shown}");
    assert!(
        shown.contains("authorization"),
        "header names are shown: {shown}"
    );
}

#[tokio::test]
async fn failures_have_the_right_kind_and_no_header_values() {
    let base = app_server().await;
    let provider = |path: &str, headers: Vec<String>| {
        NegotiateProvider::new(&format!("{base}{path}"), &headers).unwrap()
    };
    let wrong_credentials = vec!["Authorization: Bearer S3CRET-WRONG".to_string()];
    let cases = [
        (provider("/negotiate", wrong_credentials), "refused", "401"),
        (provider("/fail", headers()), "transient", "500"),
        (provider("/busy", headers()), "transient", "429"),
        (
            provider("/html", headers()),
            "permanent",
            "did not answer JSON",
        ),
        (
            provider("/nourl", headers()),
            "permanent",
            "without a \"url\"",
        ),
        (
            provider("/badurl", headers()),
            "permanent",
            "scheme is 'ftp'",
        ),
    ];
    for (provider, kind, expected) in cases {
        let error = ask(&provider).await.expect_err("this endpoint fails");
        let message = error.to_string();
        let found = match error {
            ProviderError::Transient(_) => "transient",
            ProviderError::Permanent(_) => "permanent",
            ProviderError::Refused(_) => "refused",
        };
        assert_eq!(found, kind, "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(message.contains("negotiate"), "{message}");
        assert_secret_free(&message);
    }
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = NegotiateProvider::new(&format!("http://{addr}/negotiate"), &headers()).unwrap();
    let error = ask(&provider).await.expect_err("nothing listens there");
    assert!(matches!(error, ProviderError::Transient(_)), "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "negotiate request to http://{addr}/negotiate failed"
        )),
        "{error}"
    );
    assert_secret_free(&error.to_string());
}

#[test]
fn bad_setup_is_refused_without_echoing_secrets() {
    for (endpoint, header, expected) in [
        (
            "http://h/negotiate",
            "Authorization Bearer S3CRET",
            "Name: value",
        ),
        (
            "http://h/negotiate",
            "Bad Name S3CRET: v",
            "not a valid HTTP header name",
        ),
        (
            "http://h/negotiate",
            "X-Key: S3CRET\u{1}",
            "not a valid HTTP header value",
        ),
        ("ftp://h/negotiate", "X-Key: S3CRET", "use https://"),
        ("not a url", "X-Key: S3CRET", "not a valid URL"),
    ] {
        let error = NegotiateProvider::new(endpoint, &[header.to_string()])
            .expect_err("bad setup is refused");
        let message = error.to_string();
        assert!(message.contains(expected), "{message}");
        assert_secret_free(&message);
    }
}

/// Resolves `args` with no config file, failing the test if it takes longer than [`LIMIT`].
async fn resolve_in_time(args: &TargetOptions) -> anyhow::Result<Target> {
    tokio::time::timeout(LIMIT, wpchat::target::resolve(args, &Config::default()))
        .await
        .expect("resolve finishes in time")
}

#[tokio::test]
async fn resolve_negotiates_once_to_learn_the_hub() {
    let base = app_server().await;
    let args = TargetOptions {
        negotiate: Some(format!("{base}/negotiate")),
        headers: headers(),
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args).await.expect("the target resolves");
    assert_eq!(target.hub, "chat");
    assert!(target.renewable);
    assert!(target.embedded.is_none());
    assert_secret_free(&format!("{target:?} {args:?}"));

    let refused = TargetOptions {
        headers: vec!["Authorization: Bearer S3CRET-WRONG".into()],
        ..args
    };
    let error = resolve_in_time(&refused)
        .await
        .expect_err("a 401 at start is fatal");
    let message = format!("{error:#}");
    assert!(message.contains("401"), "{message}");
    assert_secret_free(&message);
}

/// What the negotiate server saw.
#[derive(Default)]
struct Seen {
    calls: AtomicU32,
    with_header: AtomicU32,
}

/// A negotiate endpoint that mints URLs for the real local service, as an app server does with
/// the service's connection string.
async fn negotiate_for(service: &RunningService, seen: Arc<Seen>) -> String {
    let connection_string = ConnectionString::parse(&service.connection_string()).unwrap();
    let negotiate = move |headers: HeaderMap| {
        let (seen, connection_string) = (seen.clone(), connection_string.clone());
        async move {
            seen.calls.fetch_add(1, Ordering::SeqCst);
            if headers.get("x-tenant").and_then(|v| v.to_str().ok()) == Some("blue") {
                seen.with_header.fetch_add(1, Ordering::SeqCst);
            }
            let options = TokenOptions {
                user_id: Some("dana".into()),
                roles: vec![
                    "webpubsub.joinLeaveGroup".into(),
                    "webpubsub.sendToGroup".into(),
                ],
                groups: Vec::new(),
                expires_minutes: 60,
            };
            let access = connection_string.client_access("chat", &options, unix_now());
            axum::Json(serde_json::json!({ "url": access.url }))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/api/negotiate", get(negotiate));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/api/negotiate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_connection_negotiates_again_and_rejoins() {
    let service = local_service(ServiceConfig::default()).await;
    let seen = Arc::new(Seen::default());
    let args = TargetOptions {
        negotiate: Some(negotiate_for(&service, seen.clone()).await),
        headers: vec!["X-Tenant: blue".into()],
        ..TargetOptions::default()
    };
    let target = resolve_in_time(&args).await.expect("the target resolves");
    assert_eq!(target.hub, "chat");
    assert_eq!(target.user_id.as_deref(), Some("dana"));
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        1,
        "resolve negotiates once"
    );

    let mut peer = Peer::spawn(target.client.clone());
    let first_id = peer.connected().await;
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2, "the first connection");
    peer.join(1, "ops").await;
    peer.send(2, "ops", "before").await;
    peer.received("ops", "before").await;

    peer.command(Command::Reconnect).await;
    let second_id = peer.connected().await;
    assert_ne!(second_id, first_id, "a new connection");
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        3,
        "the fresh connection negotiated again"
    );
    assert!(
        matches!(&*peer.handle.state.borrow(), ConnState::Connected { connection_id, .. } if *connection_id == second_id)
    );
    // Auto-rejoin put us back in the group: our own message comes back.
    peer.send(3, "ops", "after").await;
    peer.received("ops", "after").await;
    assert!(
        !peer
            .skipped
            .iter()
            .any(|e| matches!(e, Event::RejoinFailed { .. })),
        "{:?}",
        peer.skipped
    );
    assert_eq!(
        seen.with_header.load(Ordering::SeqCst),
        seen.calls.load(Ordering::SeqCst),
        "every negotiate call carried the --header"
    );
    let _ = peer.handle.commands.send(Command::Shutdown).await;
    tokio::time::timeout(LIMIT, service.shutdown())
        .await
        .unwrap();
}
