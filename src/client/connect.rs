//! Opening a WebSocket to the service: builds the request (token in the query or in an
//! `Authorization` header, the subprotocol, the recovery parameters), does the handshake with
//! the configured limits, and turns handshake failures into errors a user can act on.

use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::{FailureKind, ProxyChoice};
use crate::protocol::Subprotocol;
use crate::redact::redact_url;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The parameters that resume a dropped reliable session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecoveryParams {
    pub connection_id: String,
    pub reconnection_token: String,
}

/// Why a connection attempt failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub(crate) enum DialError {
    #[error("the client URL is not usable: {0}")]
    BadUrl(String),
    #[error("the service refused the connection: HTTP {status}{}{}", body_suffix(body), status_hint(*status))]
    Http { status: u16, body: String },
    /// A 401/403, explained from the token's claims (expired, wrong hub, bad signature...).
    #[error("{explanation}")]
    Unauthorized { status: u16, explanation: String },
    #[error("{0}")]
    Proxy(String),
    #[error("no WebSocket handshake within {} s", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    /// The host name does not resolve.
    #[error("{0}")]
    Unresolved(String),
    /// Nothing listens at the address.
    #[error("{0}")]
    Refused(String),
    /// The TLS handshake failed (a certificate the system does not trust, or not TLS at all).
    #[error("{0}")]
    Tls(String),
}

/// How a failure to get a client URL counts.
pub(crate) fn url_failure(error: &crate::auth::ProviderError) -> FailureKind {
    use crate::auth::ProviderError;
    match error {
        ProviderError::Transient(_) => FailureKind::Transient,
        ProviderError::Permanent(_) => FailureKind::Misconfigured,
        ProviderError::Refused(_) => FailureKind::Unauthorized,
    }
}

impl DialError {
    /// Whether trying again could help, and what the user has to fix if not.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            DialError::Unauthorized { .. } => FailureKind::Unauthorized,
            DialError::Unresolved(_) | DialError::Refused(_) => FailureKind::Unreachable,
            DialError::BadUrl(_) | DialError::Tls(_) => FailureKind::Misconfigured,
            // 408 and 429 say "later"; any other 4xx answers the same way every time.
            DialError::Http { status, .. }
                if (400..500).contains(status) && *status != 408 && *status != 429 =>
            {
                FailureKind::Misconfigured
            }
            DialError::Http { .. }
            | DialError::Proxy(_)
            | DialError::Timeout(_)
            | DialError::Transport(_) => FailureKind::Transient,
        }
    }
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 => " (the access token is missing, invalid or expired; get a new client URL)",
        403 => " (the token is not allowed on this hub)",
        _ => "",
    }
}

/// The URL and the bearer token (when it moves to a header) for one attempt. The token leaves
/// the query in header mode; recovery adds `awps_connection_id` and `awps_reconnection_token`
/// to the original URL, keeping the rest of its query as the SDKs do.
pub(crate) fn prepare_url(
    url: &Url,
    token_in_header: bool,
    recovery: Option<&RecoveryParams>,
) -> Result<(Url, Option<String>), DialError> {
    let mut url = url.clone();
    match url.scheme() {
        "ws" | "wss" => {}
        "http" => set_scheme(&mut url, "ws")?,
        "https" => set_scheme(&mut url, "wss")?,
        other => {
            return Err(DialError::BadUrl(format!(
                "scheme '{other}' is not ws, wss, http or https"
            )));
        }
    }
    let mut token = None;
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "awps_connection_id" && k != "awps_reconnection_token")
        .filter(|(k, v)| {
            if token_in_header && k == "access_token" {
                token = Some(v.to_string());
                false
            } else {
                true
            }
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(recovery) = recovery {
        pairs.push(("awps_connection_id".into(), recovery.connection_id.clone()));
        pairs.push((
            "awps_reconnection_token".into(),
            recovery.reconnection_token.clone(),
        ));
    }
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Ok((url, token))
}

fn set_scheme(url: &mut Url, scheme: &str) -> Result<(), DialError> {
    url.set_scheme(scheme)
        .map_err(|()| DialError::BadUrl(format!("cannot use scheme {scheme}")))
}

/// The process-wide rustls crypto provider; installing twice is harmless.
fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Opens the WebSocket and returns it with the subprotocol the service picked. `protocol`
/// `None` offers no subprotocol: a simple WebSocket client.
pub(crate) async fn dial(
    url: Url,
    protocol: Option<Subprotocol>,
    token_in_header: bool,
    recovery: Option<RecoveryParams>,
    max_incoming_message: usize,
    timeout: Duration,
    proxy: ProxyChoice,
) -> Result<(Socket, Option<Subprotocol>), DialError> {
    ensure_crypto_provider();
    let original = url;
    let (url, token) = prepare_url(&original, token_in_header, recovery.as_ref())?;
    tracing::debug!(url = %redact_url(&url), recovery = recovery.is_some(), "opening WebSocket");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| DialError::BadUrl(e.to_string()))?;
    if let Some(protocol) = protocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(protocol.name()),
        );
    }
    if let Some(token) = &token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| DialError::BadUrl("the access token has invalid characters".into()))?;
        request.headers_mut().insert("Authorization", value);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_incoming_message))
        .max_frame_size(Some(max_incoming_message));
    let handshake = async {
        let stream = open_stream(&url, &proxy).await?;
        tokio_tungstenite::client_async_tls_with_config(request, stream, Some(config), None)
            .await
            .map_err(|error| map_error(error, &url, token.as_deref()))
    };
    let (socket, response) = match tokio::time::timeout(timeout, handshake).await {
        Err(_) => return Err(DialError::Timeout(timeout)),
        Ok(Err(error)) => return Err(error),
        Ok(Ok(done)) => done,
    };
    let picked = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(Subprotocol::from_name)
        .or(protocol);
    Ok((socket, picked))
}

/// The TCP stream to the service: through the HTTP CONNECT tunnel when a proxy applies, else
/// direct. Nagle is off either way (small frames, latency matters).
async fn open_stream(url: &Url, proxy: &ProxyChoice) -> Result<TcpStream, DialError> {
    let host = url
        .host_str()
        .ok_or_else(|| DialError::BadUrl("the client URL has no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| DialError::BadUrl("the client URL has no port".into()))?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = match proxy.proxy_for(url) {
        Some(proxy) => {
            tracing::debug!(proxy = %redact_proxy(&proxy), "tunnelling through the proxy");
            crate::auth::proxy::connect_tunnel(&proxy, bare_host, port)
                .await
                .map_err(|e| DialError::Proxy(e.to_string()))?
        }
        None => connect_direct(bare_host, port).await?,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A direct TCP connection, with the name lookup apart so that a name that does not resolve
/// and a port nobody listens on are told from other network trouble (those two fail fast).
async fn connect_direct(host: &str, port: u16) -> Result<TcpStream, DialError> {
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| DialError::Unresolved(format!("cannot resolve the host name '{host}': {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(DialError::Unresolved(format!(
            "the host name '{host}' has no address"
        )));
    }
    TcpStream::connect(&addresses[..])
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => DialError::Refused(format!(
                "nothing is listening at {host}:{port} (connection refused)"
            )),
            _ => DialError::Transport(format!("cannot reach {host}:{port}: {e}")),
        })
}

/// The proxy URL without its credentials, for logs.
fn redact_proxy(proxy: &Url) -> String {
    format!(
        "{}://{}:{}",
        proxy.scheme(),
        proxy.host_str().unwrap_or("?"),
        proxy.port_or_known_default().unwrap_or(80)
    )
}

/// The token the attempt carried: the header one, else the `access_token` query.
fn token_of(url: &Url, header_token: Option<&str>) -> Option<String> {
    header_token.map(str::to_string).or_else(|| {
        url.query_pairs()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned())
    })
}

fn map_error(
    error: tokio_tungstenite::tungstenite::Error,
    url: &Url,
    header_token: Option<&str>,
) -> DialError {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(readable_body)
                .unwrap_or_default();
            if status == 401 || status == 403 {
                return DialError::Unauthorized {
                    status,
                    explanation: explain(status, url, header_token, &body),
                };
            }
            DialError::Http { status, body }
        }
        WsError::Url(e) => DialError::BadUrl(e.to_string()),
        WsError::Tls(e) => DialError::Tls(format!("TLS failed with {}: {e}", host_of(url))),
        // tokio-rustls reports a failed handshake as an I/O error around the rustls error.
        WsError::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            DialError::Tls(format!("TLS failed with {}: {e}", host_of(url)))
        }
        other => DialError::Transport(other.to_string()),
    }
}

fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Why the service most likely refused the token, from its claims read without the key.
fn explain(status: u16, url: &Url, header_token: Option<&str>, body: &str) -> String {
    let claims = token_of(url, header_token)
        .and_then(|token| crate::auth::token::decode_unverified(&token).ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let audience = crate::auth::client_url::audience_of(url);
    let line = crate::auth::explain_unauthorized(claims.as_ref(), &audience, now, body);
    if status == 401 {
        line
    } else {
        line.replacen("(401)", "(403)", 1)
    }
}

/// The first line of a response body, with control characters dropped and length capped: it
/// ends up in a status line.
fn readable_body(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CHARS)
        .collect();
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn query_mode_keeps_the_url() {
        let (u, token) = prepare_url(
            &url("wss://h/client/hubs/chat?access_token=T&x=1"),
            false,
            None,
        )
        .unwrap();
        assert_eq!(u.as_str(), "wss://h/client/hubs/chat?access_token=T&x=1");
        assert_eq!(token, None);
    }

    #[test]
    fn header_mode_moves_the_token() {
        let (u, token) = prepare_url(
            &url("https://h/client/hubs/chat?access_token=T"),
            true,
            None,
        )
        .unwrap();
        assert_eq!(u.as_str(), "wss://h/client/hubs/chat");
        assert_eq!(token.as_deref(), Some("T"));
    }

    #[test]
    fn recovery_adds_params_once() {
        let recovery = RecoveryParams {
            connection_id: "c1".into(),
            reconnection_token: "r/t+=".into(),
        };
        let (u, _) = prepare_url(
            &url("ws://h/client/hubs/chat?access_token=T&awps_connection_id=old"),
            false,
            Some(&recovery),
        )
        .unwrap();
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("access_token".into(), "T".into()),
                ("awps_connection_id".into(), "c1".into()),
                ("awps_reconnection_token".into(), "r/t+=".into()),
            ]
        );
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(matches!(
            prepare_url(&url("ftp://h/x"), false, None),
            Err(DialError::BadUrl(_))
        ));
    }

    #[test]
    fn http_errors_read_well() {
        let e = DialError::Http {
            status: 401,
            body: readable_body(b"  token\x1b[2J expired\r\n"),
        };
        let text = e.to_string();
        assert!(text.contains("HTTP 401: token [2J expired"), "{text}");
        assert!(text.contains("expired; get a new client URL"), "{text}");
    }
}
