//! `wpchat bench` end to end: the built binary against its embedded local service.

#[path = "support/cli.rs"]
mod cli;

use cli::Home;

fn bench(args: &[&str]) -> serde_json::Value {
    let output = Home::new()
        .wpchat_blocking(&["bench"])
        .args(args)
        .arg("--json")
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

/// Every field of `expected` (a JSON object) has that value in `summary`.
fn assert_fields(summary: &serde_json::Value, expected: serde_json::Value) {
    for (field, value) in expected.as_object().expect("an object of expected fields") {
        assert_eq!(&summary[field], value, "{field} in {summary}");
    }
}

#[test]
fn reliable_bench_delivers_everything_once() {
    let summary = bench(&["--count", "300", "--publishers", "2", "--subscribers", "2"]);
    assert_fields(
        &summary,
        serde_json::json!({
            "protocol": "json.reliable",
            "expected": 1200,
            "received": 1200,
            "lost": 0,
            "duplicates": 0,
            "failed_sends": 0,
        }),
    );
    assert!(
        summary["latency_ms"]["p99"]
            .as_f64()
            .is_some_and(|p99| p99 > 0.0)
    );
}

#[test]
fn non_reliable_bench_reports_its_protocol() {
    let summary = bench(&["--count", "200", "--protocol", "json", "--size", "32"]);
    assert_fields(
        &summary,
        serde_json::json!({ "protocol": "json", "received": 200, "size": 32 }),
    );
}

#[test]
fn a_bench_that_measures_nothing_says_which_flags_to_raise() {
    let output = Home::new()
        .wpchat_blocking(&["bench", "--publishers", "0"])
        .output()
        .expect("wpchat bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("--publishers, --subscribers and --count must be 1 or more"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no summary");
}
