//! Redis failing under a running service: down, hung, back. The server is stopped, frozen and
//! restarted mid-test; every call must still return its body's result.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::redis::CircuitState;
use cache_runtime::{cached, with_provider, CacheError, RedisProvider};
use cache_tests::{wait_until, RedisServer};

static DOUBLE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "double:{x}")]
async fn double(x: u64) -> Result<u64, String> {
    DOUBLE_RUNS.fetch_add(1, SeqCst);
    Ok(x * 2)
}

#[tokio::test]
async fn with_redis_down_every_call_returns_its_body_result_and_errors_are_counted() {
    let mut server = RedisServer::start();
    let redis = RedisProvider::builder(server.url())
        .prefix("down:")
        // Generous: a stopped server refuses connections at once, no call waits for it.
        .op_timeout(Duration::from_secs(1))
        .circuit_breaker(3, Duration::from_millis(200), Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    with_provider(redis.clone(), async {
        let before = DOUBLE_RUNS.load(SeqCst);
        assert_eq!(double(1).await, Ok(2));
        assert_eq!(double(1).await, Ok(2));
        assert_eq!(DOUBLE_RUNS.load(SeqCst) - before, 1);

        server.stop();
        for i in 0..20 {
            assert_eq!(double(i % 3).await, Ok(i % 3 * 2), "call {i} returns its body's result");
        }
        assert_eq!(DOUBLE_RUNS.load(SeqCst) - before, 21, "no call was served from the dead cache");
        assert!(!double_invalidate(1).await, "an invalidation that cannot reach Redis says so");
        // Cache-aside calls report the failure to the code that asked.
        let failed = cache_runtime::get::<u64>("double:1").await;
        assert!(
            matches!(
                failed,
                Err(CacheError::Connection { .. } | CacheError::Timeout { .. } | CacheError::CircuitOpen { .. })
            ),
            "{failed:?}"
        );
    })
    .await;
    let stats = redis.stats();
    assert!(stats.errors >= 20, "each failed read and write is counted: {stats:?}");
    assert_eq!(stats.hits, 1);
}

static TRIPLE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "triple:{x}")]
async fn triple(x: u64) -> Result<u64, String> {
    TRIPLE_RUNS.fetch_add(1, SeqCst);
    Ok(x * 3)
}

#[tokio::test]
async fn after_consecutive_failures_the_breaker_skips_redis_then_probes_it() {
    let mut server = RedisServer::start();
    let redis = RedisProvider::builder(server.url())
        .prefix("hung:")
        .op_timeout(Duration::from_millis(150))
        .circuit_breaker(3, Duration::from_millis(300), Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    // Written by a patient instance of the same service: the short timeout is for the hung server.
    let writer = RedisProvider::builder(server.url())
        .prefix("hung:")
        .op_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    with_provider(writer, cache_runtime::set("k", &1u32, Duration::from_secs(60))).await.unwrap();
    with_provider(redis.clone(), async {
        // Hung: connected, but nothing answers. Each call waits for its timeout...
        server.freeze();
        for _ in 0..3 {
            let failed = cache_runtime::get::<u32>("k").await;
            assert!(matches!(failed, Err(CacheError::Timeout { operation: "get", .. })), "{failed:?}");
        }
        // ...until three in a row open the breaker: then calls skip Redis without waiting.
        assert!(matches!(redis.circuit(), CircuitState::Open { .. }), "{:?}", redis.circuit());
        for _ in 0..10 {
            let skipped = cache_runtime::get::<u32>("k").await;
            assert!(matches!(skipped, Err(CacheError::CircuitOpen { provider: "redis", .. })), "{skipped:?}");
        }
        // Cached functions keep answering from their bodies meanwhile.
        for x in 0..10 {
            assert_eq!(triple(x).await, Ok(3 * x));
        }
        assert_eq!(TRIPLE_RUNS.load(SeqCst), 10);

        // Back: after the back-off one call probes Redis, finds it, and the breaker closes.
        server.thaw();
        wait_until("a probe to find Redis again", Duration::from_secs(8), || async {
            matches!(cache_runtime::get::<u32>("k").await, Ok(Some(1)))
        })
        .await;
        assert_eq!(redis.circuit(), CircuitState::Closed);
    })
    .await;
    assert!(redis.stats().errors >= 13, "{:?}", redis.stats());
}

static TOTAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "total:{x}")]
async fn total(x: u64) -> u64 {
    TOTAL_RUNS.fetch_add(1, SeqCst);
    x + 1000
}

#[tokio::test]
async fn when_redis_comes_back_the_provider_reconnects_by_itself_and_hits_resume() {
    let mut server = RedisServer::start();
    let redis = RedisProvider::builder(server.url())
        .prefix("back:")
        .op_timeout(Duration::from_secs(1))
        .circuit_breaker(3, Duration::from_millis(100), Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    with_provider(redis.clone(), async {
        assert_eq!(total(1).await, 1001);
        assert_eq!(total(1).await, 1001);
        assert_eq!(redis.stats().hits, 1);

        // A plain restart: the connection drops, the next calls reconnect.
        server.restart();
        wait_until("hits after a restart", Duration::from_secs(10), || async {
            let hits = redis.stats().hits;
            total(2).await;
            total(2).await;
            redis.stats().hits > hits
        })
        .await;

        // Down for a while (the breaker opens), then back: the same provider serves hits again.
        server.stop();
        for x in 10..20 {
            assert_eq!(total(x).await, x + 1000);
        }
        assert!(matches!(redis.circuit(), CircuitState::Open { .. } | CircuitState::Probing), "{:?}", redis.circuit());
        server.restart();
        wait_until("hits after an outage", Duration::from_secs(10), || async {
            let hits = redis.stats().hits;
            total(3).await;
            total(3).await;
            redis.stats().hits > hits
        })
        .await;
        assert_eq!(redis.circuit(), CircuitState::Closed);
    })
    .await;
}
