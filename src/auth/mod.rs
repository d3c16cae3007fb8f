//! Authentication: client access tokens (HS256 JWTs), client URLs, and the URL providers the
//! client engine asks for a fresh URL on every new connection.

pub mod client_url;
pub mod connection_string;
mod diagnose;
pub mod negotiate;
mod provider;
pub mod proxy;
pub mod token;

pub use client_url::{ClientUrl, ClientUrlError, parse_client_url};
pub use connection_string::{
    ClientAccess, ConnectionString, ConnectionStringError, ConnectionStringProvider, TokenOptions,
};
pub use diagnose::explain_unauthorized;
pub use negotiate::NegotiateProvider;
pub use provider::{FixedUrl, ProviderError, UrlFuture, UrlProvider};
pub use token::{Claims, TokenError, mint, verify};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::redact_secrets;

    // Tokens minted here are what redaction must catch wherever they appear.
    proptest::proptest! {
        #[test]
        fn never_panics_and_always_blanks_a_token(prefix in "\\PC{0,40}", suffix in "\\PC{0,40}") {
            let token = mint(
                &Claims { aud: "a".into(), exp: 1, ..Default::default() },
                "key",
            );
            let signature = token.rsplit('.').next().unwrap_or_default().to_string();
            let shown = redact_secrets(&format!("{prefix} {token} {suffix}"));
            proptest::prop_assert!(!shown.contains(&signature), "{}", shown);
            let shown = redact_secrets(&format!("{prefix}?access_token={signature}&{suffix}"));
            proptest::prop_assert!(!shown.contains(&signature), "{}", shown);
        }
    }
}
