//! The admin endpoints' token check and `DELETE /admin/cache/{idempotency_key}`. (Clearing
//! everything is in `admin_clear.rs`, its own process, so that it cannot remove these tests' entries.)

mod common;

use common::*;
use idempotency_service::IdempotencyKey;

fn delete_url(service: &idempotency_service::Service, key: &str) -> String {
    service.url(&format!("/admin/cache/{key}"))
}

#[tokio::test]
async fn delete_needs_the_token_and_then_removes_one_meeting() {
    let service = start().await;
    let client = client();
    let url = service.url("/extract");
    assert_eq!(post_json(&client, &url, &meeting("MTG-admin-delete")).await.cache(), "MISS");
    assert_eq!(post_json(&client, &url, &meeting("MTG-admin-delete")).await.cache(), "HIT");
    let key = IdempotencyKey::for_meeting("MTG-admin-delete", "2025-10-15T10:00:00Z", "CUST-001");

    for auth in [None, Some("Bearer wrong-token"), Some(ADMIN_TOKEN), Some("Basic dGVzdA==")] {
        let mut request = client.delete(delete_url(&service, key.as_str()));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let reply = read(request.send().await.unwrap()).await;
        assert_eq!(reply.status, 401, "{auth:?}: {}", reply.text());
        assert_eq!(reply.json()["error"], "unauthorized");
    }
    assert_eq!(
        post_json(&client, &url, &meeting("MTG-admin-delete")).await.cache(),
        "HIT",
        "refused calls removed nothing"
    );

    let reply =
        read(client.delete(delete_url(&service, key.as_str())).bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["idempotency_key"], key.as_str());
    assert_eq!((json["removed"]["extract"].as_bool(), json["removed"]["analyze"].as_bool()), (Some(true), Some(false)));

    assert_eq!(post_json(&client, &url, &meeting("MTG-admin-delete")).await.cache(), "MISS", "the entry is gone");
    assert_eq!(service.llm().stats().calls, 2);

    // Deleting again is fine and says nothing was there; a key in capitals is the same key.
    let again = read(
        client
            .delete(delete_url(&service, &key.as_str().to_uppercase()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["removed"]["analyze"], false);
}

#[tokio::test]
async fn delete_refuses_what_is_not_a_key() {
    let service = start().await;
    let client = client();
    for key in ["extract:*", "*", "abc", &"g".repeat(64)] {
        let reply = read(client.delete(delete_url(&service, key)).bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await;
        assert_eq!(reply.status, 422, "{key}: {}", reply.text());
        assert_eq!(reply.json()["field"], "idempotency_key");
    }
}

#[tokio::test]
async fn without_admin_token_the_endpoints_are_disabled() {
    let service = start_with(config().with_admin_token(None)).await;
    let client = client();
    let key = "ab".repeat(32);
    let replies = [
        read(client.post(service.url("/admin/cache/clear")).send().await.unwrap()).await,
        read(client.post(service.url("/admin/cache/clear")).bearer_auth("anything").send().await.unwrap()).await,
        read(client.delete(delete_url(&service, &key)).bearer_auth("").send().await.unwrap()).await,
    ];
    for reply in replies {
        assert_eq!(reply.status, 404, "{}", reply.text());
        let json = reply.json();
        assert_eq!(json["error"], "admin_disabled");
        assert!(json["message"].as_str().unwrap().contains("ADMIN_TOKEN"));
    }
}

fn meeting_of(meeting_id: &str, customer_id: &str) -> serde_json::Value {
    let mut body = meeting(meeting_id);
    body["metadata"]["customer_id"] = customer_id.into();
    body
}

#[tokio::test]
async fn dropping_a_customer_drops_all_its_answers_and_no_one_elses() {
    let service = start().await;
    let client = client();
    let (extract, analyze) = (service.url("/extract"), service.url("/analyze"));
    let mine = [meeting_of("MTG-c1", "CUST-drop me"), meeting_of("MTG-c2", "CUST-drop me")];
    let theirs = meeting_of("MTG-c3", "CUST-keep");
    for body in mine.iter().chain([&theirs]) {
        assert_eq!(post_json(&client, &extract, body).await.cache(), "MISS");
        assert_eq!(post_json(&client, &analyze, body).await.cache(), "MISS");
        assert_eq!(post_json(&client, &extract, body).await.cache(), "HIT");
    }

    let url = service.url("/admin/cache/customer/CUST-drop%20me");
    let refused = read(client.delete(&url).send().await.unwrap()).await;
    assert_eq!(refused.status, 401, "the token is needed: {}", refused.text());
    let reply = read(client.delete(&url).bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["customer_id"], "CUST-drop me");
    assert_eq!(reply.json()["tag"], "customer:CUST-drop%20me");

    for body in &mine {
        assert_eq!(post_json(&client, &extract, body).await.cache(), "MISS", "the customer's answers are gone");
        assert_eq!(post_json(&client, &analyze, body).await.cache(), "MISS");
    }
    assert_eq!(post_json(&client, &extract, &theirs).await.cache(), "HIT", "another customer's answers stay");
    assert_eq!(post_json(&client, &analyze, &theirs).await.cache(), "HIT");

    let blank =
        read(client.delete(service.url("/admin/cache/customer/%20")).bearer_auth(ADMIN_TOKEN).send().await.unwrap())
            .await;
    assert_eq!(blank.status, 422, "{}", blank.text());
    assert_eq!(blank.json()["field"], "customer_id");
}
