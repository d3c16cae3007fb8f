//! Connection strings from the command line, the environment or a profile: parsing never
//! panics, and a parsed one never shows its access key in `Debug`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::auth::ConnectionString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = ConnectionString::parse(text) {
        // The key must not change what `Debug` shows: the same endpoint with another key
        // prints the same text (a substring test would trip over keys like "endpoint").
        let other_key = format!("{}x", parsed.access_key());
        let other = ConnectionString::new(parsed.endpoint().clone(), other_key);
        assert_eq!(format!("{parsed:?}"), format!("{other:?}"));
        let _ = parsed.base_url("chat");
    }
});
