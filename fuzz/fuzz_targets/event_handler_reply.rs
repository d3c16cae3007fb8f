//! An event handler's reply: a `connect` reply (JSON that may change the user, roles, groups
//! and subprotocol) or a user-event reply (a body and its media type). Any bytes give the
//! changes or the payload, or a one-line error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::Payload;
use wpchat::service::inputs::{connect_reply, event_reply};

/// The first byte picks what the bytes are: a connect reply, or a user-event reply with
/// one of these media types.
const MEDIA_TYPES: [Option<&str>; 5] = [
    Some("text/plain"),
    Some("application/json"),
    Some("application/octet-stream"),
    None,
    Some("text/html"),
];

fn one_line(error: &str) {
    assert!(!error.is_empty() && !error.contains('\n'), "{error}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        if let Err(error) = connect_reply(body) {
            one_line(&error);
        } else if body.iter().all(u8::is_ascii_whitespace) {
            assert_eq!(connect_reply(body), Ok(Default::default()));
        }
        return;
    }
    let media_type = MEDIA_TYPES[usize::from(pick / 2) % MEDIA_TYPES.len()];
    match event_reply(media_type, body) {
        Ok(None) => assert!(body.is_empty()),
        Ok(Some(Payload::Text(text))) => assert_eq!(text.as_bytes(), body),
        Ok(Some(Payload::Binary(bytes))) => assert_eq!(bytes, body),
        // Passed on exactly as written (numbers beyond f64 included), whitespace aside.
        Ok(Some(Payload::Json(raw))) => assert_eq!(raw.get().as_bytes(), body.trim_ascii()),
        Ok(Some(Payload::Protobuf(_))) => panic!("a reply is never a protobuf payload"),
        Err(error) => one_line(&error),
    }
});
