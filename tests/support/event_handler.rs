//! An app server's event handler, written in the test: an axum app that records every call
//! and answers like the docs' echo handler (abuse protection allowed, `connect` accepted,
//! user events echoed) unless a test's `respond` says otherwise.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;
use wpchat::service::upstream::{self, UpstreamSettings};
use wpchat::service::{self, RunningService, ServiceConfig};

/// One call the handler received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `ce-type`'s last part: `connect`, `message`, …
    pub fn event(&self) -> &str {
        self.header("ce-eventName").unwrap_or_default()
    }

    pub fn connection_id(&self) -> &str {
        self.header("ce-connectionId").unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the call's body is JSON")
    }

    pub fn is_event(&self) -> bool {
        self.method == Method::POST
    }
}

/// What the handler answers.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn with(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type", content_type.to_string())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn json(value: serde_json::Value) -> Self {
        Reply::with("application/json", value.to_string())
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Respond = Arc<dyn Fn(&Call) -> Option<Reply> + Send + Sync>;

struct State {
    calls: Mutex<Vec<Call>>,
    arrived: Notify,
    respond: Respond,
}

/// A running event handler; stops when dropped.
pub struct EventHandler {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EventHandler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The docs' echo handler: abuse protection allowed for any origin, `connect` accepted
/// (204), system events 204, user events echoed (`message` text as `echo: <text>`).
pub fn echo(call: &Call) -> Reply {
    if call.method != Method::POST {
        return Reply::status(200).header("WebHook-Allowed-Origin", "*");
    }
    let content_type = call
        .header("content-type")
        .unwrap_or("application/octet-stream");
    match call.event() {
        "connect" | "connected" | "disconnected" => Reply::status(204),
        "message" if content_type == "text/plain" => Reply::with(
            "text/plain",
            format!("echo: {}", String::from_utf8_lossy(&call.body)),
        ),
        _ => Reply::with(content_type, call.body.to_vec()),
    }
}

impl EventHandler {
    /// The echo handler.
    pub async fn start() -> Self {
        Self::start_with(|_| None).await
    }

    /// A handler answering with `respond`'s reply, else as `echo`.
    pub async fn start_with(
        respond: impl Fn(&Call) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        let state = Arc::new(State {
            calls: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            respond: Arc::new(respond),
        });
        let app = Router::new().fallback({
            let state = state.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { answer(&state, method, uri, headers, body).await }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EventHandler { addr, state, task }
    }

    /// `http://127.0.0.1:P/eventhandler/{hub}/{event}`
    pub fn template(&self) -> String {
        format!("http://{}/eventhandler/{{hub}}/{{event}}", self.addr)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The POSTs (events) so far.
    pub fn events(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_event).collect()
    }

    /// The names of the events `connection_id` caused so far, in arrival order.
    pub fn event_names(&self, connection_id: &str) -> Vec<String> {
        self.events()
            .iter()
            .filter(|c| c.connection_id() == connection_id)
            .map(|c| c.event().to_string())
            .collect()
    }

    /// Waits (bounded) until `enough` holds for the calls so far, and returns them.
    pub async fn wait_for(&self, enough: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let arrived = self.state.arrived.notified();
                let calls = self.calls();
                if enough(&calls) {
                    return calls;
                }
                arrived.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the handler calls never matched: {:#?}", self.calls()))
    }

    /// Waits until the handler has seen event `event` for `connection_id`; returns that call.
    pub async fn wait_event(&self, connection_id: &str, event: &str) -> Call {
        let calls = self
            .wait_for(|calls| {
                calls.iter().any(|c| {
                    c.is_event() && c.connection_id() == connection_id && c.event() == event
                })
            })
            .await;
        calls
            .into_iter()
            .find(|c| c.is_event() && c.connection_id() == connection_id && c.event() == event)
            .unwrap()
    }
}

async fn answer(
    state: &State,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        method,
        path: uri.path().to_string(),
        headers,
        body,
    };
    let reply = (state.respond)(&call).unwrap_or_else(|| echo(&call));
    state.calls.lock().unwrap().push(call);
    state.arrived.notify_waiters();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// The service on 127.0.0.1:0 with `upstream`'s handlers.
pub async fn serve_settings(upstream: UpstreamSettings) -> RunningService {
    service::start(ServiceConfig {
        host: "127.0.0.1".into(),
        port: 0,
        upstream,
        ..ServiceConfig::default()
    })
    .await
    .expect("service starts")
}

/// The service with `handler` taking every event of every hub.
pub async fn serve(handler: &EventHandler) -> RunningService {
    serve_settings(every_hub(handler)).await
}

/// `handler` taking every event of every hub, invoke requests included (`--upstream-invoke`).
pub fn every_hub(handler: &EventHandler) -> UpstreamSettings {
    UpstreamSettings {
        invoke: true,
        ..UpstreamSettings::for_all_hubs(
            upstream::EventHandler::all_events(&handler.template()).unwrap(),
        )
    }
}

/// An `event` request with an ackId.
pub fn event(name: &str, data_type: &str, data: Value, ack_id: u64) -> Value {
    json!({"type": "event", "event": name, "dataType": data_type, "data": data, "ackId": ack_id})
}

/// Asserts `ack` is the `InternalServerError` ack of `ack_id`.
pub fn failed_ack(ack: &Value, ack_id: u64) {
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["ackId"], ack_id, "{ack}");
    assert_eq!(ack["success"], false, "{ack}");
    assert_eq!(ack["error"]["name"], "InternalServerError", "{ack}");
}
