//! `wpchat listen` end to end, as a fraction of the bare reader on the same firehose in the
//! same run: the built binary reads N reliable group messages (default 1 M) from the in-bench
//! firehose with stdout to /dev/null, clocked from spawn to exit (start-up included), once per
//! output format; its peak RSS is the kernel's high-water mark (VmHWM), read while it runs,
//! and so is its CPU time. Bare reader, jsonl and text alternate for `BENCH_ROUNDS` rounds
//! (default 3); the median ratio per format is the result. `LISTEN_MESSAGES` sets N;
//! `LISTEN_BINARY` runs another build of wpchat (to compare two builds on one firehose).

#[path = "support/firehose.rs"]
mod firehose;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use firehose::{Firehose, GIVE_UP, Measured, median, proc_stat, rounds};

const DEFAULT_MESSAGES: u64 = 1_000_000;

/// How one `listen` run went.
struct ListenRun {
    elapsed: Duration,
    peak_rss_kb: u64,
    /// The child's CPU time, as last seen before it exited (read every 10 ms).
    cpu_seconds: f64,
    ok: bool,
    stderr: String,
}

/// Runs the binary to its end; the wall clock, and the peak RSS and CPU time read from /proc
/// every 10 ms (`wait4`'s `ru_maxrss` would count this process's memory: the child starts as a
/// vfork).
fn listen(url: &str, count: u64, format: &str) -> ListenRun {
    let started = Instant::now();
    let binary = std::env::var_os("LISTEN_BINARY").unwrap_or(env!("CARGO_BIN_EXE_wpchat").into());
    let mut child = Command::new(binary)
        .args(["listen", "--url", url, "--count", &count.to_string()])
        .args(["--format", format])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wpchat listen");
    let pid = child.id().to_string();
    let (mut peak, mut cpu) = (0, 0.0);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        peak = peak.max(proc_stat::status_kb(&pid, "VmHWM").unwrap_or(0));
        cpu = proc_stat::cpu_seconds(&pid).unwrap_or(cpu);
        if started.elapsed() > GIVE_UP {
            let _ = child.kill();
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    ListenRun {
        elapsed,
        peak_rss_kb: peak,
        cpu_seconds: cpu,
        ok: status.is_some_and(|status| status.success()),
        stderr,
    }
}

const FORMATS: [&str; 2] = ["jsonl", "text"];

async fn run() {
    let firehose = Firehose::announced("LISTEN_MESSAGES", DEFAULT_MESSAGES).await;
    let count = firehose.count;
    let mut ratios: [Vec<f64>; 2] = Default::default();
    for round in 1..=rounds() {
        let bare = firehose.bare().await;
        println!("round {round}: bare reader {bare}");
        for (format, ratios) in FORMATS.into_iter().zip(ratios.iter_mut()) {
            let url = firehose.url();
            let run = tokio::task::spawn_blocking(move || listen(&url, count, format))
                .await
                .expect("the listen run");
            if !run.ok {
                println!(
                    "listen {format}: failed after {:.3} s: {}",
                    run.elapsed.as_secs_f64(),
                    run.stderr.trim()
                );
                return;
            }
            let measured = Measured::new(count, run.elapsed, run.cpu_seconds);
            ratios.push(measured.rate / bare.rate);
            println!(
                "  listen {format:5}: {measured} (its own) = {:.2} x, peak RSS {:.1} MB",
                measured.rate / bare.rate,
                run.peak_rss_kb as f64 / 1024.0
            );
        }
    }
    for (format, ratios) in FORMATS.into_iter().zip(ratios) {
        println!(
            "listen {format}: {count} messages, median {:.2} x the bare reader (load average {})",
            median(ratios),
            proc_stat::load_average()
        );
    }
}

fn main() {
    firehose::run_bench(run());
}
