//! The service in-process on the embedded in-memory cache, over real HTTP.
//!
//! Tests in this binary share the process's default cache provider and metrics recorder; each
//! uses its own meeting ids (so its own keys) and its own service, whose LLM counts only its calls.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use idempotency_service::request::MAX_BODY_BYTES;
use idempotency_service::IdempotencyKey;
use reqwest::Method;
use serde_json::{json, Value};

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
    assert_eq!((reply.status, reply.json()["field"].as_str()), (413, Some("body")), "a Content-Length over the limit");
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
async fn with_cache_stale_a_failed_llm_call_serves_the_last_good_answer() {
    let ttl = Duration::from_millis(300);
    let service = start_with(config().with_cache_ttl(ttl).with_cache_stale(Duration::from_secs(60))).await;
    let client = client();
    let url = service.url("/extract");
    let first = post_json(&client, &url, &meeting("MTG-stale")).await;
    assert_eq!((first.status, first.cache()), (200, "MISS"));
    tokio::time::sleep(ttl * 2).await;
    service.llm().fail_next(1);
    let stale = post_json(&client, &url, &meeting("MTG-stale")).await;
    assert_eq!((stale.status, stale.cache()), (200, "STALE"), "{}", stale.text());
    assert_eq!(stale.text(), first.text(), "the last good answer, byte for byte");
    // The LLM answers again: the next request past the TTL calls it and stores a new answer.
    assert_eq!(post_json(&client, &url, &meeting("MTG-stale")).await.cache(), "MISS");
    assert_eq!(post_json(&client, &url, &meeting("MTG-stale")).await.cache(), "HIT");
    assert_eq!(service.llm().stats().calls, 3);
    let metrics = client.get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|line| line.starts_with("idempotency_requests_total")
            && line.contains(r#"outcome="stale""#)
            && line.contains(r#"operation="extract""#)
            && line.ends_with(" 1")),
        "{metrics}"
    );
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
    for unusable in ["two words".to_owned(), "x".repeat(129)] {
        let reply =
            read(client.get(service.url("/health")).header("x-request-id", &unusable).send().await.unwrap()).await;
        let id = reply.request_id.unwrap_or_else(|| panic!("{unusable:?}: no id"));
        assert!(uuid_like(&id), "{unusable:?} is replaced by a new id, not {id:?}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors_too() {
    let service = start().await;
    let client = client();
    let missing = read(client.get(service.url("/nowhere")).send().await.unwrap()).await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(missing.json()["error"], "not_found");
    assert_eq!(missing.content_type.as_deref(), Some("application/json"));
    assert!(missing.request_id.is_some());

    let cases = [
        (Method::GET, "/extract", "POST"),
        (Method::DELETE, "/health", "GET,HEAD"),
        (Method::GET, "/admin/cache/clear", "POST"),
    ];
    for (method, path, allowed) in cases {
        let response = client.request(method.clone(), service.url(path)).send().await.unwrap();
        let allow = response.headers().get("allow").map(|value| value.to_str().unwrap().to_owned());
        let reply = read(response).await;
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text());
        assert_eq!(reply.json()["error"], "method_not_allowed", "{method} {path}");
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}: the Allow header stays");
        assert!(reply.request_id.is_some());
    }

    let metrics = read(client.get(service.url("/metrics")).send().await.unwrap()).await.text();
    let count = |labels: &[&str]| metric(&metrics, "http_request_duration_seconds_count", labels).unwrap_or(0.0);
    assert!(count(&[r#"path="unmatched""#, r#"status="404""#]) >= 1.0, "{metrics}");
    assert!(count(&[r#"path="/extract""#, r#"status="405""#]) >= 1.0, "{metrics}");
}

#[tokio::test]
async fn a_body_streamed_past_the_limit_is_a_413_too() {
    let service = start().await;
    // No Content-Length: the limit is found while the body is read.
    let (status, body) = post_chunked(service.addr(), "/extract", MAX_BODY_BYTES + 1).await;
    assert_eq!(status, 413, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    assert_eq!((json["error"].as_str(), json["field"].as_str()), (Some("unreadable_body"), Some("body")));
    assert_eq!(service.llm().stats().calls, 0);
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_504_and_stores_nothing() {
    let latency = Duration::from_millis(600);
    let service = start_with(config().with_llm_latency(latency).with_request_timeout(Duration::from_millis(100))).await;
    let client = client();
    let reply = post_json(&client, &service.url("/extract"), &meeting("MTG-timeout")).await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert_eq!(reply.json()["error"], "timeout");
    assert_eq!(reply.x_cache, None);
    assert!(reply.request_id.is_some());

    // Long after the LLM would have answered, nothing is stored for the meeting: the call was abandoned.
    tokio::time::sleep(latency * 2).await;
    let key = IdempotencyKey::for_meeting("MTG-timeout", "2025-10-15T10:00:00Z", "CUST-001");
    let deleted =
        read(client.delete(service.url(&format!("/admin/cache/{key}"))).bearer_auth(ADMIN_TOKEN).send().await.unwrap())
            .await;
    assert_eq!(deleted.json()["removed"]["extract"], false, "{}", deleted.text());
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

/// Posts `len` bytes as `Transfer-Encoding: chunked` (no Content-Length) on a raw connection, and
/// returns the status and the body of the answer. The server may answer and close before it has
/// read everything; writing then fails, which is expected.
async fn post_chunked(addr: SocketAddr, path: &str, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (mut reader, mut writer) = tokio::net::TcpStream::connect(addr).await.unwrap().into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 64 << 10];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            writer.write_all(&chunk[..n]).await?;
            writer.write_all(b"\r\n").await?;
            left -= n;
        }
        writer.write_all(b"0\r\n\r\n").await
    });
    let mut response = Vec::new();
    let mut buffer = [0; 8192];
    while let Ok(n @ 1..) = reader.read(&mut buffer).await {
        response.extend_from_slice(&buffer[..n]);
    }
    let _ = writing.await;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, body.to_owned())
}
