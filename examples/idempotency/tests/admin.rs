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
