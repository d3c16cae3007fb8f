//! Invocations (`Command::Invoke`): one `invoke` frame, then the `invokeResponse` with the same
//! id, or a timeout (which sends `cancelInvocation`), a cancel, or the link dropping. An
//! invocation is not retried or queued: the handler may already have acted on it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Engine;
use crate::client::{Event, OpError, OpId};
use crate::protocol::{ClientMessage, Invoke, InvokeResponse, Payload, validate_event_name};

/// The invocations waiting for their response.
#[derive(Default)]
pub(super) struct Invocations {
    /// invocationId → (op, deadline, how long it may take)
    waiting: HashMap<String, (OpId, Instant, Duration)>,
    next_id: u64,
}

impl Invocations {
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiting.values().map(|(_, at, _)| *at).min()
    }
}

impl Engine {
    /// Sends an `invoke` of `event`; its end comes as `Event::InvokeResult`.
    pub(super) async fn invoke(
        &mut self,
        op: OpId,
        event: String,
        payload: Payload,
        timeout: Option<Duration>,
    ) {
        let refused = if let Err(error) = validate_event_name(&event) {
            Some(format!("cannot invoke: {error}"))
        } else if self.protocol().is_protobuf() {
            Some("invoke needs a JSON subprotocol (--protocol json or json.reliable)".into())
        } else if !self.link_usable() {
            Some("not connected: an invocation is not queued; try again once connected".into())
        } else {
            None
        };
        if let Some(why) = refused {
            self.invoke_failed(op, OpError::Invalid(why));
            return;
        }
        self.invocations.next_id += 1;
        let invocation_id = self.invocations.next_id.to_string();
        let timeout = timeout.unwrap_or(self.config.ack_timeout);
        self.invocations.waiting.insert(
            invocation_id.clone(),
            (op, Instant::now() + timeout, timeout),
        );
        let request = ClientMessage::Invoke(Invoke {
            invocation_id,
            event,
            data: payload,
        });
        self.write(&request).await;
    }

    /// Stops waiting for `op`'s invocation and tells the service.
    pub(super) async fn cancel_invocation(&mut self, op: OpId) {
        let Some(invocation_id) = self.invocation_of(op) else {
            return;
        };
        self.invocations.waiting.remove(&invocation_id);
        self.write(&ClientMessage::CancelInvocation { invocation_id })
            .await;
        self.invoke_failed(op, OpError::Invalid("cancelled".into()));
    }

    /// The service answered an invocation.
    pub(super) fn invoke_response(&mut self, response: InvokeResponse) {
        match self.invocations.waiting.remove(&response.invocation_id) {
            Some((op, ..)) => self.emit(Event::InvokeResult {
                op,
                outcome: Ok(response),
            }),
            None => {
                tracing::debug!(invocation_id = %response.invocation_id, "response for no waiting invocation ignored")
            }
        }
    }

    /// Invocations past their deadline fail with `Timeout` and are cancelled on the service.
    pub(super) async fn expire_invocations(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .invocations
            .waiting
            .iter()
            .filter(|(_, (_, at, _))| *at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for invocation_id in expired {
            if let Some((op, _, waited)) = self.invocations.waiting.remove(&invocation_id) {
                self.write(&ClientMessage::CancelInvocation { invocation_id })
                    .await;
                self.invoke_failed(op, OpError::Timeout(waited));
            }
        }
    }

    /// The link dropped (or the engine stops): no response can come any more.
    pub(super) fn invocations_lost(&mut self, error: &OpError) {
        let waiting: Vec<OpId> = self
            .invocations
            .waiting
            .drain()
            .map(|(_, (op, ..))| op)
            .collect();
        for op in waiting {
            self.invoke_failed(op, error.clone());
        }
    }

    fn invocation_of(&self, op: OpId) -> Option<String> {
        self.invocations
            .waiting
            .iter()
            .find(|(_, (waiting, ..))| *waiting == op)
            .map(|(id, _)| id.clone())
    }

    fn invoke_failed(&mut self, op: OpId, error: OpError) {
        self.emit(Event::InvokeResult {
            op,
            outcome: Err(error),
        });
    }
}
