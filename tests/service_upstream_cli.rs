//! `wpchat serve --upstream` (U3), the built binary: its banner names the handler and its
//! abuse-protection outcome, and a simple client gets the handler's reply through it.

#[path = "support/event_handler.rs"]
mod event_handler;
#[path = "support/service_client.rs"]
mod service_client;

use std::process::Stdio;
use std::time::Duration;

use event_handler::{EventHandler, Reply};
use service_client::{now, open};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use wpchat::auth::token::{Claims, mint};
use wpchat::service::DEV_ACCESS_KEY;

/// Starts `wpchat serve --port 0 ARGS` and reads its banner up to "Press Ctrl+C".
async fn serve(args: &[&str]) -> (Child, String) {
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
    let (mut child, banner) = serve(&["--upstream", &template]).await;
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
    let (mut child, banner) = serve(&[
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
