//! Which HTTP proxy (if any) a connection to a URL should go through, decided from the usual
//! environment variables, and the HTTP CONNECT tunnel through it that a `ws`/`wss` connection
//! needs (reqwest tunnels on its own; tokio-tungstenite does not).

use std::time::Duration;

use base64::Engine;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

/// How long the proxy may take to connect and answer the CONNECT request.
pub(crate) const TUNNEL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest CONNECT answer head read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// The proxy for `target` from the process environment (see [`proxy_for`]).
pub(crate) fn proxy_from_env(target: &Url) -> Option<Url> {
    proxy_for(target, |name| std::env::var(name).ok())
}

/// The proxy for `target` given an environment lookup: `HTTPS_PROXY`/`https_proxy` for
/// `wss`/`https`, `HTTP_PROXY`/`http_proxy` for `ws`/`http`, then `ALL_PROXY`/`all_proxy`;
/// none when `NO_PROXY`/`no_proxy` matches the host or the host is loopback. A proxy value
/// without a scheme means `http://`.
pub(crate) fn proxy_for(target: &Url, env: impl Fn(&str) -> Option<String>) -> Option<Url> {
    let host = target.host_str()?;
    if is_loopback(host) {
        return None;
    }
    let lookup = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
    };
    if let Some(no_proxy) = lookup(&["NO_PROXY", "no_proxy"])
        && no_proxy_matches(&no_proxy, host, target.port_or_known_default())
    {
        return None;
    }
    let secure = matches!(target.scheme(), "wss" | "https");
    let value = if secure {
        lookup(&["HTTPS_PROXY", "https_proxy"])
    } else {
        lookup(&["HTTP_PROXY", "http_proxy"])
    }
    .or_else(|| lookup(&["ALL_PROXY", "all_proxy"]))?;
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    Url::parse(&with_scheme)
        .ok()
        .filter(|u| u.host_str().is_some())
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `NO_PROXY` rules as curl reads them: `*` matches everything; each comma-separated entry
/// matches that host and its subdomains (a leading `.` or `*.` is ignored); `host:port` matches
/// only that port.
fn no_proxy_matches(no_proxy: &str, host: &str, port: Option<u16>) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        let (name, entry_port) = match entry.rsplit_once(':') {
            Some((name, p)) if !name.contains(':') || name.ends_with(']') => {
                (name.to_string(), p.parse::<u16>().ok())
            }
            _ => (entry.clone(), None),
        };
        let name = name
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']');
        if name.is_empty() || entry_port.is_some_and(|p| Some(p) != port) {
            return false;
        }
        host == name || host.ends_with(&format!(".{name}"))
    })
}

/// Why no tunnel through the proxy could be opened. Never shows the proxy's credentials.
#[derive(Debug, Error)]
pub enum TunnelError {
    #[error("the proxy {proxy} uses scheme '{scheme}'; only http:// proxies are supported")]
    Scheme { proxy: String, scheme: String },
    #[error("cannot reach the proxy {proxy}: {source}")]
    Connect {
        proxy: String,
        source: std::io::Error,
    },
    #[error("the proxy {proxy} refused a tunnel to {target}: HTTP {status}{hint}")]
    Refused {
        proxy: String,
        target: String,
        status: u16,
        hint: &'static str,
    },
    #[error("the proxy {proxy} gave an answer that is not HTTP")]
    Malformed { proxy: String },
    #[error("the proxy {proxy} did not answer within {} s", TUNNEL_TIMEOUT.as_secs())]
    Timeout { proxy: String },
}

/// The proxy URL as shown to users: no credentials.
fn shown_proxy(proxy: &Url) -> String {
    format!(
        "{}://{}:{}",
        proxy.scheme(),
        proxy.host_str().unwrap_or("?"),
        proxy.port_or_known_default().unwrap_or(80)
    )
}

/// Opens a TCP stream to `host:port` through an `http://` proxy with `CONNECT`, sending
/// `Proxy-Authorization: Basic` when the proxy URL has credentials. The returned stream is
/// ready for the TLS and WebSocket handshakes, exactly as a direct `TcpStream` would be.
pub async fn connect_tunnel(proxy: &Url, host: &str, port: u16) -> Result<TcpStream, TunnelError> {
    let shown = shown_proxy(proxy);
    if proxy.scheme() != "http" {
        return Err(TunnelError::Scheme {
            proxy: shown,
            scheme: proxy.scheme().chars().take(20).collect(),
        });
    }
    let timeout = |proxy: String| TunnelError::Timeout { proxy };
    tokio::time::timeout(TUNNEL_TIMEOUT, open_tunnel(proxy, &shown, host, port))
        .await
        .map_err(|_| timeout(shown.clone()))?
}

async fn open_tunnel(
    proxy: &Url,
    shown: &str,
    host: &str,
    port: u16,
) -> Result<TcpStream, TunnelError> {
    let proxy_host = proxy.host_str().unwrap_or_default();
    let proxy_port = proxy.port_or_known_default().unwrap_or(80);
    let connect_error = |source| TunnelError::Connect {
        proxy: shown.to_string(),
        source,
    };
    let mut stream = TcpStream::connect((
        proxy_host.trim_start_matches('[').trim_end_matches(']'),
        proxy_port,
    ))
    .await
    .map_err(connect_error)?;
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    stream
        .write_all(connect_request(proxy, &authority).as_bytes())
        .await
        .map_err(connect_error)?;
    let head = read_answer_head(&mut stream, shown).await?;
    let status = answer_status(&head).ok_or_else(|| TunnelError::Malformed {
        proxy: shown.to_string(),
    })?;
    if !(200..300).contains(&status) {
        return Err(TunnelError::Refused {
            proxy: shown.to_string(),
            target: authority,
            status,
            hint: match status {
                407 => {
                    "; the proxy wants credentials: put them in the proxy URL (http://user:password@host:port)"
                }
                403 => "; the proxy does not allow this destination",
                _ => "",
            },
        });
    }
    Ok(stream)
}

/// The `CONNECT` request head, with `Proxy-Authorization: Basic` when the proxy URL has
/// credentials.
fn connect_request(proxy: &Url, authority: &str) -> String {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if !proxy.username().is_empty() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = format!(
            "{}:{}",
            decode(proxy.username()),
            decode(proxy.password().unwrap_or_default())
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// Reads the proxy's answer head byte by byte: nothing after it may be consumed, it belongs to
/// TLS.
async fn read_answer_head(stream: &mut TcpStream, shown: &str) -> Result<Vec<u8>, TunnelError> {
    let malformed = || TunnelError::Malformed {
        proxy: shown.to_string(),
    };
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_ANSWER_BYTES {
            return Err(malformed());
        }
        let read = stream
            .read(&mut byte)
            .await
            .map_err(|source| TunnelError::Connect {
                proxy: shown.to_string(),
                source,
            })?;
        if read == 0 {
            return Err(malformed());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// The status code of an HTTP/1.x answer head.
fn answer_status(head: &[u8]) -> Option<u16> {
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    std::str::from_utf8(status_line)
        .ok()
        .filter(|line| line.starts_with("HTTP/1."))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn picks_the_proxy_by_scheme() {
        let wss = Url::parse("wss://x.webpubsub.azure.com/client/hubs/chat").unwrap();
        let ws = Url::parse("ws://example.org/client/hubs/chat").unwrap();
        let vars = [
            ("https_proxy", "proxy:3128"),
            ("HTTP_PROXY", "http://p2:80"),
        ];
        assert_eq!(
            proxy_for(&wss, env(&vars)).map(|u| u.to_string()),
            Some("http://proxy:3128/".into())
        );
        assert_eq!(
            proxy_for(&ws, env(&vars)).map(|u| u.to_string()),
            Some("http://p2/".into())
        );
        assert_eq!(proxy_for(&wss, env(&[])), None);
    }

    #[test]
    fn no_proxy_and_loopback_bypass() {
        let wss = Url::parse("wss://x.webpubsub.azure.com/client/hubs/chat").unwrap();
        let proxy = ("HTTPS_PROXY", "http://proxy:3128");
        for rule in [
            "*",
            "azure.com",
            ".webpubsub.azure.com",
            "other, x.webpubsub.azure.com:443",
        ] {
            assert_eq!(
                proxy_for(&wss, env(&[proxy, ("NO_PROXY", rule)])),
                None,
                "{rule}"
            );
        }
        for rule in ["zure.com", "x.webpubsub.azure.com:8443"] {
            assert!(
                proxy_for(&wss, env(&[proxy, ("no_proxy", rule)])).is_some(),
                "{rule}"
            );
        }
        let local = Url::parse("wss://127.0.0.1:8080/client/hubs/chat").unwrap();
        assert_eq!(proxy_for(&local, env(&[proxy])), None);
    }
}
