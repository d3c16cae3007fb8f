//! The in-bench firehose and the bare reader it is measured against.
//!
//! The firehose is a WebSocket server on 127.0.0.1:0 that answers every connection with the
//! reliable JSON subprotocol, then writes `connected` and N pre-encoded reliable group frames
//! (100-byte text) straight to the TCP stream as fast as TCP takes them, reading whatever the
//! client sends (sequence acks) and answering its close frame.
//!
//! The bare reader is the ceiling: what a correct reliable client must do and nothing else —
//! tokio-tungstenite, a borrowing typed serde parse of each frame, a cumulative `sequenceAck`
//! every 1000 messages.

#[path = "proc_stat.rs"]
pub mod proc_stat;
#[path = "raw_ws.rs"]
mod raw_ws;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use raw_ws::{CLOSE, client_frame, pick_reliable, push_frame_header, push_text_frame};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use wpchat::protocol::{
    DataMessage, JSON_RELIABLE_V1, MessageSource, Payload, ServiceMessage, WireStr, encode_service,
};

/// Bytes of text in each flood message.
pub const PAYLOAD_BYTES: usize = 100;
/// How long one side waits for the flood before it gives up.
pub const GIVE_UP: Duration = Duration::from_secs(120);
/// The bare reader acks this often, as a reliable client must.
const BARE_ACK_EVERY: u64 = 1000;

/// `connected` followed by `count` reliable group messages, as raw WebSocket frames.
fn flood(count: u64) -> Vec<u8> {
    let text: String = "0123456789abcdefghijklmnopqrstuvwxyz"
        .chars()
        .cycle()
        .take(PAYLOAD_BYTES)
        .collect();
    let mut out = Vec::with_capacity(count as usize * 230 + 256);
    let connected = encode_service(&ServiceMessage::Connected {
        connection_id: "bench-connection".into(),
        user_id: Some("bench".into()),
        reconnection_token: Some("bench-token".into()),
    });
    push_text_frame(&mut out, &connected);
    for sequence_id in 1..=count {
        let frame = encode_service(&ServiceMessage::Message(DataMessage {
            source: MessageSource::Group {
                group: "general".into(),
                from_user_id: Some("alice".into()),
            },
            sequence_id: Some(sequence_id),
            payload: Payload::Text(text.clone()),
        }));
        push_text_frame(&mut out, &frame);
    }
    out
}

/// A running firehose: every connection gets the same `count` messages.
pub struct Firehose {
    pub addr: SocketAddr,
    pub count: u64,
    pub megabytes: usize,
}

impl Firehose {
    /// Encodes the flood and serves it on 127.0.0.1:0 until the runtime ends.
    pub async fn start(count: u64) -> Firehose {
        let frames = Arc::new(flood(count));
        let megabytes = frames.len() / 1_000_000;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, frames.clone()));
            }
        });
        Firehose {
            addr,
            count,
            megabytes,
        }
    }

    /// A client URL for the firehose.
    pub fn url(&self) -> String {
        format!("ws://{}/client/hubs/chat?access_token=bench", self.addr)
    }
}

async fn serve(mut tcp: tokio::net::TcpStream, frames: Arc<Vec<u8>>) {
    let _ = tcp.set_nodelay(true);
    if tokio_tungstenite::accept_hdr_async(&mut tcp, pick_reliable)
        .await
        .is_err()
    {
        return;
    }
    let (mut reader, mut writer) = tcp.into_split();
    let drain = tokio::spawn(async move { until_close(&mut reader).await });
    for chunk in frames.chunks(256 * 1024) {
        if writer.write_all(chunk).await.is_err() {
            return;
        }
    }
    // Keep the connection open until the client closes it, and answer its close frame as a
    // service does: a client that closes waits for the answer (`listen` up to 500 ms), and
    // `listen`'s clock runs to its exit.
    if let Ok(Ok(true)) = tokio::time::timeout(GIVE_UP, drain).await {
        let mut close = Vec::with_capacity(2);
        push_frame_header(&mut close, CLOSE, 0);
        let _ = writer.write_all(&close).await;
    }
}

/// Reads the client's frames (sequence acks) until it closes: true when it sent a close frame,
/// false when the connection ended without one.
async fn until_close(reader: &mut tokio::net::tcp::OwnedReadHalf) -> bool {
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some((opcode, _, length)) = client_frame(&pending[used..]) {
            if opcode == CLOSE {
                return true;
            }
            used += length;
        }
        pending.drain(..used);
    }
}

/// What a reliable client must read of each frame, borrowed from the frame (`WireStr`: serde
/// copies a `Cow` inside an `Option`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    from: Option<WireStr<'a>>,
    #[serde(borrow)]
    group: Option<WireStr<'a>>,
    #[serde(borrow)]
    from_user_id: Option<WireStr<'a>>,
    #[serde(borrow)]
    data_type: Option<WireStr<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    sequence_id: Option<u64>,
}

/// The bare reader: connects to `url`, reads `count` messages, acks every 1000. Returns the
/// wall clock from before the connect to the last message.
pub async fn bare_reader(url: &str, count: u64) -> Duration {
    let started = Instant::now();
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(JSON_RELIABLE_V1),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the bare reader connects");
    let mut received = 0u64;
    let mut highest = 0u64;
    let read = async {
        while received < count {
            let Some(Ok(Message::Text(text))) = socket.next().await else {
                panic!("the firehose ended after {received} messages");
            };
            let frame: BareFrame<'_> = serde_json::from_str(text.as_str()).expect("a frame");
            if frame.kind != "message" {
                continue;
            }
            std::hint::black_box((&frame.from, &frame.group, &frame.from_user_id));
            std::hint::black_box((&frame.data_type, frame.data));
            received += 1;
            if let Some(id) = frame.sequence_id {
                highest = highest.max(id);
            }
            if received.is_multiple_of(BARE_ACK_EVERY) {
                let ack = format!("{{\"type\":\"sequenceAck\",\"sequenceId\":{highest}}}");
                socket.send(Message::text(ack)).await.expect("ack");
            }
        }
    };
    tokio::time::timeout(GIVE_UP, read)
        .await
        .expect("the bare reader read the flood in time");
    let elapsed = started.elapsed();
    let _ = socket.close(None).await;
    elapsed
}

/// Messages per second.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// One timed read of the flood: its rate and the CPU it cost per message.
#[derive(Clone, Copy)]
pub struct Measured {
    pub rate: f64,
    /// CPU microseconds per message: this process's for an in-process reader (the firehose's
    /// writing included), the child's own for a spawned one.
    pub cpu_us: f64,
}

impl Measured {
    pub fn new(count: u64, elapsed: Duration, cpu_seconds: f64) -> Measured {
        Measured {
            rate: rate(count, elapsed),
            cpu_us: cpu_seconds * 1e6 / count as f64,
        }
    }
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0} msgs/s, {:.2} µs CPU/msg", self.rate, self.cpu_us)
    }
}

/// This process's CPU time so far, in seconds.
pub fn own_cpu() -> f64 {
    proc_stat::cpu_seconds("self").unwrap_or(0.0)
}

impl Firehose {
    /// Starts a firehose of `messages(variable, default)` messages and says how big it is.
    pub async fn announced(variable: &str, default: u64) -> Firehose {
        let firehose = Firehose::start(messages(variable, default)).await;
        println!(
            "firehose: {} messages, {} MB; {} rounds; load average {}; {}",
            firehose.count,
            firehose.megabytes,
            rounds(),
            proc_stat::load_average(),
            proc_stat::cpu_model()
        );
        firehose
    }

    /// The bare reader reads the flood once.
    pub async fn bare(&self) -> Measured {
        let cpu = own_cpu();
        let elapsed = bare_reader(&self.url(), self.count).await;
        Measured::new(self.count, elapsed, own_cpu() - cpu)
    }
}

/// How many interleaved rounds (bare reader, then the readers measured against it) a ratio
/// bench runs: `BENCH_ROUNDS`, default 3. A target is judged on the median ratio, so one run
/// disturbed by the rest of a shared machine does not decide it.
pub fn rounds() -> usize {
    messages("BENCH_ROUNDS", 3).max(1) as usize
}

/// The median of `values` (the upper one of an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Runs a bench on a multi-thread runtime. `cargo bench` passes `--bench`; these benches take
/// no options.
pub fn run_bench(bench: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench);
}

/// How many messages to flood: the environment variable `name`, or `default`.
pub fn messages(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
