//! Client access tokens: HS256 JWTs keyed with the UTF-8 bytes of the access key, minted the
//! way the official server SDKs mint them and verified the way the service checks them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The claims of a client token (protocol.md §2). `role` and `webpubsub.group` may be a single
/// string or an array on the wire; both decode to a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Claims {
    pub aud: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(
        default,
        rename = "role",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub roles: Vec<String>,
    #[serde(
        default,
        rename = "webpubsub.group",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub groups: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
        OneOrMany::Null(()) => Vec::new(),
    })
}

/// Why a token was refused. The wording is what a user (or a REST caller) reads: the local
/// service answers a refused handshake or REST call with exactly this text.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token is not a JWT (three base64url parts separated by '.')")]
    Malformed,
    #[error("the access token uses algorithm '{0}'; only HS256 is accepted")]
    Algorithm(String),
    #[error("the access token's signature does not match the access key")]
    Signature,
    #[error("the access token's claims are not valid: {0}")]
    Claims(String),
    #[error("the access token expired at {}", format_time(*.0))]
    Expired(i64),
    #[error("the access token is not valid before {}", format_time(*.0))]
    NotYetValid(i64),
    #[error("the access token's audience '{token}' does not match '{expected}'")]
    Audience { token: String, expected: String },
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A token time (`exp`, `nbf`) as a person reads it: `2026-01-02 03:04:05 UTC`.
pub(crate) fn format_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{unix} (unix seconds)"))
}

/// Clock skew the service allows on `exp`/`nbf` (the emulator's five minutes); the client
/// uses it too, to explain a refusal.
pub(crate) const ALLOWED_SKEW_SECS: i64 = 300;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims` with HS256 using the access key's UTF-8 bytes.
pub fn mint(claims: &Claims, access_key: &str) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{}.{}", B64URL.encode(HEADER), B64URL.encode(payload));
    let signature = sign(signing_input.as_bytes(), access_key);
    format!("{signing_input}.{}", B64URL.encode(signature))
}

fn sign(input: &[u8], key: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

/// The three parts of a compact JWS: header, payload, signature (still base64url).
fn split_parts(token: &str) -> Result<(&str, &str, &str), TokenError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok((header, payload, signature)),
        _ => Err(TokenError::Malformed),
    }
}

fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    B64URL
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)
}

/// Reads a token's claims without checking its signature (to show when it expires).
pub fn decode_unverified(token: &str) -> Result<Claims, TokenError> {
    let (_, payload, _) = split_parts(token)?;
    serde_json::from_slice(&decode_part(payload)?).map_err(|e| TokenError::Claims(e.to_string()))
}

/// Verifies signature, expiry (with `skew_secs` of leeway) and audience (case-insensitive,
/// ignoring a trailing `/`). `now` is unix seconds.
pub fn verify(
    token: &str,
    access_key: &str,
    expected_aud: &str,
    now: i64,
    skew_secs: i64,
) -> Result<Claims, TokenError> {
    let (header, _, signature) = split_parts(token)?;
    let header_json = decode_part(header)?;
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm(header.alg));
    }
    let signing_input_len = token.len() - signature.len() - 1;
    let signature = decode_part(signature)?;
    let mut mac =
        HmacSha256::new_from_slice(access_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(&token.as_bytes()[..signing_input_len]);
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    let claims = decode_unverified(token)?;
    if claims.exp + skew_secs < now {
        return Err(TokenError::Expired(claims.exp));
    }
    if let Some(nbf) = claims.nbf
        && nbf - skew_secs > now
    {
        return Err(TokenError::NotYetValid(nbf));
    }
    let normalize = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    if normalize(&claims.aud) != normalize(expected_aud) {
        return Err(TokenError::Audience {
            token: claims.aud,
            expected: expected_aud.to_string(),
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
    const AUD: &str = "http://localhost:8080/client/hubs/chat";

    fn claims() -> Claims {
        Claims {
            aud: AUD.into(),
            iat: Some(1000),
            exp: 4600,
            sub: Some("alice".into()),
            roles: vec!["webpubsub.joinLeaveGroup".into()],
            ..Claims::default()
        }
    }

    #[test]
    fn minted_tokens_verify() {
        let token = mint(&claims(), KEY);
        assert_eq!(
            verify(
                &token,
                KEY,
                "HTTP://LOCALHOST:8080/client/hubs/chat/",
                2000,
                300
            )
            .unwrap(),
            claims()
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let token = mint(&claims(), KEY);
        assert_eq!(
            verify(&token, "another key of sufficient length....", AUD, 2000, 0),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify(&token, KEY, AUD, 5000, 300),
            Err(TokenError::Expired(4600))
        );
        assert!(matches!(
            verify(
                &token,
                KEY,
                "http://localhost:8080/client/hubs/other",
                2000,
                0
            ),
            Err(TokenError::Audience { .. })
        ));
        assert_eq!(verify("abc", KEY, AUD, 0, 0), Err(TokenError::Malformed));
    }

    #[test]
    fn refusals_read_as_sentences_with_readable_times() {
        assert_eq!(
            TokenError::Expired(0).to_string(),
            "the access token expired at 1970-01-01 00:00:00 UTC"
        );
        assert_eq!(
            TokenError::NotYetValid(86_400).to_string(),
            "the access token is not valid before 1970-01-02 00:00:00 UTC"
        );
        assert_eq!(
            TokenError::Audience {
                token: "http://a/client/hubs/x".into(),
                expected: "http://a/client/hubs/y".into()
            }
            .to_string(),
            "the access token's audience 'http://a/client/hubs/x' does not match 'http://a/client/hubs/y'"
        );
    }

    #[test]
    fn role_and_group_accept_a_string_or_an_array() {
        let one: Claims =
            serde_json::from_str(r#"{"aud":"a","exp":1,"role":"r","webpubsub.group":"g"}"#)
                .unwrap();
        assert_eq!(
            (one.roles, one.groups),
            (vec!["r".to_string()], vec!["g".to_string()])
        );
        let many: Claims = serde_json::from_str(r#"{"aud":"a","exp":1,"role":["r","s"]}"#).unwrap();
        assert_eq!(many.roles, vec!["r".to_string(), "s".to_string()]);
    }
}
