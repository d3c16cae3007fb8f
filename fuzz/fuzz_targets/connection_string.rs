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
        let key = parsed.access_key();
        let shown = format!("{parsed:?}");
        // A key that is also part of the endpoint (the endpoint is shown) proves nothing.
        let in_endpoint = parsed.endpoint().as_str().contains(key);
        assert!(
            key.len() < 4 || in_endpoint || !shown.contains(key),
            "the key shows in {shown}"
        );
        let _ = parsed.base_url("chat");
    }
});
