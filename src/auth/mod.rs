//! Authentication: client access tokens (HS256 JWTs), client URLs, and the URL providers the
//! client engine asks for a fresh URL on every new connection.

pub mod client_url;
pub mod connection_string;
mod diagnose;
pub mod negotiate;
mod provider;
pub mod proxy;
mod redact;
pub mod token;

pub use client_url::{ClientUrl, ClientUrlError, parse_client_url};
pub use connection_string::{
    ClientAccess, ConnectionString, ConnectionStringError, ConnectionStringProvider, TokenOptions,
};
pub use diagnose::explain_unauthorized;
pub use negotiate::NegotiateProvider;
pub use provider::{FixedUrl, ProviderError, UrlFuture, UrlProvider};
pub use redact::{REDACTED, redact_secrets};
pub use token::{Claims, TokenError, mint, verify};

/// Query parameters that carry secrets and are redacted wherever a URL is shown or logged.
pub const SECRET_QUERY_PARAMS: &[&str] = &["access_token", "awps_reconnection_token"];

/// The URL with every secret query parameter's value replaced by `***`.
pub fn redact_url(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut redacted = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let value = if SECRET_QUERY_PARAMS
                .iter()
                .any(|s| k.eq_ignore_ascii_case(s))
            {
                "***".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    redacted.query_pairs_mut().clear().extend_pairs(pairs);
    redacted.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_params_only() {
        let url = url::Url::parse(
            "wss://h/client/hubs/chat?access_token=SECRET&x=1&awps_reconnection_token=T0K",
        )
        .unwrap();
        let shown = redact_url(&url);
        assert!(
            !shown.contains("SECRET") && !shown.contains("T0K"),
            "{shown}"
        );
        assert!(shown.contains("x=1"));
    }
}
