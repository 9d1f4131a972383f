//! Fresh, stale, refreshed over Redis: a stale value served when the body fails, kept `ttl +
//! stale` in Redis, and one refresh ahead per fleet (two providers built separately, as two
//! processes would build them). Real time: Redis keeps its own clock.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, outcome, with_provider, Outcome, RedisProvider, StaleReason};
use cache_tests::RedisServer;

async fn provider(server: &RedisServer, prefix: &str) -> RedisProvider {
    RedisProvider::builder(server.url()).prefix(prefix).op_timeout(Duration::from_secs(5)).connect().await.unwrap()
}

static PRICE_FAILS: AtomicBool = AtomicBool::new(false);
static PRICE_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 1, stale = 60, key = "price:{id}")]
async fn price(id: u64) -> Result<u64, String> {
    let run = PRICE_RUNS.fetch_add(1, SeqCst) + 1;
    if PRICE_FAILS.load(SeqCst) {
        return Err(format!("no price for {id}"));
    }
    Ok(id * 10 + run)
}

#[tokio::test]
async fn a_failing_body_serves_the_stale_value_kept_ttl_plus_stale_in_redis() {
    let server = RedisServer::start();
    let redis = provider(&server, "fresh:").await;
    with_provider(redis, async {
        assert_eq!(outcome(price(1)).await, (Ok(11), Some(Outcome::Miss)));
        assert_eq!(outcome(price(1)).await, (Ok(11), Some(Outcome::Hit)));
        let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let kept: i64 = redis::cmd("PTTL").arg("fresh:price:1").query_async(&mut raw).await.unwrap();
        assert!(kept > 50_000, "kept ttl + stale in Redis, not ttl: {kept} ms");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        PRICE_FAILS.store(true, SeqCst);
        assert_eq!(outcome(price(1)).await, (Ok(11), Some(Outcome::Stale(StaleReason::Error))));
        PRICE_FAILS.store(false, SeqCst);
        assert_eq!(outcome(price(1)).await, (Ok(13), Some(Outcome::Miss)), "a success replaces the stale entry");
        assert_eq!(outcome(price(1)).await, (Ok(13), Some(Outcome::Hit)));
    })
    .await;
}

static FEED_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 4, refresh_ahead = 1, key = "feed:{id}")]
async fn feed(id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    id * 100 + FEED_RUNS.fetch_add(1, SeqCst) + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_ahead_runs_once_per_fleet() {
    let server = RedisServer::start();
    let (a, b) = (provider(&server, "fleet:").await, provider(&server, "fleet:").await);
    assert_eq!(with_provider(a.clone(), feed(1)).await, 101);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let hits: Vec<_> = (0..40)
        .map(|i| {
            let on = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(with_provider(on, outcome(feed(1))))
        })
        .collect();
    for hit in hits {
        assert_eq!(hit.await.unwrap(), (101, Some(Outcome::Hit)), "every hit answers at once");
    }
    cache_tests::wait_until("the refresh", Duration::from_secs(5), || async { FEED_RUNS.load(SeqCst) >= 2 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(FEED_RUNS.load(SeqCst), 2, "one refresh for 40 hits on two instances");
    assert_eq!(with_provider(b, feed(1)).await, 102);
}

static QUOTE_FAILS: AtomicBool = AtomicBool::new(false);
static QUOTE_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 1, stale = 60, key = "quote:{id}")]
async fn quote(id: u64) -> Result<u64, String> {
    let run = QUOTE_RUNS.fetch_add(1, SeqCst) + 1;
    if QUOTE_FAILS.load(SeqCst) {
        return Err(format!("no quote for {id}"));
    }
    Ok(id * 10 + run)
}

/// With a near cache, a fresh function's hits are near hits, and an entry the near cache holds
/// ages from when it was stored in Redis, not from when the near cache took it: past `ttl` it is
/// stale, and served only when the body fails.
#[tokio::test]
async fn a_near_cache_serves_fresh_hits_and_keeps_the_age_of_what_it_holds() {
    let server = RedisServer::start();
    let near = cache_runtime::MemoryProvider::builder().max_capacity(100).build();
    let redis = RedisProvider::builder(server.url())
        .prefix("near-fresh:")
        .op_timeout(Duration::from_secs(5))
        .near_cache(near)
        .connect()
        .await
        .unwrap();
    // Another instance stores the entry: this one fills its near cache from Redis.
    let other = provider(&server, "near-fresh:").await;
    assert_eq!(with_provider(other, outcome(quote(1))).await, (Ok(11), Some(Outcome::Miss)));
    cache_tests::wait_until("the near cache to serve", Duration::from_secs(5), || {
        let redis = redis.clone();
        async move {
            with_provider(redis.clone(), quote(1)).await.unwrap();
            redis.stats().near_hits > 0
        }
    })
    .await;
    let near_hits = redis.stats().near_hits;
    with_provider(redis.clone(), async {
        assert_eq!(outcome(quote(1)).await, (Ok(11), Some(Outcome::Hit)));
    })
    .await;
    assert_eq!(redis.stats().near_hits, near_hits + 1, "a fresh hit is served by the near cache");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    QUOTE_FAILS.store(true, SeqCst);
    with_provider(redis.clone(), async {
        assert_eq!(
            outcome(quote(1)).await,
            (Ok(11), Some(Outcome::Stale(StaleReason::Error))),
            "past ttl the near cache's copy is stale: the body runs, and its failure serves it"
        );
    })
    .await;
    QUOTE_FAILS.store(false, SeqCst);
    with_provider(redis.clone(), async {
        assert_eq!(outcome(quote(1)).await.1, Some(Outcome::Miss), "a success replaces the stale entry");
        // The failed run's lease in Redis is given up in the background: a call that comes before
        // that computes without storing. Hits resume once a run has stored.
        cache_tests::wait_until("a fresh hit", Duration::from_secs(5), || async {
            outcome(quote(1)).await.1 == Some(Outcome::Hit)
        })
        .await;
    })
    .await;
}
