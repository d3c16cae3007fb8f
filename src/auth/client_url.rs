//! Client URLs (`wss://host/client/hubs/{hub}?access_token=…` or `…/client/?hub={hub}`):
//! parsing and checking what a user pasted, and building one from an endpoint and a hub.

use thiserror::Error;
use url::Url;

/// A checked client URL: scheme `ws`/`wss` (an `http(s)` URL is mapped), with its hub.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientUrl {
    pub url: Url,
    pub hub: String,
}

impl std::fmt::Debug for ClientUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientUrl")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("hub", &self.hub)
            .finish()
    }
}

impl ClientUrl {
    /// The `access_token` query value, if the URL carries one.
    pub fn access_token(&self) -> Option<String> {
        access_token(&self.url)
    }
}

/// The `access_token` query value of `url`, if any.
pub fn access_token(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// What is wrong with a client URL. Messages never repeat the URL's query (it holds the token).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientUrlError {
    #[error(
        "the client URL is not a valid URL ({0}); expected wss://HOST/client/hubs/HUB?access_token=…"
    )]
    Invalid(String),
    #[error("the client URL's scheme is '{0}'; use wss:// (or ws://, http://, https://)")]
    Scheme(String),
    #[error("the client URL has no host; expected wss://HOST/client/hubs/HUB")]
    NoHost,
    #[error("the client URL's path '{0}' is not /client/hubs/HUB or /client/?hub=HUB")]
    Path(String),
    #[error("the client URL names no hub; add /hubs/HUB to the path or ?hub=HUB")]
    NoHub,
    #[error(transparent)]
    Hub(#[from] HubError),
}

/// A hub name the service would refuse.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HubError {
    #[error("the hub name is empty")]
    Empty,
    #[error(
        "hub name '{0}' must start with a letter and hold only letters, digits and _ ` , . [ ] (128 at most)"
    )]
    Invalid(String),
}

/// Checks a hub name against the REST layer's pattern `^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$`.
pub(crate) fn validate_hub(hub: &str) -> Result<(), HubError> {
    let mut chars = hub.chars();
    match chars.next() {
        None => Err(HubError::Empty),
        Some(first)
            if first.is_ascii_alphabetic()
                && hub.len() <= 128
                && chars.all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '`' | ',' | '.' | '[' | ']')
                }) =>
        {
            Ok(())
        }
        Some(_) => Err(HubError::Invalid(hub.chars().take(140).collect())),
    }
}

/// Parses and checks a client URL as a user typed it. `http`/`https` become `ws`/`wss`; a path
/// prefix before `/client/` (a reverse proxy such as APIM) is kept.
pub fn parse_client_url(text: &str) -> Result<ClientUrl, ClientUrlError> {
    // Pasted URLs often come wrapped in quotes or angle brackets.
    let text = text
        .trim()
        .trim_matches(|c| matches!(c, '"' | '\'' | '<' | '>'));
    let mut url = Url::parse(text).map_err(|e| ClientUrlError::Invalid(e.to_string()))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => return Err(ClientUrlError::Scheme(other.chars().take(40).collect())),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ClientUrlError::NoHost);
    }
    // Switching between special schemes always succeeds.
    let _ = url.set_scheme(scheme);
    url.set_fragment(None);
    let path = url.path().to_string();
    let trimmed = path.trim_end_matches('/');
    let hub = if let Some(at) = trimmed.rfind("/client/hubs/") {
        let hub = &trimmed[at + "/client/hubs/".len()..];
        if hub.contains('/') {
            return Err(ClientUrlError::Path(path));
        }
        percent_encoding::percent_decode_str(hub)
            .decode_utf8_lossy()
            .into_owned()
    } else if trimmed.ends_with("/client") || trimmed.ends_with("/client/hubs") {
        url.query_pairs()
            .find(|(k, _)| k == "hub")
            .map(|(_, v)| v.into_owned())
            .ok_or(ClientUrlError::NoHub)?
    } else {
        return Err(ClientUrlError::Path(path));
    };
    if hub.is_empty() {
        return Err(ClientUrlError::NoHub);
    }
    validate_hub(&hub)?;
    Ok(ClientUrl { url, hub })
}

/// `ws(s)://host[:port][/prefix]/client/hubs/{hub}` from an `http(s)` endpoint, as the server
/// SDKs build `baseUrl`: the `http` prefix becomes `ws`, trailing `/` dropped.
pub(crate) fn client_base_url(endpoint: &Url, hub: &str) -> String {
    let text = endpoint.as_str().trim_end_matches('/');
    let ws = if let Some(rest) = text.strip_prefix("https") {
        format!("wss{rest}")
    } else if let Some(rest) = text.strip_prefix("http") {
        format!("ws{rest}")
    } else {
        text.to_string()
    };
    format!("{ws}/client/hubs/{hub}")
}

/// The token audience for `hub`: the `http(s)` form of the client URL without query.
pub(crate) fn client_audience(endpoint: &Url, hub: &str) -> String {
    format!(
        "{}/client/hubs/{hub}",
        endpoint.as_str().trim_end_matches('/')
    )
}

/// The `http(s)` form of a `ws(s)` client URL with no query: what a token's `aud` should be.
pub(crate) fn audience_of(url: &Url) -> String {
    let mut http = url.clone();
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    let _ = http.set_scheme(scheme);
    http.set_query(None);
    http.set_fragment(None);
    let text = http.as_str().trim_end_matches('/').to_string();
    // The `/client/?hub=` form has the audience of the path form.
    match url.query_pairs().find(|(k, _)| k == "hub") {
        Some((_, hub)) if text.ends_with("/client") => format!("{text}/hubs/{hub}"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_hub_forms_and_maps_http() {
        let a = parse_client_url("https://x.webpubsub.azure.com/client/hubs/chat?access_token=t")
            .unwrap();
        assert_eq!(a.url.scheme(), "wss");
        assert_eq!(a.hub, "chat");
        assert_eq!(a.access_token().as_deref(), Some("t"));
        let b = parse_client_url(" 'ws://localhost:8080/client/?hub=chat'\n").unwrap();
        assert_eq!(b.hub, "chat");
        assert_eq!(
            audience_of(&b.url),
            "http://localhost:8080/client/hubs/chat"
        );
        let c = parse_client_url("wss://apim.example/api/client/hubs/Chat_1/").unwrap();
        assert_eq!(c.hub, "Chat_1");
        assert_eq!(
            audience_of(&c.url),
            "https://apim.example/api/client/hubs/Chat_1"
        );
    }

    #[test]
    fn names_the_bad_part() {
        assert!(matches!(
            parse_client_url("ftp://h/client/hubs/chat"),
            Err(ClientUrlError::Scheme(s)) if s == "ftp"
        ));
        assert!(matches!(
            parse_client_url("wss://h/clients/mqtt/hubs/chat?access_token=SECRET"),
            Err(ClientUrlError::Path(p)) if p == "/clients/mqtt/hubs/chat"
        ));
        assert_eq!(
            parse_client_url("wss://h/client/"),
            Err(ClientUrlError::NoHub)
        );
        assert!(matches!(
            parse_client_url("not a url"),
            Err(ClientUrlError::Invalid(_))
        ));
        assert!(matches!(
            parse_client_url("wss://h/client/hubs/9lives"),
            Err(ClientUrlError::Hub(HubError::Invalid(_)))
        ));
        let message = parse_client_url("wss://h/x?access_token=SECRET")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("SECRET"), "{message}");
    }

    #[test]
    fn builds_base_url_and_audience_like_the_sdks() {
        let endpoint = Url::parse("https://x.webpubsub.azure.com/").unwrap();
        assert_eq!(
            client_base_url(&endpoint, "chat"),
            "wss://x.webpubsub.azure.com/client/hubs/chat"
        );
        assert_eq!(
            client_audience(&endpoint, "chat"),
            "https://x.webpubsub.azure.com/client/hubs/chat"
        );
        let local = Url::parse("http://localhost:8080").unwrap();
        assert_eq!(
            client_base_url(&local, "chat"),
            "ws://localhost:8080/client/hubs/chat"
        );
    }
}
