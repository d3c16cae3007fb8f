//! Client URLs typed by users or returned by negotiate: parsing never panics, a parsed URL has a
//! hub, and an error never echoes the URL's query (where the access token is).
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
            let token = url::Url::parse(text.trim()).ok().and_then(|url| {
                url.query_pairs()
                    .find(|(key, _)| key == "access_token")
                    .map(|(_, value)| value.into_owned())
            });
            if let Some(token) = token.filter(|token| token.len() >= 8) {
                assert!(!shown.contains(&token), "{shown}");
            }
        }
    }
});
