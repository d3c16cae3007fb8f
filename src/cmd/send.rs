//! `wpchat send`: messages from the argument, a file or stdin lines, each waited for its ack.

use std::process::ExitCode;

use super::exit::Usage;
use crate::cli::{DataTypeArg, SendArgs, Sensitive};
use crate::pipe::SendOptions;
use crate::protocol::DataType;

/// Resolves the target and sends; fails when a message was not sent or not acked.
pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let (url_arg, message) = split_positionals(
        args.first.map(|first| first.0),
        args.message.map(|message| message.0),
    );
    let mut options = super::script_target(url_arg.map(Sensitive), args.target, &args.wait)?;
    let group = options.groups.first().cloned();
    let upstream = args.event.as_ref().or(args.invoke.as_ref());
    check_arguments(
        upstream,
        options.simple,
        &options.groups,
        &message,
        &args.file,
    )?;
    let data_type = match (args.data_type, &args.file) {
        (Some(DataTypeArg::Text), _) | (None, None) => DataType::Text,
        (Some(DataTypeArg::Json), _) => DataType::Json,
        (Some(DataTypeArg::Binary), _) | (None, Some(_)) => DataType::Binary,
    };
    if args.type_url.is_some() && data_type != DataType::Binary {
        return Err(Usage(
            "--type-url wraps the file's raw bytes in a protobuf Any; drop --data-type or use --data-type binary".into(),
        )
        .into());
    }
    // `--group` names where to publish, not a membership: minted into the token it would make
    // this connection receive (and, reliably, have to ack) everything it sends.
    options.groups.clear();
    let target = super::prepare_on_stderr(&options).await?;
    let options = SendOptions {
        group,
        event: args.event,
        data_type,
        invoke: args.invoke,
        no_echo: args.no_echo,
        fire_and_forget: args.fire_and_forget,
        file: args.file,
        type_url: args.type_url,
        message,
        connecting: super::connecting(&target, &args.wait),
        expect_reply: args.expect_reply,
        reply_timeout: args.reply_timeout,
    };
    // The target may host the embedded service: it must outlive the connection.
    crate::pipe::send(target.client.clone(), options).await
}

/// The client URL and the message from send's one or two arguments: two are URL then message;
/// a lone one is the URL when it is a ws:// or wss:// URL (a token must never be sent as a
/// message), else the message.
fn split_positionals(
    first: Option<String>,
    second: Option<String>,
) -> (Option<String>, Option<String>) {
    match (first, second) {
        (Some(url), Some(message)) => (Some(url), Some(message)),
        (Some(lone), None) if is_client_url(&lone) => (Some(lone), None),
        (lone, _) => (None, lone),
    }
}

fn is_client_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("ws://") || lower.starts_with("wss://")
}

/// Refuses arguments that contradict each other, rather than dropping one silently.
fn check_arguments(
    upstream: Option<&String>,
    simple: bool,
    groups: &[String],
    message: &Option<String>,
    file: &Option<std::path::PathBuf>,
) -> Result<(), Usage> {
    let refuse = |why: &str| Err(Usage(why.to_string()));
    match (upstream, groups.len()) {
        // A simple connection sends raw frames; where they go is the app server's business.
        (None, _) if simple => {}
        (None, 0) => {
            return refuse(
                "send needs --group G (or --event NAME for a user event, --invoke NAME to invoke one)",
            );
        }
        (Some(_), 1..) => {
            return refuse(
                "--event and --invoke go to your app server, --group to a group; give one of them",
            );
        }
        (None, 2..) => return refuse("send publishes to one group; give --group once"),
        _ => {}
    }
    if message.is_some() && file.is_some() {
        return refuse("give the message as an argument or as --file, not both");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(first: Option<&str>, second: Option<&str>) -> (Option<String>, Option<String>) {
        split_positionals(first.map(String::from), second.map(String::from))
    }

    #[test]
    fn a_lone_client_url_is_the_target_never_the_message() {
        let url = "wss://h/client/hubs/chat?access_token=T";
        assert_eq!(split(Some(url), None), (Some(url.into()), None));
        assert_eq!(
            split(Some(url), Some("hi")),
            (Some(url.into()), Some("hi".into()))
        );
        assert_eq!(split(Some("hi"), None), (None, Some("hi".into())));
        assert_eq!(
            split(Some("see https://example.com"), None),
            (None, Some("see https://example.com".into()))
        );
        assert_eq!(split(None, None), (None, None));
    }
}
