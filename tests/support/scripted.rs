//! A scripted Web PubSub stand-in for engine tests: speaks enough of the reliable JSON
//! subprotocol (connected with a reconnection token, acks with dedupe, sequence ids, recovery
//! by `awps_connection_id` + `awps_reconnection_token`) and can be told to misbehave: drop the
//! TCP connection, refuse recovery with 1008, answer acks late, never, twice or with an error,
//! replay sequence ids, go silent, or answer the handshake with an HTTP error.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

use wpchat::auth::{ProviderError, UrlFuture, UrlProvider};
use wpchat::protocol::{
    AckError, AckErrorName, ClientMessage, DataMessage, MessageSource, Payload, ServiceMessage,
    decode_client, encode_service,
};

/// How the server answers one request that carries an ack id.
#[derive(Debug, Clone, PartialEq)]
pub enum AckPlan {
    /// Apply it and ack (or `Duplicate` when the id was already applied).
    Normal,
    /// Apply it but never ack.
    Never,
    /// Apply it and ack after this delay.
    Late(Duration),
    /// Apply it and ack twice.
    Twice,
    /// Do not apply it; ack with this error name.
    Error(String),
    /// Apply it, then drop the TCP connection before acking.
    ApplyThenDrop,
    /// Drop the TCP connection without applying or acking.
    Drop,
}

/// One request the server read.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub connection_id: String,
    pub request: ClientMessage,
}

/// What one handshake looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    pub uri: String,
    pub authorization: Option<String>,
    pub protocol: Option<String>,
}

enum Control {
    Frame(String),
    Binary(Vec<u8>),
    Drop,
    GoDead,
    Close(u16),
}

struct SessionState {
    reconnection_token: String,
    next_sequence_id: u64,
    /// Sent and not yet acked with `sequenceAck`, for replay on recovery.
    unacked: VecDeque<(u64, String)>,
    applied_ack_ids: HashSet<u64>,
    groups: HashSet<String>,
    live: Option<mpsc::UnboundedSender<Control>>,
}

#[derive(Default)]
struct State {
    next_connection: u64,
    /// Sockets attached to a session so far (fresh or recovered).
    attachments: usize,
    sessions: HashMap<String, SessionState>,
    /// The connection id of the newest session.
    current: Option<String>,
    ack_plans: VecDeque<AckPlan>,
    refuse_recovery: bool,
    reject_handshake: Option<(u16, String)>,
    seen: Vec<Seen>,
    handshakes: Vec<Handshake>,
    sequence_acks: Vec<u64>,
    close_codes: Vec<Option<u16>>,
    /// Sockets that went silent: kept open, never read or written.
    dead: Vec<WebSocketStream<TcpStream>>,
}

/// The running server.
#[derive(Clone)]
pub struct ScriptedServer {
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ScriptedServer {
    pub async fn start() -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let server = ScriptedServer {
            addr,
            state: Arc::new(Mutex::new(State::default())),
        };
        let accepting = server.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let server = accepting.clone();
                tokio::spawn(async move { server.serve(tcp).await });
            }
        });
        server
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The client URL (token in the query).
    pub fn url(&self) -> Url {
        Url::parse(&format!(
            "ws://{}/client/hubs/chat?access_token=TESTTOKEN",
            self.addr
        ))
        .expect("url")
    }

    pub fn plan_acks(&self, plans: impl IntoIterator<Item = AckPlan>) {
        self.lock().ack_plans.extend(plans);
    }

    pub fn set_refuse_recovery(&self, refuse: bool) {
        self.lock().refuse_recovery = refuse;
    }

    pub fn set_reject_handshake(&self, reject: Option<(u16, &str)>) {
        self.lock().reject_handshake = reject.map(|(status, body)| (status, body.to_string()));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    pub fn handshakes(&self) -> Vec<Handshake> {
        self.lock().handshakes.clone()
    }

    pub fn sequence_acks(&self) -> Vec<u64> {
        self.lock().sequence_acks.clone()
    }

    pub fn close_codes(&self) -> Vec<Option<u16>> {
        self.lock().close_codes.clone()
    }

    /// How many sockets were attached to sessions so far.
    pub fn attachments(&self) -> usize {
        self.lock().attachments
    }

    /// Whether the newest session has a live socket.
    pub fn is_live(&self) -> bool {
        let state = self.lock();
        state
            .current
            .as_ref()
            .and_then(|id| state.sessions.get(id))
            .is_some_and(|s| s.live.is_some())
    }

    /// Members of `group` across every session.
    pub fn members(&self, group: &str) -> usize {
        self.lock()
            .sessions
            .values()
            .filter(|s| s.groups.contains(group))
            .count()
    }

    pub fn groups(&self) -> HashSet<String> {
        let state = self.lock();
        state
            .current
            .as_ref()
            .and_then(|id| state.sessions.get(id))
            .map(|s| s.groups.clone())
            .unwrap_or_default()
    }

    /// Publishes a server text message to the newest session: sequenced, kept until acked,
    /// delivered now if the socket is live, replayed on recovery otherwise.
    pub fn publish(&self, text: &str) {
        let mut state = self.lock();
        let Some(id) = state.current.clone() else {
            return;
        };
        let Some(session) = state.sessions.get_mut(&id) else {
            return;
        };
        let sequence_id = session.next_sequence_id;
        session.next_sequence_id += 1;
        let frame = encode_service(&ServiceMessage::Message(DataMessage {
            source: MessageSource::Server,
            sequence_id: Some(sequence_id),
            payload: Payload::Text(text.to_string()),
        }));
        session.unacked.push_back((sequence_id, frame.clone()));
        if let Some(live) = &session.live {
            let _ = live.send(Control::Frame(frame));
        }
    }

    /// Sends a raw text frame on the live socket as it is (no sequencing, no buffering).
    pub fn send_raw(&self, frame: &str) {
        self.control(Control::Frame(frame.to_string()));
    }

    /// Sends a binary frame on the live socket.
    pub fn send_binary(&self, bytes: &[u8]) {
        self.control(Control::Binary(bytes.to_vec()));
    }

    /// Drops the live TCP connection without a close frame.
    pub fn drop_connection(&self) {
        self.control(Control::Drop);
    }

    /// Stops reading and writing the live socket but keeps the TCP connection open.
    pub fn go_dead(&self) {
        self.control(Control::GoDead);
    }

    /// Closes the live socket with this code.
    pub fn close_with(&self, code: u16) {
        self.control(Control::Close(code));
    }

    fn control(&self, control: Control) {
        let state = self.lock();
        if let Some(live) = state
            .current
            .as_ref()
            .and_then(|id| state.sessions.get(id))
            .and_then(|s| s.live.as_ref())
        {
            let _ = live.send(control);
        }
    }

    // The handshake callback's error type is tungstenite's `ErrorResponse`, large by design.
    #[allow(clippy::result_large_err)]
    async fn serve(self, tcp: TcpStream) {
        let mut uri = String::new();
        let state = self.state.clone();
        let callback = |request: &Request, mut response: Response| {
            uri = request.uri().to_string();
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let protocol = header("Sec-WebSocket-Protocol");
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.handshakes.push(Handshake {
                uri: uri.clone(),
                authorization: header("Authorization"),
                protocol: protocol.clone(),
            });
            if let Some((status, body)) = state.reject_handshake.clone() {
                let mut refusal = ErrorResponse::new(Some(body));
                *refusal.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
                return Err(refusal);
            }
            if let Some(first) = protocol
                .as_deref()
                .and_then(|p| p.split(',').next())
                .and_then(|p| HeaderValue::from_str(p.trim()).ok())
            {
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", first);
            }
            Ok(response)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
            return;
        };
        let query: HashMap<String, String> = Url::parse(&format!("ws://h{uri}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let (tx, rx) = mpsc::unbounded_channel();
        let me = tx.clone();
        let connection_id = match query.get("awps_connection_id") {
            Some(id) => {
                let token = query.get("awps_reconnection_token").cloned();
                let accepted = {
                    let mut state = self.lock();
                    let refuse = state.refuse_recovery;
                    match state.sessions.get_mut(id) {
                        Some(session)
                            if !refuse && Some(&session.reconnection_token) == token.as_ref() =>
                        {
                            // Replay first, then attach: later publishes queue behind it.
                            for (_, frame) in &session.unacked {
                                let _ = tx.send(Control::Frame(frame.clone()));
                            }
                            session.live = Some(tx);
                            state.attachments += 1;
                            true
                        }
                        _ => false,
                    }
                };
                if !accepted {
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: CloseCode::Policy,
                            reason: "recovery refused".into(),
                        }))
                        .await;
                    return;
                }
                id.clone()
            }
            None => {
                let mut state = self.lock();
                state.next_connection += 1;
                let id = format!("conn-{}", state.next_connection);
                let token = format!("rt-{}", state.next_connection);
                let connected = encode_service(&ServiceMessage::Connected {
                    connection_id: id.clone(),
                    user_id: Some("tester".into()),
                    reconnection_token: Some(token.clone()),
                });
                let _ = tx.send(Control::Frame(connected));
                state.sessions.insert(
                    id.clone(),
                    SessionState {
                        reconnection_token: token,
                        next_sequence_id: 1,
                        unacked: VecDeque::new(),
                        applied_ack_ids: HashSet::new(),
                        groups: HashSet::new(),
                        live: Some(tx),
                    },
                );
                state.current = Some(id.clone());
                state.attachments += 1;
                id
            }
        };
        self.connection(ws, rx, connection_id, me).await;
    }

    async fn connection(
        &self,
        mut ws: WebSocketStream<TcpStream>,
        mut rx: mpsc::UnboundedReceiver<Control>,
        connection_id: String,
        me: mpsc::UnboundedSender<Control>,
    ) {
        let (late_tx, mut late_rx) = mpsc::unbounded_channel::<String>();
        loop {
            tokio::select! {
                control = rx.recv() => match control {
                    Some(Control::Frame(frame)) => {
                        if ws.send(Message::text(frame)).await.is_err() {
                            break;
                        }
                    }
                    Some(Control::Binary(bytes)) => {
                        if ws.send(Message::binary(bytes)).await.is_err() {
                            break;
                        }
                    }
                    Some(Control::Drop) | None => break,
                    Some(Control::GoDead) => {
                        self.detach(&connection_id, &me);
                        self.lock().dead.push(ws);
                        return;
                    }
                    Some(Control::Close(code)) => {
                        let _ = ws
                            .close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() }))
                            .await;
                        break;
                    }
                },
                late = late_rx.recv() => {
                    if let Some(frame) = late
                        && ws.send(Message::text(frame)).await.is_err()
                    {
                        break;
                    }
                }
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let replies = self.request(&connection_id, text.as_str(), &late_tx);
                        let mut dropped = false;
                        for reply in replies {
                            match reply {
                                Some(frame) => {
                                    if ws.send(Message::text(frame)).await.is_err() {
                                        dropped = true;
                                    }
                                }
                                None => dropped = true,
                            }
                        }
                        if dropped {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        self.lock().close_codes.push(frame.map(|f| u16::from(f.code)));
                        let _ = ws.close(None).await;
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
            }
        }
        self.detach(&connection_id, &me);
    }

    /// Marks the session as having no live socket, unless a newer socket already took over.
    fn detach(&self, connection_id: &str, me: &mpsc::UnboundedSender<Control>) {
        if let Some(session) = self.lock().sessions.get_mut(connection_id)
            && session
                .live
                .as_ref()
                .is_some_and(|live| live.same_channel(me))
        {
            session.live = None;
        }
    }

    /// Handles one client request; each reply is a frame to send, or `None` = drop the link.
    fn request(
        &self,
        connection_id: &str,
        text: &str,
        late: &mpsc::UnboundedSender<String>,
    ) -> Vec<Option<String>> {
        let Ok(request) = decode_client(text) else {
            return vec![None];
        };
        let mut state = self.lock();
        state.seen.push(Seen {
            connection_id: connection_id.to_string(),
            request: request.clone(),
        });
        if let ClientMessage::SequenceAck { sequence_id } = request {
            state.sequence_acks.push(sequence_id);
            if let Some(session) = state.sessions.get_mut(connection_id) {
                session.unacked.retain(|(id, _)| *id > sequence_id);
            }
            return Vec::new();
        }
        if request == ClientMessage::Ping {
            return vec![Some(encode_service(&ServiceMessage::Pong))];
        }
        let Some(ack_id) = request.ack_id() else {
            apply(&mut state, connection_id, &request);
            return Vec::new();
        };
        let plan = state.ack_plans.pop_front().unwrap_or(AckPlan::Normal);
        if !state.sessions.contains_key(connection_id) {
            return vec![None];
        }
        let ack = |success: bool, error: Option<&str>| {
            encode_service(&ServiceMessage::Ack {
                ack_id,
                success,
                error: error.map(|name| AckError {
                    name: AckErrorName::from_name(name),
                    message: format!("scripted {name}"),
                }),
            })
        };
        if let AckPlan::Error(name) = &plan {
            return vec![Some(ack(false, Some(name)))];
        }
        if plan == AckPlan::Drop {
            return vec![None];
        }
        let first_time = state
            .sessions
            .get_mut(connection_id)
            .is_some_and(|session| session.applied_ack_ids.insert(ack_id));
        if !first_time {
            return vec![Some(ack(false, Some("Duplicate")))];
        }
        apply(&mut state, connection_id, &request);
        match plan {
            AckPlan::Normal => vec![Some(ack(true, None))],
            AckPlan::Never => Vec::new(),
            AckPlan::Twice => vec![Some(ack(true, None)), Some(ack(true, None))],
            AckPlan::Late(delay) => {
                let late = late.clone();
                let frame = ack(true, None);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = late.send(frame);
                });
                Vec::new()
            }
            AckPlan::ApplyThenDrop => vec![None],
            AckPlan::Error(_) | AckPlan::Drop => Vec::new(),
        }
    }
}

/// Applies a request: group membership, and fan-out of group messages to every member
/// session (sequenced and kept for replay, like `publish`).
fn apply(state: &mut State, connection_id: &str, request: &ClientMessage) {
    match request {
        ClientMessage::JoinGroup { group, .. } => {
            if let Some(session) = state.sessions.get_mut(connection_id) {
                session.groups.insert(group.clone());
            }
        }
        ClientMessage::LeaveGroup { group, .. } => {
            if let Some(session) = state.sessions.get_mut(connection_id) {
                session.groups.remove(group);
            }
        }
        ClientMessage::SendToGroup {
            group,
            no_echo,
            data,
            ..
        } => {
            for (id, session) in state.sessions.iter_mut() {
                if !session.groups.contains(group) || (*no_echo && id == connection_id) {
                    continue;
                }
                let sequence_id = session.next_sequence_id;
                session.next_sequence_id += 1;
                let frame = encode_service(&ServiceMessage::Message(DataMessage {
                    source: MessageSource::Group {
                        group: group.as_str().into(),
                        from_user_id: Some("tester".into()),
                    },
                    sequence_id: Some(sequence_id),
                    payload: data.clone(),
                }));
                session.unacked.push_back((sequence_id, frame.clone()));
                if let Some(live) = &session.live {
                    let _ = live.send(Control::Frame(frame));
                }
            }
        }
        _ => {}
    }
}

/// A URL provider that counts its calls.
pub struct CountingProvider {
    pub url: Url,
    pub calls: AtomicUsize,
}

impl CountingProvider {
    pub fn new(url: Url) -> Arc<CountingProvider> {
        Arc::new(CountingProvider {
            url,
            calls: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl UrlProvider for CountingProvider {
    fn client_url(&self) -> UrlFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let url = self.url.clone();
        Box::pin(async move { Ok::<_, ProviderError>(url) })
    }

    fn describe(&self) -> String {
        "scripted test server".into()
    }
}
