//! `wpchat send`: messages from the argument, a file or stdin lines, each waited for its ack.

use std::process::ExitCode;

use crate::cli::{DataTypeArg, SendArgs};
use crate::pipe::SendOptions;
use crate::protocol::DataType;
use crate::target::TargetOptions;

/// Resolves the target and sends; fails when a message was not sent or not acked.
pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let mut options = TargetOptions::from(args.target);
    let group = options.groups.first().cloned();
    if args.event.is_none() && args.invoke.is_none() && group.is_none() && !options.simple {
        anyhow::bail!(
            "send needs --group G (or --event NAME for a user event, --invoke NAME to invoke one)"
        );
    }
    // `--group` names where to publish, not a membership: minted into the token it would make
    // this connection receive (and, reliably, have to ack) everything it sends.
    options.groups.clear();
    let target = super::prepare_on_stderr(&options).await?;
    let options = SendOptions {
        group,
        event: args.event,
        invoke: args.invoke,
        data_type: match args.data_type {
            DataTypeArg::Text => DataType::Text,
            DataTypeArg::Json => DataType::Json,
            DataTypeArg::Binary => DataType::Binary,
        },
        no_echo: args.no_echo,
        fire_and_forget: args.fire_and_forget,
        file: args.file,
        type_url: args.type_url,
        message: args.message,
        expect_reply: args.expect_reply,
        reply_timeout: args.reply_timeout,
    };
    // The target may host the embedded service: it must outlive the connection.
    crate::pipe::send(target.client.clone(), options).await
}
