//! The REST data-plane subset the server SDKs use: send to all, a group, a user or a
//! connection; group membership of connections and users; listing a group's connections;
//! closing and checking connections (one, a user's, a group's, all); granting, revoking and
//! checking connection permissions; minting client tokens; and the health check. Callers
//! authenticate with an access-key JWT whose `aud` is the request URL. Other `/api/` routes
//! answer 501, so an SDK call this service lacks fails loudly instead of reading as "not found".
//!
//! Here: errors, the authorization middleware, health and fallbacks. `extract` turns a
//! request's path, query and body into checked values (hub, group, user, payload …), so each
//! handler in `operations` states only what it does.

mod extract;
mod operations;

pub(crate) use extract::payload as body_payload;
pub(crate) use operations::*;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::admission::{bearer, host};
use super::hub::Registry;
use crate::auth::token::{self, ALLOWED_SKEW_SECS, unix_now};

/// The header that tells `probe` this is wpchat's service.
pub(crate) const SERVICE_HEADER: &str = "x-wpchat-service";

/// A REST failure: status plus `{"code", "message"}`.
#[derive(Debug)]
pub(crate) struct RestError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl RestError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        RestError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The message the caller reads.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", message)
    }

    fn not_supported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "NotSupported", message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&ErrorBody {
            code: self.code,
            message: &self.message,
        })
        .unwrap_or_default();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

type RestResult = Result<Response, RestError>;

fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

/// Whether a token's `aud` names this request: scheme http or https, this host, this path
/// (compared percent-decoded and case-insensitively); the query is not compared.
fn audience_matches(aud: &str, host: &str, path: &str) -> bool {
    let aud = aud.split('?').next().unwrap_or(aud);
    let aud = decoded(aud);
    let expected = decoded(&format!("{host}{path}"));
    aud.strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
        .is_some_and(|rest| rest == expected)
}

/// Middleware: every `/api/hubs/…` request needs `Authorization: Bearer <access-key JWT>`.
pub(crate) async fn authorize(
    State(registry): State<Arc<Registry>>,
    request: Request,
    next: Next,
) -> Response {
    match check_auth(&registry, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::info!(path = %request.uri().path(), reason = %error.message, "refused a REST request");
            error.into_response()
        }
    }
}

fn check_auth(registry: &Registry, request: &Request) -> Result<(), RestError> {
    let headers = request.headers();
    let token = bearer(headers).ok_or_else(|| {
        RestError::unauthorized(
            "missing Authorization: Bearer <token>; sign a JWT with the access key, aud = the request URL",
        )
    })?;
    let refused = |error: token::TokenError| RestError::unauthorized(error.to_string());
    let claims = token::decode_unverified(token).map_err(refused)?;
    token::verify(
        token,
        &registry.shared.access_key,
        &claims.aud,
        unix_now(),
        ALLOWED_SKEW_SECS,
    )
    .map_err(refused)?;
    let host = host(headers);
    let path = request.uri().path();
    if !audience_matches(&claims.aud, host, path) {
        return Err(RestError::unauthorized(format!(
            "the access token's audience '{}' does not match the request URL 'http://{host}{path}'",
            claims.aud
        )));
    }
    Ok(())
}

/// `GET|HEAD /api/health`
pub(crate) async fn health() -> Response {
    (
        StatusCode::OK,
        [(SERVICE_HEADER, HeaderValue::from_static("1"))],
    )
        .into_response()
}

/// Any path no route matched: `/api/…` is an operation this service lacks (501), anything
/// else does not exist (404).
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        not_implemented(method, uri).await
    } else {
        RestError::not_found("no such endpoint on the local Web PubSub service").into_response()
    }
}

/// A known path with a method it does not serve.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        not_implemented(method, uri).await
    } else {
        RestError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            message: format!("{method} is not supported on {}", uri.path()),
        }
        .into_response()
    }
}

async fn not_implemented(method: Method, uri: Uri) -> Response {
    tracing::info!(%method, path = %uri.path(), "REST operation not implemented by the local service");
    RestError::not_implemented(format!(
        "{method} {} is not implemented by the local Web PubSub service",
        uri.path()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_the_request_url_without_query() {
        assert!(audience_matches(
            "http://127.0.0.1:8080/api/hubs/chat/:send?api-version=2024-01-01",
            "127.0.0.1:8080",
            "/api/hubs/chat/:send"
        ));
        assert!(audience_matches(
            "https://LOCALHOST:8080/api/hubs/Chat/groups/a%20b/:send",
            "localhost:8080",
            "/api/hubs/chat/groups/a%20b/:send"
        ));
        assert!(!audience_matches(
            "http://127.0.0.1:8080/api/hubs/other/:send",
            "127.0.0.1:8080",
            "/api/hubs/chat/:send"
        ));
        assert!(!audience_matches(
            "http://evil:8080/api/hubs/chat/:send",
            "127.0.0.1:8080",
            "/api/hubs/chat/:send"
        ));
    }
}
