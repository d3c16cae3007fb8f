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
    let api = HubApi::new(&service, HUB);
    let (mut a, a_id) = connect(&service, "a").await;
    let (mut b, _) = connect(&service, "b").await;
    let path = ":send?api-version=2024-01-01";
    api.expect_post(path, "application/json", br#""Hello""#, 202)
        .await;
    for client in [&mut a, &mut b] {
        assert_eq!(
            client.next_json().await,
            json!({"type": "message", "from": "server", "dataType": "json", "data": "Hello"})
        );
    }
    api.expect_post(path, "application/octet-stream", &[1, 2, 3], 202)
        .await;
    for client in [&mut a, &mut b] {
        let message = client.next_json().await;
        assert_eq!(message["dataType"], "binary");
        assert_eq!(message["data"], "AQID");
    }
    let excluding = format!(":send?excluded={a_id}&api-version=2024-01-01");
    api.expect_post(&excluding, "text/plain; charset=utf-8", b"not a", 202)
        .await;
    assert_eq!(b.next_json().await["data"], "not a");
    a.expect_nothing_queued().await;
}

#[tokio::test]
async fn send_to_group_arrives_as_a_group_message_without_sender() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (mut member, member_id) = connect(&service, "m").await;
    let (mut outsider, _) = connect(&service, "o").await;
    let path = format!("groups/room%201/connections/{member_id}");
    api.expect(Method::PUT, &path, 200).await;
    api.expect_post("groups/room%201/:send", "text/plain", b"hi room", 202)
        .await;
    assert_eq!(
        member.next_json().await,
        json!({"type": "message", "from": "group", "group": "room 1", "dataType": "text", "data": "hi room"})
    );
    outsider.expect_nothing_queued().await;
    api.expect(Method::HEAD, "groups/room%201", 200).await;
    api.expect(Method::DELETE, &path, 204).await;
    api.expect(Method::HEAD, "groups/room%201", 404).await;
    api.post("groups/room%201/:send", "text/plain", b"gone")
        .await;
    member.expect_nothing_queued().await;
}

#[tokio::test]
async fn send_to_user_reaches_all_of_the_users_connections() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (mut first, _) = connect(&service, "carol").await;
    let (mut second, _) = connect(&service, "carol").await;
    let (mut other, _) = connect(&service, "dave").await;
    api.expect_post("users/carol/:send", "text/plain", b"for carol", 202)
        .await;
    assert_eq!(first.next_json().await["data"], "for carol");
    assert_eq!(second.next_json().await["data"], "for carol");
    other.expect_nothing_queued().await;
    api.expect(Method::HEAD, "users/carol", 200).await;
}

#[tokio::test]
async fn user_group_membership_applies_to_the_users_connections() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (mut erin, _) = connect(&service, "erin").await;
    let (mut sender, _) = connect(&service, "s").await;
    let membership = "users/erin/groups/team";
    api.expect(Method::PUT, membership, 200).await;
    sender.publish("team", "hey", 1).await;
    let message = erin.next_json().await;
    assert_eq!(message["fromUserId"], "s");
    api.expect(Method::DELETE, membership, 204).await;
    sender.publish("team", "bye", 2).await;
    erin.expect_nothing_queued().await;
}

#[tokio::test]
async fn connection_checks_and_close() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (mut client, id) = connect(&service, "f").await;
    let path = format!("connections/{id}");
    api.expect(Method::HEAD, &path, 200).await;
    api.expect(Method::HEAD, "connections/nope", 404).await;
    api.expect(Method::DELETE, &path, 204).await;
    let disconnected = client.next_json().await;
    assert_eq!(disconnected["event"], "disconnected");
    assert_eq!(disconnected["message"], "ClosedByAppServer");
    api.expect(Method::HEAD, &path, 404).await;
    api.expect_post(
        &format!("connections/{id}/:send"),
        "text/plain",
        b"late",
        404,
    )
    .await;
    api.expect(Method::PUT, &format!("groups/g/connections/{id}"), 404)
        .await;
}

#[tokio::test]
async fn generated_tokens_connect_with_their_roles_and_groups() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (status, body) = api
        .json(
            Method::POST,
            ":generateToken?userId=gina&role=webpubsub.joinLeaveGroup&group=g1&minutesToExpire=5&api-version=2024-12-01",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    let (mut client, connected) = Client::connect(&client_url(&service, HUB, token), JSON).await;
    assert_eq!(connected["userId"], "gina");
    assert_eq!(client.join("other", 1).await, ack_ok(1));
    let (mut sender, _) = connect(&service, "s").await;
    sender.publish("g1", "to g1", 1).await;
    assert_eq!(client.next_json().await["data"], "to g1");

    let (status, body) = api
        .json(Method::POST, ":generateToken?minutesToExpire=0")
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "minutesToExpire '0' must be a whole number of minutes, at least 1"
    );
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
    // Each token with the words a caller reads in the refusal.
    let cases = [
        (None, "missing Authorization: Bearer <token>"),
        (Some("garbage".to_string()), "is not a JWT"),
        (
            Some(mint(
                &claims(&url, now() + 60),
                "the-wrong-key-but-long-enough-0123456789",
            )),
            "signature does not match the access key",
        ),
        (
            Some(mint(
                &claims(&rest_url(&service, "/api/hubs/other/:send"), now() + 60),
                &service.access_key,
            )),
            "does not match the request URL",
        ),
        (
            Some(mint(&claims(&url, now() - 3600), &service.access_key)),
            "the access token expired at",
        ),
    ];
    for (token, says) in cases {
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
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "token {token:?}: {message}");
    }
}

#[tokio::test]
async fn bad_requests_are_400_or_404_with_a_json_error() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    // Each bad request with the words a caller reads in the answer.
    let cases: [(&str, Option<&str>, &[u8], &str); 4] = [
        (
            ":send",
            None,
            b"x",
            "Content-Type (missing) is not one of text/plain",
        ),
        (":send", Some("application/json"), b"{not json", ""),
        (
            "groups/%20%20/:send",
            Some("text/plain"),
            b"x",
            "invalid group",
        ),
        (
            "/api/hubs/1bad/:send",
            Some("text/plain"),
            b"x",
            "hub name '1bad' is not valid",
        ),
    ];
    for (path, content_type, body, says) in cases {
        let response = api
            .request(Method::POST, path, content_type, body.to_vec())
            .await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "BadRequest", "{path}");
        let message = body["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && message.contains(says),
            "{path}: {message}"
        );
    }
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
    let api = HubApi::new(&service, HUB);
    let (mut client, id) = connect_without_roles(&service, "p").await;
    let permission = format!("permissions/sendToGroup/connections/{id}");
    let for_g = format!("{permission}?targetName=g&{V}");
    api.expect(Method::HEAD, &for_g, 404).await;
    client.send_json(send_text("g", "x", 1)).await;
    assert_eq!(client.next_json().await["error"]["name"], "Forbidden");

    api.expect(Method::PUT, &for_g, 200).await;
    api.expect(Method::HEAD, &for_g, 200).await;
    // Granted for g only: not for another group, nor for every group.
    let for_h = format!("{permission}?targetName=h&{V}");
    api.expect(Method::HEAD, &for_h, 404).await;
    api.expect(Method::HEAD, &format!("{permission}?{V}"), 404)
        .await;
    client.publish("g", "x", 2).await;

    api.expect(Method::DELETE, &for_g, 204).await;
    api.expect(Method::HEAD, &for_g, 404).await;
    client.send_json(send_text("g", "x", 3)).await;
    assert_eq!(client.next_json().await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn join_permission_without_target_covers_every_group() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (mut client, id) = connect_without_roles(&service, "q").await;
    let all = format!("permissions/joinLeaveGroup/connections/{id}?{V}");
    api.expect(Method::HEAD, &all, 404).await;
    assert_eq!(client.join("a", 1).await["error"]["name"], "Forbidden");
    api.expect(Method::PUT, &all, 200).await;
    api.expect(Method::HEAD, &all, 200).await;
    let for_b = format!("permissions/joinLeaveGroup/connections/{id}?targetName=b&{V}");
    api.expect(Method::HEAD, &for_b, 200).await;
    assert_eq!(client.join("a", 2).await, ack_ok(2));
    assert_eq!(client.join("b", 3).await, ack_ok(3));
    // Revoking one group keeps the others; revoking with no target removes it entirely.
    api.expect(Method::DELETE, &for_b, 204).await;
    assert_eq!(client.join("b", 4).await["error"]["name"], "Forbidden");
    assert_eq!(client.join("c", 5).await, ack_ok(5));
    api.expect(Method::DELETE, &all, 204).await;
    assert_eq!(client.join("c", 6).await["error"]["name"], "Forbidden");
}

#[tokio::test]
async fn permission_requests_for_unknown_connections_or_permissions_fail() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (_client, id) = connect_without_roles(&service, "r").await;
    let unknown = format!("permissions/sendToGroup/connections/nope?targetName=g&{V}");
    for method in [Method::PUT, Method::DELETE, Method::HEAD] {
        api.expect(method, &unknown, 404).await;
    }
    let bad_permission = format!("permissions/invoke/connections/{id}?{V}");
    let (status, body) = api.json(Method::PUT, &bad_permission).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "BadRequest");
    assert_eq!(
        body["message"],
        "permission 'invoke' is not one of joinLeaveGroup, sendToGroup"
    );
    let (status, body) = api.json(Method::PUT, &unknown).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "connection 'nope' not found");
}

#[tokio::test]
async fn connection_and_user_can_be_removed_from_all_groups() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
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
    let connection_groups = format!("connections/{a_id}/groups?{V}");
    api.expect(Method::DELETE, &connection_groups, 204).await;
    api.expect(Method::DELETE, &format!("users/b/groups?{V}"), 204)
        .await;
    for (ack, group) in [(1, "x"), (2, "y")] {
        sender.publish(group, "hi", ack).await;
    }
    for client in [&mut a, &mut b1, &mut b2] {
        client.expect_nothing_queued().await;
    }
    // Both groups are now empty, so they no longer exist.
    for group in ["x", "y"] {
        api.expect(Method::HEAD, &format!("groups/{group}?{V}"), 404)
            .await;
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
    let api = HubApi::new(&service, HUB);
    let (mut u1, _) = connect(&service, "u").await;
    let (mut u2, _) = connect(&service, "u").await;
    let (mut other, _) = connect(&service, "o").await;
    let close = format!("users/u/:closeConnections?reason=user%20done&{V}");
    api.expect(Method::POST, &close, 204).await;
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
    let close = format!("groups/room/:closeConnections?reason=room%20closed&excluded={g1_id}&{V}");
    api.expect(Method::POST, &close, 204).await;
    expect_closed_with_reason(&mut g2, "room closed").await;
    expect_closed_with_reason(&mut g3, "room closed").await;
    g1.expect_nothing_queued().await;
    other.expect_nothing_queued().await;

    let close = format!(":closeConnections?excluded={g4_id}&{V}");
    api.expect(Method::POST, &close, 204).await;
    expect_closed_with_reason(&mut g1, "ClosedByAppServer").await;
    expect_closed_with_reason(&mut other, "ClosedByAppServer").await;
    g4.expect_nothing_queued().await;
}

#[tokio::test]
async fn group_connections_are_listed() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let (mut a, a_id) = connect(&service, "alice").await;
    let token = token_for(&service, HUB, None, JOIN_SEND, &[]);
    let (mut anon, anon_connected) =
        Client::connect(&client_url(&service, HUB, &token), JSON).await;
    let anon_id = anon_connected["connectionId"].as_str().unwrap().to_string();
    let (_outside, _) = connect(&service, "bob").await;
    assert_eq!(a.join("team", 1).await, ack_ok(1));
    assert_eq!(anon.join("team", 1).await, ack_ok(1));

    let list = |query: &'static str| async move {
        let path = format!("groups/team/connections?{V}{query}");
        let (status, page) = api.json(Method::GET, &path).await;
        assert_eq!(status, 200, "{page}");
        page
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

    let empty = api
        .json(Method::GET, &format!("groups/nobody/connections?{V}"))
        .await;
    assert_eq!(empty, (200, json!({"value": [], "nextLink": null})));
}

#[tokio::test]
async fn unimplemented_api_operations_answer_501() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    for (method, path) in [
        (Method::POST, format!(":addToGroups?{V}")),
        (Method::POST, format!(":removeFromGroups?{V}")),
        (Method::GET, format!("connections/abc?{V}")),
        (Method::GET, format!("some/future/thing?{V}")),
    ] {
        let (status, body) = api.json(method.clone(), &path).await;
        assert_eq!(status, 501, "{method} {path}");
        assert_eq!(body["code"], "NotImplemented", "{method} {path}");
    }
    // A HEAD must not read as a silent "no".
    api.expect(Method::HEAD, &format!("some/thing?{V}"), 501)
        .await;
}

#[tokio::test]
async fn generate_token_refuses_client_types_other_than_default() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    for client_type in ["MQTT", "SocketIO"] {
        let path = format!(":generateToken?clientType={client_type}&{V}");
        let (status, body) = api.json(Method::POST, &path).await;
        assert_eq!(status, 400, "{client_type}");
        assert_eq!(body["code"], "NotSupported");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("clientType '{client_type}' is not supported")),
            "{message}"
        );
    }
    let default = format!(":generateToken?clientType=Default&{V}");
    api.expect(Method::POST, &default, 200).await;
}

#[tokio::test]
async fn user_group_membership_is_remembered_for_later_connections() {
    let service = start().await;
    let api = HubApi::new(&service, HUB);
    let membership = format!("users/late/groups/team?{V}");
    api.expect(Method::PUT, &membership, 200).await;
    let (mut late, _) = connect(&service, "late").await;
    let (mut sender, _) = connect(&service, "s").await;
    sender.publish("team", "welcome", 1).await;
    assert_eq!(late.next_json().await["data"], "welcome");

    // Once removed, the user's next connections no longer join.
    api.expect(Method::DELETE, &membership, 204).await;
    let (mut later, _) = connect(&service, "late").await;
    sender.publish("team", "again", 2).await;
    later.expect_nothing_queued().await;
    late.expect_nothing_queued().await;
}
