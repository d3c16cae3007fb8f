//! The chat under a flood: the built chat binary in a private tmux server joined to `lobby`
//! (shown) and `flood` (in the background), flooded at a paced rate. Measures how long a typed
//! key takes to show on screen (with and without the flood; `capture-pane` itself is timed as
//! a baseline), the chat's CPU use during the flood and when idle afterwards, how many flood
//! messages it ingested (the group's unread badge) against how many were offered, and the
//! reconnects it went through. Every wait is bounded, and the service (or the generator) and
//! the tmux server are killed on exit, also on error.
//!
//! The flood comes from one of two sources (`TUI_FLOOD_SOURCE`): `generator` (the default),
//! a paced load generator in this process that stands in for the service
//! (benches/support/flood_service.rs: pre-encoded reliable frames straight to TCP, so it can
//! offer 500 k msgs/s on 2 cores), or `service`: `wpchat serve` on a free port, flooded by
//! engine clients in this process (end to end, but they top out near 150 k msgs/s here).
//!
//! History is on (the chat's default): after the flood `wpchat history stats` on the chat's
//! own data dir says how many messages were recorded and how many were counted as dropped,
//! and the chat's peak RSS (VmHWM) is read from /proc.
//!
//! Knobs: `TUI_FLOOD_RATE` (msgs/s, default 500 000 from the generator, 100 000 through the
//! service), `TUI_FLOOD_PROTOCOL` (`json.reliable`, the chat's default, or `json`: service
//! only), `TUI_FLOOD_REFERENCE` (service only; set: also count what a bare engine on the same
//! subprotocol receives, to tell the UI's share of a shortfall from the rest),
//! `TUI_FLOOD_SCROLLBACK` (the chat's `[ui] scrollback`, default 10 000: 1000000 keeps a
//! million flood lines, for the RSS of a full scrollback), `TUI_FLOOD_SECONDS` (default 5),
//! `TUI_FLOOD_HISTORY=off` (the chat records nothing: its cost, by difference).

#[path = "../tests/tui_support/tmux.rs"]
mod tmux;

#[path = "support/chat_probe.rs"]
mod chat_probe;
#[path = "support/flood_service.rs"]
mod flood_service;
#[path = "support/proc_stat.rs"]
mod proc_stat;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chat_probe::{
    Latencies, capture_baseline, cpu_seconds, load_average, memory_mb, report_connection,
    report_idle, report_ingested, type_keys,
};
use flood_service::{FloodPlan, FloodService};
use tmux::{Service, Tmux, connection_string};
use wpchat::auth::{ConnectionString, ConnectionStringProvider, TokenOptions};
use wpchat::client::{self, ClientConfig, ConnState};
use wpchat::history::Kind;
use wpchat::protocol::{Payload, Subprotocol};

const HUB: &str = "chat";
/// Flood rates offered by default, messages per second (`TUI_FLOOD_RATE` overrides): the
/// issue's target from the generator, what the in-process flooders can reach via the service.
const GENERATOR_RATE: u64 = 500_000;
const SERVICE_RATE: u64 = 100_000;
const FLOOD_SECONDS: u64 = 5;
/// Engine clients sharing the flood, one per 50 k msgs/s asked.
const RATE_PER_FLOODER: u64 = 50_000;
const PAYLOAD_BYTES: usize = flood_service::FLOOD_PAYLOAD_BYTES;
/// Longest wait for setup steps (service, chat connected).
const SETUP_LIMIT: Duration = Duration::from_secs(20);
/// Pane width: wide enough for every typed key on the input line.
const COLUMNS: u16 = 200;

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

/// Where the flood comes from (`TUI_FLOOD_SOURCE`).
enum Source {
    /// The paced load generator in place of the service (the default): it can offer 500 k
    /// msgs/s, which the service cannot fan out on 2 cores.
    Generator(FloodService),
    /// `wpchat serve`, flooded by engine clients in this process: end to end.
    Service(Service),
}

impl Source {
    fn port(&self) -> u16 {
        match self {
            Source::Generator(generator) => generator.addr.port(),
            Source::Service(service) => service.port,
        }
    }
}

/// How the run is set up, from the knobs.
struct Setup {
    protocol: String,
    rate: u64,
    go: Arc<AtomicBool>,
}

fn start_source(
    home: &Path,
    runtime: &tokio::runtime::Runtime,
    setup: &Setup,
) -> BenchResult<Source> {
    let source = std::env::var("TUI_FLOOD_SOURCE").unwrap_or_else(|_| "generator".into());
    match source.as_str() {
        "generator" => {
            if setup.protocol != "json.reliable" {
                return Err("the load generator speaks json.reliable only: use TUI_FLOOD_SOURCE=service for another subprotocol".into());
            }
            let plan = FloodPlan {
                group: "flood".into(),
                rate: setup.rate,
                duration: flood_time(),
                go: setup.go.clone(),
            };
            let generator = runtime
                .block_on(FloodService::start(plan))
                .map_err(|e| format!("load generator: {e}"))?;
            println!(
                "flood source: the paced load generator (benches/support/flood_service.rs), not the service"
            );
            Ok(Source::Generator(generator))
        }
        "service" => {
            println!("flood source: wpchat serve, flooded by engine clients in this process");
            Ok(Source::Service(Service::start(
                &home.join("serve"),
                SETUP_LIMIT,
            )?))
        }
        other => Err(format!(
            "TUI_FLOOD_SOURCE={other:?}: use generator or service"
        )),
    }
}

impl Setup {
    /// The rate from `TUI_FLOOD_RATE`, by default the source's own.
    fn from_knobs(protocol: String) -> Self {
        let generator_mode = std::env::var("TUI_FLOOD_SOURCE").map_or(true, |s| s == "generator");
        let default_rate = if generator_mode {
            GENERATOR_RATE
        } else {
            SERVICE_RATE
        };
        Setup {
            rate: std::env::var("TUI_FLOOD_RATE")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(default_rate),
            protocol,
            go: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The chat in a private tmux server, connected to `source` with `lobby` and `flood`
/// joined; returns the server and the chat's pid.
fn start_chat(home: &Path, source: &Source, setup: &Setup) -> BenchResult<(Tmux, u32)> {
    let mut tmux = Tmux::start("flood")?;
    write_chat_config(&home.join("chat"))?;
    let chat = chat_command(&home.join("chat"), source.port(), &setup.protocol);
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
    Ok((tmux, pid))
}

/// What the generator saw of the chat: its last `sequenceAck`, reconnects, acks.
fn report_generator(generator: &FloodService) {
    let connections = generator.counts.connections.load(Ordering::Acquire);
    println!(
        "received by the chat's engine (its highest sequenceAck): {} of {} sent",
        generator.counts.sequence_acked.load(Ordering::Acquire),
        generator.counts.sent.load(Ordering::Acquire)
    );
    println!(
        "load generator: {} connection(s) from the chat ({} reconnect(s)), {} requests acked",
        connections,
        connections.saturating_sub(1),
        generator.counts.acks.load(Ordering::Acquire)
    );
}

fn run() -> BenchResult<()> {
    let temp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let home: PathBuf = temp.path().to_path_buf();
    println!(
        "tui_flood: load average at start {}; {}",
        load_average(),
        proc_stat::cpu_model()
    );
    // `json.reliable` (the chat's default) or `json` (`TUI_FLOOD_PROTOCOL`).
    let protocol = std::env::var("TUI_FLOOD_PROTOCOL").unwrap_or_else(|_| "json.reliable".into());
    println!("chat subprotocol: {protocol}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let setup = Setup::from_knobs(protocol);
    let source = start_source(&home, &runtime, &setup)?;
    let (tmux, pid) = start_chat(&home, &source, &setup)?;
    let capture_ms = capture_baseline(&tmux)?;
    println!("capture-pane alone: {capture_ms:.1} ms (median)");
    let quiet = type_keys(&tmux, Duration::from_millis(2500))?;
    println!("key → screen, no flood:   {}", quiet.summary());

    let flood = run_flood(&tmux, &runtime, &source, &setup, pid)?;
    println!("key → screen, under flood: {}", flood.keys.summary());
    println!(
        "  slowest keys (of {} typed over the flood): {}",
        flood.keys.ms.len(),
        flood.keys.slowest(4)
    );
    println!(
        "  minus the no-flood p50 ({:.1} ms, which includes capture-pane): p50 {:.1} ms",
        quiet.p50(),
        flood.keys.p50() - quiet.p50()
    );
    flood.report(setup.rate);
    report_ingested(&tmux, flood.sent, flood.started)?;
    println!(
        "chat memory: RSS {:.1} MB now, peak (VmHWM) {:.1} MB",
        memory_mb(pid, "VmRSS")?,
        memory_mb(pid, "VmHWM")?
    );
    if history_on() {
        report_history(&home, source.port())?;
    }
    if let Source::Generator(generator) = &source {
        report_generator(generator);
    }
    report_connection(&tmux)?;
    report_idle(pid)?;
    if history_on() {
        report_history_after_quit(&home, &tmux, pid, flood.sent)?;
    }
    println!("load average at end {}", load_average());
    drop(tmux);
    drop(source);
    drop(runtime);
    Ok(())
}

/// What happened during the flood.
struct FloodRun {
    keys: Latencies,
    /// Messages offered (handed to the engines or to TCP).
    sent: u64,
    /// How long the flood took.
    seconds: f64,
    /// The chat's CPU seconds over `wall` seconds from go to the end of the flood.
    cpu: f64,
    wall: f64,
    started: Instant,
}

impl FloodRun {
    /// The offered rate and the chat's CPU over the flood.
    fn report(&self, rate: u64) {
        println!(
            "flood: {} messages of {PAYLOAD_BYTES} B offered in {:.2} s = {:.0} msgs/s (target {rate})",
            self.sent,
            self.seconds,
            self.sent as f64 / self.seconds,
        );
        println!(
            "chat CPU during the flood: {:.0}% of one core ({:.2} s over {:.2} s)",
            100.0 * self.cpu / self.wall,
            self.cpu,
            self.wall
        );
    }
}

/// Starts the flood, types keys through it, waits for it to end.
fn run_flood(
    tmux: &Tmux,
    runtime: &tokio::runtime::Runtime,
    source: &Source,
    setup: &Setup,
    pid: u32,
) -> BenchResult<FloodRun> {
    let reference = Arc::new(ReaderCounts::default());
    let mut flooding = None;
    if let Source::Service(service) = source {
        if std::env::var_os("TUI_FLOOD_REFERENCE").is_some() {
            runtime.block_on(reference_reader(
                service.port,
                subprotocol(&setup.protocol),
                reference.clone(),
            ))?;
        }
        let sent = Arc::new(AtomicU64::new(0));
        flooding = Some(runtime.spawn(flood(service.port, setup.rate, setup.go.clone(), sent)));
        // Connected flooders wait for `go`; give them a moment to connect.
        std::thread::sleep(Duration::from_secs(1));
    }
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    setup.go.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_millis(200));
    let keys = type_keys(tmux, flood_time() - Duration::from_millis(700))?;
    let (sent, seconds) = match (source, flooding) {
        (Source::Service(_), Some(flooding)) => runtime
            .block_on(async { tokio::time::timeout(flood_time() * 3, flooding).await })
            .map_err(|_| "the flood did not finish in time".to_string())?
            .map_err(|e| format!("flood task: {e}"))??,
        (Source::Generator(generator), _) => generator_done(generator)?,
        (Source::Service(_), None) => return Err("the service flood did not start".into()),
    };
    let cpu = cpu_seconds(pid)? - cpu_before;
    if std::env::var_os("TUI_FLOOD_REFERENCE").is_some() {
        println!(
            "reference reader (engine alone, same subprotocol): {} messages, {} sessions lost",
            reference.messages.load(Ordering::Relaxed),
            reference.sessions_lost.load(Ordering::Relaxed)
        );
    }
    Ok(FloodRun {
        keys,
        sent,
        seconds,
        cpu,
        wall: started.elapsed().as_secs_f64(),
        started,
    })
}

/// Waits (bounded) for the generator's flood to end: (messages offered, seconds).
fn generator_done(generator: &FloodService) -> BenchResult<(u64, f64)> {
    let deadline = Instant::now() + flood_time() * 3;
    loop {
        let micros = generator.counts.flood_micros.load(Ordering::Acquire);
        if micros > 0 {
            let sent = generator.counts.sent.load(Ordering::Acquire);
            return Ok((sent, micros as f64 / 1e6));
        }
        if Instant::now() > deadline {
            return Err(
                "the load generator's flood did not end in time (did the chat join flood?)".into(),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn subprotocol(name: &str) -> Subprotocol {
    if name == "json" {
        Subprotocol::Json
    } else {
        Subprotocol::JsonReliable
    }
}

/// What the chat recorded, once the recorder (which writes behind the UI) stops moving.
fn report_history(home: &Path, port: u16) -> BenchResult<()> {
    let recorded_by = Instant::now() + Duration::from_secs(30);
    let mut recorded = String::new();
    while Instant::now() < recorded_by {
        let now = history_stats(&home.join("chat"), port, &["messages:", "not saved"])?;
        if now == recorded {
            break;
        }
        recorded = now;
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("history of the chat: {recorded}");
    Ok(())
}

/// Quits the chat (which writes its last count of unsaved messages) and adds up, from its
/// database, what it recorded and what it counted as not saved.
fn report_history_after_quit(home: &Path, tmux: &Tmux, pid: u32, sent: u64) -> BenchResult<()> {
    tmux.run(&["send-keys", "-t", "chat", "/quit", "Enter"])?;
    let deadline = Instant::now() + SETUP_LIMIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > deadline {
            return Err(format!("the chat did not quit within {SETUP_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (texts, not_saved, gap_rows) = history_counts(&home.join("chat"))?;
    println!(
        "after quitting, the database holds {texts} flood messages + {not_saved} counted as not saved = {} of {sent} sent (in {gap_rows} \"not saved\" marker rows)",
        texts + not_saved
    );
    Ok(())
}

/// Straight from the chat's database: text messages recorded, messages counted as not saved,
/// and the marker rows that count them.
fn history_counts(chat_home: &Path) -> BenchResult<(u64, u64, u64)> {
    let dir = chat_home.join("data").join("wpchat").join("history");
    let database = std::fs::read_dir(&dir)
        .map_err(|e| format!("read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "db"))
        .ok_or_else(|| format!("no history database in {}", dir.display()))?;
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(&database, flags)
        .map_err(|e| format!("open {}: {e}", database.display()))?;
    let query = |sql: &str, kind: Kind| -> BenchResult<u64> {
        db.query_row(sql, [kind as i64], |row| row.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| format!("{sql}: {e}"))
    };
    let texts = query("SELECT count(*) FROM msg WHERE kind = ?1", Kind::Text)?;
    let not_saved = query(
        "SELECT coalesce(sum(seq), 0) FROM msg WHERE kind = ?1",
        Kind::HistoryGap,
    )?;
    let gap_rows = query("SELECT count(*) FROM msg WHERE kind = ?1", Kind::HistoryGap)?;
    Ok((texts, not_saved, gap_rows))
}
