//! Client tokens minted from a connection string (by the provider and by `wpchat token`) carry
//! the claims the official server SDKs put in them, and connection strings parse as the SDKs
//! parse them.

#[path = "support/cli.rs"]
mod cli;

use std::process::Output;

use wpchat::auth::connection_string::unix_now;
use wpchat::auth::token::{decode_unverified, verify};
use wpchat::auth::{
    ConnectionString, ConnectionStringError, ConnectionStringProvider, TokenOptions, UrlProvider,
};

const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

fn portal_string() -> String {
    format!("Endpoint=https://contoso.webpubsub.azure.com;AccessKey={KEY};Version=1.0;")
}

fn options() -> TokenOptions {
    TokenOptions {
        user_id: Some("alice".into()),
        roles: vec![
            "webpubsub.joinLeaveGroup".into(),
            "webpubsub.sendToGroup.lobby".into(),
        ],
        groups: vec!["lobby".into(), "ops".into()],
        expires_minutes: 15,
    }
}

#[tokio::test]
async fn provider_mints_a_fresh_sdk_token_per_connection() {
    let provider = ConnectionStringProvider::new(
        ConnectionString::parse(&portal_string()).unwrap(),
        "chat",
        options(),
    )
    .unwrap();
    let aud = "https://contoso.webpubsub.azure.com/client/hubs/chat";
    for _ in 0..2 {
        let before = unix_now();
        let url = tokio::time::timeout(std::time::Duration::from_secs(5), provider.client_url())
            .await
            .expect("the provider answers at once")
            .expect("the provider mints a URL");
        let after = unix_now();
        assert_eq!(url.scheme(), "wss");
        assert_eq!(url.path(), "/client/hubs/chat");
        let token = url
            .query_pairs()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
            .expect("the URL carries access_token");
        let claims = verify(&token, KEY, aud, after, 0).expect("the token verifies");
        let iat = claims.iat.expect("iat is set, as both SDKs set it");
        // Minted at call time, not once up front.
        assert!(
            (before..=after).contains(&iat),
            "iat {iat} not in {before}..={after}"
        );
        assert_eq!(claims.exp - iat, 15 * 60);
        assert_eq!(claims.aud, aud);
        assert_eq!(claims.sub.as_deref(), Some("alice"));
        assert_eq!(claims.roles, options().roles);
        assert_eq!(claims.groups, options().groups);
    }
    let shown = format!("{provider:?} {}", provider.describe());
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("contoso.webpubsub.azure.com"), "{shown}");
}

#[test]
fn empty_lists_and_no_user_leave_claims_out() {
    let cs = ConnectionString::parse(&portal_string()).unwrap();
    let access = cs.client_access("chat", &TokenOptions::default(), 1_000);
    let (_, payload, _) = split3(&access.token);
    let json: serde_json::Value = serde_json::from_slice(&base64_decode(payload)).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, vec!["aud", "exp", "iat"], "{json}");
    assert_eq!(
        json["exp"].as_i64(),
        Some(1_000 + 3600),
        "default lifetime is 60 minutes"
    );
    let header: serde_json::Value =
        serde_json::from_slice(&base64_decode(split3(&access.token).0)).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
}

fn split3(token: &str) -> (&str, &str, &str) {
    let mut parts = token.split('.');
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

fn base64_decode(part: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap()
}

#[test]
fn connection_string_edge_cases() {
    let parse = ConnectionString::parse;
    // Port is applied to the endpoint, and so to baseUrl and aud.
    let with_port = parse(&format!(
        "Endpoint=http://localhost;Port=8080;AccessKey={KEY};Version=1.0"
    ))
    .unwrap();
    assert_eq!(
        with_port.base_url("chat"),
        "ws://localhost:8080/client/hubs/chat"
    );
    assert_eq!(
        with_port.audience("chat"),
        "http://localhost:8080/client/hubs/chat"
    );
    // Port overrides one in the endpoint.
    let override_port = parse(&format!("Endpoint=https://h:1;Port=8443;AccessKey={KEY}")).unwrap();
    assert_eq!(
        override_port.audience("chat"),
        "https://h:8443/client/hubs/chat"
    );
    // No scheme: https is assumed.
    let no_scheme = parse(&format!(
        "Endpoint=contoso.webpubsub.azure.com;AccessKey={KEY}"
    ))
    .unwrap();
    assert_eq!(
        no_scheme.base_url("chat"),
        "wss://contoso.webpubsub.azure.com/client/hubs/chat"
    );
    // Keys are case-insensitive, order is free, Version and unknown keys are ignored, and a
    // trailing slash on the endpoint is dropped.
    let mixed = parse(&format!(
        "version=2.0;ACCESSKEY={KEY};Extra=1;endPOINT=https://contoso.webpubsub.azure.com/;"
    ))
    .unwrap();
    assert_eq!(mixed.access_key(), KEY);
    assert_eq!(
        mixed.audience("chat"),
        "https://contoso.webpubsub.azure.com/client/hubs/chat"
    );
    // An access key may itself contain '=' (base64 padding): only the first '=' splits.
    let padded = parse("Endpoint=https://h;AccessKey=abc==;").unwrap();
    assert_eq!(padded.access_key(), "abc==");

    assert_eq!(parse(""), Err(ConnectionStringError::Empty));
    assert_eq!(
        parse(&format!("AccessKey={KEY}")),
        Err(ConnectionStringError::MissingEndpoint)
    );
    assert_eq!(
        parse("Endpoint=https://h;Version=1.0"),
        Err(ConnectionStringError::MissingAccessKey)
    );
    assert_eq!(
        parse("Endpoint=https://h;AccessKey=;"),
        Err(ConnectionStringError::MissingAccessKey)
    );
    assert_eq!(
        parse(&format!("Endpoint=https://h;AccessKey={KEY};Port=eighty")),
        Err(ConnectionStringError::BadPort("eighty".into()))
    );
    assert!(matches!(
        parse(&format!("Endpoint=wss://h;AccessKey={KEY}")),
        Err(ConnectionStringError::EndpointScheme(s)) if s == "wss"
    ));
    assert!(matches!(
        parse(&format!("Endpoint=https://;AccessKey={KEY}")),
        Err(ConnectionStringError::BadEndpoint(_))
    ));
    for error in [
        ConnectionStringError::MissingEndpoint,
        ConnectionStringError::MissingAccessKey,
        ConnectionStringError::BadPort("x".into()),
    ] {
        let message = error.to_string();
        assert!(!message.contains('\n'), "one line: {message}");
    }
}

fn wpchat(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = cli::shared_home().wpchat_blocking(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("wpchat runs")
}

#[test]
fn wpchat_token_json_matches_the_sdks() {
    let cs = portal_string();
    let output = wpchat(
        &[
            "token",
            "--connection-string",
            &cs,
            "--hub",
            "chat",
            "--user",
            "bob",
            "--role",
            "webpubsub.joinLeaveGroup",
            "--role",
            "webpubsub.sendToGroup",
            "--group",
            "lobby",
            "--expires",
            "5",
            "--json",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stdout.contains(KEY) && !stderr.contains(KEY),
        "the key is never printed"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let base = json["baseUrl"].as_str().unwrap();
    let token = json["token"].as_str().unwrap();
    assert_eq!(base, "wss://contoso.webpubsub.azure.com/client/hubs/chat");
    assert_eq!(
        json["url"].as_str().unwrap(),
        format!("{base}?access_token={token}")
    );
    let aud = "https://contoso.webpubsub.azure.com/client/hubs/chat";
    let claims = verify(token, KEY, aud, unix_now(), 60).expect("the printed token verifies");
    assert_eq!(claims.exp - claims.iat.unwrap(), 5 * 60);
    assert_eq!(claims.sub.as_deref(), Some("bob"));
    assert_eq!(
        claims.roles,
        vec!["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]
    );
    assert_eq!(claims.groups, vec!["lobby"]);
}

#[test]
fn wpchat_token_prints_the_url_and_reads_the_environment() {
    let cs = format!("Endpoint=http://localhost;Port=8080;AccessKey={KEY}");
    let output = wpchat(
        &["token", "--hub", "chat"],
        &[
            ("WebPubSubConnectionString", cs.as_str()),
            ("USER", ""),
            ("USERNAME", ""),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8(output.stdout).unwrap();
    let url = url.trim();
    let token = url
        .strip_prefix("ws://localhost:8080/client/hubs/chat?access_token=")
        .unwrap_or_else(|| panic!("unexpected URL {url}"));
    let claims = decode_unverified(token).unwrap();
    assert_eq!(
        claims.sub.as_deref(),
        Some("me"),
        "no --user and no $USER: the chat's fallback user"
    );
    assert!(claims.roles.is_empty() && claims.groups.is_empty());
    assert_eq!(claims.exp - claims.iat.unwrap(), 60 * 60);
}

#[test]
fn wpchat_token_errors_name_the_problem_without_the_key() {
    let cs = portal_string();
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["token", "--connection-string", &cs],
            "--hub is required",
        ),
        (
            vec!["token", "--hub", "chat"],
            "no connection string to mint a token from",
        ),
        (
            vec![
                "token",
                "--connection-string",
                "Endpoint=https://h;AccessKey=;SECRETISH=1",
                "--hub",
                "chat",
            ],
            "no AccessKey",
        ),
        (
            vec![
                "token",
                "--connection-string",
                &cs,
                "--hub",
                "chat",
                "--expires",
                "0",
            ],
            "at least 1 minute",
        ),
    ];
    for (args, expected) in cases {
        let output = wpchat(&args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains(KEY), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("wpchat: wpchat"), "said twice: {stderr}");
    }
}
