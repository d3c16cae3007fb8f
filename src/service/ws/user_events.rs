//! User events through the event handler: a subprotocol client's `event` request, a simple
//! client's frames. The socket's next frame waits for the reply (per-connection order); the
//! reply reaches the client before the ack; failures are `InternalServerError` acks, or 1011
//! for a simple client. An `invoke` is the same call answered with an `invokeResponse`.

use super::inbound::{SocketContext, ack_error, violation};
use crate::protocol::{
    AckErrorName, Invoke, InvokeResponse, MessageSource, Payload, ServiceMessage, close_code,
    failed_response,
};
use crate::service::session::{CloseCause, Delivery};
use crate::service::upstream::EventFailed;

/// The event name of every frame a simple client sends.
const SIMPLE_CLIENT_EVENT: &str = "message";

impl SocketContext {
    /// Calls the handler for `event`; delivers its reply, if any.
    async fn call_handler(&self, event: &str, data: &Payload) -> Result<(), EventFailed> {
        let Some(link) = self.connection.upstream.get() else {
            return Err(EventFailed("no event handler is configured".into()));
        };
        let reply = link.user_event(event, data).await;
        if let Err(EventFailed(why)) = &reply {
            tracing::info!(hub = %self.hub.name, connection_id = %self.connection.id, %event, %why, "user event failed");
        }
        if let Some(payload) = reply? {
            let delivery = Delivery::new(&MessageSource::Server, payload);
            self.hub
                .fan_out(std::iter::once(&self.connection), &delivery, |_| false);
        }
        Ok(())
    }

    /// A subprotocol client's `event` request.
    pub(super) async fn on_user_event(
        &self,
        event: &str,
        ack_id: Option<u64>,
        data: Payload,
    ) -> Result<(), CloseCause> {
        let Some(ack_id) = ack_id else {
            // Without an ackId a failure is only logged; the connection stays (emulator).
            let _ = self.call_handler(event, &data).await;
            return Ok(());
        };
        if self.connection.is_duplicate(ack_id) {
            return self.send_duplicate(ack_id);
        }
        let outcome = self.call_handler(event, &data).await;
        if outcome.is_ok() {
            self.connection.remember_ack(ack_id);
        }
        self.send(&ServiceMessage::Ack {
            ack_id,
            success: outcome.is_ok(),
            // Handler error bodies are not forwarded; the reason names what failed.
            error: outcome
                .err()
                .map(|EventFailed(why)| ack_error(AckErrorName::InternalServerError, why)),
        })
    }

    /// A subprotocol client's `invoke` (U21, preview, behind `--upstream-invoke`): user event
    /// E through the handler; the reply comes back as the `invokeResponse` (not as a server
    /// message), a failure as `success:false` with `InternalServerError`. The connection
    /// stays either way.
    pub(super) async fn on_invoke(&self, invoke: Invoke) -> Result<(), CloseCause> {
        let refuse = |why: &str| {
            self.send(&ServiceMessage::InvokeResponse(failed_response(
                invoke.invocation_id.clone(),
                why,
            )))
        };
        let Some(link) = self.connection.upstream.get() else {
            return refuse("no event handler is configured on the local service");
        };
        if !link.takes_invoke() {
            return refuse(
                "invoke is a preview the local service passes on only when started with \
                 --upstream-invoke",
            );
        }
        let response = match link.user_event(&invoke.event, &invoke.data).await {
            Ok(data) => InvokeResponse {
                invocation_id: invoke.invocation_id,
                success: true,
                data,
                error: None,
            },
            Err(EventFailed(why)) => {
                tracing::info!(hub = %self.hub.name, connection_id = %self.connection.id, event = %invoke.event, %why, "invoke failed");
                failed_response(invoke.invocation_id, &why)
            }
        };
        self.send(&ServiceMessage::InvokeResponse(response))
    }

    /// A simple client's frame: event `message`; a failure closes the socket with 1011.
    pub(super) async fn on_simple_event(&self, data: Payload) -> Result<(), CloseCause> {
        self.call_handler(SIMPLE_CLIENT_EVENT, &data)
            .await
            .map_err(|EventFailed(why)| {
                violation(
                    close_code::INTERNAL_ERROR,
                    format!("The event handler failed: {why}"),
                )
            })
    }
}
