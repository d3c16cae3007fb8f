//! `wpchat bench` end to end: the built binary against its embedded local service.

use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let home = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("WPCHAT_EMBEDDED_PORT", "0")
        .env_remove("WebPubSubConnectionString")
        .env_remove("WPCHAT_CONFIG")
        .output()
        .expect("wpchat bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn reliable_bench_delivers_everything_once() {
    let summary = bench(&["--count", "300", "--publishers", "2", "--subscribers", "2"]);
    assert_eq!(summary["protocol"], "json.reliable");
    assert_eq!(summary["expected"], 1200);
    assert_eq!(summary["received"], 1200);
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["failed_sends"], 0);
    assert!(
        summary["latency_ms"]["p99"]
            .as_f64()
            .is_some_and(|p99| p99 > 0.0)
    );
}

#[test]
fn non_reliable_bench_reports_its_protocol() {
    let summary = bench(&["--count", "200", "--protocol", "json", "--size", "32"]);
    assert_eq!(summary["protocol"], "json");
    assert_eq!(summary["received"], 200);
    assert_eq!(summary["size"], 32);
}
