//! The local service's REST data-plane subset, called the way the server SDKs call it:
//! access-key JWTs with `aud` = the request URL, Bearer header.

#[path = "support/service_client.rs"]
mod service_client;

use reqwest::Method;
use serde_json::{Value, json};
use service_client::*;
use wpchat::auth::token::{Claims, mint};

async fn connect(service: &wpchat::service::RunningService, user: &str) -> (Client, String) {
    let token = token_for(service, HUB, Some(user), JOIN_SEND, &[]);
    let (client, connected) = Client::connect(&client_url(service, HUB, &token), JSON).await;
    let id = connected["connectionId"].as_str().unwrap().to_string();
    (client, id)
}

async fn post(
    service: &wpchat::service::RunningService,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> u16 {
    rest(
        service,
        Method::POST,
        path,
        Some(content_type),
        body.to_vec(),
    )
    .await
    .status()
    .as_u16()
}

async fn call(service: &wpchat::service::RunningService, method: Method, path: &str) -> u16 {
    rest(service, method, path, None, Vec::new())
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn health_answers_with_the_service_header() {
    let service = start().await;
    let client = reqwest::Client::new();
    for method in [Method::GET, Method::HEAD] {
        let response = client
            .request(method, rest_url(&service, "/api/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-wpchat-service"], "1");
    }
}

#[tokio::test]
async fn send_to_all_maps_content_types_and_honours_excluded() {
    let service = start().await;
    let (mut a, a_id) = connect(&service, "a").await;
    let (mut b, _) = connect(&service, "b").await;
    let path = format!("/api/hubs/{HUB}/:send?api-version=2024-01-01");
    assert_eq!(
        post(&service, &path, "application/json", br#""Hello""#).await,
        202
    );
    for client in [&mut a, &mut b] {
        assert_eq!(
            client.next_json().await,
            json!({"type": "message", "from": "server", "dataType": "json", "data": "Hello"})
        );
    }
    assert_eq!(
        post(&service, &path, "application/octet-stream", &[1, 2, 3]).await,
        202
    );
    for client in [&mut a, &mut b] {
        let message = client.next_json().await;
        assert_eq!(message["dataType"], "binary");
        assert_eq!(message["data"], "AQID");
    }
    let excluding = format!("/api/hubs/{HUB}/:send?excluded={a_id}&api-version=2024-01-01");
    assert_eq!(
        post(&service, &excluding, "text/plain; charset=utf-8", b"not a").await,
        202
    );
    assert_eq!(b.next_json().await["data"], "not a");
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn send_to_group_arrives_as_a_group_message_without_sender() {
    let service = start().await;
    let (mut member, member_id) = connect(&service, "m").await;
    let (mut outsider, _) = connect(&service, "o").await;
    let path = format!("/api/hubs/{HUB}/groups/room%201/connections/{member_id}");
    assert_eq!(call(&service, Method::PUT, &path).await, 200);
    assert_eq!(
        post(
            &service,
            &format!("/api/hubs/{HUB}/groups/room%201/:send"),
            "text/plain",
            b"hi room"
        )
        .await,
        202
    );
    assert_eq!(
        member.next_json().await,
        json!({"type": "message", "from": "group", "group": "room 1", "dataType": "text", "data": "hi room"})
    );
    outsider.expect_nothing_queued().await;
    assert_eq!(
        call(
            &service,
            Method::HEAD,
            &format!("/api/hubs/{HUB}/groups/room%201")
        )
        .await,
        200
    );
    assert_eq!(call(&service, Method::DELETE, &path).await, 204);
    assert_eq!(
        call(
            &service,
            Method::HEAD,
            &format!("/api/hubs/{HUB}/groups/room%201")
        )
        .await,
        404
    );
    post(
        &service,
        &format!("/api/hubs/{HUB}/groups/room%201/:send"),
        "text/plain",
        b"gone",
    )
    .await;
    member.expect_nothing_queued().await;
}

#[tokio::test]
async fn send_to_user_reaches_all_of_the_users_connections() {
    let service = start().await;
    let (mut first, _) = connect(&service, "carol").await;
    let (mut second, _) = connect(&service, "carol").await;
    let (mut other, _) = connect(&service, "dave").await;
    assert_eq!(
        post(
            &service,
            &format!("/api/hubs/{HUB}/users/carol/:send"),
            "text/plain",
            b"for carol"
        )
        .await,
        202
    );
    assert_eq!(first.next_json().await["data"], "for carol");
    assert_eq!(second.next_json().await["data"], "for carol");
    other.expect_nothing_queued().await;
    assert_eq!(
        call(
            &service,
            Method::HEAD,
            &format!("/api/hubs/{HUB}/users/carol")
        )
        .await,
        200
    );
}

#[tokio::test]
async fn user_group_membership_applies_to_the_users_connections() {
    let service = start().await;
    let (mut erin, _) = connect(&service, "erin").await;
    let (mut sender, _) = connect(&service, "s").await;
    let membership = format!("/api/hubs/{HUB}/users/erin/groups/team");
    assert_eq!(call(&service, Method::PUT, &membership).await, 200);
    sender
        .send_json(json!({"type": "sendToGroup", "group": "team", "dataType": "text", "data": "hey", "ackId": 1}))
        .await;
    assert_eq!(sender.next_json().await, ack_ok(1));
    let message = erin.next_json().await;
    assert_eq!(message["fromUserId"], "s");
    assert_eq!(call(&service, Method::DELETE, &membership).await, 204);
    sender
        .send_json(json!({"type": "sendToGroup", "group": "team", "dataType": "text", "data": "bye", "ackId": 2}))
        .await;
    assert_eq!(sender.next_json().await, ack_ok(2));
    erin.expect_nothing_queued().await;
}

#[tokio::test]
async fn connection_checks_and_close() {
    let service = start().await;
    let (mut client, id) = connect(&service, "f").await;
    let path = format!("/api/hubs/{HUB}/connections/{id}");
    assert_eq!(call(&service, Method::HEAD, &path).await, 200);
    assert_eq!(
        call(
            &service,
            Method::HEAD,
            &format!("/api/hubs/{HUB}/connections/nope")
        )
        .await,
        404
    );
    assert_eq!(call(&service, Method::DELETE, &path).await, 204);
    let disconnected = client.next_json().await;
    assert_eq!(disconnected["event"], "disconnected");
    assert_eq!(disconnected["message"], "ClosedByAppServer");
    assert_eq!(call(&service, Method::HEAD, &path).await, 404);
    assert_eq!(
        post(
            &service,
            &format!("/api/hubs/{HUB}/connections/{id}/:send"),
            "text/plain",
            b"late"
        )
        .await,
        404
    );
    assert_eq!(
        call(
            &service,
            Method::PUT,
            &format!("/api/hubs/{HUB}/groups/g/connections/{id}")
        )
        .await,
        404
    );
}

#[tokio::test]
async fn generated_tokens_connect_with_their_roles_and_groups() {
    let service = start().await;
    let response = rest(
        &service,
        Method::POST,
        &format!(
            "/api/hubs/{HUB}/:generateToken?userId=gina&role=webpubsub.joinLeaveGroup&group=g1&minutesToExpire=5&api-version=2024-12-01"
        ),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let (mut client, connected) = Client::connect(&client_url(&service, HUB, token), JSON).await;
    assert_eq!(connected["userId"], "gina");
    assert_eq!(client.join("other", 1).await, ack_ok(1));
    let (mut sender, _) = connect(&service, "s").await;
    sender
        .send_json(json!({"type": "sendToGroup", "group": "g1", "dataType": "text", "data": "to g1", "ackId": 1}))
        .await;
    assert_eq!(sender.next_json().await, ack_ok(1));
    assert_eq!(client.next_json().await["data"], "to g1");

    let bad = rest(
        &service,
        Method::POST,
        &format!("/api/hubs/{HUB}/:generateToken?minutesToExpire=0"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn bad_auth_is_401_with_a_json_error() {
    let service = start().await;
    let url = rest_url(&service, &format!("/api/hubs/{HUB}/:send"));
    let http = reqwest::Client::new();
    let claims = |aud: &str, exp: i64| Claims {
        aud: aud.to_string(),
        exp,
        ..Claims::default()
    };
    let cases = [
        None,
        Some("garbage".to_string()),
        Some(mint(
            &claims(&url, now() + 60),
            "the-wrong-key-but-long-enough-0123456789",
        )),
        Some(mint(
            &claims(&rest_url(&service, "/api/hubs/other/:send"), now() + 60),
            &service.access_key,
        )),
        Some(mint(&claims(&url, now() - 3600), &service.access_key)),
    ];
    for token in cases {
        let mut request = http
            .post(&url)
            .header("Content-Type", "text/plain")
            .body("x");
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "Unauthorized");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn bad_requests_are_400_or_404_with_a_json_error() {
    let service = start().await;
    let missing_type = rest(
        &service,
        Method::POST,
        &format!("/api/hubs/{HUB}/:send"),
        None,
        b"x".to_vec(),
    )
    .await;
    assert_eq!(missing_type.status(), 400);
    let body: Value = missing_type.json().await.unwrap();
    assert_eq!(body["code"], "BadRequest");
    assert_eq!(
        post(
            &service,
            &format!("/api/hubs/{HUB}/:send"),
            "application/json",
            b"{not json"
        )
        .await,
        400
    );
    assert_eq!(
        post(
            &service,
            &format!("/api/hubs/{HUB}/groups/%20%20/:send"),
            "text/plain",
            b"x"
        )
        .await,
        400
    );
    assert_eq!(
        post(&service, "/api/hubs/1bad/:send", "text/plain", b"x").await,
        400
    );
    let unknown = reqwest::Client::new()
        .get(rest_url(&service, "/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], "NotFound");
}
