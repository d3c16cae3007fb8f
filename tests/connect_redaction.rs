//! Secrets stay out of everything wpchat shows about a target: a fixed client URL carrying a
//! real JWT, and a connection string with an access key, resolved and then refused by the real
//! local service (HTTP 401, wrong key). `Target`'s Debug, description and notices, resolve
//! errors, and the engine's `last_error` must show neither the token, nor its signature, nor
//! the access key.

#[path = "support/engine_peer.rs"]
mod engine_peer;

use std::time::Duration;

use engine_peer::local_service;
use wpchat::auth::connection_string::unix_now;
use wpchat::auth::token::{Claims, mint};
use wpchat::client::{self, Command, ConnState};
use wpchat::config::Config;
use wpchat::service::{RunningService, ServiceConfig};
use wpchat::target::TargetOptions;
use wpchat::target::{Target, resolve};

const LIMIT: Duration = Duration::from_secs(20);
/// The key the service really uses.
const SERVICE_KEY: &str = "SERVICEKEY0123456789SERVICEKEY0123456789ABCD";
/// The key the client signs with: wrong, so the service answers 401.
const CLIENT_KEY: &str = "CLIENTKEYzyxwvutsrqponmlkjihgfedcba9876543210";

async fn service() -> RunningService {
    local_service(ServiceConfig {
        access_key: SERVICE_KEY.into(),
        ..ServiceConfig::default()
    })
    .await
}

/// A real-looking client token for `hub` on the service, signed with the wrong key.
fn wrong_token(service: &RunningService) -> String {
    mint(
        &Claims {
            aud: format!("http://{}/client/hubs/chat", service.addr),
            iat: Some(unix_now()),
            exp: unix_now() + 3600,
            sub: Some("erin".into()),
            roles: vec!["webpubsub.joinLeaveGroup".into()],
            ..Claims::default()
        },
        CLIENT_KEY,
    )
}

/// Fails when `text` shows any secret: a whole token, a signature, a key, or a JWT at all
/// (every JWT starts with the base64 of `{"`, `eyJ`).
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
    assert!(!text.contains("eyJ"), "{what} shows a JWT: {text}");
}

/// Spawns the engine and returns its `last_error` once the first attempt has failed.
async fn handshake_error(target: &Target) -> String {
    let handle = client::spawn(target.client.clone());
    let mut state = handle.state.clone();
    let reconnecting = tokio::time::timeout(
        LIMIT,
        state.wait_for(|s| matches!(s, ConnState::Reconnecting { .. })),
    )
    .await
    .expect("the attempt fails in time")
    .expect("the engine runs")
    .clone();
    let _ = handle.commands.send(Command::Shutdown).await;
    match reconnecting {
        ConnState::Reconnecting { last_error, .. } => last_error,
        other => panic!("expected Reconnecting: {other:?}"),
    }
}

async fn resolved(args: &TargetOptions) -> Target {
    resolve_in_time(args).await.expect("the target resolves")
}

async fn resolve_in_time(args: &TargetOptions) -> anyhow::Result<Target> {
    tokio::time::timeout(LIMIT, resolve(args, &Config::default()))
        .await
        .expect("resolve finishes in time")
}

/// Resolving `args` fails, and the error shows none of `secrets`.
async fn refused_cleanly(args: &TargetOptions, why: &str, secrets: &[&str]) {
    let error = resolve_in_time(args).await.expect_err(why);
    assert_clean("resolve error", &format!("{error:#} {error:?}"), secrets);
}

/// Nothing shown about `target` holds a secret: its Debug, description and notices, and the
/// error the service's refusal (401) leaves in the engine's `last_error`.
async fn assert_target_clean(target: &Target, secrets: &[&str]) {
    for (what, text) in shown(target) {
        assert_clean(what, &text, secrets);
    }
    let error = handshake_error(target).await;
    assert!(error.contains("401"), "{error}");
    assert_clean("last_error", &error, secrets);
}

fn shown(target: &Target) -> Vec<(&'static str, String)> {
    vec![
        ("Debug", format!("{target:?}")),
        ("description", target.description.clone()),
        ("notices", target.notices.join("\n")),
        ("provider", target.client.url_provider.describe()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_url_token_never_shows() {
    let service = service().await;
    let token = wrong_token(&service);
    let signature = token.rsplit('.').next().expect("a JWT has three parts");
    let secrets = [token.as_str(), signature, CLIENT_KEY, SERVICE_KEY];
    let url = format!(
        "ws://{}/client/hubs/chat?access_token={token}",
        service.addr
    );
    for token_in_header in [false, true] {
        let args = TargetOptions {
            url: Some(url.clone()),
            token_in_header,
            ..TargetOptions::default()
        };
        assert_clean("TargetOptions", &format!("{args:?}"), &secrets);
        let target = resolved(&args).await;
        assert_eq!(
            target.user_id.as_deref(),
            Some("erin"),
            "the token was read"
        );
        assert_target_clean(&target, &secrets).await;
    }

    // A resolve error about the URL does not echo it either.
    let mismatch = TargetOptions {
        url: Some(url),
        hub: Some("other".into()),
        ..TargetOptions::default()
    };
    refused_cleanly(&mismatch, "the hubs differ", &secrets).await;
    tokio::time::timeout(LIMIT, service.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_string_key_never_shows() {
    let service = service().await;
    let connection_string = format!(
        "Endpoint=http://{};AccessKey={CLIENT_KEY};Version=1.0;",
        service.addr
    );
    let args = TargetOptions {
        connection_string: Some(connection_string.clone()),
        hub: Some("chat".into()),
        user: Some("frank".into()),
        ..TargetOptions::default()
    };
    assert_clean("TargetOptions", &format!("{args:?}"), &[CLIENT_KEY]);
    let target = resolved(&args).await;
    // A token this provider mints, to look for its signature too.
    let minted = tokio::time::timeout(LIMIT, target.client.url_provider.client_url())
        .await
        .expect("minting is immediate")
        .expect("the provider mints");
    let token = minted
        .query_pairs()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .expect("the minted URL has a token");
    let signature = token.rsplit('.').next().unwrap_or_default().to_string();
    let secrets = [
        CLIENT_KEY,
        SERVICE_KEY,
        token.as_str(),
        signature.as_str(),
        connection_string.as_str(),
    ];
    assert_target_clean(&target, &secrets).await;

    // A connection string that cannot be parsed is not echoed in the error.
    let broken = TargetOptions {
        connection_string: Some(format!("Endpoint=;AccessKey={CLIENT_KEY}")),
        hub: Some("chat".into()),
        ..TargetOptions::default()
    };
    refused_cleanly(&broken, "no endpoint", &secrets).await;
    tokio::time::timeout(LIMIT, service.shutdown())
        .await
        .unwrap();
}
