//! The service in-process on the embedded in-memory cache, over real HTTP.
//!
//! Tests in this binary share the process's default cache provider and metrics recorder; each
//! uses its own meeting ids (so its own keys) and its own service, whose LLM counts only its calls.

mod common;

use std::time::Duration;

use common::*;
use idempotency_service::IdempotencyKey;
use serde_json::json;

#[tokio::test]
async fn a_repeated_request_is_a_hit_with_the_same_bytes_and_no_llm_call() {
    let service = start().await;
    let client = client();
    for (path, meeting_id) in [("/extract", "MTG-hit-extract"), ("/analyze", "MTG-hit-analyze")] {
        let calls_before = service.llm().stats().calls;
        let first = post_json(&client, &service.url(path), &meeting(meeting_id)).await;
        assert_eq!((first.status, first.cache()), (200, "MISS"), "{path}: {}", first.text());
        assert_eq!(service.llm().stats().calls, calls_before + 1, "{path}: the miss called the LLM");

        let second = post_json(&client, &service.url(path), &meeting(meeting_id)).await;
        assert_eq!((second.status, second.cache()), (200, "HIT"), "{path}: {}", second.text());
        assert_eq!(second.bytes, first.bytes, "{path}: a hit returns the stored body byte for byte");
        assert_eq!(service.llm().stats().calls, calls_before + 1, "{path}: the hit made no LLM call");

        let key = IdempotencyKey::for_meeting(meeting_id, "2025-10-15T10:00:00Z", "CUST-001");
        assert_eq!(first.json()["idempotency_key"], key.as_str());
        assert_eq!(first.content_type.as_deref(), Some("application/json"));
        let (a, b) = (first.request_id.unwrap(), second.request_id.unwrap());
        assert_ne!(a, b, "each response has its own X-Request-ID");
    }
}

#[tokio::test]
async fn the_same_meeting_on_another_clock_is_the_same_request() {
    let service = start().await;
    let client = client();
    let mut body = meeting("MTG-offset");
    let first = post_json(&client, &service.url("/extract"), &body).await;
    body["metadata"]["meet_date"] = json!("2025-10-15T07:00:00-03:00");
    let second = post_json(&client, &service.url("/extract"), &body).await;
    assert_eq!((first.cache(), second.cache()), ("MISS", "HIT"));
    assert_eq!(second.bytes, first.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_identical_requests_call_the_llm_once() {
    let service = start().await;
    let client = client();
    let url = service.url("/extract");
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { post_json(&client, &url, &meeting("MTG-concurrent")).await })
        })
        .collect();
    let mut replies = Vec::new();
    for request in requests {
        replies.push(request.await.expect("the request task"));
    }
    assert_eq!(service.llm().stats().calls, 1, "one LLM call for 50 identical requests");
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let misses = replies.iter().filter(|r| r.cache() == "MISS").count();
    let hits = replies.iter().filter(|r| r.cache() == "HIT").count();
    assert_eq!((misses, hits), (1, 49), "X-Cache names the one request that called the LLM");
    assert!(replies.iter().all(|r| r.bytes == replies[0].bytes), "every caller gets the same answer");
}

#[tokio::test]
async fn requests_without_usable_metadata_are_processed_uncached() {
    let service = start().await;
    let client = client();
    let url = service.url("/extract");
    let no_metadata = json!({"transcript": "We will call back tomorrow."});
    let partial = |transcript: &str| {
        // No customer_id: not enough to identify the meeting.
        json!({"transcript": transcript, "metadata": {"meeting_id": "MTG-partial", "meet_date": "2025-10-15T10:00:00Z"}})
    };
    let blank =
        json!({"transcript": "Blank ids.", "metadata": {"meeting_id": " ", "customer_id": "", "meet_date": null}});

    for body in [&no_metadata, &no_metadata, &partial("First transcript."), &partial("Second transcript."), &blank] {
        let reply = post_json(&client, &url, body).await;
        assert_eq!((reply.status, reply.cache()), (200, "MISS"), "{}", reply.text());
        let json = reply.json();
        assert_eq!(json["idempotency_key"], json!(null));
        // Each answer is computed from its own transcript: no shared key.
        assert_eq!(json["summary"], body["transcript"]);
    }
    assert_eq!(service.llm().stats().calls, 5, "every uncached request called the LLM");
}

#[tokio::test]
async fn bad_input_is_a_422_that_names_the_field_and_caches_nothing() {
    let service = start().await;
    let client = client();
    let cases = [
        (r#"{"transcript": "x", "metadata": "#, "body"),
        ("[]", "body"),
        (
            r#"{"metadata": {"meeting_id": "MTG-bad", "customer_id": "C", "meet_date": "2025-10-15T10:00:00Z"}}"#,
            "transcript",
        ),
        (r#"{"transcript": "", "metadata": null}"#, "transcript"),
        (
            r#"{"transcript": "x", "metadata": {"meeting_id": "MTG-bad", "customer_id": "C", "meet_date": "15/10/2025"}}"#,
            "metadata.meet_date",
        ),
        (
            r#"{"transcript": "x", "metadata": {"meeting_id": 42, "customer_id": "C", "meet_date": "2025-10-15T10:00:00Z"}}"#,
            "metadata.meeting_id",
        ),
    ];
    for path in ["/extract", "/analyze"] {
        for (body, field) in cases {
            let reply = post_raw(&client, &service.url(path), body).await;
            assert_eq!(reply.status, 422, "{path} {body}: {}", reply.text());
            assert_eq!(reply.x_cache, None, "{path} {body}: a rejected request has no cache status");
            let json = reply.json();
            assert_eq!(json["error"], "invalid_request");
            assert_eq!(json["field"], field, "{path} {body}: {json}");
            assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    let reply = read(
        client.post(service.url("/extract")).header("content-type", "text/plain").body("{}").send().await.unwrap(),
    )
    .await;
    assert_eq!((reply.status, reply.json()["field"].as_str()), (415, Some("content-type")));
    let huge = json!({"transcript": "x".repeat(3 << 20)});
    let reply = post_json(&client, &service.url("/extract"), &huge).await;
    assert_eq!((reply.status, reply.json()["field"].as_str()), (413, Some("body")), "over axum's 2 MB limit");
    assert_eq!(service.llm().stats().calls, 0, "no rejected request reached the LLM");

    // The meeting the bad requests named has nothing stored.
    let valid = json!({"transcript": "x", "metadata": {"meeting_id": "MTG-bad", "customer_id": "C", "meet_date": "2025-10-15T10:00:00Z"}});
    assert_eq!(post_json(&client, &service.url("/extract"), &valid).await.cache(), "MISS");
}

#[tokio::test]
async fn a_failed_llm_call_is_a_502_and_is_not_cached() {
    let service = start().await;
    let client = client();
    let url = service.url("/analyze");
    service.llm().fail_next(1);
    let failed = post_json(&client, &url, &meeting("MTG-llm-down")).await;
    assert_eq!(failed.status, 502, "{}", failed.text());
    assert_eq!(failed.json()["error"], "llm_failed");
    let retried = post_json(&client, &url, &meeting("MTG-llm-down")).await;
    assert_eq!((retried.status, retried.cache()), (200, "MISS"), "the failure was not stored");
    assert_eq!(post_json(&client, &url, &meeting("MTG-llm-down")).await.cache(), "HIT");
    assert_eq!(service.llm().stats().calls, 2);
}

#[tokio::test]
async fn the_configured_ttl_applies() {
    let ttl = Duration::from_millis(300);
    let service = start_with(config().with_cache_ttl(ttl)).await;
    let client = client();
    let url = service.url("/extract");
    assert_eq!(post_json(&client, &url, &meeting("MTG-ttl")).await.cache(), "MISS");
    assert_eq!(post_json(&client, &url, &meeting("MTG-ttl")).await.cache(), "HIT");
    tokio::time::sleep(ttl * 3).await;
    assert_eq!(post_json(&client, &url, &meeting("MTG-ttl")).await.cache(), "MISS", "the entry expired");
    assert_eq!(service.llm().stats().calls, 2);
}

#[tokio::test]
async fn metrics_expose_cache_llm_and_duration_series() {
    let service = start().await;
    let client = client();
    let url = service.url("/analyze");
    assert_eq!(post_json(&client, &url, &meeting("MTG-metrics")).await.cache(), "MISS");
    assert_eq!(post_json(&client, &url, &meeting("MTG-metrics")).await.cache(), "HIT");

    let reply = read(client.get(service.url("/metrics")).send().await.unwrap()).await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.as_deref().is_some_and(|t| t.starts_with("text/plain")));
    let text = reply.text();
    let function = r#"function="idempotency_service::cache::analyze_step""#;
    let at_least_one = |name: &str, labels: &[&str]| {
        let value = metric(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"));
        assert!(value >= 1.0, "{name} {labels:?} = {value}");
    };
    at_least_one("cache_hits_total", &[function, r#"provider="default""#]);
    at_least_one("cache_misses_total", &[function]);
    at_least_one("cache_sets_total", &[function]);
    at_least_one("llm_calls_total", &[r#"operation="analyze""#, r#"outcome="ok""#]);
    at_least_one("llm_calls_avoided_total", &[r#"operation="analyze""#]);
    at_least_one("idempotency_requests_total", &[r#"operation="analyze""#, r#"outcome="hit""#]);
    at_least_one("http_request_duration_seconds_count", &[r#"path="/analyze""#, r#"cache="hit""#]);
    at_least_one("http_request_duration_seconds_count", &[r#"path="/analyze""#, r#"cache="miss""#]);
    let saved = metric(&text, "llm_estimated_cost_saved_usd", &[r#"operation="analyze""#]).unwrap();
    assert!(saved > 0.0, "a hit saves the cost of the call it avoided");
    assert!(metric(&text, "llm_tokens_total", &[r#"operation="analyze""#, r#"kind="prompt""#]).unwrap() > 0.0);
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "durations are a histogram");
}

#[tokio::test]
async fn health_answers_with_counters() {
    let service = start().await;
    let reply = read(client().get(service.url("/health")).send().await.unwrap()).await;
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["cache"]["ttl_seconds"], 86_400);
    assert_eq!(json["llm"]["calls"], 0);
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let service = start().await;
    let client = client();
    let given =
        read(client.get(service.url("/health")).header("x-request-id", "trace-123").send().await.unwrap()).await;
    assert_eq!(given.request_id.as_deref(), Some("trace-123"));
    let made = read(client.get(service.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!(made.status, 404);
    let id = made.request_id.expect("even a 404 has an id");
    assert!(uuid_like(&id), "{id}");
    let bad = post_raw(&client, &service.url("/extract"), "nope").await;
    assert_eq!(bad.status, 422);
    assert!(bad.request_id.is_some_and(|id| uuid_like(&id)));
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}
