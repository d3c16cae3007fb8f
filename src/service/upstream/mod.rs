//! Event handlers ("upstream"): the service POSTs CloudEvents to an app server for `connect`
//! (which may refuse the client or set its user, roles, groups and subprotocol),
//! `connected`, `disconnected` and every user event, and hands the handler's reply back to
//! the client (shared/upstream.md, U1–U21).
//!
//! Choices where the public material leaves room, kept here: a handler's groups replace the
//! token's (as the emulator); no retries (a failed call fails once); `WebHook-Request-Origin`
//! is the service's host without port; a reply is read up to 16 MiB; `connected` and
//! `disconnected` are sent in the background and never block the client.
//!
//! Layout: `settings` (handlers per hub, URL templates, matching), `abuse` (the validation
//! handshake and its cache), `cloud_event` (headers, signature, request and reply bodies),
//! `link` (one connection's events: ids, state, `disconnected` when it ends).

mod abuse;
mod cloud_event;
mod connect;
mod link;
mod settings;
mod settings_file;

use std::sync::Arc;

use axum::http::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

pub(crate) use cloud_event::{ConnectRequest, ConnectResponse, reply_payload};
pub(crate) use connect::{Opening, connect};
pub(crate) use link::{EventFailed, Link};
pub use settings::{
    DEFAULT_HUB, DEFAULT_UPSTREAM_TIMEOUT, EMULATOR_RETRY_DELAYS, EventHandler, EventPattern,
    SettingsError, SystemEvent, UpstreamSettings,
};

pub use settings_file::parse_settings_file;

use abuse::{Validations, Validator};
use cloud_event::{CONNECTION_STATE, EventSubject, event_type, headers, media_type};
use settings::{EventKind, shown_url};

/// A URL template as logs and the banner show it (a `?code=` key blanked).
pub fn shown_template(template: &str) -> String {
    shown_url(template)
}

/// The largest handler reply read.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// The service's event handler client: settings, one HTTP client, validation state.
#[derive(Debug)]
pub(crate) struct Upstream {
    settings: UpstreamSettings,
    client: reqwest::Client,
    /// `WebHook-Request-Origin`: our host name, without port.
    origin: String,
    access_key: String,
    validations: Validations,
}

/// A handler's reply that was 2xx.
struct Reply {
    media_type: Option<String>,
    body: Vec<u8>,
    /// `ce-connectionState` of the reply, if it set one.
    connection_state: Option<String>,
}

/// Why a call did not yield a 2xx reply. The text may reach the client (an ack's message, a
/// close reason, a refused upgrade), so it never holds the handler's URL or reply body.
enum CallError {
    /// The handler answered with this non-2xx status.
    Status(StatusCode),
    /// Validation failed, or the reply was unusable.
    Failed(String),
    /// The call did not get through or timed out (worth a retry, U20).
    Network(String),
}

impl CallError {
    fn describe(&self) -> String {
        match self {
            CallError::Status(status) => format!("the event handler answered HTTP {status}"),
            CallError::Failed(why) | CallError::Network(why) => why.clone(),
        }
    }

    /// Worth retrying with the same `ce-id`: 408, a 5xx or a network error; never another
    /// 4xx (429 included) or an unusable reply.
    fn is_transient(&self) -> bool {
        match self {
            CallError::Status(status) => {
                *status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
            }
            CallError::Network(_) => true,
            CallError::Failed(_) => false,
        }
    }
}

/// A `connect` the handler accepted.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    pub(crate) response: ConnectResponse,
    pub(crate) connection_state: Option<String>,
}

/// A `connect` the handler (or a failed call) refused: the upgrade fails with this status.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) reason: String,
}

impl Upstream {
    pub(crate) fn takes_invoke(&self) -> bool {
        self.settings.invoke
    }

    pub(crate) fn new(settings: UpstreamSettings, origin: String, access_key: String) -> Self {
        Upstream {
            settings,
            client: reqwest::Client::new(),
            origin,
            access_key,
            validations: Validations::default(),
        }
    }

    pub(crate) fn is_configured(&self) -> bool {
        !self.settings.is_empty()
    }

    /// Validates every handler of `hub` now: (URL template, outcome), for the banner.
    pub(crate) async fn check_handlers(&self, hub: &str) -> Vec<(String, Result<(), String>)> {
        let mut outcomes = Vec::new();
        for handler in self.handlers_for(hub) {
            let outcome = self.validate(handler, hub).await;
            outcomes.push((shown_url(&handler.url_template), outcome));
        }
        outcomes
    }

    fn handlers_for(&self, hub: &str) -> Vec<&EventHandler> {
        let mut found: Vec<&EventHandler> = Vec::new();
        for (name, handlers) in &self.settings.hubs {
            if name.eq_ignore_ascii_case(hub) || name == DEFAULT_HUB {
                found.extend(handlers.iter());
            }
        }
        found
    }

    async fn validate(&self, handler: &EventHandler, hub: &str) -> Result<(), String> {
        let validator = Validator {
            client: &self.client,
            origin: &self.origin,
            timeout: self.settings.validation_timeout,
            max_backoff: self.settings.validation_max_backoff,
        };
        self.validations
            .check(&handler.url(hub, "validate"), &validator)
            .await
    }

    /// Calls the handler of `event` (validating it first), retrying a transient failure after
    /// each of the configured pauses with the same `ce-id`; `Ok(None)` when no handler takes it.
    async fn call(
        &self,
        subject: &EventSubject<'_>,
        event: EventKind<'_>,
        ce_id: u64,
        body: (&str, Vec<u8>),
    ) -> Result<Option<Reply>, CallError> {
        let mut pauses = self.settings.retry_delays.iter();
        loop {
            let outcome = self
                .call_once(subject, event, ce_id, (body.0, body.1.clone()))
                .await;
            match (outcome, pauses.next()) {
                (Err(error), Some(pause)) if error.is_transient() => {
                    tracing::info!(connection_id = subject.connection_id, ce_id, why = %error.describe(), "retrying the event handler call in {pause:?}");
                    tokio::time::sleep(*pause).await;
                }
                (outcome, _) => return outcome,
            }
        }
    }

    /// One call of the handler of `event`.
    async fn call_once(
        &self,
        subject: &EventSubject<'_>,
        event: EventKind<'_>,
        ce_id: u64,
        (content_type, body): (&str, Vec<u8>),
    ) -> Result<Option<Reply>, CallError> {
        let (name, system) = match event {
            EventKind::System(system) => (system.name(), true),
            EventKind::User(name) => (name, false),
        };
        let Some(handler) = self.settings.find(subject.hub, event) else {
            return Ok(None);
        };
        // The reason (with the handler's URL) is logged by the validation; clients only
        // learn that the handler is not usable.
        self.validate(handler, subject.hub).await.map_err(|_| {
            CallError::Failed("the event handler has not passed its abuse-protection check".into())
        })?;
        let url = handler.url(subject.hub, name);
        let ce_type = event_type(system, name);
        let shown = shown_url(&url);
        tracing::debug!(url = %shown, %ce_type, connection_id = subject.connection_id, ce_id, "calling the event handler");
        let request = self
            .client
            .post(&url)
            .headers(headers(
                subject,
                &ce_type,
                name,
                ce_id,
                &self.origin,
                &self.access_key,
            ))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .timeout(self.settings.timeout);
        let failed = |error: reqwest::Error| {
            let what = if error.is_timeout() {
                "timed out"
            } else {
                "failed"
            };
            tracing::info!(url = %shown, %ce_type, error = %error.without_url(), "the event handler call {what}");
            CallError::Network(format!("the call to the event handler {what}"))
        };
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        if !status.is_success() {
            tracing::info!(url = %shown, %status, %ce_type, "the event handler refused an event");
            return Err(CallError::Status(
                StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ));
        }
        let reply_headers: HeaderMap = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(CallError::Failed(format!(
                    "the event handler's reply is over {MAX_REPLY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(Reply {
            media_type: media_type(&reply_headers),
            body,
            connection_state: reply_headers
                .get(CONNECTION_STATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }))
    }

    /// The `connect` event: accepted (maybe with changes), or refused with an HTTP status.
    pub(crate) async fn connect(
        &self,
        hub: &str,
        connection_id: &str,
        user_id: Option<&str>,
        request: &ConnectRequest,
    ) -> Result<Accepted, Refused> {
        let subject = EventSubject {
            hub,
            connection_id,
            user_id,
            subprotocol: None,
            connection_state: None,
        };
        let body = serde_json::to_vec(request).unwrap_or_default();
        let event = EventKind::System(SystemEvent::Connect);
        let refused = |status: StatusCode, reason: String| {
            tracing::info!(%hub, connection_id, %status, %reason, "the event handler refused a connect");
            Refused { status, reason }
        };
        let reply = match self
            .call(&subject, event, 0, ("application/json", body))
            .await
        {
            Ok(None) => return Ok(Accepted::default()),
            Ok(Some(reply)) => reply,
            Err(CallError::Status(status)) => {
                return Err(refused(
                    status,
                    format!("The event handler refused the connection (HTTP {status})."),
                ));
            }
            Err(failure) => {
                return Err(refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "The event handler could not decide on the connection: {}",
                        failure.describe()
                    ),
                ));
            }
        };
        let response = ConnectResponse::parse(&reply.body)
            .map_err(|why| refused(StatusCode::INTERNAL_SERVER_ERROR, why))?;
        if let Some(chosen) = &response.subprotocol
            && !request.subprotocols.iter().any(|offered| offered == chosen)
        {
            return Err(refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "The event handler chose subprotocol '{chosen}', which the client did not offer."
                ),
            ));
        }
        Ok(Accepted {
            response,
            connection_state: reply.connection_state,
        })
    }
}

/// Starts the event handler client for a service at `host` signing with `access_key`.
pub(crate) fn start(settings: UpstreamSettings, host: &str, access_key: &str) -> Arc<Upstream> {
    let origin = match host {
        "" | "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
        other => other,
    };
    Arc::new(Upstream::new(
        settings,
        origin.to_string(),
        access_key.to_string(),
    ))
}
