//! Explaining an HTTP 401 at the WebSocket handshake from what the client knows: the token's
//! claims (read without the key), the audience it should have, and the service's answer.

use super::token::{ALLOWED_SKEW_SECS, Claims, format_time};

/// Longest piece of the service's answer shown.
const MAX_BODY_CHARS: usize = 160;

/// One line saying why the service most likely refused the token, most specific cause first:
/// no token, expired, not yet valid, wrong hub or endpoint, else a bad signature (wrong key).
/// The service's answer is appended, redacted and cut to one short line.
pub fn explain_unauthorized(
    token_claims: Option<&Claims>,
    expected_aud: &str,
    now: i64,
    body: &str,
) -> String {
    let mut line = match token_claims {
        None => "the service refused the connection (401): no readable access token; \
                 use a client URL with ?access_token=…, a connection string or --negotiate"
            .to_string(),
        Some(claims) if claims.exp + ALLOWED_SKEW_SECS < now => format!(
            "the service refused the connection (401): the token expired at {} ({} ago); \
             get a fresh client URL, or use a connection string or --negotiate so tokens renew",
            format_time(claims.exp),
            format_ago(now - claims.exp)
        ),
        Some(claims) if claims.nbf.is_some_and(|nbf| nbf - ALLOWED_SKEW_SECS > now) => format!(
            "the service refused the connection (401): the token is not valid before {}; \
             check this computer's clock",
            format_time(claims.nbf.unwrap_or_default())
        ),
        Some(claims) if !same_audience(&claims.aud, expected_aud) => {
            match (hub_of(&claims.aud), hub_of(expected_aud)) {
                (Some(token_hub), Some(hub)) if !token_hub.eq_ignore_ascii_case(hub) => format!(
                    "the service refused the connection (401): the token is for hub '{token_hub}', not '{hub}'"
                ),
                _ => format!(
                    "the service refused the connection (401): the token is for '{}', not '{expected_aud}'",
                    claims.aud
                ),
            }
        }
        Some(_) => "the service refused the connection (401): bad signature — check the access \
                    key (the token's hub and expiry look right)"
            .to_string(),
    };
    let said = one_line(body);
    if !said.is_empty() {
        line.push_str(" (service said: ");
        line.push_str(&said);
        line.push(')');
    }
    line
}

fn same_audience(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

fn hub_of(aud: &str) -> Option<&str> {
    let at = aud.rfind("/client/hubs/")?;
    Some(aud[at + "/client/hubs/".len()..].trim_end_matches('/'))
}

fn format_ago(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// The body as one short, secret-free line of printable characters.
fn one_line(body: &str) -> String {
    let flat: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let redacted = crate::redact::redact_secrets(&flat);
    if redacted.chars().count() > MAX_BODY_CHARS {
        let mut cut: String = redacted.chars().take(MAX_BODY_CHARS).collect();
        cut.push('…');
        cut
    } else {
        redacted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "https://x.webpubsub.azure.com/client/hubs/chat";

    fn claims(aud: &str, exp: i64) -> Claims {
        Claims {
            aud: aud.into(),
            exp,
            ..Claims::default()
        }
    }

    #[test]
    fn names_the_most_likely_cause() {
        let now = 1_000_000;
        let expired = explain_unauthorized(Some(&claims(AUD, now - 3600)), AUD, now, "");
        assert!(expired.contains("token expired at 1970-01-12"), "{expired}");
        assert!(expired.contains("60 min ago"), "{expired}");
        let other_hub = claims("https://x.webpubsub.azure.com/client/hubs/ops", now + 60);
        let wrong_hub = explain_unauthorized(Some(&other_hub), AUD, now, "");
        assert!(
            wrong_hub.contains("token is for hub 'ops', not 'chat'"),
            "{wrong_hub}"
        );
        let fine = claims("HTTPS://x.webpubsub.azure.com/client/hubs/chat/", now + 60);
        let signature = explain_unauthorized(Some(&fine), AUD, now, "Unauthorized\n");
        assert!(
            signature.contains("bad signature — check the access key"),
            "{signature}"
        );
        assert!(
            signature.ends_with("(service said: Unauthorized)"),
            "{signature}"
        );
        assert!(explain_unauthorized(None, AUD, now, "").contains("no readable access token"));
    }

    #[test]
    fn never_repeats_a_token_from_the_body() {
        let body = "bad token eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln in access_token=abc";
        let line = explain_unauthorized(None, AUD, 0, body);
        assert!(!line.contains("eyJhdWQ") && !line.contains("abc"), "{line}");
    }
}
