//! How fast the engine turns a flood of reliable group messages into `Event::Message`s.
//!
//! An in-bench server on 127.0.0.1:0 does the WebSocket handshake with tokio-tungstenite, then
//! writes `connected` and N pre-encoded reliable group frames (100-byte text) straight to the
//! TCP stream as fast as it can, while draining whatever the client sends (sequence acks).
//! The client side is the real engine; the bench drains `ClientHandle.events` with
//! `recv_many` and prints messages per second. Gives up after 60 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use url::Url;
use wpchat::auth::FixedUrl;
use wpchat::client::{self, ClientConfig, Event};
use wpchat::protocol::{
    DataMessage, JSON_RELIABLE_V1, MessageSource, Payload, ServiceMessage, encode_service,
};

const MESSAGES: u64 = 1_000_000;
const PAYLOAD_BYTES: usize = 100;
const GIVE_UP: Duration = Duration::from_secs(60);

/// One unmasked server-to-client text frame.
fn push_text_frame(out: &mut Vec<u8>, text: &str) {
    out.push(0x81);
    let len = text.len();
    if len < 126 {
        out.push(len as u8);
    } else if len < 65_536 {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(text.as_bytes());
}

/// `connected` followed by `count` reliable group messages, as raw WebSocket frames.
fn flood(count: u64) -> Vec<u8> {
    let text: String = "0123456789abcdefghijklmnopqrstuvwxyz"
        .chars()
        .cycle()
        .take(PAYLOAD_BYTES)
        .collect();
    let mut out = Vec::with_capacity(count as usize * 200 + 256);
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

/// The handshake callback: the service picks the reliable subprotocol. The error type is
/// tungstenite's, so its size is not ours to choose.
#[allow(clippy::result_large_err)]
fn pick_protocol(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    response.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(JSON_RELIABLE_V1),
    );
    Ok(response)
}

async fn serve(listener: TcpListener, frames: Arc<Vec<u8>>) {
    let Ok((mut tcp, _)) = listener.accept().await else {
        return;
    };
    let _ = tcp.set_nodelay(true);
    if tokio_tungstenite::accept_hdr_async(&mut tcp, pick_protocol)
        .await
        .is_err()
    {
        return;
    }
    let (mut reader, mut writer) = tcp.into_split();
    tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while let Ok(n) = reader.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    });
    for chunk in frames.chunks(256 * 1024) {
        if writer.write_all(chunk).await.is_err() {
            return;
        }
    }
    // Keep the connection open until the client closes it.
    let _ = tokio::time::sleep(GIVE_UP).await;
}

async fn run() {
    print!("encoding {MESSAGES} frames... ");
    let frames = Arc::new(flood(MESSAGES));
    println!("{} MB", frames.len() / 1_000_000);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, frames));
    let url = Url::parse(&format!("ws://{addr}/client/hubs/chat?access_token=bench")).expect("url");
    let mut handle = client::spawn(ClientConfig::new(Arc::new(FixedUrl(url))));
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let mut batch = Vec::with_capacity(1024);
    let mut received = 0u64;
    let mut started: Option<Instant> = None;
    while received < MESSAGES {
        let n = match tokio::time::timeout_at(deadline, handle.events.recv_many(&mut batch, 1024))
            .await
        {
            Ok(n) => n,
            Err(_) => {
                println!("gave up after {GIVE_UP:?}: {received} of {MESSAGES} messages");
                break;
            }
        };
        if n == 0 {
            println!("the engine ended after {received} messages");
            break;
        }
        for event in batch.drain(..) {
            if let Event::Message(_) = event {
                received += 1;
                started.get_or_insert_with(Instant::now);
            }
        }
    }
    if let Some(started) = started {
        let elapsed = started.elapsed();
        println!(
            "engine_ingest: {received} messages in {:.3} s = {:.0} msgs/s",
            elapsed.as_secs_f64(),
            received as f64 / elapsed.as_secs_f64()
        );
    }
    let _ = handle.commands.send(client::Command::Shutdown).await;
}

fn main() {
    // `cargo bench` passes `--bench`; this bench takes no options.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}
