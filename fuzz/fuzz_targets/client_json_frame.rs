//! What the service sends a JSON client: decoding never panics, gives what serde alone gives
//! (the hand-written reader of plain data messages answers only when sure), decoding with the
//! engine's cache (shared names, a reused payload string still holding old text) gives the same
//! result as without, and whatever decodes survives an encode-decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::{
    DecodeCache, ServiceMessage, decode_service, decode_service_by_serde, decode_service_with,
    encode_service,
};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = decode_service(frame);
    assert_eq!(decoded, decode_service_by_serde(frame));
    let mut cache = DecodeCache::default();
    cache.give_back("old text from an earlier message".to_string());
    assert_eq!(decode_service_with(frame, &mut cache), decoded);
    if let Ok(message) = decoded {
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
