//! The scriptable modes `listen` and `send`, on the client engine: received messages as JSON
//! lines (or readable text) on stdout, messages from arguments or stdin lines sent with acks.
//! Connection news and errors go to stderr, so stdout stays machine-readable.

mod frames;
mod input;
mod send;

pub(crate) use send::send;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use thiserror::Error;

use crate::client::{
    self, ClientConfig, ClientHandle, Command, ConnState, Connecting, Event, OpId, OpOutcome,
};
use crate::pipe_output::{WrittenNames, write_json_line, write_text_line};
use crate::protocol::DataType;
use crate::text::sanitize_line;

/// How long to wait for the engine to close the connection on exit.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// stdout buffer of `listen`: big writes, whole lines.
const STDOUT_BUFFER: usize = 64 * 1024;

/// Messages may be missing: `listen --strict` lost its session, or `send` could not confirm
/// that every message arrived.
#[derive(Debug, Error)]
#[error("{0}")]
pub(crate) struct MessagesLost(pub String);

/// How `listen` writes a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum LineFormat {
    /// One JSON object per line (see `write_json_line`).
    #[default]
    Jsonl,
    /// One readable, escaped line (see `write_text_line`).
    Text,
}

/// What `listen` prints and when it stops.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListenOptions {
    pub format: LineFormat,
    /// Exit after this many messages.
    pub count: Option<u64>,
    /// Exit after this long.
    pub timeout: Option<Duration>,
    /// Fail when a reliable session is lost (messages may be missing).
    pub strict: bool,
    pub connecting: Connecting,
}

/// What `send` sends, where, and how.
#[derive(Debug, Clone)]
pub(crate) struct SendOptions {
    /// The group to publish to (not joined); `None` with `event` set.
    pub group: Option<String>,
    /// Send a user event with this name instead of a group message.
    pub event: Option<String>,
    /// Invoke this user event and print each response.
    pub invoke: Option<String>,
    /// How each message (argument or stdin line) is read.
    pub data_type: DataType,
    /// Do not deliver the messages back to this connection.
    pub no_echo: bool,
    /// Do not wait for acks.
    pub fire_and_forget: bool,
    /// Send this file's raw bytes as one binary message.
    pub file: Option<PathBuf>,
    /// With `file`: send a protobuf `Any` of this type URL whose value is the file's bytes.
    pub type_url: Option<String>,
    /// The message; without it, each stdin line is one message.
    pub message: Option<String>,
    pub connecting: Connecting,
    /// After sending, wait for this many replies (frames, or messages from the server).
    pub expect_reply: Option<u64>,
    /// How long to wait for those replies once everything was sent.
    pub reply_timeout: Duration,
}

/// `wpchat listen`: joins `groups` and prints one line per received message on stdout.
pub(crate) async fn listen(
    client: ClientConfig,
    groups: Vec<String>,
    options: ListenOptions,
) -> anyhow::Result<ExitCode> {
    // Protobuf data carries no sender: lines say so rather than guess "anonymous".
    let unknown_sender = client.protocol.is_protobuf();
    let started = Instant::now();
    // A simple client joins nothing: its groups come from the token or the URL.
    let groups = if client.simple { Vec::new() } else { groups };
    let mut handle = client::spawn(client);
    // Joins first: the engine sends them the moment it is connected.
    let mut joins: HashMap<OpId, String> = HashMap::new();
    for (index, group) in groups.into_iter().enumerate() {
        let op = index as OpId + 1;
        joins.insert(op, group.clone());
        send_command(&handle, Command::Join { op, group }).await?;
    }
    let connected = tokio::select! {
        connected = connect_first(&mut handle, &options.connecting, options.timeout) => connected,
        _ = tokio::signal::ctrl_c() => return finish(handle, ExitCode::SUCCESS).await,
    };
    let earlier = match connected {
        Ok(earlier) => earlier,
        Err(failure) => {
            let _ = finish(handle, ExitCode::FAILURE).await;
            return Err(failure.into());
        }
    };
    if options.count == Some(0) {
        return finish(handle, ExitCode::SUCCESS).await;
    }
    let mut printer = Printer {
        out: std::io::BufWriter::with_capacity(STDOUT_BUFFER, std::io::stdout()),
        line: Vec::with_capacity(512),
        text_line: String::with_capacity(512),
        received: 0,
        options,
        joins,
        unknown_sender,
        names: WrittenNames::default(),
    };
    let mut handle = handle;
    let remaining = printer
        .options
        .timeout
        .map(|timeout| timeout.saturating_sub(started.elapsed()));
    let end = printer.run(&mut handle, remaining, earlier).await;
    let _ = printer.out.flush();
    match end {
        Ok(code) => finish(handle, code).await,
        Err(error) => {
            let _ = finish(handle, ExitCode::FAILURE).await;
            Err(error)
        }
    }
}

/// The first connection, said on stderr once made; returns the events that came before it.
async fn connect_first(
    handle: &mut ClientHandle,
    connecting: &Connecting,
    limit: Option<Duration>,
) -> Result<Vec<Event>, client::ConnectFailure> {
    let first = client::first_connection(handle, connecting, limit, note).await?;
    note(&format!(
        "connected (connection {})",
        sanitize_line(&first.connection_id)
    ));
    Ok(first.earlier)
}

/// `listen`'s output side: writes whole lines and counts them.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    /// The JSON line being built (reused).
    line: Vec<u8>,
    /// The text line being built (reused).
    text_line: String,
    received: u64,
    options: ListenOptions,
    /// The group each join op asked for.
    joins: HashMap<OpId, String>,
    /// The subprotocol has no sender ids (protobuf).
    unknown_sender: bool,
    names: WrittenNames,
}

/// What a batch of events asks `listen` to do next.
enum Next {
    More,
    Exit(ExitCode),
    Fail(anyhow::Error),
}

impl Printer {
    /// Prints until `--count`, the time `limit` left of `--timeout`, Ctrl+C or a failure,
    /// starting with the `earlier` events that came before the first connection.
    async fn run(
        &mut self,
        handle: &mut ClientHandle,
        limit: Option<Duration>,
        earlier: Vec<Event>,
    ) -> anyhow::Result<ExitCode> {
        match self.print_batch(&earlier) {
            Next::More => {}
            Next::Exit(code) => return Ok(code),
            Next::Fail(error) => return Err(error),
        }
        let mut state = handle.state.clone();
        let timeout = async {
            match limit {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
                _ = &mut timeout => return Ok(ExitCode::SUCCESS),
                changed = state.changed() => {
                    if changed.is_err() {
                        anyhow::bail!("the connection engine stopped");
                    }
                    let now = state.borrow_and_update().clone();
                    if let ConnState::Stopped { reason } = now {
                        anyhow::bail!("the connection engine stopped: {}", sanitize_line(&reason));
                    }
                    report_state(&now);
                }
                batch = handle.events.recv_batch() => {
                    let Some(batch) = batch else {
                        anyhow::bail!("the connection engine stopped");
                    };
                    match self.print_batch(&batch) {
                        Next::More => {}
                        Next::Exit(code) => return Ok(code),
                        Next::Fail(error) => return Err(error),
                    }
                }
            }
        }
    }

    /// Prints the messages of one batch of events and reports the rest. The events stay in
    /// the batch: the engine drops them when it reuses the buffer.
    fn print_batch(&mut self, batch: &[Event]) -> Next {
        // One timestamp per batch: the events of a batch arrived together.
        let now = Utc::now();
        let ts = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let time = now.format("%H:%M:%S").to_string();
        for event in batch {
            self.line.clear();
            match (event, self.options.format) {
                (Event::Message(message), LineFormat::Jsonl) => {
                    write_json_line(&mut self.line, message, &ts, &mut self.names)
                }
                (Event::Message(message), LineFormat::Text) => {
                    self.text_line.clear();
                    write_text_line(
                        &mut self.text_line,
                        message,
                        &time,
                        self.unknown_sender,
                        &mut self.names,
                    );
                    self.line.extend_from_slice(self.text_line.as_bytes());
                }
                (Event::Frame(payload), LineFormat::Jsonl) => {
                    frames::write_frame_line(&mut self.line, payload, &ts)
                }
                (Event::Frame(payload), LineFormat::Text) => self
                    .line
                    .extend_from_slice(frames::frame_text_line(payload, now).as_bytes()),
                (
                    Event::OpResult {
                        op,
                        outcome: OpOutcome::Failed(error),
                    },
                    _,
                ) => {
                    let group = self.joins.get(op).map(String::as_str).unwrap_or("?");
                    return Next::Fail(anyhow::anyhow!(
                        "cannot join group '{}': {}",
                        sanitize_line(group),
                        sanitize_line(&error.summary())
                    ));
                }
                (Event::SessionLost { reason, .. }, _) if self.options.strict => {
                    return Next::Fail(
                        MessagesLost(format!(
                            "the reliable session was lost, so messages may be missing \
                             (--strict): {}",
                            sanitize_line(reason)
                        ))
                        .into(),
                    );
                }
                (other, _) => report_event(other),
            }
            if self.line.is_empty() {
                continue;
            }
            // One whole line per write call: never a partial line.
            if let Err(error) = self.out.write_all(&self.line) {
                return Next::Exit(stdout_gone(error));
            }
            self.received += 1;
            if self
                .options
                .count
                .is_some_and(|count| self.received >= count)
            {
                return match self.out.flush() {
                    Err(error) => Next::Exit(stdout_gone(error)),
                    Ok(()) => Next::Exit(ExitCode::SUCCESS),
                };
            }
        }
        match self.out.flush() {
            Err(error) => Next::Exit(stdout_gone(error)),
            Ok(()) => Next::More,
        }
    }
}

/// stdout was closed (`| head`): a normal end, with no message.
fn stdout_gone(error: std::io::Error) -> ExitCode {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        ExitCode::SUCCESS
    } else {
        note(&format!("cannot write to stdout: {error}"));
        ExitCode::FAILURE
    }
}

async fn send_command(handle: &ClientHandle, command: Command) -> anyhow::Result<()> {
    handle
        .commands
        .send(command)
        .await
        .map_err(|_| anyhow::anyhow!("the connection engine stopped"))
}

/// Closes the connection (code 1000) and waits briefly for the engine to end.
async fn finish(mut handle: ClientHandle, code: ExitCode) -> anyhow::Result<ExitCode> {
    let _ = handle.commands.send(Command::Shutdown).await;
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while handle.events.recv().await.is_some() {}
    })
    .await;
    Ok(code)
}

/// One line on stderr, with any token or key blanked. Never panics, even with stderr closed.
pub(crate) fn note(text: &str) {
    let text = crate::redact::redact_secrets(text);
    let _ = writeln!(std::io::stderr(), "wpchat: {text}");
}

fn report_state(state: &ConnState) {
    match state {
        ConnState::Reconnecting {
            attempt,
            last_error,
            ..
        } => note(&format!(
            "reconnecting (attempt {attempt}): {}",
            sanitize_line(last_error)
        )),
        ConnState::Recovering { attempt, .. } if *attempt == 1 => {
            note("connection dropped; recovering the session")
        }
        ConnState::Stopped { reason } => note(&format!("stopped: {}", sanitize_line(reason))),
        _ => {}
    }
}

fn report_event(event: &Event) {
    match event {
        Event::Connected { connection_id, .. } => note(&format!(
            "connected (connection {})",
            sanitize_line(connection_id)
        )),
        Event::Recovered { offline, .. } => note(&format!(
            "session recovered after {:.1} s",
            offline.as_secs_f32()
        )),
        Event::SessionLost { reason, .. } => note(&format!(
            "session lost, messages may have been missed: {}",
            sanitize_line(reason)
        )),
        Event::ServiceDisconnected { message } => note(&format!(
            "the service disconnected us: {}",
            sanitize_line(message.as_deref().unwrap_or("no reason given"))
        )),
        Event::RejoinFailed { group, error } => note(&format!(
            "cannot rejoin group '{}': {}",
            sanitize_line(group),
            sanitize_line(&error.to_string())
        )),
        Event::Unrecognized { error, .. } => note(&format!(
            "unrecognized frame from the service: {}",
            sanitize_line(error)
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DataMessage, MessageSource, Payload};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use chrono::{DateTime, TimeZone};

    /// [`write_text_line`] as a `String`.
    fn message_text_line(
        message: &DataMessage,
        received: DateTime<Utc>,
        unknown_sender: bool,
    ) -> String {
        let mut line = String::new();
        let time = received.format("%H:%M:%S").to_string();
        write_text_line(
            &mut line,
            message,
            &time,
            unknown_sender,
            &mut WrittenNames::default(),
        );
        line
    }

    /// [`write_json_line`] as a `String`.
    fn message_json_line(message: &DataMessage, received: DateTime<Utc>) -> String {
        let mut line = Vec::with_capacity(256);
        let ts = received.to_rfc3339_opts(SecondsFormat::Millis, true);
        write_json_line(&mut line, message, &ts, &mut WrittenNames::default());
        // serde_json writes UTF-8 only.
        String::from_utf8(line).unwrap_or_default()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 18, 0, 5)
            .single()
            .unwrap()
    }

    fn group_message(payload: Payload, sequence_id: Option<u64>) -> DataMessage {
        DataMessage {
            source: MessageSource::Group {
                group: "room".into(),
                from_user_id: Some("alice".into()),
            },
            sequence_id,
            payload,
        }
    }

    fn parse(line: &str) -> serde_json::Value {
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn text_line_has_every_field() {
        let line = message_json_line(
            &group_message(Payload::Text("hi\n\u{1b}[2J".into()), Some(7)),
            at(),
        );
        let value = parse(&line);
        assert_eq!(
            value,
            serde_json::json!({
                "ts": "2026-11-27T18:00:05.000Z",
                "from": "group",
                "group": "room",
                "fromUserId": "alice",
                "dataType": "text",
                "data": "hi\n\u{1b}[2J",
                "sequenceId": 7
            })
        );
    }

    #[test]
    fn json_data_is_the_value_itself() {
        let payload = Payload::json(r#"{"a":[1,2,{"b":null}]}"#).unwrap();
        let line = message_json_line(&group_message(payload, None), at());
        assert!(line.contains(r#""data":{"a":[1,2,{"b":null}]}"#), "{line}");
        let value = parse(&line);
        assert_eq!(value["dataType"], "json");
        assert_eq!(value["sequenceId"], serde_json::Value::Null);
    }

    #[test]
    fn pretty_printed_json_becomes_one_line() {
        let payload = Payload::json("{\n  \"a\": 1\n}").unwrap();
        let value = parse(&message_json_line(&group_message(payload, None), at()));
        assert_eq!(value["data"], serde_json::json!({"a": 1}));
    }

    #[test]
    fn binary_is_byte_exact_base64_even_when_not_utf8() {
        let bytes = vec![0u8, 0xff, 0xfe, 0x80, b'\n', 0xc3, 0x28];
        let line = message_json_line(
            &DataMessage {
                source: MessageSource::Server,
                sequence_id: Some(1),
                payload: Payload::Binary(bytes.clone()),
            },
            at(),
        );
        let value = parse(&line);
        assert_eq!(value["from"], "server");
        assert_eq!(value["group"], serde_json::Value::Null);
        assert_eq!(value["fromUserId"], serde_json::Value::Null);
        assert_eq!(value["dataType"], "binary");
        let decoded = BASE64.decode(value["data"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, bytes);
    }

    #[test]
    fn protobuf_is_base64_too() {
        let value = parse(&message_json_line(
            &group_message(Payload::Protobuf(vec![8, 1]), None),
            at(),
        ));
        assert_eq!(value["dataType"], "protobuf");
        assert_eq!(value["data"], "CAE=");
    }

    #[test]
    fn protobuf_shows_its_type_url_and_value_size_and_no_made_up_sender() {
        let any = crate::protocol::protobuf::pack_any("type.example/a.B\u{1b}[2J", &[1, 2, 3]);
        let value = parse(&message_json_line(&group_message(any.clone(), None), at()));
        assert_eq!(value["typeUrl"], "type.example/a.B\u{1b}[2J");
        let mut message = group_message(any, None);
        message.source = MessageSource::Group {
            group: "room".into(),
            from_user_id: None,
        };
        let line = message_text_line(&message, at(), true);
        assert!(
            line.contains("(unknown sender): <protobuf type.example/a.B\u{241b}[2J, 3 bytes> AQID"),
            "{line}"
        );
        assert!(message_text_line(&message, at(), false).contains("(anonymous)"));
    }

    #[test]
    fn text_format_is_one_inert_line() {
        let line = message_text_line(
            &group_message(
                Payload::Text("a\u{1b}]0;title\u{7}\nb\u{202e}c\u{9b}".into()),
                None,
            ),
            at(),
            false,
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert!(!line.trim_end().chars().any(|c| c.is_control()), "{line:?}");
        assert!(!line.contains('\u{202e}'));
        assert!(
            line.starts_with("18:00:05 [room] alice: a\u{241b}]0;title"),
            "{line}"
        );
    }
}
