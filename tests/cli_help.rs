//! Each subcommand's `--help` lists only what it takes (the built binary), and the chat's
//! target flags given before a subcommand are refused with a message that says where they go.

use std::process::{Command, Output};

/// The chat's client flags: where and how to connect.
const CLIENT_FLAGS: &[&str] = &[
    "--url",
    "--connection-string",
    "--negotiate",
    "--header",
    "--hub",
    "--user",
    "--role",
    "--group",
    "--expires",
    "--protocol",
    "--no-auto-rejoin",
    "--token-in-header",
    "--profile",
    "--config",
];

fn wpchat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wpchat"))
        .args(args)
        .env_remove("WebPubSubConnectionString")
        .env_remove("WPCHAT_CONFIG")
        .output()
        .expect("wpchat runs")
}

/// The `--help` text of `args`, which must succeed.
fn help(args: &[&str]) -> String {
    let output = wpchat(args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// Whether the help text lists `flag` as an option (not merely as a longer flag's prefix).
fn lists(help: &str, flag: &str) -> bool {
    help.split_whitespace().any(|word| {
        word == flag
            || word
                .strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('='))
    })
}

#[test]
fn serve_help_shows_no_client_flag() {
    let text = help(&["serve", "--help"]);
    for flag in CLIENT_FLAGS {
        assert!(!lists(&text, flag), "serve --help lists {flag}:\n{text}");
    }
    for flag in [
        "--host",
        "--port",
        "--access-key",
        "--allow-anonymous",
        "--allow-remote",
    ] {
        assert!(lists(&text, flag), "serve --help misses {flag}:\n{text}");
    }
}

#[test]
fn the_subcommands_that_connect_show_the_client_flags() {
    for subcommand in ["listen", "send", "bench"] {
        let text = help(&[subcommand, "--help"]);
        for flag in CLIENT_FLAGS {
            assert!(
                lists(&text, flag),
                "{subcommand} --help misses {flag}:\n{text}"
            );
        }
    }
    let chat = help(&["--help"]);
    for flag in CLIENT_FLAGS {
        assert!(lists(&chat, flag), "wpchat --help misses {flag}:\n{chat}");
    }
}

#[test]
fn every_bench_option_says_what_it_does() {
    let text = help(&["bench", "--help"]);
    for flag in [
        "--publishers",
        "--subscribers",
        "--count",
        "--size",
        "--rate",
        "--json",
    ] {
        let mut lines = text
            .lines()
            .skip_while(|line| line.split_whitespace().next() != Some(flag));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("bench --help misses {flag}:\n{text}"));
        // The words after the flag and its value name, up to the next option, without the
        // `[default: …]` clap adds by itself.
        let entry: Vec<&str> = std::iter::once(first)
            .chain(lines.take_while(|line| !line.trim_start().starts_with('-')))
            .flat_map(str::split_whitespace)
            .skip(1)
            .skip_while(|word| word.starts_with('<'))
            .filter(|word| !word.starts_with("[default") && !word.ends_with(']'))
            .collect();
        let help = entry.len();
        let line = first;
        assert!(help > 0, "bench {flag} has no help text: {line}");
    }
}

#[test]
fn token_help_shows_only_what_a_token_is_minted_from() {
    let text = help(&["token", "--help"]);
    for flag in [
        "--connection-string",
        "--hub",
        "--user",
        "--role",
        "--group",
        "--expires",
        "--json",
    ] {
        assert!(lists(&text, flag), "token --help misses {flag}:\n{text}");
    }
    for flag in [
        "--url",
        "--negotiate",
        "--header",
        "--protocol",
        "--no-auto-rejoin",
    ] {
        assert!(!lists(&text, flag), "token --help lists {flag}:\n{text}");
    }
}

/// `args` is a usage error (exit code 2) whose message contains `message`.
fn refused_with(args: &[&str], message: &str) {
    let output = wpchat(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

#[test]
fn a_client_flag_before_the_subcommand_says_where_it_goes() {
    refused_with(
        &["--group", "g", "listen", "--count", "0"],
        "--group goes after the subcommand: wpchat listen --group",
    );
    refused_with(
        &["--hub", "chat", "serve", "--port", "0"],
        "--hub is a chat option; `wpchat serve` does not take it",
    );
    refused_with(
        &["wss://h/client/hubs/chat", "send", "--group", "g", "hi"],
        "a client URL goes after the subcommand: wpchat send URL",
    );
    refused_with(
        &["wss://h/client/hubs/chat", "serve"],
        "`wpchat serve` takes no client URL",
    );
}

#[test]
fn a_client_flag_after_a_subcommand_that_does_not_take_it_is_refused() {
    refused_with(&["serve", "--group", "g"], "unexpected argument '--group'");
}
