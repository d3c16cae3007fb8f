//! What `send` sends: a file (as the data type asked for), the argument, or stdin lines read
//! on a blocking thread, each turned into a payload or the reason it cannot be sent.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::sync::mpsc;

use super::SendOptions;
use super::send::SEND_WINDOW;
use crate::protocol::{DataType, Payload};

/// One message to send, numbered from 1 by its line, or why that line cannot be sent.
pub(super) type InputLine = (u64, Result<Payload, String>);

/// The messages to send: from a file, the argument, or stdin lines read on a blocking thread.
pub(super) async fn read_input(options: &SendOptions) -> anyhow::Result<mpsc::Receiver<InputLine>> {
    let (lines_tx, lines) = mpsc::channel::<InputLine>(SEND_WINDOW);
    if let Some(path) = &options.file {
        let payload = file_payload(path, options)?;
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

/// The whole file as one message of the asked data type: raw bytes as binary (or wrapped in a
/// protobuf `Any` with a type URL), UTF-8 as text, a JSON document as json.
fn file_payload(path: &Path, options: &SendOptions) -> anyhow::Result<Payload> {
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read --file {shown}"))?;
    if let Some(type_url) = &options.type_url {
        return Ok(crate::protocol::protobuf::pack_any(type_url, &bytes));
    }
    let as_text = |what: &str| {
        String::from_utf8(bytes.clone()).map_err(|_| {
            anyhow::anyhow!(
                "--file {shown} is not UTF-8 text, so it cannot be sent as {what}; use --data-type binary"
            )
        })
    };
    Ok(match options.data_type {
        DataType::Binary | DataType::Protobuf => Payload::Binary(bytes),
        DataType::Text => Payload::Text(as_text("text")?),
        DataType::Json => Payload::json(&as_text("json")?)
            .map_err(|e| anyhow::anyhow!("--file {shown} cannot be sent as json: {e}"))?,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_lines_are_validated_by_data_type() {
        assert_eq!(
            parse_line(DataType::Text, "x"),
            Ok(Payload::Text("x".into()))
        );
        assert!(parse_line(DataType::Json, "{\"a\":1}").is_ok());
        assert!(
            parse_line(DataType::Json, "{oops")
                .unwrap_err()
                .contains("JSON")
        );
        assert_eq!(
            parse_line(DataType::Json, "null"),
            Err("dataType json needs 'data' to be a JSON value other than null".to_string())
        );
        assert_eq!(
            parse_line(DataType::Binary, "AP8="),
            Ok(Payload::Binary(vec![0, 255]))
        );
        assert!(
            parse_line(DataType::Binary, "not base64!")
                .unwrap_err()
                .starts_with("not valid base64: ")
        );
        assert!(
            parse_line(DataType::Protobuf, "CAE=")
                .unwrap_err()
                .contains("use --data-type binary")
        );
    }
}
