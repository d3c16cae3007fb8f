//! `wpchat send`: messages from the argument, a file or stdin lines, sent as group messages,
//! user events, invocations or (simple connections) raw frames, each waited for; replies the
//! server sends meanwhile are printed as they come.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::sync::mpsc;

use super::frames::{self, Replies};
use super::{
    SEND_CONNECT_ATTEMPTS, SEND_WINDOW, SendOptions, finish, note, report_event, report_state,
    send_command,
};
use crate::client::{self, ClientConfig, Command, Event, OpId, OpOutcome};
use crate::protocol::{DataType, Payload};
use crate::text::sanitize_line;

/// One message to send, numbered from 1 by its line, or why that line cannot be sent.
type InputLine = (u64, Result<Payload, String>);

/// How a `send` run is going: messages in flight, failures, replies printed.
struct Tally {
    in_flight: usize,
    failures: u64,
    replies: Replies,
    /// The engine said it is connected (an invocation waits for that: it is never queued).
    connected: bool,
}

impl Tally {
    /// Counts one engine event; false when the engine is gone.
    fn on_event(&mut self, event: Option<Event>) -> bool {
        match event {
            None => return false,
            Some(Event::OpResult { op, outcome }) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if let OpOutcome::Failed(error) = outcome {
                    self.failures += 1;
                    note(&format!(
                        "message {op} failed: {}: {}",
                        error.name(),
                        sanitize_line(&error.to_string())
                    ));
                }
            }
            Some(Event::InvokeResult { op, outcome }) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if !frames::print_invoke_result(op, outcome) {
                    self.failures += 1;
                }
            }
            // `send` stays quiet about a normal connect; problems still show.
            Some(Event::Connected { .. }) => self.connected = true,
            Some(event) => {
                if !self.replies.print(&event) {
                    report_event(&event);
                }
            }
        }
        true
    }

    /// What never came counts as failed; the exit code.
    fn finish(mut self, options: &SendOptions) -> ExitCode {
        if self.in_flight > 0 {
            self.failures += self.in_flight as u64;
            note(&format!("{} messages got no answer", self.in_flight));
        }
        if let Some(missing) = self.replies.missing() {
            self.failures += missing;
            note(&format!(
                "{missing} of the {} replies expected did not come within {} s",
                options.expect_reply.unwrap_or_default(),
                options.reply_timeout.as_secs_f32()
            ));
        }
        if self.failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// `wpchat send`: send messages and wait for every ack (and `--expect-reply` replies).
pub(crate) async fn send(
    mut config: ClientConfig,
    options: SendOptions,
) -> anyhow::Result<ExitCode> {
    if config.reconnect.max_attempts.is_none() {
        config.reconnect.max_attempts = Some(SEND_CONNECT_ATTEMPTS);
    }
    let simple = config.simple;
    let mut handle = client::spawn(config);
    let mut lines = read_input(&options).await?;
    let mut input_done = false;
    let mut tally = Tally {
        in_flight: 0,
        failures: 0,
        replies: Replies::new(options.expect_reply),
        connected: options.invoke.is_none(),
    };
    let mut state = handle.state.clone();
    let reply_wait = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(reply_wait);
    let mut waiting_replies = false;
    loop {
        let sent_all = input_done && tally.in_flight == 0;
        if sent_all && tally.replies.complete() {
            break;
        }
        if sent_all && !waiting_replies {
            waiting_replies = true;
            let at = tokio::time::Instant::now() + options.reply_timeout;
            reply_wait.as_mut().reset(at);
        }
        let open = tally.connected && !input_done && tally.in_flight < SEND_WINDOW;
        tokio::select! {
            line = lines.recv(), if open => match line {
                None => input_done = true,
                Some((number, Err(why))) => {
                    tally.failures += 1;
                    note(&format!("line {number}: {why}; not sent"));
                }
                Some((number, Ok(payload))) => {
                    tally.in_flight += 1;
                    let command = send_command_for(&options, simple, number, payload);
                    send_command(&handle, command).await?;
                }
            },
            event = handle.events.recv() => if !tally.on_event(event) {
                break;
            },
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                report_state(&state.borrow_and_update().clone());
            }
            _ = &mut reply_wait, if waiting_replies => break,
        }
    }
    let code = tally.finish(&options);
    finish(handle, code).await
}

/// The engine command that sends one message: a raw frame on a simple connection, else a
/// user event or a group message.
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

/// The messages to send: from a file, the argument, or stdin lines read on a blocking thread.
async fn read_input(options: &SendOptions) -> anyhow::Result<mpsc::Receiver<InputLine>> {
    let (lines_tx, lines) = mpsc::channel::<InputLine>(SEND_WINDOW);
    if let Some(path) = &options.file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read --file {}", path.display()))?;
        let payload = match &options.type_url {
            Some(type_url) => crate::protocol::protobuf::pack_any(type_url, &bytes),
            None => Payload::Binary(bytes),
        };
        let _ = lines_tx.send((1, Ok(payload))).await;
    } else if let Some(message) = &options.message {
        let _ = lines_tx
            .send((1, parse_line(options.data_type, message)))
            .await;
    } else {
        let data_type = options.data_type;
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for (index, line) in stdin.lock().lines().enumerate() {
                let number = index as u64 + 1;
                let item = match line {
                    Ok(line) if line.trim().is_empty() => continue,
                    Ok(line) => parse_line(data_type, line.trim_end_matches('\r')),
                    Err(error) => Err(format!("cannot read stdin: {error}")),
                };
                if lines_tx.blocking_send((number, item)).is_err() {
                    break;
                }
            }
        });
    }
    Ok(lines)
}

/// Turns one input line into a payload of the chosen data type, or says why it cannot be sent.
pub(super) fn parse_line(data_type: DataType, line: &str) -> Result<Payload, String> {
    match data_type {
        DataType::Text => Ok(Payload::Text(line.to_string())),
        DataType::Json => Payload::json(line).map_err(|e| e.to_string()),
        DataType::Binary => BASE64
            .decode(line.trim())
            .map(Payload::Binary)
            .map_err(|e| format!("not valid base64: {e}")),
        DataType::Protobuf => Err(
            "protobuf messages cannot be sent from the command line; use --data-type binary".into(),
        ),
    }
}
