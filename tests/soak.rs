//! Soak: the built `wpchat listen` (reliable JSON) behind a proxy that forces connection drops,
//! fed by a publisher straight at the local service. It must print every message exactly
//! once and in order however often it is cut, and its memory must stay flat through a long
//! flood with a drop every few seconds.
//!
//! CI runs the short plan. The long one (20 000 messages through 1 000 drops; a 10-minute
//! flood with a drop every 5 s, RSS at 10 min within 10 % of RSS at 1 min) runs with
//! `WPCHAT_SOAK=long cargo test --release --test soak -- --nocapture`.

#[path = "support/chaos_proxy.rs"]
mod chaos_proxy;
#[path = "support/service_client.rs"]
mod service_client;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaos_proxy::ChaosProxy;
use service_client::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use wpchat::service::RunningService;

/// How much to do: the short plan for CI, the long one on request.
struct Plan {
    messages: usize,
    drops: usize,
    flood: Duration,
    drop_every: Duration,
    /// When the flood's first RSS sample is taken.
    warm_after: Duration,
    /// How much more the last RSS sample may be than the first (a fraction).
    rss_growth: f64,
}

fn plan() -> Plan {
    if std::env::var("WPCHAT_SOAK").is_ok_and(|v| v == "long") {
        Plan {
            messages: 20_000,
            drops: 1_000,
            flood: Duration::from_secs(600),
            drop_every: Duration::from_secs(5),
            warm_after: Duration::from_secs(60),
            rss_growth: 0.10,
        }
    } else {
        // A short flood cannot show a slow leak, only a fast one: a looser bound.
        Plan {
            messages: 2_000,
            drops: 20,
            flood: Duration::from_secs(20),
            drop_every: Duration::from_secs(2),
            warm_after: Duration::from_secs(5),
            rss_growth: 0.5,
        }
    }
}

/// Messages the publisher may be ahead of what `listen` printed: well inside what the service
/// keeps for a dropped session's recovery.
const WINDOW: usize = 500;

/// The service, the drop proxy in front of it, and `listen` on group `g` through the proxy.
struct Stack {
    service: RunningService,
    proxy: ChaosProxy,
    listen: Child,
    /// Lines printed so far, and the first one out of order (if any).
    received: watch::Receiver<usize>,
    out_of_order: Arc<Mutex<Option<String>>>,
    stderr: Arc<Mutex<String>>,
    /// `listen`'s HOME: no config file, no history of earlier runs; removed on drop.
    _home: tempfile::TempDir,
}

async fn start_stack() -> Stack {
    let service = start().await;
    let proxy = ChaosProxy::start(service.addr).await;
    // The proxy relays bytes untouched: a token minted for its address is what the service checks.
    let connection_string = format!(
        "Endpoint=http://{};AccessKey={};Version=1.0;",
        proxy.addr, service.access_key
    );
    let home = tempfile::tempdir().expect("a temporary HOME");
    let mut listen = Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args(["listen", "--connection-string", &connection_string])
        .args(["--hub", HUB, "--user", "soak", "--group", "g"])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("wpchat listen starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut errors = BufReader::new(listen.stderr.take().expect("piped stderr")).lines();
    let collected = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            collected.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let (received, out_of_order) = read_lines(&mut listen);
    let api = HubApi::new(&service, HUB);
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    while api.call(reqwest::Method::HEAD, "groups/g").await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "listen joined g in time: {}",
            stderr.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Stack {
        service,
        proxy,
        listen,
        received,
        out_of_order,
        stderr,
        _home: home,
    }
}

/// Counts `listen`'s lines, checking each carries the next text `m0`, `m1`, ….
fn read_lines(listen: &mut Child) -> (watch::Receiver<usize>, Arc<Mutex<Option<String>>>) {
    let (count, received) = watch::channel(0usize);
    let out_of_order = Arc::new(Mutex::new(None));
    let first_wrong = out_of_order.clone();
    let mut lines = BufReader::new(listen.stdout.take().expect("piped stdout")).lines();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok(Some(line)) = lines.next_line().await {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if value["data"] != format!("m{next}") {
                first_wrong
                    .lock()
                    .unwrap()
                    .get_or_insert(format!("expected m{next}, got {line}"));
            }
            next += 1;
            count.send_replace(next);
        }
    });
    (received, out_of_order)
}

impl Stack {
    /// Publishes `m{from}`… one acked message at a time, never more than `WINDOW` ahead of
    /// `listen`, until `keep_going` says stop; returns how many it published in all.
    async fn publish(
        &self,
        from: usize,
        progress: &watch::Sender<usize>,
        keep_going: impl Fn(usize) -> bool,
    ) -> usize {
        let (mut publisher, _) =
            connect_to_hub(&self.service, JSON, Some("publisher"), JOIN_SEND, &[]).await;
        let mut received = self.received.clone();
        let mut index = from;
        while keep_going(index) {
            let caught_up = received.wait_for(|printed| index < printed + WINDOW);
            let waited = tokio::time::timeout(WAIT * 3, caught_up).await;
            assert!(
                waited.is_ok_and(|r| r.is_ok()),
                "listen fell behind at m{index}: {}",
                self.stderr.lock().unwrap()
            );
            publisher
                .publish("g", &format!("m{index}"), index as u64 + 1)
                .await;
            index += 1;
            progress.send_replace(index);
        }
        index
    }

    /// Waits until `listen` printed `count` lines, then checks they were all in order.
    async fn expect_printed(&mut self, count: usize) {
        let printed = tokio::time::timeout(WAIT * 3, self.received.wait_for(|n| *n >= count))
            .await
            .is_ok_and(|waited| waited.is_ok());
        assert!(
            printed,
            "listen printed {} of {count}: {}",
            *self.received.borrow(),
            self.stderr.lock().unwrap()
        );
        assert_eq!(*self.received.borrow(), count, "nothing printed twice");
        assert_eq!(
            *self.out_of_order.lock().unwrap(),
            None,
            "every message once, in order"
        );
        assert!(
            !self.stderr.lock().unwrap().contains("session lost"),
            "{}",
            self.stderr.lock().unwrap()
        );
    }

    fn rss_kb(&self) -> u64 {
        let pid = self.listen.id().expect("listen runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// Cuts `listen`'s connection `drops` times, spread evenly while `published` climbs to
/// `total`; each cut waits until `listen` said it recovered from the one before, so every
/// cut drops a live session (not a handshake, which would only make `listen` back off).
fn cut_live_connections(
    stack: &Stack,
    mut published: watch::Receiver<usize>,
    total: usize,
    drops: usize,
) -> tokio::task::JoinHandle<()> {
    let proxy = stack.proxy.clone();
    let stderr = stack.stderr.clone();
    let recoveries = move || stderr.lock().unwrap().matches("session recovered").count();
    tokio::spawn(async move {
        for cut in 1..=drops {
            let at = cut * total / (drops + 1);
            let _ = published.wait_for(|sent| *sent >= at).await;
            let deadline = tokio::time::Instant::now() + WAIT * 4;
            while recoveries() < cut - 1 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "listen recovered from cut {}",
                    cut - 1
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            proxy.cut_all();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_listen_prints_every_message_once_in_order_through_forced_drops() {
    let plan = plan();
    let mut stack = start_stack().await;
    let (progress, published) = watch::channel(0usize);
    let cutting = cut_live_connections(&stack, published, plan.messages, plan.drops);
    let sent = stack
        .publish(0, &progress, |index| index < plan.messages)
        .await;
    cutting.await.expect("every cut dropped a live connection");
    stack.expect_printed(sent).await;
    let recoveries = || {
        let stderr = stack.stderr.lock().unwrap();
        stderr.matches("session recovered").count()
    };
    // stderr is read by its own task: the last recovery's line may still be on its way.
    let deadline = tokio::time::Instant::now() + WAIT;
    while recoveries() < plan.drops && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recoveries = recoveries();
    println!(
        "{sent} messages through {} drops of a live connection: {recoveries} recoveries, {} connections",
        plan.drops,
        stack.proxy.accepted()
    );
    assert!(
        recoveries >= plan.drops,
        "listen recovered its session after every drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_memory_stays_flat_through_a_flood_with_drops() {
    let plan = plan();
    let mut stack = start_stack().await;
    let proxy = stack.proxy.clone();
    let drop_every = plan.drop_every;
    let cutting = tokio::spawn(async move {
        let mut every = tokio::time::interval(drop_every);
        every.tick().await;
        loop {
            every.tick().await;
            proxy.cut_all();
        }
    });
    let started = tokio::time::Instant::now();
    let (progress, _) = watch::channel(0usize);
    let warm = Arc::new(Mutex::new(None));
    let sample = warm.clone();
    let stack_ref = &stack;
    let sent = stack
        .publish(0, &progress, |_| {
            let elapsed = started.elapsed();
            let mut sample = sample.lock().unwrap();
            if sample.is_none() && elapsed >= plan.warm_after {
                *sample = Some(stack_ref.rss_kb());
            }
            elapsed < plan.flood
        })
        .await;
    let last = stack.rss_kb();
    cutting.abort();
    stack.expect_printed(sent).await;
    let warm = warm.lock().unwrap().expect("a warm sample was taken");
    println!(
        "flood of {sent} messages over {:?} with a drop every {drop_every:?}: listen RSS {warm} kB after {:?}, {last} kB at the end",
        plan.flood, plan.warm_after
    );
    assert!(
        last as f64 <= warm as f64 * (1.0 + plan.rss_growth),
        "listen RSS grew from {warm} kB to {last} kB"
    );
}
