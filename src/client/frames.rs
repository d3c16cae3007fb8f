//! Raw frames as the frame inspector and `Event::Unrecognized` show them: secrets redacted,
//! length capped. The `connected` message carries the reconnection token, which must never
//! leave the engine.

use serde_json::Value;

/// Fields whose values are secrets wherever they appear in a frame.
const SECRET_FIELDS: &[&str] = &[
    "reconnectionToken",
    "access_token",
    "awps_reconnection_token",
];

/// Longest frame text put in an event; the rest is cut with a marker.
pub(crate) const MAX_SHOWN_BYTES: usize = 16 * 1024;

/// The frame with every secret field's value replaced by `***`.
pub(crate) fn redact(frame: &str) -> String {
    if !SECRET_FIELDS.iter().any(|field| frame.contains(field)) {
        return frame.to_string();
    }
    match serde_json::from_str::<Value>(frame) {
        Ok(mut value) => {
            redact_value(&mut value);
            value.to_string()
        }
        // Not JSON yet it names a secret: show nothing of it rather than risk the secret.
        Err(_) => format!("<{} bytes, not JSON, withheld>", frame.len()),
    }
}

fn redact_value(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) {
                    *field = Value::String("***".into());
                } else {
                    redact_value(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// A protobuf frame as the inspector shows it: its size, then the same message in its JSON
/// form (redacted and capped like a JSON frame), or only the size when it did not decode.
pub(crate) fn shown_protobuf(len: usize, as_json: Option<&str>) -> String {
    match as_json {
        Some(json) => format!("[protobuf, {len} bytes] {}", shown(json)),
        None => format!("[protobuf, {len} bytes, not a message wpchat knows]"),
    }
}

/// `redact`, then capped at `MAX_SHOWN_BYTES` on a character boundary.
pub(crate) fn shown(frame: &str) -> String {
    let mut text = redact(frame);
    if text.len() > MAX_SHOWN_BYTES {
        let mut cut = MAX_SHOWN_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = text.len();
        text.truncate(cut);
        text.push_str(&format!("… ({total} bytes in all)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_frame_loses_its_token() {
        let frame = r#"{"type":"system","event":"connected","connectionId":"c","reconnectionToken":"SECRET"}"#;
        let out = redact(frame);
        assert!(!out.contains("SECRET"), "{out}");
        assert!(out.contains("\"connectionId\":\"c\""));
    }

    #[test]
    fn frames_without_secrets_are_untouched() {
        let frame = r#"{"type":"message","from":"server","dataType":"text","data":"x"}"#;
        assert_eq!(redact(frame), frame);
    }

    #[test]
    fn broken_frames_naming_a_secret_are_withheld() {
        let out = redact(r#"{"reconnectionToken":"SECRET""#);
        assert!(!out.contains("SECRET"));
    }

    #[test]
    fn protobuf_frames_show_their_size_and_lose_their_token() {
        let json = r#"{"type":"system","event":"connected","connectionId":"c","reconnectionToken":"SECRET"}"#;
        let out = shown_protobuf(42, Some(json));
        assert!(out.starts_with("[protobuf, 42 bytes] "), "{out}");
        assert!(!out.contains("SECRET"), "{out}");
    }

    #[test]
    fn long_frames_are_cut_on_a_char_boundary() {
        let frame = "é".repeat(MAX_SHOWN_BYTES);
        let out = shown(&frame);
        assert!(out.len() < frame.len());
        assert!(out.ends_with("bytes in all)"));
    }
}
