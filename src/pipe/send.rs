//! `wpchat send`: each message (a group message, a user event, an invocation, or on a simple
//! connection a raw frame) handed to the engine, at most a window of them unanswered; every
//! outcome counted, replies printed as they come, and the run's result from the count.

use std::process::ExitCode;
use std::time::Duration;

use super::frames::{self, Replies};
use super::{
    MessagesLost, SendOptions, finish, input, note, report_event, report_state, send_command,
};
use crate::client::{
    self, ClientConfig, ClientHandle, Command, ConnState, Event, OpError, OpId, OpOutcome, Patience,
};
use crate::protocol::Payload;
use crate::text::sanitize_line;

/// Messages `send` keeps in flight (unacked) at once.
pub(super) const SEND_WINDOW: usize = 256;
/// `send` gives up after this many failed connection attempts in a row instead of hanging.
const SEND_CONNECT_ATTEMPTS: u32 = 5;

/// `wpchat send`: send messages and wait for every ack.
pub(crate) async fn send(
    mut config: ClientConfig,
    options: SendOptions,
) -> anyhow::Result<ExitCode> {
    // Unless asked to wait, `send` ends rather than hang on a service that went away.
    if config.reconnect.max_attempts.is_none() && options.connecting.patience == Patience::FailFast
    {
        config.reconnect.max_attempts = Some(SEND_CONNECT_ATTEMPTS);
    }
    // Before connecting: an unreadable file is the user's to fix, whatever the service says.
    let mut lines = input::read_input(&options).await?;
    let simple = config.simple;
    let mut handle = client::spawn(config);
    if let Err(failure) =
        client::first_connection(&mut handle, &options.connecting, None, note).await
    {
        let _ = finish(handle, ExitCode::FAILURE).await;
        return Err(failure.into());
    }
    let mut tally = SendTally::new(options.expect_reply);
    let mut in_flight = 0usize;
    let mut input_done = false;
    let mut state = handle.state.clone();
    // Once everything is answered, `--expect-reply` replies get `--reply-timeout` to come.
    let reply_wait = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(reply_wait);
    let mut waiting_replies = false;
    loop {
        let sent_all = input_done && in_flight == 0;
        if sent_all && tally.replies.complete() {
            break;
        }
        if sent_all && !waiting_replies {
            waiting_replies = true;
            reply_wait
                .as_mut()
                .reset(tokio::time::Instant::now() + options.reply_timeout);
        }
        tokio::select! {
            line = lines.recv(), if !input_done && in_flight < SEND_WINDOW => match line {
                None => input_done = true,
                Some((number, Err(why))) => {
                    tally.refused += 1;
                    note(&format!("line {number}: {why}; not sent"));
                }
                Some((number, Ok(payload))) => {
                    in_flight += 1;
                    tally.sent += 1;
                    let command = send_command_for(&options, simple, number, payload);
                    send_command(&handle, command).await?;
                }
            },
            event = handle.events.recv() => match event {
                None => break,
                Some(event) => tally.take(event, &handle, &mut in_flight),
            },
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = state.borrow_and_update().clone();
                report_state(&now);
                if let ConnState::Stopped { reason } = now {
                    tally.stop_reason = Some(reason);
                }
            }
            _ = &mut reply_wait, if waiting_replies => break,
        }
    }
    tally.unanswered = in_flight as u64;
    let verdict = tally.verdict(&options);
    finish(handle, ExitCode::SUCCESS).await?;
    verdict.map(|()| ExitCode::SUCCESS)
}

/// What became of `send`'s messages, and the replies printed.
struct SendTally {
    /// Messages handed to the engine.
    sent: u64,
    /// Refused by the service or before sending (bad input, too large, forbidden).
    refused: u64,
    /// Not confirmed: the connection or the engine ended first, or no ack came in time.
    lost: u64,
    /// Still waiting for an answer at the end.
    unanswered: u64,
    /// Why the engine stopped, if it did: the cause behind every `Stopped` failure.
    stop_reason: Option<String>,
    /// Frames (simple connections) or server messages, counted against `--expect-reply`.
    replies: Replies,
}

impl SendTally {
    /// Counts one engine event against the messages in flight; replies print as they come.
    fn take(&mut self, event: Event, handle: &ClientHandle, in_flight: &mut usize) {
        match event {
            Event::OpResult { op, outcome } => {
                *in_flight = in_flight.saturating_sub(1);
                if let OpOutcome::Failed(error) = outcome {
                    if let ConnState::Stopped { reason } = &*handle.state.borrow() {
                        self.stop_reason = Some(reason.clone());
                    }
                    self.failed(op, &error);
                }
            }
            Event::InvokeResult { op, outcome } => {
                *in_flight = in_flight.saturating_sub(1);
                if !frames::print_invoke_result(op, outcome) {
                    self.refused += 1;
                }
            }
            // `send` stays quiet about a normal connect; problems still show.
            Event::Connected { .. } => {}
            other => {
                if !self.replies.print(&other) {
                    report_event(&other);
                }
            }
        }
    }

    fn new(expect_reply: Option<u64>) -> Self {
        SendTally {
            sent: 0,
            refused: 0,
            lost: 0,
            unanswered: 0,
            stop_reason: None,
            replies: Replies::new(expect_reply),
        }
    }

    /// One line about a failed message, with the engine's reason when it stopped.
    fn failed(&mut self, op: OpId, error: &OpError) {
        let lost = matches!(
            error,
            OpError::Stopped | OpError::ConnectionLost { .. } | OpError::Timeout(_)
        );
        if lost {
            self.lost += 1;
        } else {
            self.refused += 1;
        }
        let cause = match (error, &self.stop_reason) {
            (OpError::Stopped, Some(reason)) => format!(": {}", sanitize_line(reason)),
            _ => String::new(),
        };
        note(&format!(
            "message {op} failed: {}{cause}",
            sanitize_line(&error.summary())
        ));
    }

    /// The run's result: messages that may be lost outrank messages refused.
    fn verdict(&self, options: &SendOptions) -> anyhow::Result<()> {
        let lost = self.lost + self.unanswered;
        if self.unanswered > 0 {
            note(&format!("{} messages got no answer", self.unanswered));
        }
        if lost > 0 {
            return Err(MessagesLost(format!(
                "{lost} of {} messages may not have arrived",
                self.sent
            ))
            .into());
        }
        if self.refused > 0 {
            anyhow::bail!(
                "{} messages were not sent or not answered well",
                self.refused
            );
        }
        if let Some(missing) = self.replies.missing() {
            anyhow::bail!(
                "{missing} of the {} replies expected did not come within {} s",
                options.expect_reply.unwrap_or_default(),
                options.reply_timeout.as_secs_f32()
            );
        }
        if self.sent == 0 {
            note("nothing to send: the input had no messages");
        }
        Ok(())
    }
}

/// The engine command that sends one message: a raw frame on a simple connection, else an
/// invocation, a user event or a group message.
fn send_command_for(options: &SendOptions, simple: bool, op: OpId, payload: Payload) -> Command {
    if simple {
        return Command::SendFrame { op, payload };
    }
    if let Some(event) = &options.invoke {
        return Command::Invoke {
            op,
            event: event.clone(),
            payload,
            timeout: None,
        };
    }
    match &options.event {
        Some(event) => Command::SendEvent {
            op,
            event: event.clone(),
            payload,
            fire_and_forget: options.fire_and_forget,
        },
        None => Command::SendToGroup {
            op,
            group: options.group.clone().unwrap_or_default(),
            payload,
            no_echo: options.no_echo,
            fire_and_forget: options.fire_and_forget,
        },
    }
}
