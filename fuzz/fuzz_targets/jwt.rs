//! Access tokens from clients (the service verifies them) and from client URLs (the client reads
//! their claims): never a panic, and nothing verifies with the wrong key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::auth::token::{decode_unverified, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_unverified(token);
    // A token made by the fuzzer is never signed with this key.
    let verified = verify(
        token,
        "a key the fuzzer does not know",
        "http://localhost/client/hubs/chat",
        0,
        300,
    );
    assert!(verified.is_err(), "a forged token verified");
});
