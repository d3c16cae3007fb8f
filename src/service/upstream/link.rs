//! One accepted connection's side of the event handler: its CloudEvents ids, its connection
//! state, the `connected` call, user events, and `disconnected` once the connection is gone
//! for good: exactly once, when the socket code says it ended, or at the latest when the
//! last holder of the link lets go of it; never for a rejected connect, which makes no link.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::cloud_event::{EventSubject, event_body, reply_payload};
use super::settings::{EventKind, SystemEvent};
use super::{CallError, Reply, Upstream};
use crate::protocol::Payload;

/// A connection's event handler context.
#[derive(Debug)]
pub(crate) struct Link {
    upstream: Arc<Upstream>,
    hub: String,
    connection_id: String,
    user_id: Option<String>,
    /// The subprotocol negotiated, if any (`ce-subprotocol`).
    subprotocol: Option<String>,
    connection_state: Mutex<Option<String>>,
    /// `ce-id`: 0 was the connect; later events count up.
    next_id: AtomicU64,
    /// Whether `disconnected` has been sent (or is on its way).
    ended: AtomicBool,
}

/// Why a user event got no usable reply; the text is for the ack's error message and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventFailed(pub(crate) String);

impl Link {
    pub(crate) fn new(
        upstream: Arc<Upstream>,
        hub: &str,
        connection_id: &str,
        user_id: Option<&str>,
        subprotocol: Option<&str>,
        connection_state: Option<String>,
    ) -> Arc<Self> {
        Arc::new(Link {
            upstream,
            hub: hub.to_string(),
            connection_id: connection_id.to_string(),
            user_id: user_id.map(str::to_string),
            subprotocol: subprotocol.map(str::to_string),
            connection_state: Mutex::new(connection_state),
            next_id: AtomicU64::new(1),
            ended: AtomicBool::new(false),
        })
    }

    /// Whether clients' `invoke` requests go to the handler (`--upstream-invoke`).
    pub(crate) fn takes_invoke(&self) -> bool {
        self.upstream.takes_invoke()
    }

    fn state(&self) -> Option<String> {
        self.connection_state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The connection is gone for good: sends `disconnected` with `reason` (once).
    pub(crate) fn ended(self: &Arc<Self>, reason: &str) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let link = self.clone();
        let body = disconnected_body(reason);
        tokio::spawn(async move {
            let ce_id = link.next_id();
            link.system_event(SystemEvent::Disconnected, ce_id, body)
                .await;
        });
    }

    /// Sends `connected` in the background.
    pub(crate) fn connected(self: &Arc<Self>) {
        let link = self.clone();
        let id = self.next_id();
        tokio::spawn(async move {
            link.system_event(SystemEvent::Connected, id, b"{}".to_vec())
                .await;
        });
    }

    /// One call with this connection's headers and its current state.
    async fn call(
        &self,
        event: EventKind<'_>,
        ce_id: u64,
        body: (&str, Vec<u8>),
    ) -> Result<Option<Reply>, CallError> {
        let state = self.state();
        let subject = EventSubject {
            hub: &self.hub,
            connection_id: &self.connection_id,
            user_id: self.user_id.as_deref(),
            subprotocol: self.subprotocol.as_deref(),
            connection_state: state.as_deref(),
        };
        self.upstream.call(&subject, event, ce_id, body).await
    }

    async fn system_event(&self, event: SystemEvent, ce_id: u64, body: Vec<u8>) {
        let call = self
            .call(EventKind::System(event), ce_id, ("application/json", body))
            .await;
        if let Err(error) = call {
            tracing::info!(hub = %self.hub, connection_id = %self.connection_id, event = event.name(), why = %error.describe(), "the event handler did not take a system event");
        }
    }

    /// Calls the handler of user event `event`; the reply's payload, if it has one.
    pub(crate) async fn user_event(
        &self,
        event: &str,
        data: &Payload,
    ) -> Result<Option<Payload>, EventFailed> {
        let call = self
            .call(EventKind::User(event), self.next_id(), event_body(data))
            .await;
        let reply = match call {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                return Err(EventFailed(format!(
                    "no event handler of hub '{}' takes event '{event}'",
                    self.hub
                )));
            }
            Err(error) => return Err(EventFailed(error.describe())),
        };
        let payload =
            reply_payload(reply.media_type.as_deref(), reply.body).map_err(EventFailed)?;
        if let Some(state) = reply.connection_state {
            *self
                .connection_state
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(state);
        }
        Ok(payload)
    }
}

fn disconnected_body(reason: &str) -> Vec<u8> {
    serde_json::json!({ "reason": reason })
        .to_string()
        .into_bytes()
}

impl Drop for Link {
    /// The fallback for an end no socket saw (a detached session closed by REST).
    fn drop(&mut self) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let link = Link {
            upstream: self.upstream.clone(),
            hub: std::mem::take(&mut self.hub),
            connection_id: std::mem::take(&mut self.connection_id),
            user_id: self.user_id.take(),
            subprotocol: self.subprotocol.take(),
            connection_state: Mutex::new(self.state()),
            next_id: AtomicU64::new(self.next_id()),
            ended: AtomicBool::new(true),
        };
        runtime.spawn(async move {
            let ce_id = link.next_id();
            link.system_event(SystemEvent::Disconnected, ce_id, disconnected_body(""))
                .await;
        });
    }
}
