//! Single-flight over Redis: 1,000 concurrent cold calls on a multi-threaded runtime run the body
//! once. Alone in its binary: the tasks share the global default provider (and so its flights).
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::{cached, RedisProvider};
use cache_tests::RedisServer;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "expensive:{id}")]
async fn expensive(id: u64) -> Result<Vec<u64>, String> {
    RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(vec![id; 16])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_cold_calls_run_the_body_once() {
    let server = RedisServer::start();
    // A generous timeout: a slow read under load must not pass for a miss here.
    let redis =
        RedisProvider::builder(server.url()).prefix("sf:").op_timeout(Duration::from_secs(5)).connect().await.unwrap();
    cache_runtime::set_default(redis.clone());

    let start = Arc::new(tokio::sync::Barrier::new(1_000));
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                expensive(42).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Ok(vec![42; 16]));
    }
    assert_eq!(RUNS.load(SeqCst), 1, "one body run for 1,000 cold calls");
    let stats = redis.stats();
    assert_eq!(stats.sets, 1, "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
    // Afterwards, a plain hit.
    assert_eq!(expensive(42).await, Ok(vec![42; 16]));
    assert_eq!(RUNS.load(SeqCst), 1);
}
