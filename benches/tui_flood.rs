//! The chat under a flood: `wpchat serve` on a free port, the built chat binary in a private
//! tmux server joined to `lobby` (shown) and `flood` (in the background), and engine clients in
//! this process flooding `flood` at a paced rate. Measures how long a typed key takes to show
//! on screen (with and without the flood; `capture-pane` itself is timed as a baseline), the
//! chat's CPU use during the flood and when idle afterwards, and how many flood messages it
//! ingested (the group's unread badge) against how many were sent. Every wait is bounded, and
//! the service and the tmux server are killed on exit, also on error.
//!
//! History is on (the chat's default): after the flood `wpchat history stats` on the chat's
//! own data dir says how many messages were recorded and how many were counted as dropped,
//! and the chat's peak RSS (VmHWM) is read from /proc.
//!
//! Knobs: `TUI_FLOOD_RATE` (msgs/s, default 100 000), `TUI_FLOOD_PROTOCOL` (`json.reliable`,
//! the chat's default, or `json`), `TUI_FLOOD_REFERENCE` (set: also count what a bare engine
//! on the same subprotocol receives, to tell the UI's share of a shortfall from the rest),
//! `TUI_FLOOD_SCROLLBACK` (the chat's `[ui] scrollback`, default 10 000: 1000000 keeps a
//! million flood lines, for the RSS of a full scrollback), `TUI_FLOOD_SECONDS` (default 5),
//! `TUI_FLOOD_HISTORY=off` (the chat records nothing: its cost, by difference).

#[path = "../tests/tui_support/tmux.rs"]
mod tmux;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tmux::{Service, Tmux, connection_string};
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, ConnState};
use wpchat::protocol::{Payload, Subprotocol};

const HUB: &str = "chat";
/// Target flood rate over all flooders, messages per second (`TUI_FLOOD_RATE` overrides).
const FLOOD_RATE: u64 = 100_000;
const FLOOD_SECONDS: u64 = 5;
/// Engine clients sharing the flood, one per 50 k msgs/s asked.
const RATE_PER_FLOODER: u64 = 50_000;
const PAYLOAD_BYTES: usize = 100;
const KEYS: usize = 50;
/// Longest wait for one key to show before it counts as lost.
const KEY_LIMIT: Duration = Duration::from_secs(2);
/// Longest wait for setup steps (service, chat connected).
const SETUP_LIMIT: Duration = Duration::from_secs(20);
const IDLE_TIME: Duration = Duration::from_secs(3);
/// Pane width: wide enough for every typed key on the input line.
const COLUMNS: u16 = 200;
/// Keys typed, in order; distinct enough not to appear elsewhere on screen.
const ALPHABET: &[u8] = b"qzjxkvbwmfhgpy";

type BenchResult<T> = tmux::Outcome<T>;

fn main() {
    match run() {
        Ok(()) => {}
        Err(error) => {
            eprintln!("tui_flood failed: {error}");
            std::process::exit(1);
        }
    }
}

/// The chat's target flags: the bench's hub as user `reader`.
fn reader_target(connection_string: &str) -> [&str; 6] {
    [
        "--connection-string",
        connection_string,
        "--hub",
        HUB,
        "--user",
        "reader",
    ]
}

/// The chat, exec'd so that the pane's process is the chat itself.
fn chat_command(home: &Path, port: u16, protocol: &str) -> String {
    let connection_string = connection_string(port);
    let mut args = reader_target(&connection_string).to_vec();
    args.extend([
        "--group",
        "lobby",
        "--group",
        "flood",
        "--protocol",
        protocol,
    ]);
    format!(
        "exec {}",
        tmux::chat_command(home, &home.join("state"), &args)
    )
}

/// How long the flood lasts (`TUI_FLOOD_SECONDS` overrides).
fn flood_time() -> Duration {
    let seconds = std::env::var("TUI_FLOOD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FLOOD_SECONDS);
    Duration::from_secs(seconds)
}

/// Writes the chat's config file when `TUI_FLOOD_SCROLLBACK` asks for another scrollback or
/// `TUI_FLOOD_HISTORY=off` turns recording off (to compare the chat with and without it).
fn write_chat_config(home: &Path) -> BenchResult<()> {
    let mut config = String::new();
    if let Ok(lines) = std::env::var("TUI_FLOOD_SCROLLBACK") {
        let lines: u64 = lines
            .parse()
            .map_err(|_| format!("TUI_FLOOD_SCROLLBACK={lines:?} is not a number of lines"))?;
        config.push_str(&format!("[ui]\nscrollback = {lines}\n"));
        println!("chat scrollback: {lines} lines per group");
    }
    if !history_on() {
        config.push_str("[history]\nenabled = false\n");
        println!("chat history: off");
    }
    if config.is_empty() {
        return Ok(());
    }
    let dir = home.join("config").join("wpchat");
    std::fs::create_dir_all(&dir).map_err(|e| format!("config dir: {e}"))?;
    std::fs::write(dir.join("config.toml"), config).map_err(|e| format!("config file: {e}"))?;
    Ok(())
}

/// History stays on (the chat's default) unless `TUI_FLOOD_HISTORY=off`.
fn history_on() -> bool {
    std::env::var("TUI_FLOOD_HISTORY").map_or(true, |v| v != "off")
}

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`), in MB.
fn memory_mb(pid: u32, field: &str) -> BenchResult<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

/// What `wpchat history stats` says about the chat's own database (its profile is named
/// after its target: endpoint, hub and user): the lines named `wanted`.
fn history_stats(home: &Path, port: u16, wanted: &[&str]) -> BenchResult<String> {
    let connection_string = connection_string(port);
    let mut args = vec!["history"];
    args.extend(reader_target(&connection_string));
    args.push("stats");
    let command = tmux::chat_command(home, &home.join("state"), &args);
    let output = Command::new("sh")
        .args(["-c", &command])
        .output()
        .map_err(|e| format!("wpchat history stats: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wpchat history stats failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| wanted.iter().any(|w| line.starts_with(w)))
        .collect();
    Ok(lines.join(", "))
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> BenchResult<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("read /proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> BenchResult<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| "unexpected /proc stat format".to_string())
    };
    // utime is field 14, stime 15; `fields[0]` is field 3.
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The unread badge of `flood` in the group pane, e.g. `#flood (12345)`.
fn flood_badge(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains("flood"))?;
    let after = &line[line.find("flood")?..];
    let open = after.find(['(', '['])?;
    let count: String = after[open + 1..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let count: f64 = count.parse().ok()?;
    // Large counts show rounded down: `543k`, `1.2M`.
    let unit = match after[open + 1..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
    {
        rest if rest.starts_with('k') => 1_000.0,
        rest if rest.starts_with('M') => 1_000_000.0,
        _ => 1.0,
    };
    Some((count * unit) as u64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Latencies {
    ms: Vec<f64>,
    lost: usize,
}

impl Latencies {
    fn summary(&self) -> String {
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} keys ({} not shown within {KEY_LIMIT:?})",
            percentile(&sorted, 50.0),
            percentile(&sorted, 99.0),
            sorted.last().copied().unwrap_or(f64::NAN),
            sorted.len(),
            self.lost
        )
    }

    fn p50(&self) -> f64 {
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, 50.0)
    }
}

/// Types `KEYS` single characters, each once the previous one showed, spaced over `span`;
/// returns the time from `send-keys` to the input line showing it. Clears the input after.
fn type_keys(tmux: &Tmux, span: Duration) -> BenchResult<Latencies> {
    let mut typed = String::new();
    let mut result = Latencies {
        ms: Vec::new(),
        lost: 0,
    };
    let gap = span / KEYS as u32;
    for i in 0..KEYS {
        let started_round = Instant::now();
        let key = char::from(ALPHABET[i % ALPHABET.len()]);
        typed.push(key);
        let started = Instant::now();
        tmux.run(&["send-keys", "-t", "chat", "-l", &key.to_string()])?;
        loop {
            let screen = tmux.screen("chat")?;
            if screen.contains(&typed) {
                result.ms.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if started.elapsed() > KEY_LIMIT {
                result.lost += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(rest) = gap.checked_sub(started_round.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    tmux.run(&["send-keys", "-t", "chat", "C-u"])?;
    tmux.wait_for("chat", "the input line to clear", SETUP_LIMIT, |s| {
        !s.contains(&typed[..3])
    })?;
    Ok(result)
}

/// How long one `capture-pane` takes (median of 50).
fn capture_baseline(tmux: &Tmux) -> BenchResult<f64> {
    let mut ms = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        tmux.screen("chat")?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(percentile(&ms, 50.0))
}

/// What the reference reader (an engine with no UI) saw.
#[derive(Default)]
struct ReaderCounts {
    messages: AtomicU64,
    sessions_lost: AtomicU64,
}

/// Joins `flood` with a bare engine on the chat's subprotocol and counts what arrives, to
/// tell the UI's share of any shortfall from the engine's and the service's.
async fn reference_reader(
    port: u16,
    protocol: Subprotocol,
    counts: Arc<ReaderCounts>,
) -> BenchResult<()> {
    let cs = ConnectionString::parse(&connection_string(port)).map_err(|e| e.to_string())?;
    let provider = ConnectionStringProvider::new(
        cs,
        HUB,
        TokenOptions {
            user_id: Some("reference".into()),
            roles: vec!["webpubsub.joinLeaveGroup".into()],
            ..TokenOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let mut config = ClientConfig::new(Arc::new(provider));
    config.protocol = protocol;
    let mut handle = client::spawn(config);
    handle
        .commands
        .send(client::Command::Join {
            op: 1,
            group: "flood".into(),
        })
        .await
        .map_err(|_| "the reference reader's engine stopped".to_string())?;
    tokio::spawn(async move {
        // The engine stops when its command sender is dropped: keep the whole handle here.
        let handle = &mut handle;
        let mut batch = Vec::with_capacity(1024);
        while handle.events.recv_many(&mut batch, 1024).await > 0 {
            for event in batch.drain(..) {
                match event {
                    client::Event::Message(_) => {
                        counts.messages.fetch_add(1, Ordering::Relaxed);
                    }
                    client::Event::SessionLost { .. } => {
                        counts.sessions_lost.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }
    });
    Ok(())
}

/// Floods `flood` from engine clients at `rate` in total for `flood_time()`
/// (fire-and-forget), paced every millisecond. Returns (messages handed to the engines,
/// seconds taken).
async fn flood(
    port: u16,
    rate: u64,
    go: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> BenchResult<(u64, f64)> {
    let cs = ConnectionString::parse(&connection_string(port)).map_err(|e| e.to_string())?;
    let mut handles = Vec::new();
    let flooders = rate.div_ceil(RATE_PER_FLOODER).max(1);
    for n in 0..flooders {
        let provider = ConnectionStringProvider::new(
            cs.clone(),
            HUB,
            TokenOptions {
                user_id: Some(format!("flooder{n}")),
                roles: vec!["webpubsub.sendToGroup".into()],
                ..TokenOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let mut config = ClientConfig::new(Arc::new(provider));
        config.protocol = Subprotocol::Json;
        let mut handle = client::spawn(config);
        let connected = tokio::time::timeout(SETUP_LIMIT, async {
            loop {
                if matches!(
                    *handle.state.borrow_and_update(),
                    ConnState::Connected { .. }
                ) {
                    return true;
                }
                if handle.state.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        if connected != Ok(true) {
            return Err(format!("flooder {n} did not connect"));
        }
        // Op results of fire-and-forget sends: drained so the engine never blocks on them.
        let mut events = std::mem::replace(&mut handle.events, client::event_channel(1).1);
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        handles.push(handle);
    }
    while !go.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let body = "x".repeat(PAYLOAD_BYTES);
    let started = Instant::now();
    let per_flooder = rate / flooders;
    let flood_time = flood_time();
    let mut tasks = Vec::new();
    for handle in handles {
        let body = body.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut mine = 0u64;
            let mut op = 0u64;
            while started.elapsed() < flood_time {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * per_flooder as f64) as u64;
                while mine < due && started.elapsed() < flood_time {
                    op += 1;
                    let command = client::Command::SendToGroup {
                        op,
                        group: "flood".into(),
                        payload: Payload::Text(body.clone()),
                        no_echo: false,
                        fire_and_forget: true,
                    };
                    if handle.commands.send(command).await.is_err() {
                        return handle;
                    }
                    mine += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            handle
        }));
    }
    let mut finished = Vec::new();
    for task in tasks {
        if let Ok(handle) = task.await {
            finished.push(handle);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the engines write what they hold, then close.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for handle in &finished {
        let _ = handle.commands.send(client::Command::Shutdown).await;
    }
    Ok((sent.load(Ordering::Relaxed), elapsed))
}

fn run() -> BenchResult<()> {
    let temp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let home: PathBuf = temp.path().to_path_buf();
    println!("tui_flood: load average at start {}", load_average());
    // `json.reliable` (the chat's default) or `json` (`TUI_FLOOD_PROTOCOL`).
    let protocol = std::env::var("TUI_FLOOD_PROTOCOL").unwrap_or_else(|_| "json.reliable".into());
    let subprotocol = if protocol == "json" {
        Subprotocol::Json
    } else {
        Subprotocol::JsonReliable
    };
    println!("chat subprotocol: {protocol}");
    let service = Service::start(&home.join("serve"), SETUP_LIMIT)?;
    let mut tmux = Tmux::start("flood")?;
    write_chat_config(&home.join("chat"))?;
    let chat = chat_command(&home.join("chat"), service.port, &protocol);
    tmux.session("chat", (COLUMNS, 40), &chat)?;
    tmux.wait_for(
        "chat",
        "the chat to connect and join lobby",
        SETUP_LIMIT,
        |s| s.contains("● connected") && s.contains("joined lobby") && s.contains("2 flood"),
    )?;
    // The join of `flood` is acked right after that of `lobby`.
    std::thread::sleep(Duration::from_millis(500));
    let pid: u32 = tmux
        .display("chat", "#{pane_pid}")?
        .parse()
        .map_err(|e| format!("pane pid: {e}"))?;

    let capture_ms = capture_baseline(&tmux)?;
    println!("capture-pane alone: {capture_ms:.1} ms (median)");
    let quiet = type_keys(&tmux, Duration::from_millis(2500))?;
    println!("key → screen, no flood:   {}", quiet.summary());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let go = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let rate = std::env::var("TUI_FLOOD_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(FLOOD_RATE);
    let reference = Arc::new(ReaderCounts::default());
    if std::env::var_os("TUI_FLOOD_REFERENCE").is_some() {
        runtime.block_on(reference_reader(
            service.port,
            subprotocol,
            reference.clone(),
        ))?;
    }
    let flooding = runtime.spawn(flood(service.port, rate, go.clone(), sent.clone()));
    // Connected flooders wait for `go`; give them a moment to connect.
    std::thread::sleep(Duration::from_secs(1));
    let cpu_before = cpu_seconds(pid)?;
    let flood_started = Instant::now();
    go.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_millis(200));
    let loaded = type_keys(&tmux, flood_time() - Duration::from_millis(700))?;
    let (sent_total, flood_secs) = runtime
        .block_on(async { tokio::time::timeout(flood_time() * 3, flooding).await })
        .map_err(|_| "the flood did not finish in time".to_string())?
        .map_err(|e| format!("flood task: {e}"))??;
    let cpu_flood = cpu_seconds(pid)? - cpu_before;
    let flood_wall = flood_started.elapsed().as_secs_f64();
    println!("key → screen, under flood: {}", loaded.summary());
    println!(
        "  minus the no-flood p50 ({:.1} ms, which includes capture-pane): p50 {:.1} ms",
        quiet.p50(),
        loaded.p50() - quiet.p50()
    );
    println!(
        "flood: {sent_total} messages of {PAYLOAD_BYTES} B sent in {flood_secs:.2} s = {:.0} msgs/s (target {rate})",
        sent_total as f64 / flood_secs
    );
    println!(
        "chat CPU during the flood: {:.0}% of one core ({cpu_flood:.2} s over {flood_wall:.2} s)",
        100.0 * cpu_flood / flood_wall
    );

    // Ingested: the badge once it stops growing (bounded).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    let mut stable_since = Instant::now();
    loop {
        let badge = flood_badge(&tmux.screen("chat")?);
        if badge != last {
            last = badge;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(1) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ingested = last.unwrap_or(0);
    println!(
        "ingested by the chat (badge of #flood, rounded down): {ingested} of {sent_total} sent ({:.1}%); the badge stopped growing {:.1} s after the flood began",
        100.0 * ingested as f64 / sent_total.max(1) as f64,
        (stable_since - flood_started).as_secs_f64()
    );

    println!(
        "chat memory: RSS {:.1} MB now, peak (VmHWM) {:.1} MB",
        memory_mb(pid, "VmRSS")?,
        memory_mb(pid, "VmHWM")?
    );
    if history_on() {
        // The recorder writes behind the UI: give it a moment to catch up before asking.
        let recorded_by = Instant::now() + Duration::from_secs(30);
        let mut recorded = String::new();
        while Instant::now() < recorded_by {
            let now = history_stats(
                &home.join("chat"),
                service.port,
                &["messages:", "not saved"],
            )?;
            if now == recorded {
                break;
            }
            recorded = now;
            std::thread::sleep(Duration::from_secs(1));
        }
        println!("history of the chat: {recorded}");
    }

    if std::env::var_os("TUI_FLOOD_REFERENCE").is_some() {
        println!(
            "reference reader (engine alone, same subprotocol): {} messages, {} sessions lost",
            reference.messages.load(Ordering::Relaxed),
            reference.sessions_lost.load(Ordering::Relaxed)
        );
    }

    // What the connection went through, from the system buffer (the one before the first group).
    tmux.run(&["send-keys", "-t", "chat", "C-p"])?;
    let system = tmux.wait_for("chat", "the system buffer", SETUP_LIMIT, |s| {
        s.contains("┌ system ")
    })?;
    // Each distinct notice once, with how often it shows on the screen (time stamps dropped).
    let mut notices: Vec<(String, usize)> = Vec::new();
    for line in system.lines() {
        let text = line.trim_matches(|c: char| c == '│' || c.is_whitespace());
        let Some((_, rest)) = text.split_once("  ") else {
            continue;
        };
        let rest = rest.trim_start_matches(['*', '!', ' ']).to_string();
        let interesting = ["lost", "disconnect", "recovered", "full", "SlowClient"]
            .iter()
            .any(|w| rest.contains(w));
        if !interesting {
            continue;
        }
        match notices.iter_mut().find(|(seen, _)| *seen == rest) {
            Some((_, count)) => *count += 1,
            None => notices.push((rest, 1)),
        }
    }
    if notices.is_empty() {
        println!("chat connection: no disconnects shown in the system buffer");
    }
    for (notice, count) in notices {
        println!("chat connection: {count}× {notice}");
    }
    tmux.run(&["send-keys", "-t", "chat", "C-n"])?;

    let idle_before = cpu_seconds(pid)?;
    let idle_started = Instant::now();
    std::thread::sleep(IDLE_TIME);
    let idle_cpu = cpu_seconds(pid)? - idle_before;
    println!(
        "chat CPU idle: {:.2}% of one core ({idle_cpu:.2} s over {:.1} s)",
        100.0 * idle_cpu / idle_started.elapsed().as_secs_f64(),
        idle_started.elapsed().as_secs_f64()
    );
    println!("load average at end {}", load_average());
    drop(tmux);
    drop(service);
    drop(runtime);
    Ok(())
}
