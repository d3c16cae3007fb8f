//! The local service at scale: `wpchat serve` (the built binary, in its own process, so its
//! RSS, CPU and file descriptors are its own) holding N reliable JSON connections, each joined
//! to one group by its token. Measures how fast they are accepted, the service's RSS and idle
//! CPU, how long a group send and a REST send-to-all take to reach all N, and what M silent
//! (half-open) sockets cost and how soon the service drops them.
//!
//! `cargo bench --bench service_scale -- [--connections 10000] [--half-open 5000] [--rounds 5]
//! [--workers N]` (this bench's runtime threads; default one per core).
//!
//! The members are as cheap as a reliable client can be while still reading every frame
//! through a real WebSocket stack: each counts the data messages it reads (a substring check,
//! no JSON parse). They send no `sequenceAck` during the bench: its 2 × rounds messages stay
//! far below the service's 1000-message in-flight cap, as an SDK's once-a-second ack would
//! within a round. The wall time of a send therefore covers the service writing 10 000
//! frames and this process reading them, on the same cores; the CPU time of each is printed
//! beside it.

#[path = "support/proc_stat.rs"]
mod proc_stat;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wpchat::auth::token::{Claims, mint, unix_now};
use wpchat::service::DEV_ACCESS_KEY;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const HUB: &str = "scale";
const GROUP: &str = "everyone";
const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";
const JSON: &str = "json.webpubsub.azure.v1";
/// Handshakes in flight at once while connecting.
const CONNECTING_AT_ONCE: usize = 256;
/// No wait in this bench is longer.
const LIMIT: Duration = Duration::from_secs(60);

struct Options {
    connections: usize,
    half_open: usize,
    rounds: usize,
    /// Worker threads of this bench's runtime (the members' readers); 0 = one per core.
    workers: usize,
}

fn options() -> Options {
    let mut options = Options {
        connections: 10_000,
        half_open: 5_000,
        rounds: 5,
        workers: 0,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        let value = || pair[1].parse().expect("a number after the flag");
        match pair[0].as_str() {
            "--connections" => options.connections = value(),
            "--half-open" => options.half_open = value(),
            "--rounds" => options.rounds = value(),
            "--workers" => options.workers = value(),
            _ => {}
        }
    }
    options
}

fn main() {
    let options = options();
    // This process holds one socket per connection too.
    let limit = rlimit::increase_nofile_limit(1 << 20).unwrap_or(0);
    println!("bench process open-file limit: {limit}");
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if options.workers > 0 {
        builder.worker_threads(options.workers);
    }
    let runtime = builder.enable_all().build().expect("a tokio runtime");
    println!("load average at start: {}", proc_stat::load_average());
    runtime.block_on(run(&options));
    println!("load average at end: {}", proc_stat::load_average());
}

/// `wpchat serve` on a free port; killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wpchat"))
            .args(["serve", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wpchat serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut addr = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if line.starts_with("Open-file limit") {
                println!("serve: {line}");
            }
            if let Some(rest) = line.split("listening on http://").nth(1) {
                addr = rest.trim().parse().ok();
            }
            if line.starts_with("Open-file limit") {
                break;
            }
        }
        // Keep draining the banner so the service never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr: addr.expect("serve prints its address"),
        }
    }

    fn rss_mb(&self) -> f64 {
        proc_stat::status_kb(&self.child.id().to_string(), "VmRSS").unwrap_or(0) as f64 / 1024.0
    }

    /// The service's user plus system CPU time so far, in seconds.
    fn cpu_seconds(&self) -> f64 {
        proc_stat::cpu_seconds(&self.child.id().to_string()).unwrap_or(0.0)
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, Iterator::count)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This bench process's own CPU time so far (its clients' share of the machine), in seconds.
fn bench_cpu_seconds() -> f64 {
    proc_stat::cpu_seconds("self").unwrap_or(0.0)
}

fn token(aud: String, roles: &[&str], groups: &[&str]) -> String {
    mint(
        &Claims {
            aud,
            iat: Some(unix_now()),
            exp: unix_now() + 3600,
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
            groups: groups.iter().map(|g| (*g).to_string()).collect(),
            ..Claims::default()
        },
        DEV_ACCESS_KEY,
    )
}

fn client_url(addr: SocketAddr, roles: &[&str], groups: &[&str]) -> String {
    let aud = format!("http://{addr}/client/hubs/{HUB}");
    format!(
        "ws://{addr}/client/hubs/{HUB}?access_token={}",
        token(aud, roles, groups)
    )
}

/// Small buffers for small frames: tungstenite zero-fills its whole read buffer (128 KiB by
/// default) before each read, which for one ~100-byte frame per read was 70 % of this
/// process's CPU during a fan-out.
fn member_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
}

/// Opens a socket over `protocol` and waits for its `connected` message.
async fn connect(url: &str, protocol: &'static str) -> Socket {
    let mut request = url.into_client_request().expect("a valid client URL");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(member_config()), false)
            .await
            .expect("the service accepts the connection");
    while let Some(Ok(message)) = socket.next().await {
        if matches!(&message, Message::Text(text) if text.contains("\"connected\"")) {
            return socket;
        }
    }
    panic!("the socket closed before `connected`");
}

/// How many members received the current round's message; wakes the bench at `expected`.
struct Round {
    received: AtomicUsize,
    expected: usize,
    all_in: Notify,
}

/// Reads a member's socket for the rest of the bench, counting data messages.
fn spawn_member(mut socket: Socket, round: Arc<Round>) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(&message, Message::Text(text) if text.contains("\"message\""))
                && round.received.fetch_add(1, Ordering::AcqRel) + 1 == round.expected
            {
                round.all_in.notify_one();
            }
        }
    });
}

/// One send to every member: the wall time from `send` until every member received it, and
/// the CPU time the service and this bench (the members' reading) used meanwhile. Unlike the
/// wall time, the CPU times do not depend on what else the machine runs.
struct Delivered {
    wall: Duration,
    service_cpu: Duration,
    bench_cpu: Duration,
}

async fn delivery_time(
    server: &Server,
    round: &Round,
    send: impl std::future::Future<Output = ()>,
) -> Delivered {
    round.received.store(0, Ordering::Release);
    let service_before = server.cpu_seconds();
    let bench_before = bench_cpu_seconds();
    let started = Instant::now();
    send.await;
    tokio::time::timeout(LIMIT, round.all_in.notified())
        .await
        .expect("every member receives the message");
    let wall = started.elapsed();
    let since = |before: f64, now: f64| Duration::from_secs_f64((now - before).max(0.0));
    Delivered {
        wall,
        service_cpu: since(service_before, server.cpu_seconds()),
        bench_cpu: since(bench_before, bench_cpu_seconds()),
    }
}

async fn rest_send_to_all(client: &reqwest::Client, addr: SocketAddr, text: String) {
    let url = format!("http://{addr}/api/hubs/{HUB}/:send?api-version=2024-12-01");
    let status = client
        .post(&url)
        .bearer_auth(token(url.clone(), &[], &[]))
        .header("Content-Type", "text/plain")
        .body(text)
        .send()
        .await
        .expect("the REST call is answered")
        .status();
    assert!(status.is_success(), "REST send-to-all answered {status}");
}

fn summary(what: &str, rounds: &[Delivered]) {
    let median = |pick: fn(&Delivered) -> Duration| {
        let mut ms: Vec<f64> = rounds
            .iter()
            .map(|r| pick(r).as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        (ms[ms.len() / 2], ms[ms.len() - 1])
    };
    let (wall, wall_max) = median(|r| r.wall);
    let (service, _) = median(|r| r.service_cpu);
    let (bench, _) = median(|r| r.bench_cpu);
    println!(
        "{what}: median {wall:.0} ms, max {wall_max:.0} ms; CPU median: service {service:.0} ms, \
         bench members {bench:.0} ms ({} rounds)",
        rounds.len()
    );
}

async fn run(options: &Options) {
    let server = Server::start();
    let addr = server.addr;
    println!("service RSS at start: {:.1} MB", server.rss_mb());
    let url = client_url(addr, &[], &[GROUP]);
    let service_before = server.cpu_seconds();
    let bench_before = bench_cpu_seconds();
    let started = Instant::now();
    let members: Vec<Socket> = futures_util::stream::iter(0..options.connections)
        .map(|_| connect(&url, RELIABLE))
        .buffer_unordered(CONNECTING_AT_ONCE)
        .collect()
        .await;
    let took = started.elapsed();
    let per_connection = |before: f64, now: f64| (now - before) * 1e6 / members.len() as f64;
    println!(
        "{} reliable connections in {:.2} s: {:.0} connections/s; CPU per connection: service {:.0} µs, bench {:.0} µs; service RSS {:.1} MB, {} open files",
        members.len(),
        took.as_secs_f64(),
        members.len() as f64 / took.as_secs_f64(),
        per_connection(service_before, server.cpu_seconds()),
        per_connection(bench_before, bench_cpu_seconds()),
        server.rss_mb(),
        server.open_files()
    );
    let round = Arc::new(Round {
        received: AtomicUsize::new(0),
        expected: members.len(),
        all_in: Notify::new(),
    });
    for socket in members {
        spawn_member(socket, round.clone());
    }
    idle_cpu(&server).await;
    fan_out(&server, &round, options.rounds).await;
    if options.half_open > 0 {
        half_open(&server, options.half_open).await;
    }
}

async fn idle_cpu(server: &Server) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Duration::from_secs(10);
    let before = server.cpu_seconds();
    tokio::time::sleep(window).await;
    let used = server.cpu_seconds() - before;
    println!(
        "idle service CPU over {window:?}: {:.1} % of one core",
        used / window.as_secs_f64() * 100.0
    );
}

async fn fan_out(server: &Server, round: &Round, rounds: usize) {
    let addr = server.addr;
    let mut publisher = connect(&client_url(addr, &["webpubsub.sendToGroup"], &[]), JSON).await;
    let mut group_times = Vec::new();
    for i in 0..rounds {
        let frame = serde_json::json!({
            "type": "sendToGroup", "group": GROUP, "dataType": "text", "data": format!("round {i}")
        });
        let send = async {
            let text = frame.to_string();
            publisher
                .send(Message::text(text))
                .await
                .expect("the publisher sends");
        };
        group_times.push(delivery_time(server, round, send).await);
    }
    summary(&format!("group send to {}", round.expected), &group_times);
    let client = reqwest::Client::new();
    let mut rest_times = Vec::new();
    for i in 0..rounds {
        let send = rest_send_to_all(&client, addr, format!("rest round {i}"));
        rest_times.push(delivery_time(server, round, send).await);
    }
    summary(
        &format!("REST send-to-all to {}", round.expected),
        &rest_times,
    );
    println!("service RSS after the sends: {:.1} MB", server.rss_mb());
}

async fn half_open(server: &Server, count: usize) {
    let addr = server.addr;
    let files_before = server.open_files();
    let mut silent = Vec::with_capacity(count);
    for _ in 0..count {
        silent.push(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("a TCP connect"),
        );
    }
    let opened = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let bystander = connect(&client_url(addr, &[], &[GROUP]), RELIABLE).await;
    println!(
        "{count} half-open sockets: service RSS {:.1} MB, {} open files; a new client connected in {:.0} ms meanwhile",
        server.rss_mb(),
        server.open_files(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    drop(bystander);
    while server.open_files() > files_before + 1 && opened.elapsed() < LIMIT {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "the service closed them {:.1} s after they opened ({} open files now); RSS {:.1} MB",
        opened.elapsed().as_secs_f64(),
        server.open_files(),
        server.rss_mb()
    );
    drop(silent);
}
