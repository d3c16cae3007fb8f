//! A tiny HTTP CONNECT proxy on loopback for the proxy tests: it reports every request head it
//! sees and then either relays to the requested target or answers a fixed status.

#![allow(dead_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the proxy answers a CONNECT.
#[derive(Clone, Copy)]
pub enum Answer {
    /// `200` and relay when the target answers, else `502 Bad Gateway`.
    Relay,
    /// This status line (e.g. `407 Proxy Authentication Required`); relays only on a `200`.
    Status(&'static str),
}

/// Starts the proxy; returns its port and the request heads it receives.
pub async fn start(answer: Answer) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut client).await else {
                    return;
                };
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let _ = seen_tx.send(head);
                let status = match answer {
                    Answer::Status(status) => status,
                    Answer::Relay => "200 Connection established",
                };
                let upstream = if status.starts_with("200") {
                    tokio::net::TcpStream::connect(&target).await.ok()
                } else {
                    None
                };
                let status = match (&upstream, answer) {
                    (None, Answer::Relay) => "502 Bad Gateway",
                    _ => status,
                };
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                let _ = client.write_all(reply.as_bytes()).await;
                if let Some(mut upstream) = upstream {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (port, seen)
}

/// Reads the request head byte by byte, so nothing after it is consumed.
async fn read_head(client: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.unwrap_or(0) == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}
