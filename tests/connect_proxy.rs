//! The HTTP CONNECT tunnel a `wss` connection needs behind a proxy: against a tiny proxy on
//! 127.0.0.1:0 that checks the request, then relays bytes to an echo server.

#[path = "support/connect_proxy.rs"]
mod connect_proxy;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;
use wpchat::auth::proxy::{TunnelError, connect_tunnel};

const LIMIT: Duration = Duration::from_secs(20);

async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = socket.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    port
}

/// A proxy that answers `status` to CONNECT and, on 200, relays to the requested port. It
/// sends the request head it saw back over `seen`.
async fn proxy(status: &'static str) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    connect_proxy::start(connect_proxy::Answer::Status(status)).await
}

#[tokio::test]
async fn tunnels_through_an_http_proxy_with_basic_credentials() {
    let target_port = echo_server().await;
    let (proxy_port, mut seen) = proxy("200 Connection established").await;
    let proxy_url = Url::parse(&format!("http://al%40ice:pa%3Ass@127.0.0.1:{proxy_port}")).unwrap();
    let mut stream =
        tokio::time::timeout(LIMIT, connect_tunnel(&proxy_url, "127.0.0.1", target_port))
            .await
            .unwrap()
            .expect("the tunnel opens");
    let head = tokio::time::timeout(LIMIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        head.starts_with(&format!("CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\n")),
        "{head}"
    );
    // base64("al@ice:pa:ss")
    assert!(
        head.contains("Proxy-Authorization: Basic YWxAaWNlOnBhOnNz\r\n"),
        "{head}"
    );
    stream.write_all(b"hello through the tunnel").await.unwrap();
    let mut echoed = [0u8; 24];
    tokio::time::timeout(LIMIT, stream.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"hello through the tunnel");
}

#[tokio::test]
async fn a_refusal_names_the_status_and_hides_the_password() {
    let (proxy_port, _seen) = proxy("407 Proxy Authentication Required").await;
    let proxy_url = Url::parse(&format!("http://user:S3CRET@127.0.0.1:{proxy_port}")).unwrap();
    let error = tokio::time::timeout(LIMIT, connect_tunnel(&proxy_url, "example.org", 443))
        .await
        .unwrap()
        .expect_err("the proxy refuses");
    let message = error.to_string();
    assert!(
        matches!(error, TunnelError::Refused { status: 407, .. }),
        "{message}"
    );
    assert!(
        message.contains("example.org:443") && message.contains("credentials"),
        "{message}"
    );
    assert!(!message.contains("S3CRET"), "{message}");

    let https_proxy = Url::parse("https://127.0.0.1:1").unwrap();
    assert!(matches!(
        connect_tunnel(&https_proxy, "example.org", 443).await,
        Err(TunnelError::Scheme { .. })
    ));
}
