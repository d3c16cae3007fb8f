//! `wpchat listen` end to end, as a fraction of the bare reader on the same firehose in the
//! same run: the built binary reads N reliable group messages (default 1 M) from the in-bench
//! firehose with stdout to /dev/null, clocked from spawn to exit (start-up included), once per
//! output format; its peak RSS is the kernel's
//! high-water mark (VmHWM), read while it runs. `LISTEN_MESSAGES` sets N.

#[path = "support/firehose.rs"]
mod firehose;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use firehose::{GIVE_UP, rate};

const DEFAULT_MESSAGES: u64 = 1_000_000;

/// How one `listen` run went.
struct ListenRun {
    elapsed: Duration,
    peak_rss_kb: u64,
    ok: bool,
    stderr: String,
}

/// The high-water mark of the process's resident set, in kB, while it runs.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the binary to its end; the wall clock, and the peak RSS read from /proc every 10 ms
/// (`wait4`'s `ru_maxrss` would count this process's memory: the child starts as a vfork).
fn listen(url: &str, count: u64, format: &str) -> ListenRun {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args(["listen", "--url", url, "--count", &count.to_string()])
        .args(["--format", format])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wpchat listen");
    let mut peak = 0;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        peak = peak.max(peak_rss_kb(child.id()).unwrap_or(0));
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
        ok: status.is_some_and(|status| status.success()),
        stderr,
    }
}

async fn run() {
    let (firehose, bare_rate) = firehose::with_ceiling("LISTEN_MESSAGES", DEFAULT_MESSAGES).await;
    let count = firehose.count;
    for format in ["jsonl", "text"] {
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
            continue;
        }
        let listen_rate = rate(count, run.elapsed);
        println!(
            "listen {format:5}: {count} messages in {:.3} s = {listen_rate:.0} msgs/s = {:.2} x the bare reader, peak RSS {:.1} MB",
            run.elapsed.as_secs_f64(),
            listen_rate / bare_rate,
            run.peak_rss_kb as f64 / 1024.0
        );
    }
}

fn main() {
    firehose::run_bench(run());
}
