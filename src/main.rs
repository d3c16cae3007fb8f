//! The `wpchat` binary: parse the command line, set up logging, dispatch a subcommand.

use clap::Parser;
use wpchat::cli::{Cli, CommandKind};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` logs to stderr (it installs its own subscriber); everything else logs to a file,
    // since the chat owns the terminal and the pipe modes own stdout.
    let serving = matches!(cli.command, Some(CommandKind::Serve(_)));
    let (log_guard, mut log_notices) = if serving || cli.print_default_config {
        (None, Vec::new())
    } else {
        match wpchat::logging::init() {
            Ok(mut log) => {
                let notices = std::mem::take(&mut log.notices);
                (Some(log), notices)
            }
            Err(error) => (
                None,
                vec![format!("{error}; continuing without a log file")],
            ),
        }
    };
    if cli.command.is_some() {
        for notice in &log_notices {
            eprintln!("wpchat: {notice}");
        }
    } else if let Some(log) = &log_guard {
        log_notices.insert(0, format!("log file: {}", log.path.display()));
    }
    // Declared after `log_guard`, so the runtime drops first and its tasks' last words are
    // flushed to the log.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wpchat: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None if cli.print_default_config => {
                print!("{}", wpchat::config::DEFAULT_CONFIG);
                Ok(std::process::ExitCode::SUCCESS)
            }
            None => wpchat::cmd::chat::run(cli.target, log_notices).await,
            Some(CommandKind::Serve(args)) => wpchat::service::serve(args).await,
            Some(CommandKind::Token(args)) => wpchat::target::print_token(&cli.target, &args),
            Some(CommandKind::Listen(args)) => wpchat::pipe::listen(cli.target, args).await,
            Some(CommandKind::Send(args)) => wpchat::pipe::send(cli.target, args).await,
            Some(CommandKind::Bench(args)) => wpchat::bench::run(cli.target, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wpchat: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
