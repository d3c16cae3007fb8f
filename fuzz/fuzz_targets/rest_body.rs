//! A REST send's body (`POST …/:send` with a Content-Type): any bytes give the payload the
//! declared type says, or a one-line message for the caller, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::Payload;
use wpchat::service::inputs::rest_body;

/// The first byte picks the Content-Type (as the service sees it: lowercased, no parameters).
const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("text/plain"),
    Some("application/json"),
    Some("application/octet-stream"),
    None,
    Some("application/xml"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    match rest_body(content_type, body) {
        Ok(Payload::Text(text)) => {
            assert_eq!(content_type, Some("text/plain"));
            assert_eq!(text.as_bytes(), body);
        }
        Ok(Payload::Json(raw)) => {
            assert_eq!(content_type, Some("application/json"));
            assert_ne!(raw.get(), "null");
            // Passed on exactly as written (numbers beyond f64 included), whitespace aside.
            assert_eq!(raw.get().as_bytes(), body.trim_ascii());
        }
        Ok(Payload::Binary(bytes)) => {
            assert_eq!(content_type, Some("application/octet-stream"));
            assert_eq!(bytes, body);
        }
        Ok(Payload::Protobuf(_)) => panic!("a REST body is never a protobuf payload"),
        Err(message) => assert!(!message.is_empty() && !message.contains('\n'), "{message}"),
    }
});
