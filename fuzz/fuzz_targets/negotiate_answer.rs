//! An app server's negotiate answer: any body gives a client URL or a one-line error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wpchat::auth::negotiate::client_url_from_answer;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = client_url_from_answer(data, "http://localhost/negotiate") {
        assert!(!error.to_string().contains('\n'), "{error}");
    }
});
