//! Tags on Redis: two instances (two providers built separately on one server), one invalidation
//! that reaches both and every near cache, with no scan of the keyspace; and a tag invalidated
//! while Redis is down, replayed when it is back.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, with_provider, Cache, CacheError, MemoryProvider, RedisProvider};
use cache_tests::{command_calls, wait_until, RedisServer};

const TTL: Duration = Duration::from_secs(60);

async fn instance(server: &RedisServer, prefix: &str, near: bool) -> RedisProvider {
    let builder = RedisProvider::builder(server.url())
        .prefix(prefix)
        .op_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(2))
        .circuit_breaker(1, Duration::from_millis(50), Duration::from_millis(100));
    let builder = match near {
        true => builder.near_cache(MemoryProvider::builder().max_capacity(1_000).build()),
        false => builder,
    };
    builder.connect().await.unwrap()
}

/// A cache-aside handle on `provider`.
async fn aside(provider: &RedisProvider) -> Cache {
    with_provider(provider.clone(), async { cache_runtime::cache() }).await
}

async fn info(server: &RedisServer) -> String {
    let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    redis::cmd("INFO").arg("commandstats").query_async(&mut raw).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_on_one_instance_drops_its_entries_on_both_without_a_scan() {
    let server = RedisServer::start();
    let (a, b) = tokio::join!(instance(&server, "tags:", false), instance(&server, "tags:", false));
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    on_a.set_tagged("order:1", &1u64, TTL, &["user:4", "orders"]).await.unwrap();
    on_a.set_tagged("order:2", &2u64, TTL, &["user:42", "orders"]).await.unwrap();
    on_b.set_tagged("invoice:1", &3u64, TTL, &["user:4"]).await.unwrap();
    on_b.set("plain", &4u64, TTL).await.unwrap();
    assert_eq!(on_b.get::<u64>("order:1").await.unwrap(), Some(1));
    // Connecting scans once, to check the user's permissions: the invalidations must not.
    let (scans, keys) = (command_calls(&info(&server).await, "scan"), command_calls(&info(&server).await, "keys"));

    on_b.invalidate_tag("user:4").await.unwrap();
    for on in [&on_a, &on_b] {
        assert_eq!(on.get::<u64>("order:1").await.unwrap(), None);
        assert_eq!(on.get::<u64>("invoice:1").await.unwrap(), None);
        assert!(!on.exists("order:1").await.unwrap());
        assert_eq!(on.get::<u64>("order:2").await.unwrap(), Some(2), "user:42 is not user:4");
        assert_eq!(on.get::<u64>("plain").await.unwrap(), Some(4));
    }
    on_a.invalidate_tag("orders").await.unwrap();
    assert_eq!(on_b.get::<u64>("order:2").await.unwrap(), None);

    // Written again after the invalidation: it lives.
    on_a.set_tagged("order:1", &5u64, TTL, &["user:4"]).await.unwrap();
    assert_eq!(on_b.get::<u64>("order:1").await.unwrap(), Some(5));

    let info = info(&server).await;
    assert_eq!(command_calls(&info, "scan"), scans, "{info}");
    assert_eq!(command_calls(&info, "keys"), keys, "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_caches_drop_their_tagged_copies_on_every_instance() {
    let server = RedisServer::start();
    let (a, b) = tokio::join!(instance(&server, "near-tags:", true), instance(&server, "near-tags:", true));
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    on_a.set_tagged("order:1", &1u64, TTL, &["user:4"]).await.unwrap();
    on_a.set_tagged("order:2", &2u64, TTL, &["user:42"]).await.unwrap();
    // B reads them once from Redis, then from its near cache (once A's messages about its own
    // writes, which remove B's copies, have come).
    for key in ["order:1", "order:2"] {
        served_from_memory(&b, &on_b, key).await;
    }

    on_a.invalidate_tag("user:4").await.unwrap();
    wait_until("B's near cache drops order:1", Duration::from_secs(1), || {
        let on_b = on_b.clone();
        async move { on_b.get::<u64>("order:1").await.unwrap().is_none() }
    })
    .await;
    assert_eq!(on_a.get::<u64>("order:1").await.unwrap(), None, "A's own near cache dropped it at once");
    let near_before = b.stats().near_hits;
    assert_eq!(on_b.get::<u64>("order:2").await.unwrap(), Some(2));
    assert!(b.stats().near_hits > near_before, "order:2 is still served from B's memory");
}

/// Waits until `on` (a handle on `provider`) serves `key` from its near cache.
async fn served_from_memory(provider: &RedisProvider, on: &Cache, key: &str) {
    wait_until("a near hit", Duration::from_secs(1), || {
        let (provider, on) = (provider.clone(), on.clone());
        async move {
            let before = provider.stats().near_hits;
            on.get::<u64>(key).await.unwrap().is_some() && provider.stats().near_hits > before
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_while_redis_is_down_applies_here_at_once_and_everywhere_when_it_is_back() {
    let mut server = RedisServer::start();
    let (a, b) = tokio::join!(instance(&server, "down-tags:", true), instance(&server, "down-tags:", true));
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    on_a.set_tagged("order:1", &1u64, TTL, &["user:4"]).await.unwrap();
    assert_eq!(on_a.get::<u64>("order:1").await.unwrap(), Some(1));

    server.freeze();
    let error = on_a.invalidate_tag("user:4").await.unwrap_err();
    assert!(
        matches!(error, CacheError::Timeout { .. } | CacheError::Connection { .. } | CacheError::CircuitOpen { .. }),
        "{error}"
    );
    assert_eq!(on_a.get::<u64>("order:1").await.ok().flatten(), None, "dropped here at once");
    server.thaw();

    // Replayed to Redis: B, which never heard of it, reads no order:1 either.
    wait_until("the replayed invalidation reaches Redis", Duration::from_secs(5), || {
        let on_b = on_b.clone();
        async move { on_b.get::<u64>("order:1").await.is_ok_and(|found| found.is_none()) }
    })
    .await;
    // And an entry written after it lives, on both.
    on_b.set_tagged("order:1", &2u64, TTL, &["user:4"]).await.unwrap();
    wait_until("A reads the new order:1", Duration::from_secs(5), || {
        let on_a = on_a.clone();
        async move { on_a.get::<u64>("order:1").await.ok().flatten() == Some(2) }
    })
    .await;
}

static ORDER_RUNS: AtomicUsize = AtomicUsize::new(0);
static INVOICE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "order:{id}", tags = ["user:{user_id}", "orders"])]
async fn order(id: u64, user_id: u64) -> u64 {
    ORDER_RUNS.fetch_add(1, SeqCst);
    id * 100 + user_id
}

#[cached(ttl = 60, stale = "1h", key = "invoice:{id}", tags = ["user:{user_id}"])]
async fn invoice(id: u64, user_id: u64) -> Result<u64, String> {
    INVOICE_RUNS.fetch_add(1, SeqCst);
    Ok(id + user_id)
}

/// Calls both functions for users 4 and 42 on `on`; returns how many bodies ran.
async fn call_all(on: &RedisProvider) -> usize {
    let before = ORDER_RUNS.load(SeqCst) + INVOICE_RUNS.load(SeqCst);
    with_provider(on.clone(), async {
        for user in [4, 42] {
            order(user, user).await;
            invoice(user, user).await.unwrap();
        }
    })
    .await;
    ORDER_RUNS.load(SeqCst) + INVOICE_RUNS.load(SeqCst) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_shared_by_two_functions_is_dropped_on_two_instances_with_their_near_caches() {
    let server = RedisServer::start();
    let (a, b) = tokio::join!(instance(&server, "fn-tags:", true), instance(&server, "fn-tags:", true));
    assert_eq!(call_all(&a).await, 4, "cold: four bodies");
    assert_eq!(call_all(&b).await, 0, "B reads what A stored");
    assert_eq!(call_all(&b).await, 0, "and then serves it from its near cache");

    with_provider(a.clone(), cache_runtime::invalidate_tag("user:4")).await.unwrap();
    // B's near cache hears of it within a message; then B recomputes user 4's order and invoice
    // (the invoice's stale copy is not served: a dropped entry is gone, not stale), and only those.
    wait_until("B recomputes user 4's entries", Duration::from_secs(1), || {
        let b = b.clone();
        async move { call_all(&b).await == 2 }
    })
    .await;
    assert_eq!(call_all(&a).await, 0, "A reads what B stored after the invalidation");

    with_provider(b.clone(), cache_runtime::invalidate_tag("orders")).await.unwrap();
    wait_until("A recomputes the orders, not the invoices", Duration::from_secs(1), || {
        let a = a.clone();
        async move { call_all(&a).await == 2 }
    })
    .await;
}

static ONCE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Gives a value once, then only errors (which are not stored).
#[cached(ttl = 60, key = "once:{id}", tags = ["once"])]
async fn once(id: u64) -> Result<u64, String> {
    match ONCE_RUNS.fetch_add(1, SeqCst) {
        0 => Ok(id),
        _ => Err("no more".to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_finds_an_entry_dropped_by_its_tag_removes_it_from_redis() {
    let server = RedisServer::start();
    let redis = instance(&server, "freed:", false).await;
    let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    with_provider(redis.clone(), async {
        assert_eq!(once(1).await, Ok(1));
        let stored: bool = redis::cmd("EXISTS").arg("freed:once:1").query_async(&mut raw).await.unwrap();
        assert!(stored);
        cache_runtime::invalidate_tag("once").await.unwrap();
        let still: bool = redis::cmd("EXISTS").arg("freed:once:1").query_async(&mut raw).await.unwrap();
        assert!(still, "the invalidation itself touches no entry");
        assert!(once(1).await.is_err(), "dropped: the body runs (and fails: nothing is stored)");
        let after: bool = redis::cmd("EXISTS").arg("freed:once:1").query_async(&mut raw).await.unwrap();
        assert!(!after, "the read that found it dropped removed it");
    })
    .await;
}
