//! The negotiate pattern: an app server authenticates the user and answers `GET` with
//! `{"url": "<client access url>"}`; asked again for every new connection (protocol.md §2).

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use thiserror::Error;
use url::Url;

use super::client_url::parse_client_url;
use super::provider::{ProviderError, UrlFuture, UrlProvider};

/// How long one negotiate request may take before it counts as a (transient) failure.
pub(crate) const NEGOTIATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest negotiate answer read; a client URL is a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A bad `--header` argument. Never holds the header's value (it may be a bearer token).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HeaderError {
    #[error("--header must look like 'Name: value' (a name, a colon, then the value)")]
    NoColon,
    /// The name is not echoed: a mistyped `Authorization Bearer xyz: …` would show a credential.
    #[error("a --header name is not a valid HTTP header name (use letters, digits and '-')")]
    BadName,
    #[error(
        "--header '{0}' has a value that is not a valid HTTP header value (control characters?)"
    )]
    BadValue(String),
}

/// Parses `Name: value` into a header; the value is marked sensitive so HTTP tooling hides it.
pub(crate) fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), HeaderError> {
    let (name, value) = text.split_once(':').ok_or(HeaderError::NoColon)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(HeaderError::NoColon);
    }
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::BadName)?;
    let mut header_value = HeaderValue::from_str(value.trim())
        .map_err(|_| HeaderError::BadValue(header_name.as_str().to_string()))?;
    header_value.set_sensitive(true);
    Ok((header_name, header_value))
}

/// Why the negotiate provider could not be set up.
#[derive(Debug, Error)]
pub enum NegotiateSetupError {
    #[error("the negotiate URL is not a valid URL ({0})")]
    BadUrl(String),
    #[error("the negotiate URL's scheme is '{0}'; use https:// (or http:// locally)")]
    Scheme(String),
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("cannot set up the HTTP client: {0} (are the system CA certificates installed?)")]
    Client(String),
}

/// Fetches a fresh client URL from an app server's negotiate endpoint for each new connection.
#[derive(Clone)]
pub struct NegotiateProvider {
    endpoint: Url,
    headers: HeaderMap,
    http: reqwest::Client,
}

impl std::fmt::Debug for NegotiateProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("NegotiateProvider")
            .field("endpoint", &shown_endpoint(&self.endpoint))
            .field("header_names", &names)
            .finish()
    }
}

/// The negotiate URL as shown to users: no query (Azure Functions put a `code=` key there), no
/// user info.
pub(crate) fn shown_endpoint(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

impl NegotiateProvider {
    /// `headers` are `Name: value` strings, as given to `--header`.
    pub fn new(endpoint: &str, headers: &[String]) -> Result<Self, NegotiateSetupError> {
        let endpoint =
            Url::parse(endpoint.trim()).map_err(|e| NegotiateSetupError::BadUrl(e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(NegotiateSetupError::Scheme(
                endpoint.scheme().chars().take(40).collect(),
            ));
        }
        let mut map = HeaderMap::new();
        map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for header in headers {
            let (name, value) = parse_header(header)?;
            map.append(name, value);
        }
        // HTTPS_PROXY / NO_PROXY are honoured by reqwest's default proxy handling.
        // A plain-http endpoint (local development) must work on a machine with no CA store.
        let https = endpoint.scheme() == "https";
        let http = reqwest::Client::builder()
            .tls_built_in_native_certs(https)
            .timeout(NEGOTIATE_TIMEOUT)
            .user_agent(concat!("wpchat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NegotiateSetupError::Client(e.without_url().to_string()))?;
        Ok(NegotiateProvider {
            endpoint,
            headers: map,
            http,
        })
    }

    /// The endpoint as shown to users (no query).
    pub(crate) fn endpoint_shown(&self) -> String {
        shown_endpoint(&self.endpoint)
    }

    /// One negotiate round trip.
    pub async fn negotiate(&self) -> Result<Url, ProviderError> {
        let shown = self.endpoint_shown();
        let response = self
            .http
            .get(self.endpoint.clone())
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(|e| {
                let why = describe_reqwest_error(&e);
                ProviderError::Transient(format!("negotiate request to {shown} failed: {why}"))
            })?;
        let status = response.status();
        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or("");
            let message = format!(
                "negotiate at {shown} answered HTTP {} {reason}{}",
                status.as_u16(),
                hint_for_status(status.as_u16())
            );
            let transient = status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT;
            return Err(match status.as_u16() {
                _ if transient => ProviderError::Transient(message),
                401 | 403 => ProviderError::Refused(message),
                _ => ProviderError::Permanent(message),
            });
        }
        let body = read_limited(response).await.map_err(|why| {
            ProviderError::Transient(format!(
                "negotiate at {shown}: reading the answer failed: {why}"
            ))
        })?;
        client_url_from_answer(&body, &shown)
    }
}

/// The client URL in a negotiate answer's body (`{"url": "wss://…"}`); `shown` names the
/// endpoint in the error. Every failure is permanent: asking again gets the same answer.
pub fn client_url_from_answer(body: &[u8], shown: &str) -> Result<Url, ProviderError> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        ProviderError::Permanent(format!(
            "negotiate at {shown} did not answer JSON; expected {{\"url\": \"wss://…\"}}"
        ))
    })?;
    let Some(text) = json.get("url").and_then(serde_json::Value::as_str) else {
        return Err(ProviderError::Permanent(format!(
            "negotiate at {shown} answered JSON without a \"url\" string; expected {{\"url\": \"wss://…\"}}"
        )));
    };
    let client = parse_client_url(text).map_err(|e| {
        ProviderError::Permanent(format!("negotiate at {shown} gave a bad client URL: {e}"))
    })?;
    Ok(client.url)
}

fn hint_for_status(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check the credentials passed with --header",
        404 => "; check the negotiate URL",
        _ => "",
    }
}

/// A one-line reason for a failed request, with no URL (it may carry a query key).
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "request error"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(error);
    // The innermost cause is the most specific ("connection refused", "invalid certificate").
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    let detail = crate::redact::redact_secrets(detail.lines().next().unwrap_or(""));
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(format!("the answer is larger than {MAX_BODY_BYTES} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(describe_reqwest_error(&e)),
        }
    }
}

impl UrlProvider for NegotiateProvider {
    fn client_url(&self) -> UrlFuture {
        let provider = self.clone();
        Box::pin(async move { provider.negotiate().await })
    }

    fn describe(&self) -> String {
        format!("negotiate {}", self.endpoint_shown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_never_show_values() {
        assert_eq!(parse_header("Bearer SECRET"), Err(HeaderError::NoColon));
        let error = parse_header("Authorization: bad\u{7}SECRET").unwrap_err();
        assert!(!error.to_string().contains("SECRET"), "{error}");
        let (name, value) = parse_header("X-Api-Key:  k ").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "k"));
        assert!(value.is_sensitive());
    }

    #[test]
    fn shown_endpoint_drops_query_keys() {
        let url = Url::parse("https://u:p@app.example/api/negotiate?code=SECRET").unwrap();
        assert_eq!(shown_endpoint(&url), "https://app.example/api/negotiate");
    }
}
