//! Blanking secrets (client tokens, reconnection tokens, access keys) out of free text and URLs,
//! so error messages, status lines and logs can show what went wrong without showing a
//! credential. A leaf: it uses nothing of ours.

/// What a blanked secret is replaced with.
pub(crate) const REDACTED: &str = "***";

/// Keys whose value is a secret wherever they appear as `key=value` (query strings, connection
/// strings, form bodies). Matched case-insensitively.
const SECRET_KEYS: &[&str] = &["access_token", "awps_reconnection_token", "accesskey"];

/// Returns `text` with every secret blanked: the value of `access_token=`,
/// `awps_reconnection_token=` and `AccessKey=` (case-insensitive), the credential after
/// `Bearer `, and any JWT-looking string (three base64url parts, the first a JSON header).
pub(crate) fn redact_secrets(text: &str) -> String {
    let after_keys = blank_key_values(text);
    let after_bearer = blank_bearer(&after_keys);
    blank_jwts(&after_bearer)
}

/// The URL with every secret query parameter's value replaced by `***`.
pub(crate) fn redact_url(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut redacted = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let value = if SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                REDACTED.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    redacted.query_pairs_mut().clear().extend_pairs(pairs);
    redacted.to_string()
}

/// Whether `c` ends a `key=value` value: a query or connection-string separator, whitespace,
/// or a quoting/bracketing character around it.
fn ends_value(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | ';' | '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ','
        )
}

fn blank_key_values(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        let hit = SECRET_KEYS.iter().find_map(|key| {
            let candidate = format!("{key}=");
            let starts_here = lower[index..].starts_with(&candidate);
            // Only a whole key: `xaccess_token=` is someone else's parameter.
            let boundary = text[..index]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            (starts_here && boundary).then_some(candidate.len())
        });
        match hit {
            Some(key_len) => {
                out.push_str(&text[index..index + key_len]);
                index += key_len;
                let value_len = text[index..].find(ends_value).unwrap_or(text.len() - index);
                if value_len > 0 {
                    out.push_str(REDACTED);
                }
                index += value_len;
            }
            None => {
                let Some(c) = text[index..].chars().next() else {
                    break;
                };
                out.push(c);
                index += c.len_utf8();
            }
        }
    }
    out
}

fn blank_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while let Some(found) = lower[index..].find("bearer ") {
        let start = index + found + "bearer ".len();
        out.push_str(&text[index..start]);
        let value_len = text[start..].find(ends_value).unwrap_or(text.len() - start);
        let value = &text[start..start + value_len];
        if looks_like_credential(value) {
            out.push_str(REDACTED);
        } else {
            out.push_str(value);
        }
        index = start + value_len;
    }
    out.push_str(&text[index..]);
    out
}

/// Whether the word after `Bearer ` is a credential rather than prose ("Authorization: Bearer
/// header"): credentials carry digits or punctuation, or are long; a short word of letters only
/// is left alone.
fn looks_like_credential(value: &str) -> bool {
    const LONGEST_WORD: usize = 15;
    !value.is_empty()
        && (value.len() > LONGEST_WORD || value.chars().any(|c| !c.is_ascii_alphabetic()))
}

fn is_base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Whether `part` is base64url JSON naming an `alg`, as every JWT header does.
fn is_jose_header(part: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .is_ok_and(|json| json.starts_with(b"{") && json.windows(5).any(|w| w == b"\"alg\""))
}

/// Blanks runs of `header.payload.signature` where the header is base64url JSON (`eyJ…`, the
/// encoding of `{"`), so host names like `a.b.c` are left alone.
fn blank_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        let preceded_by_b64 = rest[..start].chars().next_back().is_some_and(is_base64url);
        let candidate = &rest[start..];
        let run_len = candidate
            .find(|c: char| !(is_base64url(c) || c == '.'))
            .unwrap_or(candidate.len());
        let run = &candidate[..run_len];
        let parts: Vec<&str> = run.split('.').collect();
        let looks_like_jwt = !preceded_by_b64
            && parts.len() >= 3
            && !parts[1].is_empty()
            && is_jose_header(parts[0]);
        if looks_like_jwt {
            // Three parts are the token; anything after a third dot is ordinary text.
            let jwt_len = parts[0].len() + parts[1].len() + parts[2].len() + 2;
            out.push_str(&rest[..start]);
            out.push_str(REDACTED);
            rest = &candidate[jwt_len..];
        } else {
            out.push_str(&rest[..start + 3]);
            rest = &candidate[3..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl_-";

    #[test]
    fn blanks_query_secrets_and_keeps_the_rest() {
        let text = "GET wss://h/client/hubs/chat?x=1&access_token=abc.def&awps_reconnection_token=r%2B1 failed";
        let shown = redact_secrets(text);
        assert_eq!(
            shown,
            "GET wss://h/client/hubs/chat?x=1&access_token=***&awps_reconnection_token=*** failed"
        );
    }

    #[test]
    fn blanks_access_keys_in_connection_strings_any_case() {
        let shown = redact_secrets("Endpoint=https://x;ACCESSKEY=k3y/+=;Version=1.0;");
        assert_eq!(shown, "Endpoint=https://x;ACCESSKEY=***;Version=1.0;");
    }

    #[test]
    fn blanks_jwts_and_bearer_credentials() {
        let shown = redact_secrets(&format!("token {JWT}. Authorization: Bearer opaque-1"));
        assert_eq!(shown, "token ***. Authorization: Bearer ***");
    }

    #[test]
    fn bearer_followed_by_a_word_is_prose_not_a_credential() {
        let text = "the service's message: Authorization: Bearer header is missing";
        assert_eq!(redact_secrets(text), text);
        assert_eq!(
            redact_secrets("Bearer abcdefghijklmnopqrstuvwxyz"),
            "Bearer ***",
            "a long opaque token is still blanked"
        );
    }

    #[test]
    fn leaves_host_names_and_ordinary_words() {
        let text = "wss://eyJfoo.webpubsub.azure.com/client/hubs/chat said eyJ";
        assert_eq!(redact_secrets(text), text);
        assert_eq!(
            redact_secrets("my_access_token=1"),
            "my_access_token=1",
            "only whole keys"
        );
    }

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
