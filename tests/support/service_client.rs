//! Raw WebSocket and REST helpers for testing the local service: start it on 127.0.0.1:0,
//! mint tokens, open tokio-tungstenite sockets with a chosen subprotocol, and read frames with
//! a timeout so a bug fails a test instead of hanging it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wpchat::auth::token::{Claims, mint};
use wpchat::service::{self, RunningService, ServiceConfig};

pub const JSON: &str = "json.webpubsub.azure.v1";
pub const RELIABLE: &str = "json.reliable.webpubsub.azure.v1";
pub const HUB: &str = "chat";
/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(5);

pub const JOIN_SEND: &[&str] = &["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"];

pub async fn start() -> RunningService {
    start_with(ServiceConfig::default()).await
}

pub async fn start_with(config: ServiceConfig) -> RunningService {
    let config = ServiceConfig {
        host: "127.0.0.1".into(),
        port: 0,
        ..config
    };
    service::start(config).await.expect("service starts")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A client token for `hub` on `addr`.
pub fn token_for(
    service: &RunningService,
    hub: &str,
    user: Option<&str>,
    roles: &[&str],
    groups: &[&str],
) -> String {
    mint(
        &Claims {
            aud: format!("http://{}/client/hubs/{hub}", service.addr),
            iat: Some(now()),
            exp: now() + 3600,
            sub: user.map(str::to_string),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Claims::default()
        },
        &service.access_key,
    )
}

/// Connects to `HUB` over `protocol` with a token for `user`, `roles` and `groups`; returns
/// the client and its `connected` message.
pub async fn connect_to_hub(
    service: &RunningService,
    protocol: &str,
    user: Option<&str>,
    roles: &[&str],
    groups: &[&str],
) -> (Client, Value) {
    Client::connect(&hub_url(service, user, roles, groups), protocol).await
}

/// A `json.webpubsub.azure.v1` client of `HUB` for `user` with `roles`.
pub async fn json_client(
    service: &RunningService,
    user: Option<&str>,
    roles: &[&str],
) -> (Client, Value) {
    connect_to_hub(service, JSON, user, roles, &[]).await
}

/// A `json.reliable.webpubsub.azure.v1` client of `HUB` for `user` with `roles`.
pub async fn reliable_client(
    service: &RunningService,
    user: Option<&str>,
    roles: &[&str],
) -> (Client, Value) {
    connect_to_hub(service, RELIABLE, user, roles, &[]).await
}

/// The client URL of `HUB` with a token for `user`, `roles` and `groups`.
pub fn hub_url(
    service: &RunningService,
    user: Option<&str>,
    roles: &[&str],
    groups: &[&str],
) -> String {
    client_url(service, HUB, &token_for(service, HUB, user, roles, groups))
}

/// The connection id a `connected` message names.
pub fn connection_id(connected: &Value) -> String {
    connected["connectionId"]
        .as_str()
        .expect("connected names the connection")
        .to_string()
}

/// The URL that recovers the reliable session a `connected` message started.
pub fn recovery_url(service: &RunningService, connected: &Value) -> String {
    format!(
        "ws://{}/client/hubs/{HUB}?awps_connection_id={}&awps_reconnection_token={}",
        service.addr,
        connected["connectionId"].as_str().unwrap(),
        connected["reconnectionToken"].as_str().unwrap_or("none"),
    )
}

/// Recovers the reliable session `connected` started, over `protocol`.
pub async fn recover(service: &RunningService, connected: &Value, protocol: &str) -> Client {
    open(&recovery_url(service, connected), &[protocol])
        .await
        .expect("the recovery is upgraded")
}

/// The close code and reason with which the service refuses to recover the session
/// `connected` started, over `protocol` (the socket is upgraded, then closed).
pub async fn refused_recovery(
    service: &RunningService,
    connected: &Value,
    protocol: &str,
) -> (u16, String) {
    recover(service, connected, protocol)
        .await
        .close_frame()
        .await
}

/// The reason a recovery of a session that ended (or never was) is refused with.
pub const SESSION_GONE: &str = "The connection does not exist or its recovery window has passed.";
/// The reason a recovery with a reconnection token not minted for that connection is refused.
pub const BAD_RECONNECTION_TOKEN: &str = "The reconnection token is not valid for this connection.";

/// Asserts that recovering the session `connected` started, over `protocol`, is refused
/// with close 1008 and `reason`.
pub async fn expect_recovery_refused(
    service: &RunningService,
    connected: &Value,
    protocol: &str,
    reason: &str,
) {
    let refusal = refused_recovery(service, connected, protocol).await;
    assert_eq!(
        refusal,
        (1008, reason.to_string()),
        "recovery over {protocol}"
    );
}

pub fn client_url(service: &RunningService, hub: &str, token: &str) -> String {
    format!(
        "ws://{}/client/hubs/{hub}?access_token={token}",
        service.addr
    )
}

pub type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One test client socket.
pub struct Client {
    pub socket: RawSocket,
}

/// Opens a socket offering `protocols` (none = a simple client).
pub async fn open(url: &str, protocols: &[&str]) -> Result<Client, WsError> {
    open_with_headers(url, protocols, &[]).await
}

pub async fn open_with_headers(
    url: &str,
    protocols: &[&str],
    headers: &[(&'static str, String)],
) -> Result<Client, WsError> {
    let mut request = url.into_client_request()?;
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(&protocols.join(", ")).unwrap(),
        );
    }
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake within the timeout")?;
    Ok(Client { socket })
}

/// The HTTP status and body of a refused handshake.
pub async fn refused(url: &str, protocols: &[&str]) -> (u16, String) {
    refused_with_headers(url, protocols, &[]).await
}

/// The HTTP status and body of a handshake with extra headers, refused.
pub async fn refused_with_headers(
    url: &str,
    protocols: &[&str],
    headers: &[(&'static str, String)],
) -> (u16, String) {
    match open_with_headers(url, protocols, headers).await {
        Err(WsError::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, but the socket opened"),
    }
}

/// How a socket ended, as a test sees it.
#[derive(Debug, PartialEq)]
pub enum Ending {
    Closed(u16),
    /// Closed without a close frame (or reset).
    Dropped,
}

impl Client {
    /// Connects as a JSON client and returns the client with its `connected` message.
    pub async fn connect(url: &str, protocol: &str) -> (Client, Value) {
        let mut client = open(url, &[protocol]).await.expect("socket opens");
        let connected = client.next_json().await;
        assert_eq!(connected["type"], "system", "{connected}");
        assert_eq!(connected["event"], "connected", "{connected}");
        (client, connected)
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(WAIT, self.socket.send(Message::text(text)))
            .await
            .expect("send within the timeout")
            .expect("send succeeds");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        tokio::time::timeout(WAIT, self.socket.send(Message::binary(bytes)))
            .await
            .expect("send within the timeout")
            .expect("send succeeds");
    }

    /// The next data frame (text or binary), skipping WebSocket pings.
    pub async fn next_message(&mut self) -> Message {
        loop {
            let next = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame within the timeout")
                .expect("the socket is open")
                .expect("the frame is readable");
            match next {
                Message::Ping(_) | Message::Pong(_) => continue,
                other => return other,
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        match self.next_message().await {
            Message::Text(text) => serde_json::from_str(&text).expect("frame is JSON"),
            other => panic!("expected a JSON text frame, got {other:?}"),
        }
    }

    /// Reads frames until the socket ends; returns the frames seen and how it ended.
    pub async fn until_end(&mut self) -> (Vec<Message>, Ending) {
        let mut seen = Vec::new();
        let ending = tokio::time::timeout(WAIT, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Ending::Closed(u16::from(frame.code));
                    }
                    Some(Ok(Message::Close(None))) => return Ending::Closed(1005),
                    Some(Ok(message)) => seen.push(message),
                    Some(Err(_)) | None => return Ending::Dropped,
                }
            }
        })
        .await
        .expect("the socket ends within the timeout");
        (seen, ending)
    }

    /// The close code and reason the service ends this socket with.
    pub async fn close_frame(&mut self) -> (u16, String) {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return (u16::from(frame.code), frame.reason.to_string());
                    }
                    Some(Ok(Message::Close(None))) => return (1005, String::new()),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => panic!("socket dropped without a close frame"),
                }
            }
        })
        .await
        .expect("the socket ends within the timeout")
    }

    /// The close code the service ends this socket with.
    pub async fn close_code(&mut self) -> u16 {
        match self.until_end().await.1 {
            Ending::Closed(code) => code,
            Ending::Dropped => panic!("socket dropped without a close frame"),
        }
    }

    /// Sends `ping` and expects `pong` as the very next frame: proves nothing else was
    /// queued for this client before it.
    pub async fn expect_nothing_queued(&mut self) {
        self.send_json(json!({"type": "ping"})).await;
        let next = self.next_json().await;
        assert_eq!(
            next,
            json!({"type": "pong"}),
            "unexpected frame before pong"
        );
    }

    /// Sends text to a group and expects the request acked as a success.
    pub async fn publish(&mut self, group: &str, data: &str, ack_id: u64) {
        self.send_json(send_text(group, data, ack_id)).await;
        assert_eq!(self.next_json().await, ack_ok(ack_id), "publish to {group}");
    }

    pub async fn join(&mut self, group: &str, ack_id: u64) -> Value {
        self.send_json(json!({"type": "joinGroup", "group": group, "ackId": ack_id}))
            .await;
        self.next_json().await
    }

    /// Closes with a code, waiting for the close handshake.
    pub async fn close_with(mut self, code: u16) {
        let _ = self
            .socket
            .close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "".into(),
            }))
            .await;
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }

    /// Sends a close frame (`None`: one with no status code) and reads until the socket
    /// ends. Returns the close frame the service answered with (`Closed(1005)` for one
    /// without a code, `Dropped` for none) and whether the stream then ended cleanly
    /// rather than with an error.
    pub async fn close_handshake(mut self, code: Option<u16>) -> (Ending, bool) {
        let frame = code.map(|code| CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        });
        tokio::time::timeout(WAIT, self.socket.close(frame))
            .await
            .expect("close within the timeout")
            .expect("the close frame is sent");
        tokio::time::timeout(WAIT, async {
            let mut reply = Ending::Dropped;
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        reply = Ending::Closed(u16::from(frame.code));
                    }
                    Some(Ok(Message::Close(None))) => reply = Ending::Closed(1005),
                    Some(Ok(_)) => {}
                    Some(Err(_)) => return (reply, false),
                    None => return (reply, true),
                }
            }
        })
        .await
        .expect("the socket ends within the timeout")
    }

    /// Drops the TCP connection without a close frame (an abnormal drop).
    pub fn drop_abruptly(self) {
        drop(self.socket);
    }
}

/// A `sendToGroup` request with text data.
pub fn send_text(group: &str, data: &str, ack_id: u64) -> Value {
    json!({"type": "sendToGroup", "group": group, "dataType": "text", "data": data, "ackId": ack_id})
}

pub fn ack_ok(ack_id: u64) -> Value {
    json!({"type": "ack", "ackId": ack_id, "success": true})
}

/// A REST access-key token: `aud` = the request URL.
pub fn rest_token(service: &RunningService, url: &str) -> String {
    mint(
        &Claims {
            aud: url.to_string(),
            iat: Some(now()),
            exp: now() + 60,
            ..Claims::default()
        },
        &service.access_key,
    )
}

pub fn rest_url(service: &RunningService, path_and_query: &str) -> String {
    format!("http://{}{path_and_query}", service.addr)
}

/// Sends an authenticated REST request.
pub async fn rest(
    service: &RunningService,
    method: reqwest::Method,
    path_and_query: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let url = rest_url(service, path_and_query);
    let token = rest_token(service, &url);
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    tokio::time::timeout(WAIT, request.send())
        .await
        .expect("REST answer within the timeout")
        .expect("REST request succeeds")
}

/// Authenticated REST calls on one hub: a path not starting with `/` is relative to
/// `/api/hubs/{hub}/`.
#[derive(Clone, Copy)]
pub struct HubApi<'a> {
    service: &'a RunningService,
    hub: &'a str,
}

impl<'a> HubApi<'a> {
    pub fn new(service: &'a RunningService, hub: &'a str) -> Self {
        HubApi { service, hub }
    }

    fn path(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/api/hubs/{}/{path}", self.hub)
        }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        rest(self.service, method, &self.path(path), content_type, body).await
    }

    /// The status of a request with no body.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> u16 {
        self.request(method, path, None, Vec::new())
            .await
            .status()
            .as_u16()
    }

    /// The status of a POST with a body.
    pub async fn post(&self, path: &str, content_type: &str, body: &[u8]) -> u16 {
        let response = self
            .request(
                reqwest::Method::POST,
                path,
                Some(content_type),
                body.to_vec(),
            )
            .await;
        response.status().as_u16()
    }

    /// Asserts the status of a request with no body.
    pub async fn expect(&self, method: reqwest::Method, path: &str, status: u16) {
        let answered = self.call(method.clone(), path).await;
        assert_eq!(answered, status, "{method} {path}");
    }

    /// Asserts the status of a POST with a body.
    pub async fn expect_post(&self, path: &str, content_type: &str, body: &[u8], status: u16) {
        let answered = self.post(path, content_type, body).await;
        assert_eq!(answered, status, "POST {path} ({content_type})");
    }

    /// The status and JSON body (`Null` when there is none) of a request with no body.
    pub async fn json(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self.request(method, path, None, Vec::new()).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("a readable body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The HTTP status of an authenticated REST request with no body.
pub async fn rest_status(
    service: &RunningService,
    method: reqwest::Method,
    path_and_query: &str,
) -> u16 {
    rest(service, method, path_and_query, None, Vec::new())
        .await
        .status()
        .as_u16()
}

/// The HTTP status of `HEAD /api/hubs/{hub}/connections/{id}`: 200 while the connection
/// exists (a dropped reliable session included), 404 once it is gone.
pub async fn connection_status(service: &RunningService, hub: &str, connection_id: &str) -> u16 {
    rest(
        service,
        reqwest::Method::HEAD,
        &format!("/api/hubs/{hub}/connections/{connection_id}?api-version=2024-12-01"),
        None,
        Vec::new(),
    )
    .await
    .status()
    .as_u16()
}

pub fn service_addr(service: &RunningService) -> SocketAddr {
    service.addr
}
