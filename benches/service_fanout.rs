//! Local service throughput and memory: 1 sender → a group of 100 receivers (deliveries/s; JSON,
//! reliable JSON, and JSON and protobuf receivers mixed), 1 → 1 end to end (messages/s, plain and reliable), and RSS with 1000 idle connections.
//! Raw tokio-tungstenite clients and the service share one process on 127.0.0.1:0. Every
//! phase is bounded in message count and in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wpchat::auth::token::{Claims, mint, unix_now};
use wpchat::service::{self, RunningService, ServiceConfig};

/// One benchmark phase.
type Phase = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const HUB: &str = "bench";
const JSON: &str = "json.webpubsub.azure.v1";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";
const PROTOBUF: &str = "protobuf.webpubsub.azure.v1";
/// No phase may take longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

const RECEIVERS: usize = 100;
const FANOUT_MESSAGES: u64 = 20_000;
/// Messages the fan-out sender may be ahead of the slowest receiver.
const FANOUT_WINDOW: u64 = 2_000;
const RELIABLE_FANOUT_MESSAGES: u64 = 10_000;
const PAIR_MESSAGES: u64 = 300_000;
const PAIR_WINDOW: u64 = 5_000;
const RELIABLE_MESSAGES: u64 = 300_000;
/// Ahead of the last ack the service confirmed; with the batch overshoot it stays below the
/// service's 1000 un-acked cap.
const RELIABLE_WINDOW: u64 = 500;
/// How far behind the reliable receiver lets its acks fall (the SDKs ack every second, and
/// the JS one also when more than 300 behind).
const RELIABLE_ACK_EVERY: u64 = 100;
const IDLE_CONNECTIONS: usize = 1000;

/// Receivers poke the sender every 64 messages so it can send the next batch.
static PROGRESS: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A service on a free port of 127.0.0.1.
async fn start_service() -> RunningService {
    let config = ServiceConfig {
        port: 0,
        ..ServiceConfig::default()
    };
    service::start(config).await.expect("service starts")
}

fn url(service: &RunningService, groups: &[&str]) -> String {
    let token = mint(
        &Claims {
            aud: format!("http://{}/client/hubs/{HUB}", service.addr),
            exp: unix_now() + 3600,
            sub: Some("bench".into()),
            roles: vec!["webpubsub.sendToGroup".into()],
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Claims::default()
        },
        &service.access_key,
    );
    format!(
        "ws://{}/client/hubs/{HUB}?access_token={token}",
        service.addr
    )
}

/// Opens a client with small buffers (so a thousand of them stay cheap) and reads its
/// `connected` message.
async fn connect(url: &str, protocol: &str) -> Socket {
    let mut request = url.into_client_request().expect("valid url");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).expect("valid header"),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(32 * 1024);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .expect("connects");
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connected") => socket,
        // A protobuf `connected` (Down.system, member 3).
        Some(Ok(Message::Binary(bytes))) if bytes.first() == Some(&0x1a) => socket,
        other => panic!("expected connected, got {other:?}"),
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn frame(group: &str, payload: &str) -> String {
    format!(
        r#"{{"type":"sendToGroup","group":"{group}","dataType":"text","data":"{payload}","noEcho":true}}"#
    )
}

/// Counts data frames until `expected` arrive. On reliable sockets it sends `sequenceAck`
/// followed by `ping`; the pong proves the service has processed the ack, and only then is
/// the progress published, so the sender never pushes the session past its un-acked cap.
async fn receive(mut socket: Socket, expected: u64, counter: Arc<AtomicU64>, reliable: bool) {
    let mut received = 0u64;
    let mut ack_in_flight: Option<u64> = None;
    while received < expected {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                if text.contains(r#""event":"disconnected""#) {
                    println!("receiver disconnected after {received} messages: {text}");
                    return;
                }
                if reliable && text.as_str() == r#"{"type":"pong"}"# {
                    if let Some(acked) = ack_in_flight.take() {
                        counter.store(acked, Ordering::Release);
                        PROGRESS.notify_one();
                    }
                } else {
                    received += 1;
                }
                if !reliable {
                    counter.store(received, Ordering::Release);
                    if received.is_multiple_of(64) {
                        PROGRESS.notify_one();
                    }
                } else if ack_in_flight.is_none()
                    && received - counter.load(Ordering::Acquire) >= RELIABLE_ACK_EVERY
                {
                    // Sequence ids run 1, 2, 3… on this socket, so the count is the last id.
                    let ack = format!(r#"{{"type":"sequenceAck","sequenceId":{received}}}"#);
                    let sent = socket.feed(Message::text(ack)).await.is_ok()
                        && socket
                            .send(Message::text(r#"{"type":"ping"}"#))
                            .await
                            .is_ok();
                    if !sent {
                        return;
                    }
                    ack_in_flight = Some(received);
                }
            }
            // Protobuf receivers are plain: every binary frame is a data message.
            Some(Ok(Message::Binary(_))) if !reliable => {
                received += 1;
                counter.store(received, Ordering::Release);
                if received.is_multiple_of(64) {
                    PROGRESS.notify_one();
                }
            }
            Some(Ok(_)) => {}
            other => {
                println!("receiver stopped after {received} messages: {other:?}");
                return;
            }
        }
    }
    counter.store(received, Ordering::Release);
    PROGRESS.notify_one();
}

/// Sends `count` copies of `text`, never more than `window` ahead of the slowest counter.
async fn send_windowed(
    socket: &mut Socket,
    text: &str,
    count: u64,
    window: u64,
    counters: &[Arc<AtomicU64>],
) {
    let batch = (window / 4).max(1);
    let message = Message::Text(text.into());
    let mut sent = 0u64;
    while sent < count {
        let slowest = counters
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        if sent >= slowest + window {
            // Wait for a receiver to report progress instead of spinning.
            let _ = tokio::time::timeout(Duration::from_millis(2), PROGRESS.notified()).await;
            continue;
        }
        let n = batch.min(count - sent);
        for _ in 0..n {
            socket.feed(message.clone()).await.expect("send");
        }
        socket.flush().await.expect("flush");
        sent += n;
    }
}

async fn idle_memory() {
    let service = start_service().await;
    let url = url(&service, &["idle"]);
    // Warm up the allocator and the runtime with one connection first.
    let warm = connect(&url, JSON).await;
    let before = rss_kib();
    let mut sockets = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        sockets.push(connect(&url, RELIABLE).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib();
    println!(
        "idle connections: {IDLE_CONNECTIONS} reliable connections, process RSS {:.1} MB (was {:.1} MB before them; +{:.1} KB per connection, client and server ends together)",
        after as f64 / 1024.0,
        before as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / IDLE_CONNECTIONS as f64
    );
    drop(sockets);
    drop(warm);
    service.shutdown().await;
}

/// Receivers take turns over `protocols`.
async fn fan_out(protocols: &[&str], messages: u64, window: u64) {
    let service = start_service().await;
    let receiver_url = url(&service, &["fan"]);
    let mut counters = Vec::new();
    let mut tasks = Vec::new();
    for index in 0..RECEIVERS {
        let protocol = protocols[index % protocols.len()];
        let socket = connect(&receiver_url, protocol).await;
        let counter = Arc::new(AtomicU64::new(0));
        counters.push(counter.clone());
        tasks.push(tokio::spawn(receive(
            socket,
            messages,
            counter,
            protocol == RELIABLE,
        )));
    }
    let mut sender = connect(&url(&service, &[]), JSON).await;
    let text = frame("fan", "hello group, this is message text");
    let started = Instant::now();
    send_windowed(&mut sender, &text, messages, window, &counters).await;
    for task in tasks {
        task.await.expect("receiver");
    }
    let elapsed = started.elapsed();
    let deliveries = messages * RECEIVERS as u64;
    println!(
        "fan-out 1 → {RECEIVERS} ({} receivers): {messages} messages, {deliveries} deliveries in {:.2} s = {:.0} deliveries/s",
        protocols.join(" + "),
        elapsed.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64()
    );
    service.shutdown().await;
}

async fn pair(protocol: &str, messages: u64, window: u64) {
    let service = start_service().await;
    let reliable = protocol == RELIABLE;
    let receiver = connect(&url(&service, &["pair"]), protocol).await;
    let counter = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(receive(receiver, messages, counter.clone(), reliable));
    let mut sender = connect(&url(&service, &[]), JSON).await;
    let text = frame("pair", "hello, one to one");
    let started = Instant::now();
    send_windowed(&mut sender, &text, messages, window, &[counter]).await;
    task.await.expect("receiver");
    let elapsed = started.elapsed();
    println!(
        "1 → 1 ({protocol} receiver): {messages} messages in {:.2} s = {:.0} msgs/s",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64()
    );
    service.shutdown().await;
}

fn main() {
    // `cargo bench` passes --bench; a plain harness-less main ignores arguments.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let phases: [(&str, Phase); 6] = [
            ("idle memory", Box::pin(idle_memory())),
            (
                "fan-out",
                Box::pin(fan_out(&[JSON], FANOUT_MESSAGES, FANOUT_WINDOW)),
            ),
            (
                "fan-out reliable",
                Box::pin(fan_out(
                    &[RELIABLE],
                    RELIABLE_FANOUT_MESSAGES,
                    RELIABLE_WINDOW,
                )),
            ),
            (
                "fan-out mixed",
                Box::pin(fan_out(&[JSON, PROTOBUF], FANOUT_MESSAGES, FANOUT_WINDOW)),
            ),
            ("1 → 1", Box::pin(pair(JSON, PAIR_MESSAGES, PAIR_WINDOW))),
            (
                "1 → 1 reliable",
                Box::pin(pair(RELIABLE, RELIABLE_MESSAGES, RELIABLE_WINDOW)),
            ),
        ];
        // SERVICE_BENCH_ONLY=<phase name> runs one phase (e.g. "fan-out").
        let only = std::env::var("SERVICE_BENCH_ONLY").ok();
        for (name, phase) in phases {
            if only.as_deref().is_some_and(|only| only != name) {
                continue;
            }
            if tokio::time::timeout(PHASE_LIMIT, phase).await.is_err() {
                println!("{name}: did not finish within {PHASE_LIMIT:?}");
            }
        }
    });
}
