//! One client engine driven from a test: commands sent and events awaited within [`LIMIT`],
//! keeping the events a wait skipped, so a message that arrives before its send's ack is still
//! there for the next wait. Also the real local service it talks to, on a free port.

#![allow(dead_code)]

use std::time::Duration;

use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event, OpId, OpOutcome};
use wpchat::protocol::{MessageSource, Payload};
use wpchat::service::{self, RunningService, ServiceConfig};

/// The longest any one wait may take.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The real local service with `config` on a free port of 127.0.0.1, started within [`LIMIT`].
pub async fn local_service(config: ServiceConfig) -> RunningService {
    let config = ServiceConfig { port: 0, ..config };
    tokio::time::timeout(LIMIT, service::start(config))
        .await
        .expect("the service starts in time")
        .expect("the service starts")
}

pub struct Peer {
    pub handle: ClientHandle,
    /// Events passed over by earlier waits, oldest first.
    pub skipped: Vec<Event>,
}

impl Peer {
    pub fn spawn(config: ClientConfig) -> Self {
        Peer {
            handle: client::spawn(config),
            skipped: Vec::new(),
        }
    }

    /// The first event `want` accepts (earlier skipped ones first), within [`LIMIT`] in all;
    /// with the events passed over on the way.
    pub async fn wait_for(&mut self, want: impl Fn(&Event) -> bool) -> (Event, Vec<Event>) {
        if let Some(at) = self.skipped.iter().position(&want) {
            let event = self.skipped.remove(at);
            return (event, Vec::new());
        }
        let mut seen = Vec::new();
        let found = tokio::time::timeout(LIMIT, async {
            while let Some(event) = self.handle.events.recv().await {
                if want(&event) {
                    return Some(event);
                }
                seen.push(event);
            }
            None
        })
        .await;
        self.skipped.extend(seen.iter().cloned());
        match found {
            Ok(Some(event)) => (event, seen),
            Ok(None) => panic!("the engine ended; events: {seen:?}"),
            Err(_) => panic!(
                "not found within {LIMIT:?}; state {:?}; events: {seen:?}",
                *self.handle.state.borrow()
            ),
        }
    }

    pub async fn command(&self, command: Command) {
        tokio::time::timeout(LIMIT, self.handle.commands.send(command))
            .await
            .expect("the engine takes commands")
            .expect("the engine runs");
    }

    /// Waits for the next connection; its id.
    pub async fn connected(&mut self) -> String {
        match self
            .wait_for(|e| matches!(e, Event::Connected { .. }))
            .await
            .0
        {
            Event::Connected { connection_id, .. } => connection_id,
            other => panic!("expected Connected, got {other:?}"),
        }
    }

    /// Waits for operation `op` to succeed.
    pub async fn acked(&mut self, op: OpId) {
        let (event, _) = self
            .wait_for(|e| matches!(e, Event::OpResult { op: o, .. } if *o == op))
            .await;
        assert!(
            matches!(
                event,
                Event::OpResult {
                    outcome: OpOutcome::Done { .. },
                    ..
                }
            ),
            "op {op} did not succeed: {event:?}"
        );
    }

    pub async fn join(&mut self, op: OpId, group: &str) {
        self.command(Command::Join {
            op,
            group: group.into(),
        })
        .await;
        self.acked(op).await;
    }

    /// Sends `text` to `group` (with echo) and waits for its ack.
    pub async fn send(&mut self, op: OpId, group: &str, text: &str) {
        self.command(Command::SendToGroup {
            op,
            group: group.into(),
            payload: Payload::Text(text.into()),
            no_echo: false,
            fire_and_forget: false,
        })
        .await;
        self.acked(op).await;
    }

    /// Waits for `text` to arrive from `in_group`.
    pub async fn received(&mut self, in_group: &str, text: &str) {
        self.wait_for(|e| match e {
            Event::Message(message) => {
                matches!(&message.source, MessageSource::Group { group, .. } if &**group == in_group)
                    && message.payload == Payload::Text(text.into())
            }
            _ => false,
        })
        .await;
    }

    /// Shuts the engine down and waits until it has ended.
    pub async fn stop(mut self) {
        let _ = tokio::time::timeout(LIMIT, self.handle.commands.send(Command::Shutdown)).await;
        tokio::time::timeout(LIMIT, async {
            while self.handle.events.recv().await.is_some() {}
        })
        .await
        .expect("the engine stops");
    }
}
