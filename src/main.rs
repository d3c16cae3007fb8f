//! The `wpchat` binary: parse the command line, set up logging, dispatch a subcommand.

use clap::Parser;
use wpchat::cli::{Cli, CommandKind};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
            None => wpchat::tui::run(cli.target).await,
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
