//! Which HTTP proxy (if any) a connection to a URL should go through, decided from the usual
//! environment variables. Pure, so the engine can use it for a CONNECT tunnel before `wss`.

use url::Url;

/// The proxy for `target` from the process environment (see [`proxy_for`]).
pub fn proxy_from_env(target: &Url) -> Option<Url> {
    proxy_for(target, |name| std::env::var(name).ok())
}

/// The proxy for `target` given an environment lookup: `HTTPS_PROXY`/`https_proxy` for
/// `wss`/`https`, `HTTP_PROXY`/`http_proxy` for `ws`/`http`, then `ALL_PROXY`/`all_proxy`;
/// none when `NO_PROXY`/`no_proxy` matches the host or the host is loopback. A proxy value
/// without a scheme means `http://`.
pub fn proxy_for(target: &Url, env: impl Fn(&str) -> Option<String>) -> Option<Url> {
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
