//! An engine connected to a scripted server (`scripted.rs`) with fast timers, and the small
//! steps the engine-against-script tests share: commands, outcomes, and what the server saw.
//! The test crate declares `engine` and `scripted` beside this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use super::engine::{WAIT, fast_timers, wait_for};
use super::scripted::{CountingProvider, ScriptedServer};
use wpchat::client::{self, ClientConfig, ClientHandle, Command, Event, OpId, OpOutcome};
use wpchat::protocol::{ClientMessage, DataMessage, Payload};

pub fn config(provider: Arc<CountingProvider>) -> ClientConfig {
    let mut config = fast_timers(ClientConfig::new(provider));
    config.ack_timeout = Duration::from_secs(2);
    config
}

pub async fn start() -> (ScriptedServer, Arc<CountingProvider>, ClientHandle) {
    start_with(|_| {}).await
}

pub async fn start_with(
    tweak: impl FnOnce(&mut ClientConfig),
) -> (ScriptedServer, Arc<CountingProvider>, ClientHandle) {
    let server = ScriptedServer::start().await;
    let provider = CountingProvider::new(server.url());
    let mut config = config(provider.clone());
    tweak(&mut config);
    let mut handle = client::spawn(config);
    wait_for(&mut handle, |e| matches!(e, Event::Connected { .. })).await;
    (server, provider, handle)
}

pub async fn outcome(handle: &mut ClientHandle, op: OpId) -> OpOutcome {
    match wait_for(
        handle,
        |e| matches!(e, Event::OpResult { op: o, .. } if *o == op),
    )
    .await
    {
        Event::OpResult { outcome, .. } => outcome,
        _ => unreachable!(),
    }
}

pub async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn command(handle: &ClientHandle, command: Command) {
    handle.commands.send(command).await.expect("engine running");
}

pub fn send(op: OpId, text: &str) -> Command {
    Command::SendToGroup {
        op,
        group: "room".into(),
        payload: Payload::Text(text.into()),
        no_echo: false,
        fire_and_forget: false,
    }
}

pub fn text_of(event: &Event) -> Option<String> {
    match event {
        Event::Message(DataMessage {
            payload: Payload::Text(text),
            ..
        }) => Some(text.clone()),
        _ => None,
    }
}

/// Ack ids the server saw on `sendToGroup` requests carrying `text`.
pub fn ack_ids_for(server: &ScriptedServer, text: &str) -> Vec<u64> {
    server
        .seen()
        .into_iter()
        .filter_map(|seen| match seen.request {
            ClientMessage::SendToGroup {
                ack_id,
                data: Payload::Text(t),
                ..
            } if t == text => ack_id,
            _ => None,
        })
        .collect()
}

pub fn done(duplicate: bool) -> impl Fn(&OpOutcome) -> bool {
    move |o| matches!(o, OpOutcome::Done { duplicate: d, .. } if *d == duplicate)
}
