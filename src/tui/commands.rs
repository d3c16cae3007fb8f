//! Slash commands typed in the input (UX.md): parsed and validated here, carried out by the
//! App. A bad command becomes a one-line error and the typed text stays in the input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use thiserror::Error;

use crate::protocol::{DataType, Payload, validate_event_name, validate_group_name};

/// Every command: name, usage, what it does (for `/help` and Tab completion).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("/join", "/join <group>", "join a group"),
    (
        "/leave",
        "/leave [group]",
        "leave a group (default: the current one)",
    ),
    ("/part", "/part [group]", "same as /leave"),
    (
        "/send",
        "/send <group> <text>",
        "send text to a group without switching",
    ),
    ("/json", "/json <json>", "send JSON (validated first)"),
    ("/bin", "/bin <base64> | /bin @<file>", "send binary data"),
    (
        "/event",
        "/event <name> [data]",
        "send a user event to the upstream",
    ),
    (
        "/type",
        "/type text|json|binary",
        "data type of what you type",
    ),
    (
        "/noecho",
        "/noecho on|off",
        "do not receive your own group messages",
    ),
    (
        "/reconnect",
        "/reconnect",
        "drop the connection and connect afresh",
    ),
    ("/clear", "/clear", "clear this buffer's log"),
    ("/search", "/search <text>", "search this group's log"),
    ("/raw", "/raw", "toggle the raw frame inspector"),
    ("/help", "/help [command]", "keys and commands"),
    ("/quit", "/quit", "leave wpchat"),
];

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
    Send { group: String, text: String },
    Json(Payload),
    Binary(BinarySource),
    Event { name: String, payload: Payload },
    Type(DataType),
    NoEcho(bool),
    Reconnect,
    Clear,
    Search(String),
    Raw,
    Help(Option<String>),
    Quit,
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

fn usage(name: &str) -> CommandError {
    let usage = COMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("/help", |(_, u, _)| *u);
    CommandError::Usage(usage)
}

/// Parses a line that starts with `/`.
pub fn parse(line: &str) -> Result<SlashCommand, CommandError> {
    let line = line.trim_end_matches(['\n', ' ']);
    let (name, rest) = match line.split_once(' ') {
        Some((name, rest)) => (name, rest.trim_start()),
        None => (line, ""),
    };
    let mut words = rest.split_whitespace();
    let one_word = |words: &mut std::str::SplitWhitespace<'_>| match (words.next(), words.next()) {
        (Some(w), None) => Some(w.to_string()),
        _ => None,
    };
    match name {
        "/join" => {
            let group = one_word(&mut words).ok_or_else(|| usage(name))?;
            validate_group_name(&group)
                .map_err(|e| CommandError::Invalid(format!("group '{group}': {e}")))?;
            Ok(SlashCommand::Join(group))
        }
        "/leave" | "/part" => match (words.next(), words.next()) {
            (None, _) => Ok(SlashCommand::Leave(None)),
            (Some(g), None) => Ok(SlashCommand::Leave(Some(g.to_string()))),
            _ => Err(usage(name)),
        },
        "/send" => {
            let (group, text) = rest.split_once(' ').ok_or_else(|| usage(name))?;
            validate_group_name(group)
                .map_err(|e| CommandError::Invalid(format!("group '{group}': {e}")))?;
            if text.trim().is_empty() {
                return Err(usage(name));
            }
            Ok(SlashCommand::Send {
                group: group.to_string(),
                text: text.to_string(),
            })
        }
        "/json" => {
            if rest.trim().is_empty() {
                return Err(usage(name));
            }
            Payload::json(rest)
                .map(SlashCommand::Json)
                .map_err(|e| CommandError::Invalid(format!("/json: {e}")))
        }
        "/bin" => {
            let arg = one_word(&mut words).ok_or_else(|| usage(name))?;
            if let Some(path) = arg.strip_prefix('@') {
                if path.is_empty() {
                    return Err(usage(name));
                }
                return Ok(SlashCommand::Binary(BinarySource::File(path.to_string())));
            }
            BASE64
                .decode(arg.as_bytes())
                .map(|bytes| SlashCommand::Binary(BinarySource::Inline(bytes)))
                .map_err(|e| CommandError::Invalid(format!("/bin: not valid base64 ({e})")))
        }
        "/event" => {
            let (event, data) = match rest.split_once(' ') {
                Some((event, data)) => (event, data.trim()),
                None => (rest, ""),
            };
            if event.is_empty() {
                return Err(usage(name));
            }
            validate_event_name(event).map_err(|e| CommandError::Invalid(e.to_string()))?;
            // Data that is a JSON object or array goes as JSON; anything else as text.
            let looks_json = data.starts_with('{') || data.starts_with('[');
            let payload = match looks_json.then(|| Payload::json(data)) {
                Some(Ok(json)) => json,
                Some(Err(e)) => return Err(CommandError::Invalid(format!("/event: {e}"))),
                None => Payload::Text(data.to_string()),
            };
            Ok(SlashCommand::Event {
                name: event.to_string(),
                payload,
            })
        }
        "/type" => match one_word(&mut words).as_deref() {
            Some("text") => Ok(SlashCommand::Type(DataType::Text)),
            Some("json") => Ok(SlashCommand::Type(DataType::Json)),
            Some("binary") => Ok(SlashCommand::Type(DataType::Binary)),
            _ => Err(usage(name)),
        },
        "/noecho" => match one_word(&mut words).as_deref() {
            Some("on") => Ok(SlashCommand::NoEcho(true)),
            Some("off") => Ok(SlashCommand::NoEcho(false)),
            _ => Err(usage(name)),
        },
        "/reconnect" if rest.is_empty() => Ok(SlashCommand::Reconnect),
        "/clear" if rest.is_empty() => Ok(SlashCommand::Clear),
        "/raw" if rest.is_empty() => Ok(SlashCommand::Raw),
        "/quit" | "/exit" => Ok(SlashCommand::Quit),
        "/search" if !rest.trim().is_empty() => Ok(SlashCommand::Search(rest.to_string())),
        "/help" => Ok(SlashCommand::Help(words.next().map(|w| {
            if w.starts_with('/') {
                w.to_string()
            } else {
                format!("/{w}")
            }
        }))),
        "/reconnect" | "/clear" | "/raw" | "/search" => Err(usage(name)),
        other => Err(CommandError::Unknown(crate::text::sanitize_line(other))),
    }
}

/// The payload for a typed line in the input's data type.
pub fn payload_for(text: &str, data_type: DataType) -> Result<Payload, CommandError> {
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
        assert_eq!(parse("/join"), Err(CommandError::Usage("/join <group>")));
        assert!(matches!(parse("/json {bad"), Err(CommandError::Invalid(_))));
        assert!(matches!(
            parse("/frobnicate"),
            Err(CommandError::Unknown(_))
        ));
        assert!(matches!(
            parse("/event 9bad"),
            Err(CommandError::Invalid(_))
        ));
        assert!(matches!(parse("/bin !!"), Err(CommandError::Invalid(_))));
        assert_eq!(
            parse("/type xml"),
            Err(CommandError::Usage("/type text|json|binary"))
        );
    }
}
