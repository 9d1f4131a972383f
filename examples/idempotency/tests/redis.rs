//! The service as separate processes (the real binary) on one Redis: answers survive a restart,
//! instances share them, and the service keeps answering when Redis is down.
#![cfg(feature = "redis")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cache_tests::RedisServer;
use common::*;

/// One `idempotency-service` process, killed when dropped.
struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    /// Starts the binary with `CACHE_URL=cache_url` on a free port and waits until it listens.
    fn start(cache_url: &str) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idempotency-service"))
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("CACHE_URL", cache_url)
            .env_remove("REDIS_URL")
            .env("LLM_LATENCY_MS", LLM_LATENCY.as_millis().to_string())
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info,cache_runtime=debug")
            .env_remove("LOG_FORMAT")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the service binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (address, listening) = mpsc::channel();
        // Reads the logs to the end, so that the child never blocks on a full pipe, and echoes
        // them to the test's output (shown when a test fails).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[service] {line}");
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    let _ = address.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = listening.recv_timeout(Duration::from_secs(30)).expect("the service logs `listening on http://...`");
        Instance { child, base: format!("http://{addr}") }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value of an `llm_calls_total` series of this process.
    async fn llm_calls(&self, client: &reqwest::Client, operation: &str) -> f64 {
        let text = read(client.get(self.url("/metrics")).send().await.unwrap()).await.text();
        metric(&text, "llm_calls_total", &[&format!("operation=\"{operation}\""), "outcome=\"ok\""])
            .unwrap_or_else(|| panic!("no llm_calls_total for {operation} in:\n{text}"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_restarted_service_answers_from_redis() {
    let redis = RedisServer::start();
    let client = client();
    let first = Instance::start(&redis.url());
    let extract = post_json(&client, &first.url("/extract"), &meeting("MTG-restart")).await;
    let analyze = post_json(&client, &first.url("/analyze"), &meeting("MTG-restart")).await;
    assert_eq!((extract.status, extract.cache(), analyze.cache()), (200, "MISS", "MISS"), "{}", extract.text());
    drop(first);

    let second = Instance::start(&redis.url());
    let extract_again = post_json(&client, &second.url("/extract"), &meeting("MTG-restart")).await;
    let analyze_again = post_json(&client, &second.url("/analyze"), &meeting("MTG-restart")).await;
    assert_eq!((extract_again.cache(), analyze_again.cache()), ("HIT", "HIT"), "the new process reads Redis");
    assert_eq!(extract_again.bytes, extract.bytes, "the same bytes after a restart");
    assert_eq!(analyze_again.bytes, analyze.bytes);
    assert_eq!(second.llm_calls(&client, "extract").await, 0.0, "the new process never called the LLM");
    assert_eq!(second.llm_calls(&client, "analyze").await, 0.0);
}

#[tokio::test]
async fn two_instances_share_answers_and_clears() {
    let redis = RedisServer::start();
    let client = client();
    let (a, b) = (Instance::start(&redis.url()), Instance::start(&redis.url()));

    let from_a = post_json(&client, &a.url("/extract"), &meeting("MTG-shared")).await;
    let from_b = post_json(&client, &b.url("/extract"), &meeting("MTG-shared")).await;
    assert_eq!((from_a.cache(), from_b.cache()), ("MISS", "HIT"));
    assert_eq!(from_b.bytes, from_a.bytes);

    let from_b = post_json(&client, &b.url("/analyze"), &meeting("MTG-shared-2")).await;
    let from_a = post_json(&client, &a.url("/analyze"), &meeting("MTG-shared-2")).await;
    assert_eq!((from_b.cache(), from_a.cache()), ("MISS", "HIT"));
    assert_eq!(from_a.bytes, from_b.bytes);
    assert_eq!((a.llm_calls(&client, "extract").await, b.llm_calls(&client, "extract").await), (1.0, 0.0));
    assert_eq!((a.llm_calls(&client, "analyze").await, b.llm_calls(&client, "analyze").await), (0.0, 1.0));

    // A clear on one instance is a clear for both.
    let cleared = read(client.post(a.url("/admin/cache/clear")).bearer_auth(ADMIN_TOKEN).send().await.unwrap()).await;
    assert_eq!((cleared.status, cleared.json()["removed"].as_u64()), (200, Some(2)), "{}", cleared.text());
    assert_eq!(post_json(&client, &b.url("/extract"), &meeting("MTG-shared")).await.cache(), "MISS");
}

#[tokio::test]
async fn dropping_a_customer_on_one_instance_drops_its_answers_on_both() {
    let redis = RedisServer::start();
    let client = client();
    let (a, b) = (Instance::start(&redis.url()), Instance::start(&redis.url()));
    let other = {
        let mut body = meeting("MTG-other-customer");
        body["metadata"]["customer_id"] = "CUST-other".into();
        body
    };
    for body in [meeting("MTG-cust-1"), meeting("MTG-cust-2"), other.clone()] {
        assert_eq!(post_json(&client, &a.url("/extract"), &body).await.cache(), "MISS");
        assert_eq!(post_json(&client, &b.url("/extract"), &body).await.cache(), "HIT");
    }
    let dropped =
        read(client.delete(a.url("/admin/cache/customer/CUST-001")).bearer_auth(ADMIN_TOKEN).send().await.unwrap())
            .await;
    assert_eq!(dropped.status, 200, "{}", dropped.text());
    for meeting_id in ["MTG-cust-1", "MTG-cust-2"] {
        assert_eq!(post_json(&client, &b.url("/extract"), &meeting(meeting_id)).await.cache(), "MISS", "{meeting_id}");
    }
    assert_eq!(post_json(&client, &b.url("/extract"), &other).await.cache(), "HIT", "another customer's answer stays");
}

/// Fleet-wide single-flight: the runtime leases a cold key in Redis, so the key is computed once
/// per fleet, not once per instance, and every caller's X-Cache says which one request computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_make_one_llm_call_for_fifty_concurrent_requests() {
    let redis = RedisServer::start();
    let client = client();
    let instances = [Instance::start(&redis.url()), Instance::start(&redis.url())];
    let requests: Vec<_> = (0..50)
        .map(|i| {
            let (client, url) = (client.clone(), instances[i % 2].url("/extract"));
            tokio::spawn(async move { post_json(&client, &url, &meeting("MTG-fleet")).await })
        })
        .collect();
    let mut replies = Vec::new();
    for request in requests {
        replies.push(request.await.expect("the request task"));
    }
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let calls = [instances[0].llm_calls(&client, "extract").await, instances[1].llm_calls(&client, "extract").await];
    assert_eq!(calls[0] + calls[1], 1.0, "LLM calls per instance: {calls:?}; 25 requests each");
    let misses = replies.iter().filter(|r| r.cache() == "MISS").count();
    assert_eq!((misses, replies.len() - misses), (1, 49), "X-Cache names the one request that called the LLM");
    assert!(replies.iter().all(|r| r.bytes == replies[0].bytes), "every caller gets the same answer");
    // Every later request, on either instance, is a hit with the stored answer.
    let stored = post_json(&client, &instances[0].url("/extract"), &meeting("MTG-fleet")).await;
    let again = post_json(&client, &instances[1].url("/extract"), &meeting("MTG-fleet")).await;
    assert_eq!((stored.cache(), again.cache()), ("HIT", "HIT"));
    assert!(stored.bytes == replies[0].bytes && again.bytes == replies[0].bytes);
}

/// Seed 004's memory fallback: with Redis down, the near cache answers what it holds, and keeps
/// what the LLM answers during the outage, so a repeated request does not pay for it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_service_still_answers_and_pays_once_per_request() {
    let mut redis = RedisServer::start();
    let client = client();
    let instance = Instance::start(&redis.url());
    let url = instance.url("/extract");
    assert_eq!(post_json(&client, &url, &meeting("MTG-outage")).await.cache(), "MISS");
    assert_eq!(post_json(&client, &url, &meeting("MTG-outage")).await.cache(), "HIT");

    redis.stop();
    let held = post_json(&client, &url, &meeting("MTG-outage")).await;
    assert_eq!((held.status, held.cache()), (200, "HIT"), "what the near cache holds: {}", held.text());
    // 20 identical requests for an answer not paid for yet: 10 at once, then 10 one by one.
    let at_once: Vec<_> = (0..10)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { post_json(&client, &url, &meeting("MTG-during-outage")).await })
        })
        .collect();
    let mut replies = Vec::new();
    for reply in at_once {
        replies.push(reply.await.expect("the request task"));
    }
    for _ in 0..10 {
        replies.push(post_json(&client, &url, &meeting("MTG-during-outage")).await);
    }
    assert!(replies.iter().all(|r| r.status == 200), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(replies.iter().filter(|r| r.cache() == "MISS").count(), 1, "one request called the LLM");
    assert!(replies.iter().all(|r| r.bytes == replies[0].bytes), "every request got the same answer");
    assert_eq!(instance.llm_calls(&client, "extract").await, 2.0, "one LLM call before the outage, one during it");

    let health = read(client.get(instance.url("/health")).send().await.unwrap()).await;
    assert_eq!(health.status, 200);
    assert!(health.json()["cache"]["errors"].as_u64().unwrap() > 0, "the outage is counted");
    let metrics = read(client.get(instance.url("/metrics")).send().await.unwrap()).await.text();
    assert!(metric(&metrics, "cache_errors_total", &[r#"provider="default""#]).is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(metric(&metrics, "cache_near_hits_total", &[]).is_some_and(|n| n >= 1.0), "{metrics}");
}

#[tokio::test]
async fn a_service_started_while_redis_is_down_caches_in_memory() {
    let mut redis = RedisServer::start();
    redis.stop();
    let client = client();
    let instance = Instance::start(&redis.url());
    let url = instance.url("/analyze");
    let first = post_json(&client, &url, &meeting("MTG-fallback")).await;
    let second = post_json(&client, &url, &meeting("MTG-fallback")).await;
    assert_eq!((first.status, first.cache(), second.cache()), (200, "MISS", "HIT"), "{}", first.text());
    assert_eq!(second.bytes, first.bytes);
}
