//! Slash commands typed in the input (UX.md): parsed and validated here, carried out by the
//! App. A bad command becomes a one-line error and the typed text stays in the input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use thiserror::Error;

use crate::protocol::{DataType, Payload, validate_event_name, validate_group_name};

/// One slash command: its name, usage and help line (for `/help`, Tab completion and usage
/// errors) and how its arguments are read. Adding a command is one record here plus what it
/// does in the App.
pub(crate) struct CommandSpec {
    pub name: &'static str,
    /// Other names that run it, not listed in help or completion.
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    parse: fn(Args<'_>) -> Result<SlashCommand, CommandError>,
}

/// The longest name quoted in an error (a 1 100-character name is not repeated whole).
pub(crate) const NAME_SHOWN: usize = 40;

/// Every command, in help order.
pub(crate) const COMMANDS: &[CommandSpec] = &[
    command("/join", "/join <group>", "join a group", parse_join),
    command(
        "/leave",
        "/leave [group]",
        "leave a group (default: the current one)",
        parse_leave,
    ),
    command("/part", "/part [group]", "same as /leave", parse_leave),
    command(
        "/send",
        "/send <group> <text>",
        "send text to a group without switching",
        parse_send,
    ),
    command(
        "/json",
        "/json <json>",
        "send JSON (validated first)",
        parse_json,
    ),
    command(
        "/bin",
        "/bin <base64> | /bin @<file>",
        "send binary data",
        parse_binary,
    ),
    command(
        "/event",
        "/event <name> [data]",
        "send a user event to the upstream",
        parse_event,
    ),
    command(
        "/invoke",
        "/invoke <name> [data]",
        "invoke an upstream event and show its response",
        parse_invoke,
    ),
    command(
        "/type",
        "/type text|json|binary",
        "data type of what you type",
        parse_type,
    ),
    command(
        "/noecho",
        "/noecho on|off",
        "do not receive your own group messages",
        parse_no_echo,
    ),
    command(
        "/reconnect",
        "/reconnect",
        "drop the connection and connect afresh",
        |args| args.bare(SlashCommand::Reconnect),
    ),
    command("/clear", "/clear", "clear this buffer's log", |args| {
        args.bare(SlashCommand::Clear)
    }),
    command(
        "/search",
        "/search <query>",
        "search all stored history (words \"phrase\" pre* -word in: from: on:)",
        parse_search,
    ),
    command(
        "/goto",
        "/goto HH:MM | -2h | YYYY-MM-DD [HH:MM]",
        "show this group's stored history from that time",
        parse_goto,
    ),
    command(
        "/history",
        "/history off|on",
        "pause or resume recording history for this session",
        parse_history,
    ),
    command("/raw", "/raw", "toggle the raw frame inspector", |args| {
        args.bare(SlashCommand::Raw)
    }),
    command(
        "/close",
        "/close [group]",
        "leave a group and close its buffer (or close /raw's)",
        parse_close,
    ),
    command(
        "/buffer",
        "/buffer <n>",
        "show buffer n (the numbers of the group pane)",
        parse_buffer,
    ),
    command(
        "/names",
        "/names",
        "who was seen in this group (Web PubSub has no presence)",
        |args| args.bare(SlashCommand::Names),
    ),
    command(
        "/open",
        "/open [n]",
        "list this buffer's newest links, or open link n in the browser",
        parse_open,
    ),
    command("/help", "/help [command]", "keys and commands", parse_help),
    CommandSpec {
        aliases: &["/exit"],
        ..command("/quit", "/quit", "leave wpchat", |_| Ok(SlashCommand::Quit))
    },
];

const fn command(
    name: &'static str,
    usage: &'static str,
    help: &'static str,
    parse: fn(Args<'_>) -> Result<SlashCommand, CommandError>,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        usage,
        help,
        parse,
    }
}

/// The command with this name (or alias).
pub(crate) fn spec(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

/// Where `/bin` data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum BinarySource {
    Inline(Vec<u8>),
    File(String),
}

/// A parsed slash command.
#[derive(Debug, Clone, PartialEq)]
pub enum SlashCommand {
    Join(String),
    Leave(Option<String>),
    Send {
        group: String,
        text: String,
    },
    Json(Payload),
    Binary(BinarySource),
    Event {
        name: String,
        payload: Payload,
    },
    Invoke {
        name: String,
        payload: Payload,
    },
    Type(DataType),
    NoEcho(bool),
    Reconnect,
    Clear,
    Search(String),
    /// Show the current group's stored history from a time.
    Goto(GotoTime),
    /// Record history (`true`) or pause recording for this session.
    History(bool),
    Raw,
    Help(Option<String>),
    Quit,
    /// `/close [group]`: leave and close (the current buffer when none is named).
    Close(Option<String>),
    /// `/buffer n`: show buffer n (1-based).
    Buffer(usize),
    Names,
    /// `/open`: list the newest links; `/open n`: open link n (1 is the newest).
    Open(Option<usize>),
}

/// Why a command line was not accepted.
#[derive(Debug, Error, PartialEq)]
pub enum CommandError {
    #[error("unknown command {0}; /help lists the commands")]
    Unknown(String),
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// The arguments after a command's name.
#[derive(Clone, Copy)]
struct Args<'a> {
    rest: &'a str,
    usage: &'static str,
}

impl<'a> Args<'a> {
    fn usage(&self) -> CommandError {
        CommandError::Usage(self.usage)
    }

    fn words(&self) -> std::str::SplitWhitespace<'a> {
        self.rest.split_whitespace()
    }

    /// Exactly one word.
    fn one_word(&self) -> Result<&'a str, CommandError> {
        match (self.words().next(), self.words().nth(1)) {
            (Some(word), None) => Ok(word),
            _ => Err(self.usage()),
        }
    }

    /// A command that takes no arguments.
    fn bare(&self, command: SlashCommand) -> Result<SlashCommand, CommandError> {
        if self.rest.is_empty() {
            Ok(command)
        } else {
            Err(self.usage())
        }
    }
}

/// Parses a line that starts with `/`.
pub fn parse(line: &str) -> Result<SlashCommand, CommandError> {
    let line = line.trim_end_matches(['\n', ' ']);
    let (name, rest) = match line.split_once(' ') {
        Some((name, rest)) => (name, rest.trim_start()),
        None => (line, ""),
    };
    let spec = spec(name).ok_or_else(|| CommandError::Unknown(crate::text::sanitize_line(name)))?;
    (spec.parse)(Args {
        rest,
        usage: spec.usage,
    })
}

fn valid_group(group: &str) -> Result<(), CommandError> {
    validate_group_name(group).map_err(|e| {
        let shown = crate::text::truncate(group, NAME_SHOWN);
        CommandError::Invalid(format!("group '{shown}': {e}"))
    })
}

fn parse_join(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let group = args.one_word()?;
    valid_group(group)?;
    Ok(SlashCommand::Join(group.to_string()))
}

fn parse_leave(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    if args.rest.is_empty() {
        return Ok(SlashCommand::Leave(None));
    }
    // The whole rest: group names may hold spaces (`/leave my team`).
    let group = args.rest.trim();
    valid_group(group)?;
    Ok(SlashCommand::Leave(Some(group.to_string())))
}

fn parse_close(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    match parse_leave(args)? {
        SlashCommand::Leave(group) => Ok(SlashCommand::Close(group)),
        _ => Err(args.usage()),
    }
}

fn parse_buffer(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    match args.one_word()?.parse::<usize>() {
        Ok(number) if number >= 1 => Ok(SlashCommand::Buffer(number)),
        _ => Err(args.usage()),
    }
}

fn parse_open(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    if args.rest.is_empty() {
        return Ok(SlashCommand::Open(None));
    }
    match args.one_word()?.parse::<usize>() {
        Ok(number) if number >= 1 => Ok(SlashCommand::Open(Some(number))),
        _ => Err(args.usage()),
    }
}

fn parse_send(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let (group, text) = args.rest.split_once(' ').ok_or_else(|| args.usage())?;
    valid_group(group)?;
    if text.trim().is_empty() {
        return Err(args.usage());
    }
    Ok(SlashCommand::Send {
        group: group.to_string(),
        text: text.to_string(),
    })
}

fn parse_json(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    if args.rest.trim().is_empty() {
        return Err(args.usage());
    }
    Payload::json(args.rest)
        .map(SlashCommand::Json)
        .map_err(|e| CommandError::Invalid(format!("/json: {e}")))
}

fn parse_binary(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let arg = args.one_word()?;
    if let Some(path) = arg.strip_prefix('@') {
        if path.is_empty() {
            return Err(args.usage());
        }
        return Ok(SlashCommand::Binary(BinarySource::File(path.to_string())));
    }
    BASE64
        .decode(arg.as_bytes())
        .map(|bytes| SlashCommand::Binary(BinarySource::Inline(bytes)))
        .map_err(|e| CommandError::Invalid(format!("/bin: not valid base64 ({e})")))
}

fn parse_event(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let (name, payload) = event_and_data(args, "/event")?;
    Ok(SlashCommand::Event { name, payload })
}

fn parse_invoke(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let (name, payload) = event_and_data(args, "/invoke")?;
    Ok(SlashCommand::Invoke { name, payload })
}

/// `NAME [data]` of `/event` and `/invoke`: a JSON object or array goes as JSON, anything
/// else as text.
fn event_and_data(args: Args<'_>, command: &str) -> Result<(String, Payload), CommandError> {
    let (event, data) = match args.rest.split_once(' ') {
        Some((event, data)) => (event, data.trim()),
        None => (args.rest, ""),
    };
    if event.is_empty() {
        return Err(args.usage());
    }
    validate_event_name(event).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let looks_json = data.starts_with('{') || data.starts_with('[');
    let payload = match looks_json.then(|| Payload::json(data)) {
        Some(Ok(json)) => json,
        Some(Err(e)) => return Err(CommandError::Invalid(format!("{command}: {e}"))),
        None => Payload::Text(data.to_string()),
    };
    Ok((event.to_string(), payload))
}

fn parse_type(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    match args.one_word()? {
        "text" => Ok(SlashCommand::Type(DataType::Text)),
        "json" => Ok(SlashCommand::Type(DataType::Json)),
        "binary" => Ok(SlashCommand::Type(DataType::Binary)),
        _ => Err(args.usage()),
    }
}

fn parse_no_echo(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    match args.one_word()? {
        "on" => Ok(SlashCommand::NoEcho(true)),
        "off" => Ok(SlashCommand::NoEcho(false)),
        _ => Err(args.usage()),
    }
}

fn parse_history(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    match args.one_word()? {
        "on" => Ok(SlashCommand::History(true)),
        "off" => Ok(SlashCommand::History(false)),
        _ => Err(args.usage()),
    }
}

fn parse_search(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    if args.rest.trim().is_empty() {
        return Err(args.usage());
    }
    Ok(SlashCommand::Search(args.rest.to_string()))
}

/// When `/goto` jumps to, as typed (resolved against the clock by the App).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GotoTime {
    /// A local time of day: today's, or yesterday's if that is still to come.
    TimeOfDay(chrono::NaiveTime),
    /// A local date and time.
    Local(chrono::NaiveDateTime),
    /// This many milliseconds ago.
    Ago(i64),
}

fn parse_goto(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let when = args.rest.trim();
    let bad = || {
        CommandError::Invalid(format!(
            "/goto {}: not a time; use 14:05, -2h (s m h d w) or 2026-11-30 14:05",
            crate::text::sanitize_line(when)
        ))
    };
    if when.is_empty() {
        return Err(args.usage());
    }
    let goto = if let Some(age) = when.strip_prefix('-') {
        GotoTime::Ago(crate::config::parse_age(age).map_err(|_| bad())?)
    } else if let Ok(time) = chrono::NaiveTime::parse_from_str(when, "%H:%M") {
        GotoTime::TimeOfDay(time)
    } else if let Ok(at) = chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M") {
        GotoTime::Local(at)
    } else if let Ok(day) = chrono::NaiveDate::parse_from_str(when, "%Y-%m-%d") {
        GotoTime::Local(day.and_time(chrono::NaiveTime::MIN))
    } else {
        return Err(bad());
    };
    Ok(SlashCommand::Goto(goto))
}

fn parse_help(args: Args<'_>) -> Result<SlashCommand, CommandError> {
    let topic = args.words().next().map(|w| {
        if w.starts_with('/') {
            w.to_string()
        } else {
            format!("/{w}")
        }
    });
    Ok(SlashCommand::Help(topic))
}

/// The payload for a typed line in the input's data type.
pub(crate) fn payload_for(text: &str, data_type: DataType) -> Result<Payload, CommandError> {
    match data_type {
        DataType::Json => Payload::json(text).map_err(|e| {
            // The payload error already says "not valid JSON: …".
            CommandError::Invalid(format!("{e}; /type text to send text"))
        }),
        DataType::Binary | DataType::Protobuf => BASE64
            .decode(text.trim().as_bytes())
            .map(Payload::Binary)
            .map_err(|e| {
                CommandError::Invalid(format!("not valid base64 ({e}); /type text to send text"))
            }),
        DataType::Text => Ok(Payload::Text(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_commands_of_ux() {
        assert_eq!(parse("/join ops"), Ok(SlashCommand::Join("ops".into())));
        assert_eq!(parse("/part"), Ok(SlashCommand::Leave(None)));
        assert_eq!(
            parse("/send ops hi there"),
            Ok(SlashCommand::Send {
                group: "ops".into(),
                text: "hi there".into()
            })
        );
        assert_eq!(parse("/type json"), Ok(SlashCommand::Type(DataType::Json)));
        assert_eq!(parse("/noecho on"), Ok(SlashCommand::NoEcho(true)));
        assert_eq!(
            parse("/bin aGk="),
            Ok(SlashCommand::Binary(BinarySource::Inline(b"hi".to_vec())))
        );
        assert_eq!(
            parse("/bin @/tmp/x"),
            Ok(SlashCommand::Binary(BinarySource::File("/tmp/x".into())))
        );
        assert!(matches!(
            parse("/event ping {\"a\":1}"),
            Ok(SlashCommand::Event {
                payload: Payload::Json(_),
                ..
            })
        ));
        assert_eq!(
            parse("/help join"),
            Ok(SlashCommand::Help(Some("/join".into())))
        );
    }

    #[test]
    fn bad_arguments_say_what_to_type() {
        let message = |line: &str| parse(line).unwrap_err().to_string();
        assert_eq!(parse("/join"), Err(CommandError::Usage("/join <group>")));
        assert_eq!(message("/join"), "usage: /join <group>");
        assert!(
            message("/json {bad").starts_with("/json: "),
            "{}",
            message("/json {bad")
        );
        assert_eq!(
            message("/frobnicate"),
            "unknown command /frobnicate; /help lists the commands"
        );
        assert!(
            message("/event 9bad").contains("9bad"),
            "{}",
            message("/event 9bad")
        );
        assert!(message("/bin !!").starts_with("/bin: not valid base64"));
        assert_eq!(message("/type xml"), "usage: /type text|json|binary");
        assert_eq!(message("/clear now"), "usage: /clear");
        assert_eq!(parse("/exit"), Ok(SlashCommand::Quit));
    }

    #[test]
    fn every_command_parses_by_its_name() {
        for command in COMMANDS {
            let parsed = parse(command.name);
            let usage = CommandError::Usage(command.usage);
            assert!(
                parsed.is_ok() || parsed == Err(usage),
                "{}: {parsed:?}",
                command.name
            );
        }
    }
}
