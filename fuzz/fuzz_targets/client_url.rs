//! Client URLs typed by users or returned by negotiate: parsing never panics, and an error
//! never echoes the access token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::auth::parse_client_url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_url(text) {
        Ok(client) => assert!(!client.hub.is_empty(), "a URL without a hub parsed: {text}"),
        Err(error) => {
            let shown = error.to_string();
            if let Some((_, token)) = text.split_once("access_token=") {
                let token = token.split('&').next().unwrap_or_default();
                assert!(token.len() < 8 || !shown.contains(token), "{shown}");
            }
        }
    }
});
