//! `wpchat listen`: received messages on stdout, one line each.

use std::process::ExitCode;

use crate::cli::{ListenArgs, ListenFormat};
use crate::pipe::{LineFormat, ListenOptions};

/// Resolves the target and prints what arrives until `--count`, `--timeout` or Ctrl+C.
pub async fn run(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let options = super::script_target(args.url_arg, args.target, &args.wait)?;
    let target = super::prepare_on_stderr(&options).await?;
    let options = ListenOptions {
        format: match args.format {
            ListenFormat::Jsonl => LineFormat::Jsonl,
            ListenFormat::Text => LineFormat::Text,
        },
        count: args.count,
        timeout: args.timeout,
        strict: args.strict,
        connecting: super::connecting(&target, &args.wait),
    };
    // The target may host the embedded service: it must outlive the connection.
    crate::pipe::listen(target.client.clone(), target.groups.clone(), options).await
}
