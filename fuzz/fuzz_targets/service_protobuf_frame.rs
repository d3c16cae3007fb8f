//! What a protobuf client sends the service: decoding never panics, and whatever decodes
//! survives an encode-decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::protocol::protobuf::{decode_client, encode_client};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_client(data) {
        let again = decode_client(&encode_client(&message));
        assert_eq!(again.as_ref(), Ok(&message));
    }
});
