//! Probes of the chat under test, shared by the flood bench: its CPU time and memory from
//! /proc, the load average, the `#flood` unread badge read off the screen, the notices of
//! its system buffer, and the time a typed key takes to show on the chat's input line
//! (through tmux: keys are typed and the screen is read by one tmux control-mode client kept
//! open for the whole measurement, so that no process is started per poll).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use crate::proc_stat;
use crate::tmux::{self, Tmux};

type BenchResult<T> = tmux::Outcome<T>;

/// Keys typed per measurement.
const KEYS: usize = 50;
/// Longest wait for one key to show before it counts as lost.
pub const KEY_LIMIT: Duration = Duration::from_secs(2);
/// Longest wait for the input line to clear, or another screen to show.
const CLEAR_LIMIT: Duration = Duration::from_secs(20);
/// Keys typed, in order; distinct enough not to appear elsewhere on screen.
const ALPHABET: &[u8] = b"qzjxkvbwmfhgpy";
/// How long the chat's idle CPU is measured.
const IDLE_TIME: Duration = Duration::from_secs(3);

pub use crate::proc_stat::load_average;

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`), in MB.
pub fn memory_mb(pid: u32, field: &str) -> BenchResult<f64> {
    proc_stat::status_kb(&pid.to_string(), field)
        .map(|kb| kb as f64 / 1024.0)
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> BenchResult<f64> {
    proc_stat::cpu_seconds(&pid.to_string())
        .ok_or_else(|| format!("cannot read the CPU time in /proc/{pid}/stat"))
}

/// The unread badge of `flood` in the group pane, e.g. `#flood (12345)`.
pub fn flood_badge(screen: &str) -> Option<u64> {
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

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub struct Latencies {
    pub ms: Vec<f64>,
    pub lost: usize,
}

impl Latencies {
    pub fn summary(&self) -> String {
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

    /// The slowest keys, in the order typed (`#n 123.4 ms`): where in the run a delay fell.
    pub fn slowest(&self, count: usize) -> String {
        let mut keys: Vec<(usize, f64)> = self.ms.iter().copied().enumerate().collect();
        keys.sort_by(|a, b| b.1.total_cmp(&a.1));
        keys.truncate(count);
        keys.sort_by_key(|&(n, _)| n);
        let keys: Vec<String> = keys
            .iter()
            .map(|(n, ms)| format!("#{n} {ms:.1} ms"))
            .collect();
        keys.join(", ")
    }

    pub fn p50(&self) -> f64 {
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, 50.0)
    }
}

/// A tmux control-mode client (`tmux -C attach`) on the chat's session: commands go down its
/// stdin and their output comes back between `%begin` and `%end`. A `tmux capture-pane` run
/// per poll started a process each time, and on a loaded box a new process could wait
/// hundreds of milliseconds for a CPU: the bench measured that wait, not the chat.
pub struct ControlClient {
    child: Child,
    commands: ChildStdin,
    replies: BufReader<ChildStdout>,
}

impl ControlClient {
    pub fn attach(tmux: &Tmux, session: &str) -> BenchResult<ControlClient> {
        let mut child = tmux
            .command()
            .args(["-C", "attach-session", "-t", session])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start a tmux control client: {e}"))?;
        let (Some(commands), Some(replies)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the tmux control client has no pipes".into());
        };
        let mut client = ControlClient {
            child,
            commands,
            replies: BufReader::new(replies),
        };
        // Commands sent before the client is attached fail ("no current client").
        let mut line = String::new();
        while !line.starts_with("%session-changed") {
            line.clear();
            client.read_line(&mut line)?;
        }
        // The pane's output is not needed here: only command replies come back.
        client.run("refresh-client -f no-output")?;
        Ok(client)
    }

    /// Runs one tmux command; returns what it printed.
    pub fn run(&mut self, command: &str) -> BenchResult<String> {
        writeln!(self.commands, "{command}")
            .and_then(|()| self.commands.flush())
            .map_err(|e| format!("tmux control client: {e}"))?;
        // Skip notifications and the reply to attaching (flags 0) up to our reply (flags 1).
        let mut line = String::new();
        loop {
            line.clear();
            self.read_line(&mut line)?;
            if line.starts_with("%begin ") && line.trim_end().ends_with(" 1") {
                break;
            }
        }
        let mut output = String::new();
        loop {
            line.clear();
            self.read_line(&mut line)?;
            if line.starts_with("%end ") {
                return Ok(output);
            }
            if line.starts_with("%error ") {
                return Err(format!("tmux {command:?} failed: {output}"));
            }
            output.push_str(&line);
        }
    }

    pub fn screen(&mut self, session: &str) -> BenchResult<String> {
        self.run(&format!("capture-pane -p -t {session}"))
    }

    fn read_line(&mut self, line: &mut String) -> BenchResult<()> {
        match self.replies.read_line(line) {
            Ok(0) => Err("the tmux control client exited".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("tmux control client: {e}")),
        }
    }
}

impl Drop for ControlClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Types `KEYS` single characters, each once the previous one showed, spaced over `span`;
/// returns the time from `send-keys` to the input line showing it. Clears the input after.
pub fn type_keys(tmux: &Tmux, span: Duration) -> BenchResult<Latencies> {
    let mut control = ControlClient::attach(tmux, "chat")?;
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
        control.run(&format!("send-keys -t chat -l {key}"))?;
        loop {
            let screen = control.screen("chat")?;
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
    tmux.wait_for("chat", "the input line to clear", CLEAR_LIMIT, |s| {
        !s.contains(&typed[..3])
    })?;
    Ok(result)
}

/// How long one `capture-pane` through the control client takes (median of 50).
pub fn capture_baseline(tmux: &Tmux) -> BenchResult<f64> {
    let mut control = ControlClient::attach(tmux, "chat")?;
    let mut ms = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        control.screen("chat")?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(percentile(&ms, 50.0))
}

/// Ingested: the `#flood` badge once it stops growing (bounded).
pub fn report_ingested(tmux: &Tmux, sent: u64, flood_started: Instant) -> BenchResult<()> {
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
        "ingested by the chat (badge of #flood, rounded down): {ingested} of {sent} sent ({:.1}%); the badge stopped growing {:.1} s after the flood began",
        100.0 * ingested as f64 / sent.max(1) as f64,
        (stable_since - flood_started).as_secs_f64()
    );
    Ok(())
}

/// What the connection went through, from the system buffer (the one before the first
/// group): each distinct notice once, with how often it shows (time stamps dropped).
pub fn report_connection(tmux: &Tmux) -> BenchResult<()> {
    tmux.run(&["send-keys", "-t", "chat", "C-p"])?;
    let system = tmux.wait_for("chat", "the system buffer", CLEAR_LIMIT, |s| {
        s.contains("┌ system ")
    })?;
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
    Ok(())
}

pub fn report_idle(pid: u32) -> BenchResult<()> {
    let idle_before = cpu_seconds(pid)?;
    let idle_started = Instant::now();
    std::thread::sleep(IDLE_TIME);
    let idle_cpu = cpu_seconds(pid)? - idle_before;
    println!(
        "chat CPU idle: {:.2}% of one core ({idle_cpu:.2} s over {:.1} s)",
        100.0 * idle_cpu / idle_started.elapsed().as_secs_f64(),
        idle_started.elapsed().as_secs_f64()
    );
    Ok(())
}
