//! Command-line definitions: the chat (default), `serve`, `token`, `listen`, `send`, `bench`,
//! `history`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The chat takes its target flags before any subcommand; each subcommand that connects takes
/// them after its name (`wpchat listen --group g`), so every `--help` lists only what applies.
/// No `Debug`: the positional URL may carry a token.
#[derive(Parser)]
#[command(
    name = "wpchat",
    version,
    about = "A terminal chat client for Azure Web PubSub"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CommandKind>,
    /// A client URL (wss://…/client/hubs/HUB?access_token=…).
    #[arg(value_name = "URL")]
    pub url_arg: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the default configuration file and exit.
    #[arg(long)]
    pub print_default_config: bool,
    /// Do not record this session's history (backlog and search still read what is stored).
    #[arg(long)]
    pub no_history: bool,
    /// Browse and search stored history without connecting (nothing is sent or recorded).
    #[arg(long, conflicts_with = "url_arg")]
    pub offline: bool,
}

#[derive(Debug, Subcommand)]
pub enum CommandKind {
    /// Run a local Web PubSub-compatible service.
    Serve(ServeArgs),
    /// Mint a client access token from a connection string.
    Token(TokenArgs),
    /// Print received messages, one per line.
    Listen(ListenArgs),
    /// Send messages (arguments or stdin lines) and wait for their acks.
    Send(SendArgs),
    /// Measure throughput and latency through one group.
    Bench(BenchArgs),
    /// Search, export, prune or forget the chat history stored on this machine.
    History(HistoryArgs),
}

/// Where to connect, for the chat and the subcommands that connect. With no target, wpchat
/// uses (or starts) the local service. `Debug` is written by hand in `cmd/` so that it never
/// shows a token, access key or header value.
#[derive(Args, Clone, Default)]
pub struct TargetArgs {
    /// A client URL (same as the chat's positional URL).
    #[arg(long)]
    pub url: Option<String>,
    /// An app server endpoint answering GET with {"url": CLIENT_URL}.
    #[arg(long)]
    pub negotiate: Option<String>,
    /// Extra header for the negotiate request ('Name: value'); repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    #[command(flatten)]
    pub mint: MintArgs,
    /// Subprotocol: JSON in text frames or protobuf in binary frames; the reliable ones
    /// recover a dropped connection without losing messages. `none`: a simple WebSocket
    /// client moving raw text and binary frames (no groups, no acks).
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// Do not rejoin groups after a fresh reconnect.
    #[arg(long)]
    pub no_auto_rejoin: bool,
    /// Send the token in an Authorization header instead of the query string.
    #[arg(long)]
    pub token_in_header: bool,
}

/// What a minted token is made from: a connection string (or a profile with one) and the
/// claims to put in it. `wpchat token` takes only these.
#[derive(Args, Clone, Default)]
pub struct MintArgs {
    /// A connection string (Endpoint=…;AccessKey=…); tokens are minted locally.
    #[arg(long, env = "WebPubSubConnectionString", hide_env_values = true)]
    pub connection_string: Option<String>,
    /// Hub name (with a connection string).
    #[arg(long)]
    pub hub: Option<String>,
    /// User id put in minted tokens (default: the OS user name).
    #[arg(long)]
    pub user: Option<String>,
    /// Role put in minted tokens; repeatable.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Group to join at connect; repeatable.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Minted token lifetime in minutes.
    #[arg(long, value_name = "MINUTES")]
    pub expires: Option<u64>,
    /// Profile from the config file.
    #[arg(long)]
    pub profile: Option<String>,
    /// Config file (default: the platform config dir; or WPCHAT_CONFIG).
    #[arg(long, env = "WPCHAT_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    #[value(name = "json")]
    Json,
    #[value(name = "json.reliable")]
    JsonReliable,
    #[value(name = "protobuf")]
    Protobuf,
    #[value(name = "protobuf.reliable")]
    ProtobufReliable,
    /// No subprotocol: a simple WebSocket client.
    #[value(name = "none")]
    None,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Access key clients' tokens are signed with (default: the well-known development key).
    #[arg(long, env = "WPCHAT_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    /// Accept client connections with no token.
    #[arg(long)]
    pub allow_anonymous: bool,
    /// Allow binding to a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

/// `wpchat serve`'s event handler flags.
#[derive(Debug, Args, Clone)]
pub struct UpstreamArgs {
    /// Event handler for every hub: an http(s) URL template with optional {hub} and {event},
    /// e.g. http://localhost:3000/eventhandler/{hub}/{event}.
    #[arg(long = "upstream", value_name = "URL_TEMPLATE")]
    pub template: Option<String>,
    /// User events the --upstream handler takes: *, a comma list, or one name.
    #[arg(
        long,
        value_name = "PATTERN",
        default_value = "*",
        requires = "template"
    )]
    pub upstream_events: String,
    /// System events the --upstream handler takes (comma list; empty for none).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "connect,connected,disconnected",
        requires = "template"
    )]
    pub upstream_system_events: String,
    /// How long one event handler call may take (e.g. 10s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "100s")]
    pub upstream_timeout: std::time::Duration,
    /// Retry a call that failed with 408, a 5xx or a network error after 1, 3 and 5 s, with
    /// the same ce-id (as Microsoft's emulator does); off by default.
    #[arg(long)]
    pub upstream_retries: bool,
    /// Pass clients' invoke requests to the handler as user events and answer with its reply
    /// (a preview of the service: its upstream mapping is not documented yet); off by default.
    #[arg(long)]
    pub upstream_invoke: bool,
    /// Event handlers per hub from a JSON file in the shape of Microsoft's emulator settings
    /// ({"Hubs": {"<hub>|_default": {"EventHandlers": [{"UrlTemplate", "EventPattern",
    /// "SystemEvents"}]}}}); tried before --upstream.
    #[arg(long, value_name = "FILE")]
    pub upstream_settings: Option<std::path::PathBuf>,
}

impl Default for UpstreamArgs {
    /// As clap fills it when no flag is given.
    fn default() -> Self {
        UpstreamArgs {
            template: None,
            upstream_events: "*".into(),
            upstream_system_events: "connect,connected,disconnected".into(),
            upstream_timeout: std::time::Duration::from_secs(100),
            upstream_retries: false,
            upstream_invoke: false,
            upstream_settings: None,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct TokenArgs {
    #[command(flatten)]
    pub mint: MintArgs,
    /// Print {"baseUrl","token","url"} like the server SDKs.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListenFormat {
    #[default]
    Jsonl,
    Text,
}

/// A positional argument that may hold a client URL's token or a message body: `Debug` shows
/// only its length, so a `{:?}` of the arguments never shows either.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(pub String);

impl std::str::FromStr for Sensitive {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Sensitive(text.to_string()))
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// How a script (`listen`, `send`, `bench`) treats its first connection.
#[derive(Debug, Args, Clone, Default)]
pub struct WaitArgs {
    /// Keep retrying the first connection (for a service that is still starting), for at most
    /// DURATION if given (e.g. 30s); without it, a failure retrying cannot fix (refused token,
    /// unknown host, nothing listening, TLS) ends the run at once.
    #[arg(long, value_name = "DURATION", num_args = 0..=1, value_parser = parse_duration)]
    pub wait: Option<Option<std::time::Duration>>,
}

#[derive(Debug, Args, Clone)]
pub struct ListenArgs {
    /// A client URL (wss://…/client/hubs/HUB?access_token=…), as the chat takes it.
    #[arg(value_name = "URL")]
    pub url_arg: Option<Sensitive>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Exit with code 5 when a reliable session is lost and messages may be missing (without
    /// it, each such gap is one line on stderr).
    #[arg(long)]
    pub strict: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListenFormat::Jsonl)]
    pub format: ListenFormat,
    /// Exit after this many messages.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit after this long (e.g. 30s, 5m, 500ms).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DataTypeArg {
    #[default]
    Text,
    Json,
    Binary,
}

#[derive(Debug, Args, Clone)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Data type of the messages [default: text; binary with --file].
    #[arg(long, value_enum)]
    pub data_type: Option<DataTypeArg>,
    /// Do not deliver the messages back to this connection.
    #[arg(long)]
    pub no_echo: bool,
    /// Do not wait for acks.
    #[arg(long)]
    pub fire_and_forget: bool,
    /// Send a user event with this name instead of a group message.
    #[arg(long, conflicts_with = "no_echo")]
    pub event: Option<String>,
    /// Invoke this upstream event with each message and print its response (exit 1 when it
    /// says success:false).
    #[arg(long, value_name = "NAME", conflicts_with = "event")]
    pub invoke: Option<String>,
    /// After sending, wait for this many replies (frames on --protocol none, server
    /// messages otherwise) and print each as a JSON line.
    #[arg(long, value_name = "N")]
    pub expect_reply: Option<u64>,
    /// How long to wait for the --expect-reply replies (e.g. 10s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub reply_timeout: std::time::Duration,
    /// Send this file as one message: its raw bytes (binary), or its text with --data-type
    /// text or json.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Send the --file bytes as the value of a protobuf Any with this type URL (needs
    /// --protocol protobuf or protobuf.reliable).
    #[arg(long, requires = "file")]
    pub type_url: Option<String>,
    /// A client URL, then the message; a lone argument that is a ws:// or wss:// URL is the
    /// target, anything else the message. Without a message, each stdin line is one message.
    #[arg(value_name = "URL|MESSAGE")]
    pub first: Option<Sensitive>,
    /// The message, after a client URL.
    #[arg(value_name = "MESSAGE")]
    pub message: Option<Sensitive>,
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// A client URL (wss://…/client/hubs/HUB?access_token=…), as the chat takes it.
    #[arg(value_name = "URL")]
    pub url_arg: Option<Sensitive>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Connections that send to the benchmark's group (each sends --count messages).
    #[arg(long, default_value_t = 1)]
    pub publishers: u32,
    /// Connections that join the group and receive every message (each counts loss,
    /// duplicates and latency).
    #[arg(long, default_value_t = 1)]
    pub subscribers: u32,
    /// Messages per publisher.
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Messages per second per publisher (0 = as fast as acks allow).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `wpchat history …`: the database is the one the chat uses with the same target flags.
#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub action: HistoryAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportFormatArg {
    #[default]
    Jsonl,
    /// The JSONL compressed with zstd (`zstd -d` restores it exactly).
    #[value(name = "jsonl.zst")]
    JsonlZst,
    Text,
}

#[derive(Debug, Subcommand, Clone)]
pub enum HistoryAction {
    /// Write stored messages, oldest first: JSONL (the `listen` keys plus `dir`), the same
    /// compressed with zstd (jsonl.zst), or text.
    Export {
        /// Only this group; repeatable.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// From this time (YYYY-MM-DD, RFC 3339, or an age such as 2h or 7d ago).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Before this time (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = ExportFormatArg::Jsonl)]
        format: ExportFormatArg,
    },
    /// Search stored messages, newest first: words, "phrase", pre*, OR, -word, in:GROUP,
    /// from:USER, before:/after:/on:YYYY-MM-DD, type:json|binary|text, is:mine.
    Search {
        /// The query (several words are one query).
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        query: Vec<String>,
        /// Print the hits as JSON lines (the export format).
        #[arg(long)]
        json: bool,
        /// Hits to show at most.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// How much is stored, how far the search index lags, what was not saved.
    Stats,
    /// Delete messages older than an age.
    Prune {
        /// e.g. 90d, 12h, 2w.
        #[arg(long, value_name = "AGE")]
        older_than: String,
    },
    /// Publish a recorded slice of a group again, with its original timing, into a hub (the
    /// local service on 127.0.0.1:8080 by default).
    Replay {
        /// The recorded group (the slice is published into a group of the same name).
        #[arg(long)]
        group: String,
        /// From this time (YYYY-MM-DD, RFC 3339, or an age such as 2h or 7d ago).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Before this time (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// How many times faster than recorded: 1x, 10x, 0.5x (a pause is cut to 10 s).
        #[arg(long, default_value = "1x")]
        speed: String,
        /// Where to publish: a connection string or a client URL (default: the local service).
        #[arg(long, value_name = "TARGET")]
        to: Option<String>,
        /// The hub to publish into with --to or the local service.
        #[arg(long, default_value = "chat")]
        to_hub: String,
    },
    /// Delete a group's history, or all of it.
    Forget {
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        group: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; use e.g. 500ms, 30s, 5m, 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{text}'; use ms, s, m or h"
            ));
        }
    };
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_debug_of_the_arguments_shows_no_token_and_no_message() {
        let url = "wss://h/client/hubs/chat?access_token=SECRET";
        for args in [
            vec!["wpchat", "listen", url],
            vec!["wpchat", "bench", url],
            vec!["wpchat", "send", url, "--group", "g", "private words"],
        ] {
            let cli = Cli::try_parse_from(&args).expect("parses");
            let shown = format!("{:?}", cli.command);
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(!shown.contains("private"), "{shown}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("500ms"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("2m"),
            Ok(std::time::Duration::from_secs(120))
        );
        assert_eq!(
            parse_duration("soon"),
            Err("'soon' is not a duration; use e.g. 500ms, 30s, 5m, 1h".to_string())
        );
        assert_eq!(
            parse_duration("2d"),
            Err("unknown unit 'd' in '2d'; use ms, s, m or h".to_string())
        );
    }
}
