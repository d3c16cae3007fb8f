//! Event handler round trips through the local service: a JSON client sends `event` requests
//! with ackIds, one at a time, to a local handler that replies at once (the handler of
//! tests/support/event_handler.rs); each round trip ends with the handler's reply and the
//! ack. 1 connection, then 100 at once (events/s, p50/p99), then the 100 again while one more
//! connection's handler call sleeps 5 s: the others' p99 should not move. Bounded in count
//! and time; run with `cargo bench --bench upstream`.

#[path = "../tests/support/event_handler.rs"]
mod event_handler;

use std::time::{Duration, Instant};

use event_handler::{EventHandler, Reply};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use wpchat::auth::token::{Claims, mint, unix_now};
use wpchat::service::upstream::{self, UpstreamSettings};
use wpchat::service::{self, RunningService, ServiceConfig};

const HUB: &str = "bench";
const JSON: &str = "json.webpubsub.azure.v1";
const SINGLE_EVENTS: u64 = 3_000;
const CONNECTIONS: usize = 100;
const EVENTS_PER_CONNECTION: u64 = 100;
const SLOW_HANDLER: Duration = Duration::from_secs(5);
const PHASE_LIMIT: Duration = Duration::from_secs(60);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(service: &RunningService, user: &str) -> Socket {
    let token = mint(
        &Claims {
            aud: format!("http://{}/client/hubs/{HUB}", service.addr),
            exp: unix_now() + 3600,
            sub: Some(user.into()),
            ..Claims::default()
        },
        &service.access_key,
    );
    let url = format!(
        "ws://{}/client/hubs/{HUB}?access_token={token}",
        service.addr
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(JSON));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    next_text(&mut socket).await; // connected
    socket
}

async fn next_text(socket: &mut Socket) -> String {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

/// Sends `count` events one after another; returns each round trip's microseconds.
async fn round_trips(mut socket: Socket, count: u64) -> Vec<u64> {
    let mut times = Vec::with_capacity(count as usize);
    for ack_id in 1..=count {
        let request = format!(
            r#"{{"type":"event","event":"bench","dataType":"text","data":"n{ack_id}","ackId":{ack_id}}}"#
        );
        let started = Instant::now();
        socket.send(Message::text(request)).await.unwrap();
        let reply = next_text(&mut socket).await;
        let ack = next_text(&mut socket).await;
        assert!(reply.contains("\"from\":\"server\""), "{reply}");
        assert!(ack.contains("\"success\":true"), "{ack}");
        times.push(started.elapsed().as_micros() as u64);
    }
    times
}

struct Measured {
    events: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
}

impl Measured {
    fn print(&self, name: &str) {
        let ms = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{name:<44} {:>8.0} events/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms",
            self.events as f64 / self.elapsed.as_secs_f64(),
            ms(0.5),
            ms(0.99),
            self.histogram.max() as f64 / 1000.0,
        );
    }
}

/// `connections` sockets, each sending `per_connection` events, all at once.
async fn measure(service: &RunningService, connections: usize, per_connection: u64) -> Measured {
    let mut sockets = Vec::with_capacity(connections);
    for i in 0..connections {
        sockets.push(connect(service, &format!("user{i}")).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(round_trips(socket, per_connection)))
        .collect();
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        for micros in task.await.unwrap() {
            histogram.record(micros.max(1)).unwrap();
        }
    }
    Measured {
        events: connections as u64 * per_connection,
        elapsed: started.elapsed(),
        histogram,
    }
}

async fn run() {
    let handler = EventHandler::start_with(|call| {
        (call.header("ce-userId") == Some("slow") && call.event() == "bench")
            .then(|| Reply::with("text/plain", "late").after(SLOW_HANDLER))
    })
    .await;
    let service = service::start(ServiceConfig {
        port: 0,
        upstream: UpstreamSettings::for_all_hubs(
            upstream::EventHandler::all_events(&handler.template()).unwrap(),
        ),
        ..ServiceConfig::default()
    })
    .await
    .unwrap();
    // Warm up: validation, connection pool.
    measure(&service, 1, 100).await;
    measure(&service, 1, SINGLE_EVENTS)
        .await
        .print("1 connection");
    measure(&service, CONNECTIONS, EVENTS_PER_CONNECTION)
        .await
        .print("100 connections");
    let mut slow = connect(&service, "slow").await;
    slow.send(Message::text(
        r#"{"type":"event","event":"bench","dataType":"text","data":"zzz","ackId":1}"#,
    ))
    .await
    .unwrap();
    let slow_started = Instant::now();
    measure(&service, CONNECTIONS, EVENTS_PER_CONNECTION)
        .await
        .print("100 connections, 1 more with a 5 s handler");
    let pending = slow_started.elapsed() < SLOW_HANDLER;
    println!("(the slow call was still pending during that phase: {pending})");
    next_text(&mut slow).await;
    service.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(PHASE_LIMIT * 3, run())
            .await
            .expect("the benchmark finishes in time");
    });
}
