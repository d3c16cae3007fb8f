//! `wpchat serve`'s event handlers against shared/upstream.md's checklist, configuration and
//! connection lifecycle (U1–U12): a handler written in the test (support/event_handler.rs)
//! behind the real service, raw sockets in front. One test per item, named after it; user
//! events are in service_upstream_events.rs. U3 runs the built binary (`wpchat serve
//! --upstream`): its banner names the handler and its abuse-protection outcome.

#[path = "support/event_handler.rs"]
mod event_handler;
#[path = "support/service_client.rs"]
mod service_client;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use event_handler::*;
use serde_json::json;
use service_client::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use wpchat::auth::token::{Claims, mint};
use wpchat::service::upstream::{self, EventPattern, UpstreamSettings};
use wpchat::service::{DEV_ACCESS_KEY, ServiceConfig};

#[tokio::test]
async fn u1_the_first_matching_handler_takes_the_event() {
    let handler = EventHandler::start().await;
    let narrowed = |path: &str, pattern: &str| upstream::EventHandler {
        user_events: EventPattern::parse(pattern),
        ..upstream::EventHandler::all_events(&format!(
            "http://{}/{path}/{{hub}}/{{event}}",
            handler.addr
        ))
        .unwrap()
    };
    let service = serve_settings(UpstreamSettings {
        hubs: vec![(
            HUB.into(),
            vec![narrowed("one", "chat"), narrowed("two", "*")],
        )],
        ..UpstreamSettings::default()
    })
    .await;
    let (mut client, _) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    for (ack_id, name) in [(1, "chat"), (2, "other")] {
        client
            .send_json(event(name, "text", json!("hi"), ack_id))
            .await;
        let reply = client.next_json().await;
        assert_eq!(reply["from"], "server", "{reply}");
        assert_eq!(client.next_json().await, ack_ok(ack_id));
    }
    let paths: Vec<String> = handler
        .events()
        .into_iter()
        .filter(|c| c.event() == "chat" || c.event() == "other")
        .map(|c| c.path)
        .collect();
    assert_eq!(paths, ["/one/chat/chat", "/two/chat/other"]);
}

#[tokio::test]
async fn u1_an_event_no_handler_takes_fails_and_connect_is_accepted() {
    let handler = EventHandler::start().await;
    let only_chat = upstream::EventHandler {
        user_events: EventPattern::parse("chat"),
        ..upstream::EventHandler::all_events(&handler.template())
            .unwrap()
            .with_system_events("connected")
            .unwrap()
    };
    let service = serve_settings(UpstreamSettings::for_all_hubs(only_chat)).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client
        .send_json(event("other", "text", json!("x"), 1))
        .await;
    failed_ack(&client.next_json().await, 1);
    handler
        .wait_event(&connection_id(&connected), "connected")
        .await;
    assert!(handler.events().iter().all(|c| c.event() == "connected"));
}

#[tokio::test]
async fn u2_the_url_template_gets_the_hub_and_the_event() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (_client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    let connect = handler
        .wait_event(&connection_id(&connected), "connect")
        .await;
    assert_eq!(connect.path, "/eventhandler/chat/connect");
    let validation = &handler.calls()[0];
    assert_eq!(validation.method, "OPTIONS");
    assert_eq!(validation.path, "/eventhandler/chat/validate");
}

#[tokio::test]
async fn u4_one_validation_with_both_headers_precedes_the_first_event() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    for user in ["a", "b"] {
        let (client, connected) = connect_to_hub(&service, JSON, Some(user), &[], &[]).await;
        handler
            .wait_event(&connection_id(&connected), "connected")
            .await;
        drop(client);
    }
    let calls = handler.calls();
    let validations: Vec<&Call> = calls.iter().filter(|c| !c.is_event()).collect();
    assert_eq!(validations.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].method, "OPTIONS");
    assert_eq!(calls[0].header("WebHook-Request-Origin"), Some("127.0.0.1"));
    assert_eq!(calls[0].header("ce-awpsversion"), Some("1.0"));
}

#[tokio::test]
async fn u4_a_handler_that_does_not_allow_us_gets_no_events_and_clients_get_500() {
    let handler =
        EventHandler::start_with(|call| (!call.is_event()).then(|| Reply::status(200))).await;
    let service = serve(&handler).await;
    let (status, _) = refused(&hub_url(&service, Some("u"), &[], &[]), &[JSON]).await;
    assert_eq!(status, 500);
    assert!(handler.events().is_empty(), "{:#?}", handler.calls());
}

#[tokio::test]
async fn u4_a_404_validation_is_retried_as_get() {
    let handler =
        EventHandler::start_with(|call| (call.method == "OPTIONS").then(|| Reply::status(404)))
            .await;
    let service = serve(&handler).await;
    let (_client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    handler
        .wait_event(&connection_id(&connected), "connected")
        .await;
    let methods: Vec<String> = handler.calls()[..2]
        .iter()
        .map(|c| c.method.to_string())
        .collect();
    assert_eq!(methods, ["OPTIONS", "GET"]);
}

#[tokio::test]
async fn u5_every_event_carries_the_cloud_events_headers() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("alice"), &[], &[]).await;
    let id = connection_id(&connected);
    client
        .send_json(event("chat", "text", json!("hi"), 1))
        .await;
    client.next_json().await;
    client.next_json().await;
    let calls = handler
        .wait_for(|calls| calls.iter().filter(|c| c.is_event()).count() >= 3)
        .await;
    for call in calls.iter().filter(|c| c.is_event()) {
        let h = |name| {
            call.header(name)
                .unwrap_or_else(|| panic!("{name} missing: {call:#?}"))
        };
        assert_eq!(h("ce-specversion"), "1.0");
        assert_eq!(h("ce-awpsversion"), "1.0");
        assert_eq!(h("ce-source"), format!("/hubs/chat/client/{id}"));
        assert_eq!(h("ce-hub"), "chat");
        assert_eq!(h("ce-connectionId"), id);
        assert_eq!(h("ce-userId"), "alice");
        assert_eq!(h("WebHook-Request-Origin"), "127.0.0.1");
        assert!(h("ce-signature").starts_with("sha256="));
        assert!(!h("ce-id").is_empty());
        let time = chrono::DateTime::parse_from_rfc3339(h("ce-time")).expect("RFC 3339 ce-time");
        assert_eq!(time.offset().local_minus_utc(), 0);
        if call.event() != "connect" {
            assert_eq!(h("ce-subprotocol"), JSON);
        }
    }
}

#[tokio::test]
async fn u6_the_signature_is_the_hmac_of_the_connection_id() {
    use hmac::{Hmac, Mac};
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (_client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    let id = connection_id(&connected);
    handler.wait_event(&id, "connected").await;
    for call in handler.events() {
        let signature = call.header("ce-signature").expect("signed");
        let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let digest: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(service.access_key.as_bytes()).unwrap();
        mac.update(id.as_bytes());
        assert!(mac.verify_slice(&digest).is_ok(), "{signature}");
    }
}

#[tokio::test]
async fn u7_types_match_event_names_and_ids_are_unique_per_connection() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    for ack_id in 1..=3 {
        client
            .send_json(event("chat", "text", json!("x"), ack_id))
            .await;
        client.next_json().await;
        client.next_json().await;
    }
    client.close_with(1000).await;
    handler
        .wait_event(&connection_id(&connected), "disconnected")
        .await;
    let mut seen = HashSet::new();
    for call in handler.events() {
        let kind = if matches!(call.event(), "connect" | "connected" | "disconnected") {
            "sys"
        } else {
            "user"
        };
        assert_eq!(
            call.header("ce-type").unwrap(),
            format!("azure.webpubsub.{kind}.{}", call.event())
        );
        let key = (
            call.header("ce-source").unwrap().to_string(),
            call.header("ce-id").unwrap().to_string(),
        );
        assert!(seen.insert(key.clone()), "repeated {key:?}");
    }
    assert_eq!(seen.len(), 6);
}

#[tokio::test]
async fn u8_connect_gets_claims_query_headers_and_offered_subprotocols() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let url = format!("{}&user=x", hub_url(&service, Some("alice"), &[], &["g1"]));
    let _simple = open(&url, &[]).await.unwrap();
    let (_json, connected) = Client::connect(&url, RELIABLE).await;
    let connects = handler
        .wait_for(|calls| calls.iter().filter(|c| c.event() == "connect").count() == 2)
        .await;
    let connects: Vec<&Call> = connects.iter().filter(|c| c.event() == "connect").collect();
    for call in &connects {
        let body = call.json();
        assert_eq!(body["query"]["user"], json!(["x"]), "{body}");
        assert!(body["query"].get("access_token").is_none(), "{body}");
        assert!(body["headers"].get("authorization").is_none(), "{body}");
        assert_eq!(body["claims"]["sub"], json!(["alice"]));
        assert_eq!(body["claims"]["webpubsub.group"], json!(["g1"]));
        assert_eq!(body["clientCertificates"], json!([]));
        assert_eq!(call.header("ce-userId"), Some("alice"));
        assert_eq!(call.header("content-type"), Some("application/json"));
    }
    let offered = |id: Option<&str>| {
        connects
            .iter()
            .find(|c| {
                id.is_none_or(|id| c.connection_id() == id)
                    && (id.is_some() || c.json()["subprotocols"] == json!([]))
            })
            .map(|c| c.json()["subprotocols"].clone())
    };
    assert_eq!(offered(None), Some(json!([])));
    assert_eq!(
        offered(Some(&connection_id(&connected))),
        Some(json!([RELIABLE]))
    );
}

#[tokio::test]
async fn u9_connect_sets_the_user_roles_and_groups() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "connect").then(|| {
            Reply::json(json!({
                "userId": "bob",
                "roles": ["webpubsub.sendToGroup.from-upstream"],
                "groups": ["from-upstream"],
                "unknown": true
            }))
        })
    })
    .await;
    let service = serve(&handler).await;
    let (mut client, connected) = connect_to_hub(&service, JSON, Some("alice"), &[], &[]).await;
    assert_eq!(connected["userId"], "bob", "{connected}");
    // No role in the token: the send is allowed by the handler's role, and the member of the
    // handler's group gets the message.
    client
        .send_json(send_text("from-upstream", "hello group", 1))
        .await;
    let frames = [client.next_json().await, client.next_json().await];
    assert!(frames.contains(&ack_ok(1)), "{frames:?}");
    assert!(
        frames
            .iter()
            .any(|f| f["group"] == "from-upstream" && f["data"] == "hello group"),
        "{frames:?}"
    );
    client.send_json(event("chat", "text", json!("x"), 2)).await;
    client.next_json().await;
    let call = handler.wait_event(&connection_id(&connected), "chat").await;
    assert_eq!(call.header("ce-userId"), Some("bob"));
}

#[tokio::test]
async fn u9_a_custom_subprotocol_makes_a_simple_client() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "connect").then(|| Reply::json(json!({"subprotocol": "my.chat"})))
    })
    .await;
    let service = serve(&handler).await;
    let mut client = open(&hub_url(&service, Some("u"), &[], &[]), &["my.chat"])
        .await
        .unwrap();
    client.send_text("hello").await;
    assert_eq!(client.next_message().await, Message::text("echo: hello"));
    let message = handler
        .wait_for(|calls| calls.iter().any(|c| c.event() == "message"))
        .await;
    let call = message.iter().find(|c| c.event() == "message").unwrap();
    assert_eq!(call.header("ce-subprotocol"), Some("my.chat"));
}

#[tokio::test]
async fn u10_a_refused_connect_fails_the_upgrade_with_its_status() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "connect" && call.header("ce-userId") == Some("mallory"))
            .then(|| Reply::with("text/plain", "go away").with_status(401))
    })
    .await;
    let service = serve(&handler).await;
    let (status, body) = refused(&hub_url(&service, Some("mallory"), &[], &[]), &[JSON]).await;
    assert_eq!(status, 401);
    assert!(
        !body.contains("go away"),
        "the handler's body is not forwarded: {body}"
    );
    let refused_id = handler.events()[0].connection_id().to_string();
    // A later connection's whole lifecycle passes; the refused one got nothing more.
    let (client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    client.close_with(1000).await;
    handler
        .wait_event(&connection_id(&connected), "disconnected")
        .await;
    let refused_calls = handler.event_names(&refused_id);
    assert_eq!(refused_calls, ["connect"]);
}

#[tokio::test]
async fn u10_an_unusable_connect_reply_fails_with_500() {
    let handler = EventHandler::start_with(|call| match call.header("ce-userId") {
        Some("badjson") if call.event() == "connect" => {
            Some(Reply::with("application/json", "{nope"))
        }
        Some("badproto") if call.event() == "connect" => {
            Some(Reply::json(json!({"subprotocol": "never.offered"})))
        }
        _ => None,
    })
    .await;
    let service = serve(&handler).await;
    for user in ["badjson", "badproto"] {
        let (status, _) = refused(&hub_url(&service, Some(user), &[], &[]), &[JSON]).await;
        assert_eq!(status, 500, "{user}");
    }
}

#[tokio::test]
async fn u11_exactly_one_connected_after_connect() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (client, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    let id = connection_id(&connected);
    client.close_with(1000).await;
    handler.wait_event(&id, "disconnected").await;
    let events = handler.event_names(&id);
    assert_eq!(events, ["connect", "connected", "disconnected"]);
}

#[tokio::test]
async fn u12_closing_simple_and_sdk_clients_sends_one_disconnected_each() {
    let handler = EventHandler::start().await;
    let service = serve(&handler).await;
    let (json_client, connected) = connect_to_hub(&service, RELIABLE, Some("u"), &[], &[]).await;
    let simple = open(&hub_url(&service, Some("s"), &[], &[]), &[])
        .await
        .unwrap();
    json_client.close_with(1000).await;
    simple.close_with(1000).await;
    let calls = handler
        .wait_for(|calls| calls.iter().filter(|c| c.event() == "disconnected").count() == 2)
        .await;
    let disconnected: Vec<&Call> = calls
        .iter()
        .filter(|c| c.event() == "disconnected")
        .collect();
    assert!(
        disconnected
            .iter()
            .any(|c| c.connection_id() == connection_id(&connected))
    );
    for call in disconnected {
        assert!(call.json()["reason"].is_string(), "{:?}", call.json());
    }
}

#[tokio::test]
async fn u8_u12_u19_a_recovered_session_sends_no_new_connect_and_keeps_its_state() {
    let handler = EventHandler::start_with(|call| {
        (call.event() == "connect").then(|| Reply::status(204).header("ce-connectionState", "kept"))
    })
    .await;
    let service = serve(&handler).await;
    let (client, connected) = connect_to_hub(&service, RELIABLE, Some("u"), &[], &[]).await;
    let id = connection_id(&connected);
    handler.wait_event(&id, "connected").await;
    client.drop_abruptly();
    let mut recovered = recover(&service, &connected, RELIABLE).await;
    recovered
        .send_json(event("chat", "text", json!("again"), 1))
        .await;
    assert_eq!(recovered.next_json().await["data"], "again");
    let chat = handler.wait_event(&id, "chat").await;
    assert_eq!(chat.header("ce-connectionState"), Some("kept"));
    recovered.close_with(1000).await;
    handler.wait_event(&id, "disconnected").await;
    let events = handler.event_names(&id);
    assert_eq!(events, ["connect", "connected", "chat", "disconnected"]);
}

#[tokio::test]
async fn u12_a_rest_close_and_an_expired_recovery_window_send_disconnected() {
    let handler = EventHandler::start().await;
    let service = start_with(ServiceConfig {
        recovery_window: std::time::Duration::from_millis(200),
        upstream: UpstreamSettings::for_all_hubs(
            upstream::EventHandler::all_events(&handler.template()).unwrap(),
        ),
        ..ServiceConfig::default()
    })
    .await;
    let (_closed, connected) = connect_to_hub(&service, JSON, Some("u"), &[], &[]).await;
    let closed_id = connection_id(&connected);
    HubApi::new(&service, HUB)
        .expect(
            reqwest::Method::DELETE,
            &format!("connections/{closed_id}?reason=bye"),
            204,
        )
        .await;
    let (dropped, connected) = connect_to_hub(&service, RELIABLE, Some("u"), &[], &[]).await;
    let dropped_id = connection_id(&connected);
    handler.wait_event(&dropped_id, "connected").await;
    dropped.drop_abruptly();
    for id in [closed_id, dropped_id] {
        let disconnected = handler.wait_event(&id, "disconnected").await;
        assert!(disconnected.json()["reason"].is_string());
        let count = handler
            .events()
            .iter()
            .filter(|c| c.connection_id() == id && c.event() == "disconnected")
            .count();
        assert_eq!(count, 1, "{id}");
    }
}

/// Starts `wpchat serve --port 0 ARGS` and reads its banner up to "Press Ctrl+C".
async fn serve_binary(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args(["serve", "--port", "0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("wpchat serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push_str(&line);
            banner.push('\n');
            if line.starts_with("Press Ctrl+C") {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no full banner: {banner}"));
    (child, banner)
}

/// A client token for `hub` of the service at `addr` (signed with the development key).
fn token_for_addr(addr: &str, hub: &str) -> String {
    mint(
        &Claims {
            aud: format!("http://{addr}/client/hubs/{hub}"),
            iat: Some(now()),
            exp: now() + 3600,
            sub: Some("cli".into()),
            ..Claims::default()
        },
        DEV_ACCESS_KEY,
    )
}

fn listening_addr(banner: &str) -> String {
    banner
        .lines()
        .find_map(|line| line.split("listening on http://").nth(1))
        .expect("the banner says where it listens")
        .trim()
        .to_string()
}

#[tokio::test]
async fn u3_serve_takes_the_handler_template_as_a_flag() {
    let handler = EventHandler::start().await;
    let template = format!("{}?code=s3cret", handler.template());
    let (mut child, banner) = serve_binary(&["--upstream", &template]).await;
    assert!(banner.contains("every hub"), "{banner}");
    assert!(banner.contains("passed"), "{banner}");
    assert!(
        !banner.contains("s3cret"),
        "the function key never shows: {banner}"
    );
    let addr = listening_addr(&banner);
    let url = format!(
        "ws://{addr}/client/hubs/chat?access_token={}",
        token_for_addr(&addr, "chat")
    );
    let mut client = open(&url, &[]).await.expect("a simple client connects");
    client.send_text("hello").await;
    assert_eq!(client.next_message().await, Message::text("echo: hello"));
    let message = handler
        .wait_for(|calls| calls.iter().any(|c| c.event() == "message"))
        .await;
    assert!(
        message
            .iter()
            .all(|c| c.path.starts_with("/eventhandler/chat/"))
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn serve_banner_says_when_the_abuse_protection_check_fails() {
    let handler =
        EventHandler::start_with(|call| (!call.is_event()).then(|| Reply::status(403))).await;
    let (mut child, banner) = serve_binary(&[
        "--upstream",
        &handler.template(),
        "--upstream-events",
        "chat",
        "--upstream-system-events",
        "connect",
    ])
    .await;
    assert!(banner.contains("FAILED"), "{banner}");
    assert!(banner.contains("403"), "{banner}");
    assert!(
        banner.contains("user events chat; system events connect"),
        "{banner}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn serve_refuses_a_bad_template_with_what_to_do() {
    let output = Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args([
            "serve",
            "--port",
            "0",
            "--upstream",
            "localhost:3000/{event}",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("absolute http"), "{stderr}");
}
