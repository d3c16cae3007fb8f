//! Admission: whether a client upgrade request may open or recover a connection, decided from
//! the request alone. It is pure (no I/O, no clock, no registry): it runs before any hub or
//! connection exists, so a refused request leaves no trace in the service's state.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::session::ClientKind;
use crate::auth::token::{self, ALLOWED_SKEW_SECS, Claims, TokenError};
use crate::protocol::{Subprotocol, validate_group_name};

/// The parts of a `GET /client/…` request admission looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpgradeRequest<'a> {
    /// The hub from `/client/hubs/{hub}`, if the request used that path.
    pub(crate) path_hub: Option<&'a str>,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    /// Why the request is not a WebSocket upgrade, when it is not one.
    pub(crate) not_upgrade: Option<&'a str>,
}

/// What admission checks a request against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate<'a> {
    pub(crate) access_key: &'a str,
    pub(crate) allow_anonymous: bool,
    /// Signs this service run's reconnection tokens.
    pub(crate) reconnection_secret: &'a str,
    /// Unix seconds.
    pub(crate) now: i64,
}

/// What a simple client's frames do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SimpleMode {
    /// Each frame is the user event `message`; there is no upstream here, so the first one
    /// closes the connection.
    SendEvent,
    SendToGroup {
        group: String,
        no_echo: bool,
    },
}

/// An admitted request: the socket may be upgraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// As the client wrote it (the registry compares hub names case-insensitively).
    pub(crate) hub: String,
    pub(crate) subprotocol: Option<Subprotocol>,
    pub(crate) kind: ClientKind,
    pub(crate) purpose: Purpose,
}

/// What the upgraded socket is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A new connection with the token's claims.
    Open { claims: Claims, mode: SimpleMode },
    /// Recovery of a reliable session whose reconnection token checked out; whether the
    /// session still exists is known only to the hub.
    Recover { connection_id: String },
    /// A recovery refused from the request alone. Upgraded, then closed with 1008 and this
    /// reason (protocol.md §12), so the client's SDK sees why.
    RefuseRecovery { reason: &'static str },
}

/// A refused request: an HTTP status and a plain-text reason the client shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) reason: String,
}

impl Rejection {
    fn bad_request(reason: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }

    fn unauthorized(reason: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::UNAUTHORIZED,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_upgrade(detail: &str) -> Self {
        Self::bad_request(format!("expected a WebSocket upgrade request: {detail}"))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.reason).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Decides a client upgrade request. Checks run in the order a client fixes them: the hub,
/// the upgrade itself, then (for a recovery) the reconnection token, else the access token,
/// the groups it names and the simple-client mode.
pub(crate) fn admit(request: &UpgradeRequest<'_>, gate: &Gate<'_>) -> Result<Admitted, Rejection> {
    let query = ClientQuery::parse(request.query);
    let hub = request
        .path_hub
        .map(str::to_string)
        .or_else(|| query.hub.clone())
        .ok_or_else(|| {
            Rejection::bad_request(
                "no hub given: connect to /client/hubs/{hub} or /client/?hub={hub}",
            )
        })?;
    check_hub_name(&hub).map_err(Rejection::bad_request)?;
    if let Some(detail) = request.not_upgrade {
        return Err(Rejection::not_upgrade(detail));
    }
    let subprotocol = choose_subprotocol(request.headers);
    let kind = ClientKind::from_subprotocol(subprotocol);
    let purpose = match &query.connection_id {
        Some(connection_id) => recovery(&query, connection_id, kind, gate),
        None => {
            let claims = access_claims(request, &query, &hub, gate)?;
            let mode = simple_mode(&query, kind)?;
            Purpose::Open { claims, mode }
        }
    };
    Ok(Admitted {
        hub,
        subprotocol,
        kind,
        purpose,
    })
}

/// Hub names: a letter, then up to 127 of letters, digits and `` _`,.[] `` (server SDK rule).
pub(crate) fn check_hub_name(hub: &str) -> Result<(), String> {
    let mut chars = hub.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && hub.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_`,.[]".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "hub name '{hub}' is not valid: start with a letter, then letters, digits or _ (128 at most)"
        ))
    }
}

/// The `Authorization: Bearer` token, if the request carries one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `Host` header, as the token audience names it.
pub(crate) fn host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
}

/// The query parameters a client URL may carry.
#[derive(Debug, Default)]
struct ClientQuery {
    access_token: Option<String>,
    hub: Option<String>,
    connection_id: Option<String>,
    reconnection_token: Option<String>,
    mode: Option<String>,
    groups: Vec<String>,
    no_echo: bool,
}

impl ClientQuery {
    fn parse(query: Option<&str>) -> Self {
        let mut parsed = ClientQuery::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "access_token" => parsed.access_token = Some(value),
                "hub" => parsed.hub = Some(value),
                "awps_connection_id" => parsed.connection_id = Some(value),
                "awps_reconnection_token" => parsed.reconnection_token = Some(value),
                "webpubsub_mode" => parsed.mode = Some(value),
                "group" => parsed.groups.push(value),
                "noEcho" => parsed.no_echo = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        parsed
    }
}

fn choose_subprotocol(headers: &HeaderMap) -> Option<Subprotocol> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(Subprotocol::from_name)
}

fn recovery(
    query: &ClientQuery,
    connection_id: &str,
    kind: ClientKind,
    gate: &Gate<'_>,
) -> Purpose {
    let token = query.reconnection_token.as_deref().unwrap_or_default();
    if kind == ClientKind::Protobuf {
        Purpose::RefuseRecovery {
            reason: "Recovery needs the protobuf.reliable.webpubsub.azure.v1 subprotocol.",
        }
    } else if !kind.is_reliable() {
        Purpose::RefuseRecovery {
            reason: "Recovery needs the json.reliable.webpubsub.azure.v1 subprotocol.",
        }
    } else if token::verify(token, gate.reconnection_secret, connection_id, gate.now, 0).is_err() {
        Purpose::RefuseRecovery {
            reason: "The reconnection token is not valid for this connection.",
        }
    } else {
        Purpose::Recover {
            connection_id: connection_id.to_string(),
        }
    }
}

/// The claims of the request's access token (query first, then the Authorization header).
fn access_claims(
    request: &UpgradeRequest<'_>,
    query: &ClientQuery,
    hub: &str,
    gate: &Gate<'_>,
) -> Result<Claims, Rejection> {
    let token = query
        .access_token
        .as_deref()
        .or_else(|| bearer(request.headers));
    let claims = match token {
        Some(token) => verify_client_token(token, host(request.headers), hub, gate)
            .map_err(|error| Rejection::unauthorized(error.to_string()))?,
        None if gate.allow_anonymous => Claims::default(),
        None => {
            return Err(Rejection::unauthorized(
                "no access token: pass access_token in the query or an Authorization: Bearer header",
            ));
        }
    };
    for group in &claims.groups {
        validate_group_name(group).map_err(|error| {
            Rejection::bad_request(format!(
                "the token's webpubsub.group claim holds an invalid group name: {error}"
            ))
        })?;
    }
    Ok(claims)
}

/// Verifies a client token whose audience is this hub's client URL, over http or https; a
/// wrong audience is reported against the http one.
fn verify_client_token(
    token: &str,
    host: &str,
    hub: &str,
    gate: &Gate<'_>,
) -> Result<Claims, TokenError> {
    let http = format!("http://{host}/client/hubs/{hub}");
    let verify =
        |aud: &str| token::verify(token, gate.access_key, aud, gate.now, ALLOWED_SKEW_SECS);
    match verify(&http) {
        Err(TokenError::Audience { .. }) => verify(&format!("https://{host}/client/hubs/{hub}"))
            .map_err(|error| match error {
                TokenError::Audience { token, .. } => TokenError::Audience {
                    token,
                    expected: http,
                },
                other => other,
            }),
        other => other,
    }
}

fn simple_mode(query: &ClientQuery, kind: ClientKind) -> Result<SimpleMode, Rejection> {
    if kind != ClientKind::Simple {
        return Ok(SimpleMode::SendEvent);
    }
    match query.mode.as_deref() {
        None | Some("sendEvent") => Ok(SimpleMode::SendEvent),
        Some("sendToGroup") => {
            let [group] = query.groups.as_slice() else {
                return Err(Rejection::bad_request(
                    "webpubsub_mode=sendToGroup needs exactly one group=<name> parameter",
                ));
            };
            validate_group_name(group)
                .map_err(|error| Rejection::bad_request(format!("invalid group: {error}")))?;
            Ok(SimpleMode::SendToGroup {
                group: group.clone(),
                no_echo: query.no_echo,
            })
        }
        Some(other) => Err(Rejection::bad_request(format!(
            "webpubsub_mode '{other}' is not one of sendEvent, sendToGroup"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
    const SECRET: &str = "reconnection secret";
    const NOW: i64 = 1_000_000;

    fn gate() -> Gate<'static> {
        Gate {
            access_key: KEY,
            allow_anonymous: false,
            reconnection_secret: SECRET,
            now: NOW,
        }
    }

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    fn token(aud: &str, exp: i64, key: &str) -> String {
        token::mint(
            &Claims {
                aud: aud.into(),
                exp,
                sub: Some("alice".into()),
                ..Claims::default()
            },
            key,
        )
    }

    fn admit_query(query: &str, headers: &HeaderMap) -> Result<Admitted, Rejection> {
        admit(
            &UpgradeRequest {
                path_hub: Some("chat"),
                query: Some(query),
                headers,
                not_upgrade: None,
            },
            &gate(),
        )
    }

    #[test]
    fn hub_names_follow_the_sdk_rule() {
        assert!(check_hub_name("chat").is_ok());
        assert!(check_hub_name("Chat_1.[x]").is_ok());
        for bad in ["1chat", "", "a/b", &"a".repeat(129)] {
            let error = check_hub_name(bad).unwrap_err();
            assert!(error.contains("start with a letter"), "{error}");
        }
    }

    #[test]
    fn query_keeps_every_group_and_the_recovery_params() {
        let q = ClientQuery::parse(Some(
            "hub=Chat&group=a&group=b&awps_connection_id=c1&awps_reconnection_token=t&noEcho=true",
        ));
        assert_eq!(q.hub.as_deref(), Some("Chat"));
        assert_eq!(q.groups, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(q.connection_id.as_deref(), Some("c1"));
        assert_eq!(q.reconnection_token.as_deref(), Some("t"));
        assert!(q.no_echo);
    }

    #[test]
    fn the_first_supported_subprotocol_offered_wins() {
        let offered = headers(&[(
            header::SEC_WEBSOCKET_PROTOCOL,
            "custom.v1, Protobuf.WebPubSub.Azure.v1, json.reliable.webpubsub.azure.v1",
        )]);
        assert_eq!(choose_subprotocol(&offered), Some(Subprotocol::Protobuf));
        let offered = headers(&[(
            header::SEC_WEBSOCKET_PROTOCOL,
            "custom.v1, JSON.reliable.webpubsub.azure.v1, protobuf.webpubsub.azure.v1",
        )]);
        assert_eq!(
            choose_subprotocol(&offered),
            Some(Subprotocol::JsonReliable)
        );
        assert_eq!(choose_subprotocol(&HeaderMap::new()), None);
    }

    #[test]
    fn a_valid_token_is_admitted_with_its_claims() {
        let host = headers(&[(header::HOST, "svc:8080")]);
        let good = token("https://svc:8080/client/hubs/CHAT", NOW + 60, KEY);
        let admitted = admit_query(&format!("access_token={good}"), &host).unwrap();
        assert_eq!(admitted.kind, ClientKind::Simple);
        let Purpose::Open { claims, mode } = admitted.purpose else {
            panic!("expected an open, got {:?}", admitted.purpose);
        };
        assert_eq!(claims.sub.as_deref(), Some("alice"));
        assert_eq!(mode, SimpleMode::SendEvent);
    }

    #[test]
    fn refusals_name_what_was_wrong() {
        let host = headers(&[(header::HOST, "svc:8080")]);
        let aud = "http://svc:8080/client/hubs/chat";
        let cases = [
            (String::new(), "no access token"),
            (
                format!("access_token={}", token(aud, NOW + 60, "another key")),
                "signature does not match the access key",
            ),
            (
                format!("access_token={}", token(aud, NOW - 3600, KEY)),
                "the access token expired at",
            ),
            (
                format!(
                    "access_token={}",
                    token("http://svc:8080/client/hubs/ops", NOW + 60, KEY)
                ),
                "audience 'http://svc:8080/client/hubs/ops' does not match 'http://svc:8080/client/hubs/chat'",
            ),
        ];
        for (query, expected) in cases {
            let rejection = admit_query(&query, &host).unwrap_err();
            assert_eq!(rejection.status, StatusCode::UNAUTHORIZED, "{query}");
            assert!(rejection.reason.contains(expected), "{}", rejection.reason);
        }
    }

    #[test]
    fn a_recovery_is_refused_without_the_reliable_subprotocol_or_a_valid_token() {
        let reliable = headers(&[(
            header::SEC_WEBSOCKET_PROTOCOL,
            "json.reliable.webpubsub.azure.v1",
        )]);
        let valid = token("c1", NOW + 60, SECRET);
        let recover = |headers: &HeaderMap, token: &str| {
            admit_query(
                &format!("awps_connection_id=c1&awps_reconnection_token={token}"),
                headers,
            )
            .unwrap()
            .purpose
        };
        assert_eq!(
            recover(&reliable, &valid),
            Purpose::Recover {
                connection_id: "c1".into()
            }
        );
        assert!(matches!(
            recover(&HeaderMap::new(), &valid),
            Purpose::RefuseRecovery { reason } if reason.contains("json.reliable")
        ));
        assert!(matches!(
            recover(&reliable, &token("c2", NOW + 60, SECRET)),
            Purpose::RefuseRecovery { reason } if reason.contains("not valid for this connection")
        ));
    }

    #[test]
    fn a_simple_client_sending_to_a_group_names_exactly_one() {
        let host = headers(&[(header::HOST, "svc:8080")]);
        let good = token("http://svc:8080/client/hubs/chat", NOW + 60, KEY);
        let query = format!("access_token={good}&webpubsub_mode=sendToGroup");
        let rejection = admit_query(&query, &host).unwrap_err();
        assert_eq!(rejection.status, StatusCode::BAD_REQUEST);
        assert!(
            rejection.reason.contains("exactly one group"),
            "{}",
            rejection.reason
        );
    }
}
