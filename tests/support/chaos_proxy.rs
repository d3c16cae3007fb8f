//! A loopback TCP proxy between a client and a service that can cut every current connection
//! on command (a forced drop, as a flaky network does), refuse new ones for a while, or stop
//! forwarding what the service sends (so a request reaches the service but its answer is lost).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct Shared {
    relays: Mutex<Vec<AbortHandle>>,
    refuse: AtomicBool,
    hold_downstream: AtomicBool,
    accepted: AtomicUsize,
    cuts: AtomicUsize,
}

/// The running proxy; clients connect to `addr`, which relays to the target.
#[derive(Clone)]
pub struct ChaosProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl ChaosProxy {
    pub async fn start(target: SocketAddr) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if accepting.refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(service) = TcpStream::connect(target).await else {
                    continue;
                };
                accepting.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                let _ = service.set_nodelay(true);
                let (client_read, client_write) = client.into_split();
                let (service_read, service_write) = service.into_split();
                let up = tokio::spawn(relay(client_read, service_write, None));
                let down = tokio::spawn(relay(service_read, client_write, Some(accepting.clone())));
                let mut relays = accepting.relays.lock().unwrap_or_else(|p| p.into_inner());
                relays.retain(|r| !r.is_finished());
                relays.push(up.abort_handle());
                relays.push(down.abort_handle());
            }
        });
        ChaosProxy { addr, shared }
    }

    /// Drops every current connection at once (both directions).
    pub fn cut_all(&self) {
        let relays: Vec<AbortHandle> = self
            .shared
            .relays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for relay in relays {
            relay.abort();
        }
        self.shared.cuts.fetch_add(1, Ordering::SeqCst);
    }

    /// While on, new connections are closed as soon as they are accepted.
    pub fn set_refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// While on, bytes from the service are read and thrown away instead of forwarded.
    pub fn set_hold_downstream(&self, hold: bool) {
        self.shared.hold_downstream.store(hold, Ordering::SeqCst);
    }

    /// Cuts every connection `cuts` times, evenly spread while `progress` (messages published
    /// so far) climbs to `total`; ends early when the publisher is gone.
    pub fn cut_during(
        &self,
        mut progress: tokio::sync::watch::Receiver<usize>,
        total: usize,
        cuts: usize,
    ) -> tokio::task::JoinHandle<()> {
        let proxy = self.clone();
        tokio::spawn(async move {
            for cut in 1..=cuts {
                let at = cut * total / (cuts + 1);
                if progress.wait_for(|sent| *sent >= at).await.is_err() {
                    return;
                }
                proxy.cut_all();
            }
        })
    }

    /// Connections relayed so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    downstream: Option<Arc<Shared>>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if downstream
            .as_ref()
            .is_some_and(|s| s.hold_downstream.load(Ordering::SeqCst))
        {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
