//! `init_from_env` with `CACHE_URL` pointing at a Redis that is down at start: memory first, then
//! Redis once it answers. Alone in its binary: it sets the process's environment and default
//! provider.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::cached;
use cache_tests::{wait_until, RedisServer};
use redis::AsyncCommands;

static GREET_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "greet:{id}")]
async fn greet(id: u64) -> String {
    GREET_RUNS.fetch_add(1, SeqCst);
    format!("hello {id}")
}

#[tokio::test]
async fn unreachable_at_start_it_caches_in_memory_then_switches_to_redis_when_it_answers() {
    let logs = cache_tests::CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    // One thread runs the test and the background reconnection: the guard covers both.
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut server = RedisServer::start();
    server.stop();
    std::env::remove_var("REDIS_URL");
    std::env::set_var("CACHE_URL", server.url());

    cache_runtime::init_from_env().await.expect("an unreachable Redis is not an error at start");
    let warned = logs.text();
    assert!(warned.contains("WARN") && warned.contains("caching in memory"), "a warning says so:\n{warned}");
    // Redis is down, yet the cache works: it is the in-memory fallback.
    assert_eq!(greet(1).await, "hello 1");
    assert_eq!(greet(1).await, "hello 1");
    assert_eq!(GREET_RUNS.load(SeqCst), 1, "cached in memory meanwhile");
    cache_runtime::set("probe", &1u32, Duration::from_secs(60)).await.expect("memory accepts writes");

    server.restart();
    let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    wait_until("the default provider to switch to Redis", Duration::from_secs(20), || {
        // A clone per poll: the connection is a cheap handle.
        let mut raw = raw.clone();
        async move {
            cache_runtime::set("probe", &2u32, Duration::from_secs(60)).await.is_ok()
                && raw.exists::<_, bool>("probe").await.unwrap()
        }
    })
    .await;

    // From now on the macro's entries live in Redis.
    assert_eq!(greet(2).await, "hello 2");
    let stored: Vec<u8> = raw.get("greet:2").await.unwrap();
    assert_eq!(&stored[..2], &[0xCA, 1], "a cache entry with our header");
    assert_eq!(greet(2).await, "hello 2");
    assert_eq!(GREET_RUNS.load(SeqCst), 2);
    let switched = logs.text();
    assert!(switched.contains("caching in redis from now on"), "the switch is logged:\n{switched}");
}
