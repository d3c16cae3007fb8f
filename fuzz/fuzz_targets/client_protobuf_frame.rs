//! What the service sends a protobuf client: decoding never panics, and whatever decodes
//! survives an encode-decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::ServiceMessage;
use wpchat::protocol::protobuf::{decode_service, encode_service};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_service(data) {
        if matches!(message, ServiceMessage::Unknown { .. }) {
            return;
        }
        let again = decode_service(&encode_service(&message));
        assert_eq!(again.as_ref(), Ok(&message));
    }
});
