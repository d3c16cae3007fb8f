//! What the kernel says about a process (`/proc/PID/stat` and `/proc/PID/status`), for the
//! benches that report CPU time and memory.
#![allow(dead_code)] // each bench reads the part it reports

/// Clock ticks per second of `/proc/PID/stat`'s times: `CLK_TCK` is 100 on every Linux build
/// this runs on (it is fixed at 100 for user space whatever the kernel's HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of process `pid` (a number or `self`) so far, in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the ")" that ends the command name (which may hold spaces) start at
    // field 3, so utime (field 14) is the 12th of them and stime the 13th.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in kB.
pub fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rest = status.lines().find_map(|line| line.strip_prefix(field))?;
    rest.trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The processor's model name, to tell which machine a run was on: the ratios to the bare
/// reader differ from one VM to another, not only the rates.
pub fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "?".into())
}

/// The load average over 1, 5 and 15 minutes, as the kernel prints it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
