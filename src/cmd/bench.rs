//! `wpchat bench`: throughput and latency through one group of the resolved target.

use std::process::ExitCode;

use crate::bench::BenchOptions;
use crate::cli::BenchArgs;

/// Checks the numbers, resolves the target and runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let options = BenchOptions {
        publishers: args.publishers,
        subscribers: args.subscribers,
        count: args.count,
        size: args.size,
        rate: args.rate,
    };
    // Before the target: a run that cannot measure anything should not start a service.
    options.check()?;
    let target = super::prepare_on_stderr(&args.target.into()).await?;
    crate::bench::run(&target.client, &options, args.json).await
}
