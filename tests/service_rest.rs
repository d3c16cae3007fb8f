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

/// A JSON connection of `user` with no roles at all.
async fn connect_without_roles(
    service: &wpchat::service::RunningService,
    user: &str,
) -> (Client, String) {
    let token = token_for(service, HUB, Some(user), &[], &[]);
    let (client, connected) = Client::connect(&client_url(service, HUB, &token), JSON).await;
    let id = connected["connectionId"].as_str().unwrap().to_string();
    (client, id)
}

const V: &str = "api-version=2024-12-01";

#[tokio::test]
async fn send_permission_for_one_group_is_granted_checked_and_revoked() {
    let service = start().await;
    let (mut client, id) = connect_without_roles(&service, "p").await;
    let permission = format!("/api/hubs/{HUB}/permissions/sendToGroup/connections/{id}");
    let for_g = format!("{permission}?targetName=g&{V}");
    assert_eq!(call(&service, Method::HEAD, &for_g).await, 404);
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x", "ackId": 1}))
        .await;
    assert_eq!(client.next_json().await["error"]["name"], "Forbidden");

    assert_eq!(call(&service, Method::PUT, &for_g).await, 200);
    assert_eq!(call(&service, Method::HEAD, &for_g).await, 200);
    // Granted for g only: not for another group, nor for every group.
    let for_h = format!("{permission}?targetName=h&{V}");
    assert_eq!(call(&service, Method::HEAD, &for_h).await, 404);
    assert_eq!(
        call(&service, Method::HEAD, &format!("{permission}?{V}")).await,
        404
    );
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x", "ackId": 2}))
        .await;
    assert_eq!(client.next_json().await, ack_ok(2));

    assert_eq!(call(&service, Method::DELETE, &for_g).await, 204);
    assert_eq!(call(&service, Method::HEAD, &for_g).await, 404);
    client
        .send_json(json!({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x", "ackId": 3}))
        .await;
    assert_eq!(client.next_json().await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn join_permission_without_target_covers_every_group() {
    let service = start().await;
    let (mut client, id) = connect_without_roles(&service, "q").await;
    let all = format!("/api/hubs/{HUB}/permissions/joinLeaveGroup/connections/{id}?{V}");
    assert_eq!(call(&service, Method::HEAD, &all).await, 404);
    assert_eq!(client.join("a", 1).await["error"]["name"], "Forbidden");
    assert_eq!(call(&service, Method::PUT, &all).await, 200);
    assert_eq!(call(&service, Method::HEAD, &all).await, 200);
    let for_b =
        format!("/api/hubs/{HUB}/permissions/joinLeaveGroup/connections/{id}?targetName=b&{V}");
    assert_eq!(call(&service, Method::HEAD, &for_b).await, 200);
    assert_eq!(client.join("a", 2).await, ack_ok(2));
    assert_eq!(client.join("b", 3).await, ack_ok(3));
    // Revoking one group keeps the others; revoking with no target removes it entirely.
    assert_eq!(call(&service, Method::DELETE, &for_b).await, 204);
    assert_eq!(client.join("b", 4).await["error"]["name"], "Forbidden");
    assert_eq!(client.join("c", 5).await, ack_ok(5));
    assert_eq!(call(&service, Method::DELETE, &all).await, 204);
    assert_eq!(client.join("c", 6).await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn permission_requests_for_unknown_connections_or_permissions_fail() {
    let service = start().await;
    let (_client, id) = connect_without_roles(&service, "r").await;
    let unknown =
        format!("/api/hubs/{HUB}/permissions/sendToGroup/connections/nope?targetName=g&{V}");
    for method in [Method::PUT, Method::DELETE, Method::HEAD] {
        assert_eq!(
            call(&service, method.clone(), &unknown).await,
            404,
            "{method}"
        );
    }
    let bad_permission = rest(
        &service,
        Method::PUT,
        &format!("/api/hubs/{HUB}/permissions/invoke/connections/{id}?{V}"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(bad_permission.status(), 400);
    let body: Value = bad_permission.json().await.unwrap();
    assert_eq!(body["code"], "BadRequest");
}

#[tokio::test]
async fn connection_and_user_can_be_removed_from_all_groups() {
    let service = start().await;
    let (mut a, a_id) = connect(&service, "a").await;
    let (mut b1, _) = connect(&service, "b").await;
    let (mut b2, _) = connect(&service, "b").await;
    let (mut sender, _) = connect(&service, "s").await;
    for (client, groups) in [
        (&mut a, ["x", "y"]),
        (&mut b1, ["x", "y"]),
        (&mut b2, ["x", "y"]),
    ] {
        for (i, group) in groups.iter().enumerate() {
            assert_eq!(client.join(group, i as u64 + 1).await, ack_ok(i as u64 + 1));
        }
    }
    assert_eq!(
        call(
            &service,
            Method::DELETE,
            &format!("/api/hubs/{HUB}/connections/{a_id}/groups?{V}")
        )
        .await,
        204
    );
    assert_eq!(
        call(
            &service,
            Method::DELETE,
            &format!("/api/hubs/{HUB}/users/b/groups?{V}")
        )
        .await,
        204
    );
    for (ack, group) in [(1, "x"), (2, "y")] {
        sender
            .send_json(json!({"type": "sendToGroup", "group": group, "dataType": "text", "data": "hi", "ackId": ack}))
            .await;
        assert_eq!(sender.next_json().await, ack_ok(ack));
    }
    for client in [&mut a, &mut b1, &mut b2] {
        client.expect_nothing_queued().await;
    }
    // Both groups are now empty, so they no longer exist.
    for group in ["x", "y"] {
        assert_eq!(
            call(
                &service,
                Method::HEAD,
                &format!("/api/hubs/{HUB}/groups/{group}?{V}")
            )
            .await,
            404
        );
    }
}

async fn expect_closed_with_reason(client: &mut Client, reason: &str) {
    let disconnected = client.next_json().await;
    assert_eq!(disconnected["event"], "disconnected", "{disconnected}");
    assert_eq!(disconnected["message"], reason);
    assert_eq!(client.close_code().await, 1008);
}

#[tokio::test]
async fn close_connections_of_a_user_a_group_and_the_hub() {
    let service = start().await;
    let (mut u1, _) = connect(&service, "u").await;
    let (mut u2, _) = connect(&service, "u").await;
    let (mut other, _) = connect(&service, "o").await;
    assert_eq!(
        call(
            &service,
            Method::POST,
            &format!("/api/hubs/{HUB}/users/u/:closeConnections?reason=user%20done&{V}")
        )
        .await,
        204
    );
    expect_closed_with_reason(&mut u1, "user done").await;
    expect_closed_with_reason(&mut u2, "user done").await;
    other.expect_nothing_queued().await;

    let (mut g1, g1_id) = connect(&service, "g1").await;
    let (mut g2, _) = connect(&service, "g2").await;
    let (mut g3, _) = connect(&service, "g3").await;
    for client in [&mut g1, &mut g2, &mut g3] {
        assert_eq!(client.join("room", 1).await, ack_ok(1));
    }
    let (mut g4, g4_id) = connect(&service, "g4").await;
    assert_eq!(
        call(&service, Method::POST, &format!("/api/hubs/{HUB}/groups/room/:closeConnections?reason=room%20closed&excluded={g1_id}&{V}")).await,
        204
    );
    expect_closed_with_reason(&mut g2, "room closed").await;
    expect_closed_with_reason(&mut g3, "room closed").await;
    g1.expect_nothing_queued().await;
    other.expect_nothing_queued().await;

    assert_eq!(
        call(
            &service,
            Method::POST,
            &format!("/api/hubs/{HUB}/:closeConnections?excluded={g4_id}&{V}")
        )
        .await,
        204
    );
    expect_closed_with_reason(&mut g1, "ClosedByAppServer").await;
    expect_closed_with_reason(&mut other, "ClosedByAppServer").await;
    g4.expect_nothing_queued().await;
}

#[tokio::test]
async fn group_connections_are_listed() {
    let service = start().await;
    let (mut a, a_id) = connect(&service, "alice").await;
    let token = token_for(&service, HUB, None, JOIN_SEND, &[]);
    let (mut anon, anon_connected) =
        Client::connect(&client_url(&service, HUB, &token), JSON).await;
    let anon_id = anon_connected["connectionId"].as_str().unwrap().to_string();
    let (_outside, _) = connect(&service, "bob").await;
    assert_eq!(a.join("team", 1).await, ack_ok(1));
    assert_eq!(anon.join("team", 1).await, ack_ok(1));

    let list = |query: &'static str| {
        let service = &service;
        async move {
            let response = rest(
                service,
                Method::GET,
                &format!("/api/hubs/{HUB}/groups/team/connections?{V}{query}"),
                None,
                Vec::new(),
            )
            .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let page = list("").await;
    assert_eq!(page["nextLink"], Value::Null);
    let mut members = page["value"].as_array().unwrap().clone();
    members.sort_by_key(|m| m["connectionId"].as_str().unwrap().to_string());
    let mut expected = vec![
        json!({"connectionId": a_id, "userId": "alice"}),
        json!({"connectionId": anon_id, "userId": null}),
    ];
    expected.sort_by_key(|m| m["connectionId"].as_str().unwrap().to_string());
    assert_eq!(members, expected);
    assert_eq!(list("&top=1").await["value"].as_array().unwrap().len(), 1);

    let empty = rest(
        &service,
        Method::GET,
        &format!("/api/hubs/{HUB}/groups/nobody/connections?{V}"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(empty.status(), 200);
    assert_eq!(
        empty.json::<Value>().await.unwrap(),
        json!({"value": [], "nextLink": null})
    );
}

#[tokio::test]
async fn unimplemented_api_operations_answer_501() {
    let service = start().await;
    for (method, path) in [
        (Method::POST, format!("/api/hubs/{HUB}/:addToGroups?{V}")),
        (
            Method::POST,
            format!("/api/hubs/{HUB}/:removeFromGroups?{V}"),
        ),
        (Method::GET, format!("/api/hubs/{HUB}/connections/abc?{V}")),
        (
            Method::GET,
            format!("/api/hubs/{HUB}/some/future/thing?{V}"),
        ),
    ] {
        let response = rest(&service, method.clone(), &path, None, Vec::new()).await;
        assert_eq!(response.status(), 501, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "NotImplemented", "{method} {path}");
    }
    // A HEAD must not read as a silent "no".
    assert_eq!(
        call(
            &service,
            Method::HEAD,
            &format!("/api/hubs/{HUB}/some/thing?{V}")
        )
        .await,
        501
    );
}

#[tokio::test]
async fn generate_token_refuses_client_types_other_than_default() {
    let service = start().await;
    for client_type in ["MQTT", "SocketIO"] {
        let response = rest(
            &service,
            Method::POST,
            &format!("/api/hubs/{HUB}/:generateToken?clientType={client_type}&{V}"),
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(response.status(), 400, "{client_type}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "NotSupported");
    }
    let default = rest(
        &service,
        Method::POST,
        &format!("/api/hubs/{HUB}/:generateToken?clientType=Default&{V}"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(default.status(), 200);
}

#[tokio::test]
async fn user_group_membership_is_remembered_for_later_connections() {
    let service = start().await;
    let membership = format!("/api/hubs/{HUB}/users/late/groups/team?{V}");
    assert_eq!(call(&service, Method::PUT, &membership).await, 200);
    let (mut late, _) = connect(&service, "late").await;
    let (mut sender, _) = connect(&service, "s").await;
    sender
        .send_json(json!({"type": "sendToGroup", "group": "team", "dataType": "text", "data": "welcome", "ackId": 1}))
        .await;
    assert_eq!(sender.next_json().await, ack_ok(1));
    assert_eq!(late.next_json().await["data"], "welcome");

    // Once removed, the user's next connections no longer join.
    assert_eq!(call(&service, Method::DELETE, &membership).await, 204);
    let (mut later, _) = connect(&service, "late").await;
    sender
        .send_json(json!({"type": "sendToGroup", "group": "team", "dataType": "text", "data": "again", "ackId": 2}))
        .await;
    assert_eq!(sender.next_json().await, ack_ok(2));
    later.expect_nothing_queued().await;
    late.expect_nothing_queued().await;
}
