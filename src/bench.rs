//! `wpchat bench`: publishers and subscribers on one group; throughput and latency.

use std::process::ExitCode;

use crate::cli::{BenchArgs, TargetArgs};

pub async fn run(_target: TargetArgs, _args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench is not built yet")
}
