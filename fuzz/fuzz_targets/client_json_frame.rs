//! What the service sends a JSON client: decoding never panics, and whatever decodes survives
//! an encode-decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::{ServiceMessage, decode_service, encode_service};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = decode_service(frame) {
        // An unknown type keeps only its name, so it cannot round-trip by design.
        if matches!(message, ServiceMessage::Unknown { .. }) {
            return;
        }
        let again = decode_service(&encode_service(&message));
        assert_eq!(
            again.as_ref(),
            Ok(&message),
            "re-encoded: {}",
            encode_service(&message)
        );
    }
});
