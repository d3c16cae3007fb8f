//! Admission decides before anything is allocated: a flood of refused upgrade requests, each
//! naming a different hub, leaves the service's hub map empty and its memory where it was.
//! Alone in its own test binary, so no other test's allocations move the RSS reading.

#[path = "support/service_client.rs"]
mod service_client;

use base64::Engine;
use service_client::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use wpchat::auth::token::{Claims, mint};
use wpchat::service::RunningService;

/// Refused requests sent after the warm-up.
const FLOOD: usize = 10_000;
/// RSS growth allowed over the flood: far below what 10 000 kept hubs with 128-byte names
/// would take, far above allocator noise.
const RSS_SLACK_BYTES: u64 = 4 * 1024 * 1024;

/// This process's resident set size (the service runs in it).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

/// One keep-alive HTTP/1.1 connection sending WebSocket upgrade requests and reading the
/// refusals; reconnects when the service closes it.
struct Upgrader {
    addr: std::net::SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Upgrader {
    /// The status of a refused upgrade of `path_and_query`.
    async fn refused_status(&mut self, path_and_query: &str) -> u16 {
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Protocol: {JSON}\r\n\r\n",
            self.addr
        );
        for _ in 0..2 {
            if let Some(status) = self.exchange(&request).await {
                return status;
            }
            self.stream = None;
        }
        panic!("no answer to {path_and_query}");
    }

    async fn exchange(&mut self, request: &str) -> Option<u16> {
        if self.stream.is_none() {
            let tcp = TcpStream::connect(self.addr).await.ok()?;
            self.stream = Some(BufReader::new(tcp));
        }
        let stream = self.stream.as_mut()?;
        stream.get_mut().write_all(request.as_bytes()).await.ok()?;
        let mut line = String::new();
        stream.read_line(&mut line).await.ok()?;
        let status = line.split(' ').nth(1)?.parse().ok()?;
        let mut length = 0;
        let mut close = false;
        loop {
            line.clear();
            if stream.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("content-length:") {
                length = value.trim().parse().ok()?;
            }
            close |= header == "connection: close";
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.ok()?;
        if close {
            self.stream = None;
        }
        Some(status)
    }
}

/// The n-th refused request: five kinds of bad token, each on its own 128-byte hub name.
fn refused_request(service: &RunningService, n: usize) -> (String, u16) {
    let hub = format!("h{n:0>127}");
    let aud = format!("http://{}/client/hubs/{hub}", service.addr);
    let claims = |aud: &str, exp: i64| Claims {
        aud: aud.to_string(),
        exp,
        ..Claims::default()
    };
    let token = match n % 5 {
        0 => mint(&claims(&aud, now() + 600), "not the service's access key"),
        1 => mint(
            &claims(
                &format!("http://{}/client/hubs/other", service.addr),
                now() + 600,
            ),
            &service.access_key,
        ),
        2 => mint(&claims(&aud, now() - 3600), &service.access_key),
        3 => String::new(),
        _ => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("not a jwt"),
    };
    let query = if token.is_empty() {
        String::new()
    } else {
        format!("?access_token={token}")
    };
    (format!("/client/hubs/{hub}{query}"), 401)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_unauthorized_upgrades_leave_no_hub_and_no_memory_behind() {
    let service = start().await;
    let mut upgrader = Upgrader {
        addr: service.addr,
        stream: None,
    };
    // Warm-up: lets the runtime, the allocator and the connection reach their steady size.
    for n in 0..1_000 {
        let (path, status) = refused_request(&service, n);
        assert_eq!(upgrader.refused_status(&path).await, status, "{path}");
    }
    let before = rss_bytes();
    for n in 1_000..1_000 + FLOOD {
        let (path, status) = refused_request(&service, n);
        assert_eq!(upgrader.refused_status(&path).await, status, "{path}");
        if n % 1_000 == 0 {
            assert_eq!(service.hub_count(), 0, "a refused request made a hub");
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    assert_eq!(service.hub_count(), 0, "a refused request made a hub");
    assert!(
        grown < RSS_SLACK_BYTES,
        "RSS grew by {grown} bytes over {FLOOD} refused upgrades"
    );
    eprintln!("RSS grew by {grown} bytes over {FLOOD} refused upgrades");
}
