//! `wpchat bench`: throughput and latency through one group of the resolved target.

use std::process::ExitCode;

use crate::bench::BenchOptions;
use crate::cli::BenchArgs;

/// Checks the numbers, resolves the target and runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut options = BenchOptions {
        publishers: args.publishers,
        subscribers: args.subscribers,
        count: args.count,
        size: args.size,
        rate: args.rate,
        connecting: Default::default(),
    };
    // Before the target: a run that cannot measure anything should not start a service.
    options
        .check()
        .map_err(|e| super::exit::Usage(e.to_string()))?;
    let target_options = super::script_target(args.url_arg, args.target, &args.wait)?;
    let target = super::prepare_on_stderr(&target_options).await?;
    options.connecting = super::connecting(&target, &args.wait);
    let summary = crate::bench::run(&target.client, &options, args.json).await?;
    Ok(ExitCode::from(super::exit::bench_code(
        summary.lost + summary.failed_sends,
        summary.duplicates,
    )))
}
