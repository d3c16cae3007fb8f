//! The engine task: the only owner of the WebSocket. It runs one connection at a time, and
//! between connections it recovers the reliable session or reconnects with backoff, while
//! still taking commands (queued in the outbox) and delivering events.
//!
//! Pending operations across a drop (see also `acks.rs`):
//! - every written request still waiting for its ack counts the drop as a transient failure;
//!   with retries left it waits for the next connection, otherwise it fails with
//!   `OpError::ConnectionLost`;
//! - after a **recovery** it is written again with the *same* ack id, so the service answers
//!   `Duplicate` (success) if the first attempt took effect: exactly once;
//! - after a **fresh** connection the old session's dedupe is gone; it is written again with a
//!   *new* ack id (the same choice as the official SDKs' retry): at least once, so a message
//!   whose ack was lost with the old session may arrive twice. `Event::SessionLost` says so.
//!
//! A recovery counts as done at the first frame back on the recovery socket (the engine sends a
//! ping at once), not when the WebSocket opens: a service that refuses the recovery opens the
//! socket and closes it with 1008, which must not look like a recovered session.
//!
//! Order on a connection that becomes ready: rejoins (fresh sessions only), then the resent
//! pending requests, then the outbox.

mod inbound;
mod invoke;
mod outbound;
mod reconnect;
mod timers;

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

use super::acks::{AckTracker, Owner};
use super::connect::Socket;
use super::events::EventSender;
use super::outbox::Outbox;
use super::sequence::SequenceTracker;
use super::{ClientConfig, Command, ConnState, Event, OpError, OpOutcome};
use crate::protocol::{ClientMessage, DecodeCache, Subprotocol};

/// Stop reading the socket while this many events wait for room in the event channel: the
/// bounded channel is full, so let TCP push back on the service.
const READ_PAUSE_AT: usize = 16;
/// Most frames handled in one turn of the connection loop (frames already read, no waiting).
const READ_BURST: usize = super::events::BATCH_EVENTS;
/// After a read burst that brought at least this many sequence ids, ack them at once.
const BURST_ACK_GAP: u64 = 64;
/// Most commands handled in one turn of the connection loop.
const COMMAND_BURST: usize = 64;
/// Stop taking commands while this many events wait (a caller that sends but never reads).
const COMMAND_PAUSE_AT: usize = 4096;
/// `sequenceAck` goes out at most this long after a data message arrived.
const SEQUENCE_ACK_DELAY: Duration = Duration::from_secs(1);
/// How long a stopping engine tries to hand its last events over.
const FINAL_EVENTS_GRACE: Duration = Duration::from_secs(2);
/// How long a normal close waits for the service's close frame.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// A reliable session the engine may recover.
struct Session {
    /// The provider's URL the session was opened with; recovery reuses it.
    url: Url,
    protocol: Subprotocol,
    connection_id: Option<String>,
    user_id: Option<String>,
    reconnection_token: Option<String>,
}

/// The live WebSocket's writing half and its timers.
struct Link {
    sink: SplitSink<Socket, Message>,
    /// The service is ready for requests (connected message seen, or a recovery opened).
    ready: bool,
    /// A write failed; the connection loop ends at its next turn.
    failed: Option<String>,
    unflushed: bool,
    last_inbound: Instant,
    next_ping: Instant,
    ping_sent: Option<Instant>,
    sequence_ack_at: Option<Instant>,
    /// The message of a `system/disconnected`, used as the drop reason.
    service_reason: Option<String>,
    /// A recovery socket opened; the session counts as recovered at the first frame back.
    proving_recovery: bool,
}

/// Why a connection ended.
enum End {
    Shutdown(String),
    Reconnect,
    Dropped { code: Option<u16>, reason: String },
}

/// What a wait between connections was cut short by.
enum Interrupt {
    Stop(String),
    Reconnect,
}

/// What the engine does next.
enum Next {
    Fresh {
        attempt: u32,
        wait: bool,
        last_error: String,
    },
    Recover {
        since: Instant,
        attempt: u32,
        last_error: String,
    },
    Stop(String),
}

/// A session that was lost: announced with `Event::SessionLost` once a fresh one is ready.
struct Lost {
    reason: String,
    since: Instant,
}

pub(crate) struct Engine {
    config: ClientConfig,
    commands: mpsc::Receiver<Command>,
    events: EventSender,
    state: watch::Sender<ConnState>,
    /// Events waiting for room in the bounded channel (or held during a read burst), handed
    /// over as one batch.
    queue: Vec<Event>,
    /// A read burst is running: `emit` queues instead of sending.
    holding: bool,
    acks: AckTracker,
    sequence: SequenceTracker,
    /// Group names and user ids shared by the messages that carry them, and the payload
    /// strings of read messages, reused for new ones.
    decode_cache: DecodeCache,
    outbox: Outbox,
    /// Groups joined with `Command::Join` and not left, in join order: rejoined after a fresh
    /// connection.
    joined: Vec<String>,
    inspect: bool,
    session: Option<Session>,
    link: Option<Link>,
    offline_since: Option<Instant>,
    lost: Option<Lost>,
    /// The last fresh attempt failed in a way retrying soon cannot fix: back off the longest.
    stubborn_failure: bool,
    invocations: invoke::Invocations,
}

impl Engine {
    pub(crate) fn new(
        config: ClientConfig,
        commands: mpsc::Receiver<Command>,
        events: EventSender,
        state: watch::Sender<ConnState>,
    ) -> Self {
        Engine {
            acks: AckTracker::new(
                config.message_retries,
                config.ack_timeout,
                config.message_retry_delay,
            ),
            outbox: Outbox::new(config.outbox_capacity),
            config,
            commands,
            events,
            state,
            queue: Vec::new(),
            holding: false,
            sequence: SequenceTracker::default(),
            decode_cache: DecodeCache::default(),
            joined: Vec::new(),
            inspect: false,
            session: None,
            link: None,
            offline_since: None,
            lost: None,
            stubborn_failure: false,
            invocations: invoke::Invocations::default(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut next = Next::Fresh {
            attempt: 1,
            wait: false,
            last_error: String::new(),
        };
        loop {
            next = match next {
                Next::Fresh {
                    attempt,
                    wait,
                    last_error,
                } => self.fresh(attempt, wait, last_error).await,
                Next::Recover {
                    since,
                    attempt,
                    last_error,
                } => self.recover(since, attempt, last_error).await,
                Next::Stop(reason) => {
                    self.stop(reason).await;
                    return;
                }
            };
        }
    }

    /// Runs one open WebSocket until it ends.
    async fn connection(&mut self, socket: Socket, recovered: bool) -> End {
        let (sink, mut stream) = socket.split();
        self.open_link(sink, recovered).await;
        let end = self.pump(&mut stream).await;
        self.close_link(&end, &mut stream).await;
        end
    }

    /// Makes `sink` the current link; after a recovery, pings to prove the session is ours.
    async fn open_link(&mut self, sink: SplitSink<Socket, Message>, recovered: bool) {
        let now = Instant::now();
        self.link = Some(Link {
            sink,
            ready: false,
            failed: None,
            unflushed: false,
            last_inbound: now,
            next_ping: now + self.config.keepalive_interval,
            ping_sent: None,
            sequence_ack_at: None,
            service_reason: None,
            proving_recovery: false,
        });
        if recovered {
            // A refused recovery still opens the WebSocket and then closes it with 1008. Ask
            // for a pong: the first frame back proves the session is really ours again.
            self.write(&ClientMessage::Ping).await;
            if let Some(link) = self.link.as_mut() {
                link.proving_recovery = true;
                link.ping_sent = Some(now);
            }
        }
    }

    /// Reads, writes and keeps time on the current link until it ends.
    async fn pump(&mut self, stream: &mut SplitStream<Socket>) -> End {
        // One timer for the whole connection, moved only when a deadline comes nearer: a
        // deadline that moved later (every frame pushes the dead-link check back) just wakes
        // `tick` early, which rechecks and does nothing.
        let timer = tokio::time::sleep_until(tokio::time::Instant::from_std(self.next_deadline()));
        tokio::pin!(timer);
        let mut armed = Some(timer.deadline());
        loop {
            if let Some(end) = self.check_link().await {
                break end;
            }
            let deadline = tokio::time::Instant::from_std(self.next_deadline());
            if armed.is_none_or(|at| deadline < at) {
                timer.as_mut().reset(deadline);
                armed = Some(deadline);
            }
            let read_open = self.queue.len() < READ_PAUSE_AT;
            let commands_open = self.queue.len() < COMMAND_PAUSE_AT;
            tokio::select! {
                biased;
                _ = self.events.send_all(&mut self.queue, &mut self.decode_cache), if !self.queue.is_empty() => {}
                command = self.commands.recv(), if commands_open => match command {
                    None => break End::Shutdown("every command sender was dropped".into()),
                    Some(command) => {
                        if let Some(end) = self.command_burst(command).await {
                            break end;
                        }
                        // Commands come first in this select; read what is already here too,
                        // or a caller that never stops sending would starve acks and the
                        // sequence acks the service needs.
                        if self.queue.len() < READ_PAUSE_AT
                            && let Some(frame) = stream.next().now_or_never()
                            && let Some(end) = self.read_burst(frame, stream).await
                        {
                            break end;
                        }
                    }
                },
                frame = stream.next(), if read_open => {
                    if let Some(end) = self.read_burst(frame, stream).await {
                        break end;
                    }
                }
                _ = &mut timer => {
                    armed = None;
                    if let Some(end) = self.tick().await {
                        break end;
                    }
                }
            }
        }
    }

    /// Takes the link down: a normal close handshake when we chose to end it, a
    /// `Disconnected` event when it dropped after being ready.
    async fn close_link(&mut self, end: &End, stream: &mut SplitStream<Socket>) {
        let link = self.link.take();
        let was_ready = link.as_ref().is_some_and(|l| l.ready);
        if let (Some(mut link), End::Shutdown(_) | End::Reconnect) = (link, end) {
            // A normal close ends the session on the service (no recovery window).
            let close = Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }));
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                if link.sink.send(close).await.is_ok() {
                    while let Some(Ok(frame)) = stream.next().await {
                        if frame.is_close() {
                            break;
                        }
                    }
                }
            })
            .await;
        }
        self.invocations_lost(&OpError::ConnectionLost { attempts: 1 });
        if let End::Dropped { reason, .. } = end {
            tracing::info!(%reason, "connection dropped");
            if was_ready {
                self.emit(Event::Disconnected {
                    reason: reason.clone(),
                });
            }
        }
    }

    /// Handles `first` and the commands already waiting behind it, up to `COMMAND_BURST`.
    async fn command_burst(&mut self, first: Command) -> Option<End> {
        if let Some(end) = self.command(first).await {
            return Some(end);
        }
        for _ in 1..COMMAND_BURST {
            if self.queue.len() >= COMMAND_PAUSE_AT || !self.link_healthy() {
                break;
            }
            match self.commands.try_recv() {
                Ok(command) => {
                    if let Some(end) = self.command(command).await {
                        return Some(end);
                    }
                }
                Err(_) => break,
            }
        }
        None
    }

    /// Handles `first` and the frames already read behind it, up to `READ_BURST`: one select,
    /// one clock read and one timer check per burst instead of per frame. The burst's events
    /// are held and handed over together at its end, so the reader wakes once per burst.
    async fn read_burst(
        &mut self,
        first: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        stream: &mut SplitStream<Socket>,
    ) -> Option<End> {
        let now = Instant::now();
        self.holding = true;
        let mut end = self.frame(first, now).await;
        for _ in 1..READ_BURST {
            if end.is_some() || self.queue.len() >= READ_BURST || !self.link_healthy() {
                break;
            }
            let Some(frame) = stream.next().now_or_never() else {
                break;
            };
            end = self.frame(frame, now).await;
        }
        self.holding = false;
        self.release_held();
        // A busy stream: ack what this burst brought at once rather than at the 300-id mark,
        // so the service's 1000-message buffer keeps its headroom when it is slow to read us.
        if end.is_none() && self.sequence.unacked() >= BURST_ACK_GAP {
            self.send_sequence_ack().await;
        }
        end
    }

    /// The connection can take requests: announce it, then rejoin, resend and flush.
    async fn link_ready(&mut self, new_session: bool) {
        let now = Instant::now();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.ready = true;
        link.next_ping = now + self.config.keepalive_interval;
        let offline = self
            .offline_since
            .take()
            .map(|since| now.saturating_duration_since(since))
            .unwrap_or_default();
        let (connection_id, user_id, protocol) = match &self.session {
            Some(s) => (
                s.connection_id.clone().unwrap_or_default(),
                s.user_id.clone(),
                s.protocol,
            ),
            None => (String::new(), None, self.config.protocol),
        };
        self.set_state(ConnState::Connected {
            connection_id: connection_id.clone(),
            user_id: user_id.clone(),
            protocol,
        });
        let resumed = self.acks.resume(new_session, now);
        if new_session {
            tracing::info!(%connection_id, "connected");
            if let Some(lost) = self.lost.take() {
                self.emit(Event::SessionLost {
                    offline: now.saturating_duration_since(lost.since),
                    reason: lost.reason,
                });
            }
            self.emit(Event::Connected {
                connection_id,
                user_id,
                protocol,
            });
            if self.config.auto_rejoin {
                for group in self.joined.clone() {
                    let request = ClientMessage::JoinGroup {
                        group,
                        ack_id: Some(self.acks.allocate()),
                    };
                    self.write(&request).await;
                    self.acks.sent(Owner::Rejoin, request, now);
                }
            }
        } else {
            tracing::info!(%connection_id, ?offline, "session recovered");
            self.emit(Event::Recovered {
                connection_id,
                offline,
            });
        }
        for request in resumed {
            self.write(&request).await;
        }
        let mut queued = self.outbox.take_all();
        while let Some(item) = queued.pop_front() {
            if !self.link_usable() {
                queued.push_front(item);
                self.outbox.requeue_front(queued);
                break;
            }
            self.send_now(item.op, item.request).await;
        }
    }

    /// The subprotocol requests are written in: the session's (as the service picked it), or
    /// the configured one before the first connection.
    fn protocol(&self) -> Subprotocol {
        self.session
            .as_ref()
            .map_or(self.config.protocol, |session| session.protocol)
    }

    /// The link has not failed (a failed write ends the connection at the next turn).
    fn link_healthy(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.failed.is_none())
    }

    fn link_usable(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.ready && l.failed.is_none())
    }

    /// Waits for `future` while taking commands (queued: there is no connection) and
    /// delivering events.
    async fn offline<F: Future>(&mut self, future: F) -> Result<F::Output, Interrupt> {
        tokio::pin!(future);
        loop {
            let commands_open = self.queue.len() < COMMAND_PAUSE_AT;
            tokio::select! {
                biased;
                _ = self.events.send_all(&mut self.queue, &mut self.decode_cache), if !self.queue.is_empty() => {}
                command = self.commands.recv(), if commands_open => match command {
                    None => return Err(Interrupt::Stop("every command sender was dropped".into())),
                    Some(Command::Shutdown) => return Err(Interrupt::Stop("shut down".into())),
                    Some(Command::Reconnect) => return Err(Interrupt::Reconnect),
                    Some(command) => {
                        self.command(command).await;
                    }
                },
                output = &mut future => return Ok(output),
            }
        }
    }

    /// Ends the engine: every waiting operation fails with `Stopped`.
    async fn stop(&mut self, reason: String) {
        tracing::info!(%reason, "engine stopped");
        self.link = None;
        self.invocations_lost(&OpError::Stopped);
        for (owner, _) in self.acks.take_all() {
            if let Owner::User(op) = owner {
                self.emit(Event::OpResult {
                    op,
                    outcome: OpOutcome::Failed(OpError::Stopped),
                });
            }
        }
        for item in self.outbox.take_all() {
            self.emit(Event::OpResult {
                op: item.op,
                outcome: OpOutcome::Failed(OpError::Stopped),
            });
        }
        self.set_state(ConnState::Stopped { reason });
        let deadline = tokio::time::Instant::now() + FINAL_EVENTS_GRACE;
        let _ = tokio::time::timeout_at(
            deadline,
            self.events
                .send_all(&mut self.queue, &mut self.decode_cache),
        )
        .await;
    }

    fn emit(&mut self, mut event: Event) {
        if self.events.is_closed() {
            return;
        }
        if let Event::Unrecognized { error, .. } = &mut event {
            super::limits::cap_error(error);
        }
        self.queue.push(event);
        if !self.holding {
            self.release_held();
        }
    }

    /// Hands the held events to the channel as one batch if there is room; otherwise they
    /// wait for it.
    fn release_held(&mut self) {
        self.events
            .try_send_all(&mut self.queue, &mut self.decode_cache);
    }

    fn set_state(&mut self, state: ConnState) {
        tracing::debug!(state = ?state_name(&state), "connection state");
        self.state.send_replace(state);
    }
}

fn state_name(state: &ConnState) -> &'static str {
    match state {
        ConnState::Connecting { .. } => "connecting",
        ConnState::Connected { .. } => "connected",
        ConnState::Recovering { .. } => "recovering",
        ConnState::Reconnecting { .. } => "reconnecting",
        ConnState::Stopped { .. } => "stopped",
    }
}
