//! A load generator for the chat's flood bench — NOT the service. `wpchat serve` cannot fan
//! out 500 k msgs/s on this 2-core box, so this paced firehose offers the chat a flood it can
//! keep up with: a WebSocket server on 127.0.0.1:0 that speaks just enough of the reliable
//! JSON subprotocol for the chat (`connected`, an `ack` for every request carrying an
//! `ackId`, a `pong` for every `ping`) and, once the chat has joined the flood group and the
//! bench says go, writes pre-encoded reliable group frames for that group (sequence ids
//! 1, 2, 3…) straight to TCP, paced to the target rate in 1 ms ticks. Nothing is buffered
//! for recovery and nothing is fanned out: a reconnect gets a fresh `connected`, and is
//! counted, so the bench can report it as a disconnect.

#[path = "raw_ws.rs"]
mod raw_ws;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use raw_ws::{client_frame, pick_reliable, push_frame_header, push_text_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use wpchat::protocol::{
    ClientMessage, DataMessage, MessageSource, Payload, ServiceMessage, decode_client,
    encode_service,
};

/// Bytes of text in each flood message.
pub const FLOOD_PAYLOAD_BYTES: usize = 100;
/// Pacing tick: each tick writes what is due since the flood began, in one `write_all`.
const TICK: Duration = Duration::from_millis(1);
/// Most frames written in one go, so that acks and pongs never wait behind a long backlog.
const MOST_PER_WRITE: u64 = 2048;
/// Stands for the sequence id in the frame template (digits that appear nowhere else).
const SEQUENCE_SENTINEL: u64 = 987_654_321_987_654_321;

/// What the generator did, shared with the bench.
#[derive(Default)]
pub struct FloodCounts {
    /// Flood frames handed to TCP (`write_all` returned).
    pub sent: AtomicU64,
    /// WebSocket connections accepted: more than one means the chat reconnected.
    pub connections: AtomicU64,
    /// Microseconds from the first flood frame to the last (0 until the flood ends).
    pub flood_micros: AtomicU64,
    /// Requests acked (joinGroup, sendToGroup…).
    pub acks: AtomicU64,
    /// The highest `sequenceAck` from the chat: every flood message up to it was received.
    pub sequence_acked: AtomicU64,
}

/// The flood to offer: `rate` msgs/s into `group` for `duration`, once `go` is set.
pub struct FloodPlan {
    pub group: String,
    pub rate: u64,
    pub duration: Duration,
    pub go: Arc<AtomicBool>,
}

/// A running generator; serves every connection until the runtime ends.
pub struct FloodService {
    pub addr: SocketAddr,
    pub counts: Arc<FloodCounts>,
}

impl FloodService {
    pub async fn start(plan: FloodPlan) -> std::io::Result<FloodService> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(FloodCounts::default());
        let shared = Arc::new(Shared {
            frames: FrameTemplate::new(&plan.group),
            plan,
            counts: counts.clone(),
        });
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, shared.clone()));
            }
        });
        Ok(FloodService { addr, counts })
    }
}

struct Shared {
    plan: FloodPlan,
    frames: FrameTemplate,
    counts: Arc<FloodCounts>,
}

/// One group message encoded once; only the sequence id differs between frames.
struct FrameTemplate {
    before_id: Vec<u8>,
    after_id: Vec<u8>,
}

impl FrameTemplate {
    fn new(group: &str) -> Self {
        let text: String = "0123456789abcdefghijklmnopqrstuvwxyz"
            .chars()
            .cycle()
            .take(FLOOD_PAYLOAD_BYTES)
            .collect();
        let json = encode_service(&ServiceMessage::Message(DataMessage {
            source: MessageSource::Group {
                group: group.into(),
                from_user_id: Some("flooder".into()),
            },
            sequence_id: Some(SEQUENCE_SENTINEL),
            payload: Payload::Text(text),
        }));
        let (before, after) = json
            .split_once(&SEQUENCE_SENTINEL.to_string())
            .expect("the encoded message carries its sequence id");
        FrameTemplate {
            before_id: before.as_bytes().to_vec(),
            after_id: after.as_bytes().to_vec(),
        }
    }

    /// Appends the frame of message `sequence_id`.
    fn push(&self, out: &mut Vec<u8>, sequence_id: u64) {
        let mut digits = [0u8; 20];
        let mut cursor = std::io::Cursor::new(&mut digits[..]);
        let _ = write!(cursor, "{sequence_id}");
        let written = cursor.position() as usize;
        let digits = &digits[..written];
        let len = self.before_id.len() + digits.len() + self.after_id.len();
        push_frame_header(out, raw_ws::TEXT, len);
        out.extend_from_slice(&self.before_id);
        out.extend_from_slice(digits);
        out.extend_from_slice(&self.after_id);
    }
}

fn text_frame(message: &ServiceMessage) -> Vec<u8> {
    let json = encode_service(message);
    let mut out = Vec::with_capacity(json.len() + 4);
    push_text_frame(&mut out, &json);
    out
}

/// What the reader half tells the writer half.
enum FromClient {
    /// A frame to write back (ack, pong).
    Reply(Vec<u8>),
    /// The client joined the flood group: the flood may begin.
    JoinedFlood,
}

async fn serve(mut tcp: tokio::net::TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    if tokio_tungstenite::accept_hdr_async(&mut tcp, pick_reliable)
        .await
        .is_err()
    {
        return;
    }
    let connection = shared.counts.connections.fetch_add(1, Ordering::AcqRel) + 1;
    let (reader, mut writer) = tcp.into_split();
    let (replies, mut from_client) = mpsc::unbounded_channel();
    tokio::spawn(read_client(reader, replies, shared.clone()));
    let connected = text_frame(&ServiceMessage::Connected {
        connection_id: format!("flood-connection-{connection}"),
        user_id: Some("reader".into()),
        reconnection_token: Some("flood-token".into()),
    });
    if writer.write_all(&connected).await.is_err() {
        return;
    }
    let mut pace = Pace::new(&shared);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = Vec::with_capacity(1 << 20);
    loop {
        tick.tick().await;
        loop {
            match from_client.try_recv() {
                Ok(FromClient::Reply(frame)) => out.extend_from_slice(&frame),
                Ok(FromClient::JoinedFlood) => pace.joined = true,
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        }
        let written = pace.push_due(&mut out);
        if !out.is_empty() && writer.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
        pace.count_sent(written);
        if pace.finished {
            break;
        }
    }
    // The flood is over: only answer, without ticking.
    while let Some(message) = from_client.recv().await {
        if let FromClient::Reply(frame) = message
            && writer.write_all(&frame).await.is_err()
        {
            return;
        }
    }
}

/// Where one connection's flood stands.
struct Pace<'a> {
    shared: &'a Shared,
    joined: bool,
    started: Option<Instant>,
    next_id: u64,
    finished: bool,
    reported: bool,
}

impl<'a> Pace<'a> {
    fn new(shared: &'a Shared) -> Self {
        Pace {
            shared,
            joined: false,
            started: None,
            next_id: 1,
            finished: false,
            reported: false,
        }
    }

    /// Appends the frames due by now (at most `MOST_PER_WRITE`); returns how many.
    fn push_due(&mut self, out: &mut Vec<u8>) -> u64 {
        let plan = &self.shared.plan;
        if self.finished || !self.joined || !plan.go.load(Ordering::Acquire) {
            return 0;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let elapsed = started.elapsed().min(plan.duration);
        let due = (elapsed.as_secs_f64() * plan.rate as f64) as u64;
        let count = due.saturating_sub(self.next_id - 1).min(MOST_PER_WRITE);
        for id in self.next_id..self.next_id + count {
            self.shared.frames.push(out, id);
        }
        self.next_id += count;
        // A backlog left at the end (the chat pushed back) is not written: it was not
        // offered in time, and the offered rate says so.
        self.finished = started.elapsed() >= plan.duration;
        count
    }

    /// Counts frames handed to TCP; once the flood is over, records how long it took.
    fn count_sent(&mut self, written: u64) {
        let counts = &self.shared.counts;
        counts.sent.fetch_add(written, Ordering::AcqRel);
        if self.finished && !self.reported {
            let micros = self.started.map_or(0, |s| s.elapsed().as_micros() as u64);
            counts.flood_micros.store(micros.max(1), Ordering::Release);
            self.reported = true;
        }
    }
}

/// Reads the client's frames (masked, as clients must send them), acks every request with
/// an `ackId`, answers pings, and says when the flood group was joined.
async fn read_client(
    mut reader: OwnedReadHalf,
    replies: mpsc::UnboundedSender<FromClient>,
    shared: Arc<Shared>,
) {
    let mut pending = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some((opcode, payload, length)) = client_frame(&pending[used..]) {
            used += length;
            let reply = match opcode {
                0x1 => answer(&payload, &shared),
                raw_ws::CLOSE => return,
                0x9 => {
                    let mut pong = Vec::with_capacity(payload.len() + 2);
                    push_frame_header(&mut pong, raw_ws::PONG, payload.len());
                    pong.extend_from_slice(&payload);
                    vec![FromClient::Reply(pong)]
                }
                _ => Vec::new(),
            };
            for message in reply {
                if replies.send(message).is_err() {
                    return;
                }
            }
        }
        pending.drain(..used);
    }
}

/// What to do about one text frame from the client.
fn answer(payload: &[u8], shared: &Shared) -> Vec<FromClient> {
    let Ok(message) = std::str::from_utf8(payload).map(decode_client) else {
        return Vec::new();
    };
    let Ok(message) = message else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let ClientMessage::SequenceAck { sequence_id } = message {
        shared
            .counts
            .sequence_acked
            .fetch_max(sequence_id, Ordering::AcqRel);
    }
    if let ClientMessage::Ping = message {
        out.push(FromClient::Reply(text_frame(&ServiceMessage::Pong)));
    }
    if let Some(ack_id) = message.ack_id() {
        shared.counts.acks.fetch_add(1, Ordering::AcqRel);
        out.push(FromClient::Reply(text_frame(&ServiceMessage::Ack {
            ack_id,
            success: true,
            error: None,
        })));
    }
    if let ClientMessage::JoinGroup { group, .. } = &message
        && *group == shared.plan.group
    {
        out.push(FromClient::JoinedFlood);
    }
    out
}
