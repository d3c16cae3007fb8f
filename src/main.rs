//! The `wpchat` binary: parse the command line, set up logging, dispatch a subcommand to `cmd`.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use wpchat::cli::{Cli, CommandKind};

fn main() -> std::process::ExitCode {
    let cli = parse();
    // `serve` logs to stderr; everything else logs to a file, since the chat owns the terminal
    // and the pipe modes own stdout.
    let serving = matches!(cli.command, Some(CommandKind::Serve(_)));
    if serving {
        wpchat::logging::init_stderr();
    }
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
        use wpchat::cmd;
        match cli.command {
            None if cli.print_default_config => cmd::write_stdout(wpchat::config::DEFAULT_CONFIG)
                .map(|()| std::process::ExitCode::SUCCESS),
            None => {
                let history = cmd::chat::HistoryMode {
                    no_history: cli.no_history,
                    offline: cli.offline,
                };
                cmd::chat::run(cli.url_arg, cli.target, history, log_notices).await
            }
            Some(CommandKind::Serve(args)) => cmd::serve::run(args).await,
            Some(CommandKind::Token(args)) => cmd::token::run(args),
            Some(CommandKind::Listen(args)) => cmd::listen::run(args).await,
            Some(CommandKind::Send(args)) => cmd::send::run(args).await,
            Some(CommandKind::Bench(args)) => cmd::bench::run(args).await,
            Some(CommandKind::History(args)) => cmd::history::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => wpchat::cmd::exit::report(&error),
    }
}

/// Parses the command line, exiting with clap's message on a mistake. The chat's target flags
/// belong to the chat: given before a subcommand they would be silently ignored, so that is an
/// error that says where they go.
fn parse() -> Cli {
    let matches = Cli::command()
        .try_get_matches()
        .unwrap_or_else(|error| wpchat::cmd::exit::clap_exit(error));
    if let Some((subcommand, _)) = matches.subcommand()
        && let Some(flag) = chat_flag_given(&matches)
    {
        let message = match flag.get_long() {
            None if takes(subcommand, "url") => {
                format!("a client URL goes after the subcommand: wpchat {subcommand} URL …")
            }
            None => format!(
                "`wpchat {subcommand}` takes no client URL (see wpchat {subcommand} --help)"
            ),
            Some(long) if takes(subcommand, long) => {
                format!("--{long} goes after the subcommand: wpchat {subcommand} --{long} …")
            }
            Some(long) => format!(
                "--{long} is a chat option; `wpchat {subcommand}` does not take it (see wpchat {subcommand} --help)"
            ),
        };
        wpchat::cmd::exit::clap_exit(
            Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message),
        );
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| wpchat::cmd::exit::clap_exit(error))
}

/// Whether `subcommand` has the option `--long`.
fn takes(subcommand: &str, long: &str) -> bool {
    Cli::command()
        .find_subcommand(subcommand)
        .is_some_and(|sub| sub.get_arguments().any(|arg| arg.get_long() == Some(long)))
}

/// The first of the chat's own arguments given on the command line (not from the environment).
fn chat_flag_given(matches: &ArgMatches) -> Option<clap::Arg> {
    let command = Cli::command();
    command
        .get_arguments()
        .filter(|arg| arg.get_id() != "print_default_config")
        .find(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .cloned()
}
