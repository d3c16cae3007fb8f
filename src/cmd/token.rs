//! `wpchat token`: mint a client URL (or the SDKs' JSON) from a connection string and print it.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::TokenArgs;
use crate::target::TargetOptions;

/// Prints the minted client URL, or `{"baseUrl","token","url"}` with `--json`.
pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let options = TargetOptions::from(args.mint);
    let (config, warnings) = super::load_config(&options)?;
    // On failure the error is the one line to read; the warnings follow a success.
    let access = crate::target::client_access(&options, &config)?;
    super::print_warnings(warnings);
    let output = if args.json {
        serde_json::to_string_pretty(&access).context("cannot encode the token as JSON")?
    } else {
        access.url
    };
    super::write_stdout(&format!("{output}\n"))?;
    Ok(ExitCode::SUCCESS)
}
