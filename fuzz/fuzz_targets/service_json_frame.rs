//! What a JSON client sends the service: decoding never panics, and whatever decodes survives
//! an encode-decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::{decode_client, encode_client};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = decode_client(frame) {
        let again = decode_client(&encode_client(&message));
        assert_eq!(
            again.as_ref(),
            Ok(&message),
            "re-encoded: {}",
            encode_client(&message)
        );
    }
});
