//! `POST /admin/cache/clear`, alone in its process: it removes every answer of the default cache.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn clear_needs_the_token_and_then_removes_every_answer() {
    let service = start().await;
    let client = client();
    let requests = [("/extract", "MTG-clear-1"), ("/analyze", "MTG-clear-1"), ("/extract", "MTG-clear-2")];
    for (path, meeting_id) in requests {
        assert_eq!(post_json(&client, &service.url(path), &meeting(meeting_id)).await.cache(), "MISS");
    }
    // An entry that is not the service's stays.
    cache_runtime::set("other:app", &1u32, std::time::Duration::from_secs(60)).await.unwrap();

    let refused = read(client.post(service.url("/admin/cache/clear")).bearer_auth("nope").send().await.unwrap()).await;
    assert_eq!(refused.status, 401);
    assert_eq!(post_json(&client, &service.url("/extract"), &meeting("MTG-clear-2")).await.cache(), "HIT");

    let cleared =
        read(client.post(service.url("/admin/cache/clear")).bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert_eq!(cleared.json(), json!({"removed": 3}));
    assert_eq!(cache_runtime::get::<u32>("other:app").await.unwrap(), Some(1));

    for (path, meeting_id) in requests {
        assert_eq!(
            post_json(&client, &service.url(path), &meeting(meeting_id)).await.cache(),
            "MISS",
            "{path} {meeting_id}"
        );
    }
    assert_eq!(service.llm().stats().calls, 6);
}
