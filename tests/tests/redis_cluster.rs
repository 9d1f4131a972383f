//! The Redis provider on a real Redis Cluster (three primaries, three replicas): entries spread
//! over every primary, instances built separately share entries and compute a cold key once,
//! tags and pattern clears reach every primary, near caches hear writes through the cluster,
//! `init_from_env` takes a cluster URL, and a primary killed mid-run fails no call.
//!
//! Two clusters per run: one shared by the scenarios of the first test (each on a prefix of its
//! own, run one after the other so that a failure names its scenario), one for the failover.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, outcome, with_provider, Cache, CacheError, MemoryProvider, Outcome, RedisProvider};
use cache_tests::{wait_until, RedisCluster};

const TTL: Duration = Duration::from_secs(60);

async fn instance(cluster: &RedisCluster, prefix: &str) -> RedisProvider {
    RedisProvider::cluster_builder(cluster.urls())
        .prefix(prefix)
        .op_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("connect to the cluster: {error}"))
}

async fn near_instance(cluster: &RedisCluster, prefix: &str) -> RedisProvider {
    RedisProvider::cluster_builder(cluster.urls())
        .prefix(prefix)
        .op_timeout(Duration::from_secs(1))
        .near_cache(MemoryProvider::builder().max_capacity(1_000).build())
        .connect()
        .await
        .unwrap()
}

/// A cache-aside handle on `provider`.
async fn aside(provider: &RedisProvider) -> Cache {
    with_provider(provider.clone(), async { cache_runtime::cache() }).await
}

/// How many keys matching `glob` each primary holds.
fn per_primary(cluster: &RedisCluster, glob: &str) -> Vec<usize> {
    cluster.primaries().into_iter().map(|port| cluster.keys_on(port, glob).len()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_every_feature_reaches_every_primary() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start).await.unwrap();
    entries_spread_and_two_instances_share_them(&cluster).await;
    a_prefix_with_a_brace_is_refused(&cluster).await;
    a_cold_key_is_computed_once_across_instances(&cluster).await;
    a_tag_invalidation_reaches_every_primary(&cluster).await;
    a_tag_invalidated_during_a_computation_wins_over_it(&cluster).await;
    a_pattern_clear_and_a_clear_reach_every_primary(&cluster).await;
    near_caches_hear_writes_through_the_cluster(&cluster).await;
    init_from_env_takes_a_cluster_url(&cluster).await;
}

async fn entries_spread_and_two_instances_share_them(cluster: &RedisCluster) {
    let (a, b) = tokio::join!(instance(cluster, "spread:"), instance(cluster, "spread:"));
    assert!(a.is_cluster());
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    for i in 0..300u64 {
        on_a.set(&format!("user:{i}"), &i, TTL).await.unwrap();
    }
    let spread = per_primary(cluster, "spread:*");
    assert_eq!(spread.len(), 3, "three primaries");
    assert_eq!(spread.iter().sum::<usize>(), 300, "{spread:?}");
    assert!(spread.iter().all(|&n| n > 50), "every primary holds a share: {spread:?}");
    // The layout: the key in a hash tag after the prefix.
    let port = cluster.primaries()[0];
    let stored = cluster.keys_on(port, "spread:*");
    assert!(stored.iter().all(|key| key.starts_with("spread:{user:") && key.ends_with('}')), "{stored:?}");

    for i in 0..300u64 {
        assert_eq!(on_b.get::<u64>(&format!("user:{i}")).await.unwrap(), Some(i), "B reads what A stored");
    }
    assert!(on_b.delete("user:7").await.unwrap());
    assert_eq!(on_a.get::<u64>("user:7").await.unwrap(), None);
    assert!(on_a.exists("user:8").await.unwrap());
    assert_eq!(b.stats().errors, 0, "{:?}", b.stats());
}

async fn a_prefix_with_a_brace_is_refused(cluster: &RedisCluster) {
    let refused = RedisProvider::cluster_builder(cluster.urls()).prefix("app{1}:").connect().await.unwrap_err();
    let CacheError::Config { message } = &refused else { panic!("expected a CacheError::Config, got {refused:?}") };
    assert!(message.contains("choose a prefix without"), "{message}");
    // One server keeps its layout, braces and all.
    let single = RedisProvider::builder("redis://127.0.0.1:1/0").prefix("app{1}:").connect().await.unwrap_err();
    assert!(!matches!(single, CacheError::Config { .. }), "{single:?}");
}

static COLD_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "cold:{id}")]
async fn cold(id: u64) -> Result<u64, String> {
    COLD_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(id * 10)
}

async fn a_cold_key_is_computed_once_across_instances(cluster: &RedisCluster) {
    let (a, b) = tokio::join!(instance(cluster, "cold:"), instance(cluster, "cold:"));
    for id in [1u64, 2, 3, 4] {
        let before = COLD_RUNS.load(SeqCst);
        let (on_a, on_b) = tokio::join!(with_provider(a.clone(), cold(id)), async {
            // B comes second, while A's body runs.
            tokio::time::sleep(Duration::from_millis(50)).await;
            with_provider(b.clone(), outcome(cold(id))).await
        });
        assert_eq!(on_a, Ok(id * 10));
        assert_eq!(on_b.0, Ok(id * 10));
        assert_eq!(on_b.1, Some(Outcome::Joined), "B waited for A's computation of cold:{id}");
        assert_eq!(COLD_RUNS.load(SeqCst) - before, 1, "cold:{id} computed once for two instances");
    }
    // The leases are gone, every entry is in place.
    assert_eq!(per_primary(cluster, "cold:\0lease:*").iter().sum::<usize>(), 0);
    assert_eq!(with_provider(b.clone(), outcome(cold(1))).await, (Ok(10), Some(Outcome::Hit)));

    // A tagged entry the function reads: a hit until its tag is invalidated, then the body runs
    // (the read and the lease both see that the tag dropped it) and stores a value that lives.
    aside(&a).await.set_tagged("cold:9", &7u64, TTL, &["nine"]).await.unwrap();
    assert_eq!(with_provider(b.clone(), outcome(cold(9))).await, (Ok(7), Some(Outcome::Hit)));
    aside(&a).await.invalidate_tag("nine").await.unwrap();
    let before = COLD_RUNS.load(SeqCst);
    assert_eq!(with_provider(b.clone(), outcome(cold(9))).await, (Ok(90), Some(Outcome::Miss)));
    assert_eq!(COLD_RUNS.load(SeqCst) - before, 1);
    assert_eq!(with_provider(a.clone(), outcome(cold(9))).await, (Ok(90), Some(Outcome::Hit)));
}

static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A slow tagged read: the run it was, as its value.
#[cached(ttl = 60, key = "slow:{id}", tags = ["owner:{owner}"])]
async fn slow_tagged(id: u64, owner: u64) -> u64 {
    let run = SLOW_RUNS.fetch_add(1, SeqCst) as u64 + 1;
    tokio::time::sleep(Duration::from_millis(300)).await;
    id * 1_000 + owner * 100 + run
}

async fn a_tag_invalidated_during_a_computation_wins_over_it(cluster: &RedisCluster) {
    let (a, b) = tokio::join!(instance(cluster, "slow:"), instance(cluster, "slow:"));
    let computing = tokio::spawn(with_provider(a.clone(), slow_tagged(1, 7)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    with_provider(b.clone(), cache_runtime::invalidate_tag("owner:7")).await.unwrap();
    let old = computing.await.unwrap();
    assert_eq!(per_primary(cluster, "slow:{slow:1}").iter().sum::<usize>(), 0, "the refused value is not in Redis");
    // Started after the invalidation returned: never the value computed before it, which the
    // leased store refused (the marks are checked by the client on a cluster).
    let (new, how) = with_provider(b.clone(), outcome(slow_tagged(1, 7))).await;
    assert_ne!(new, old, "a value computed before the invalidation was stored after it");
    assert_eq!(how, Some(Outcome::Miss));
    assert_eq!(with_provider(a.clone(), outcome(slow_tagged(1, 7))).await, (new, Some(Outcome::Hit)));
}

async fn a_tag_invalidation_reaches_every_primary(cluster: &RedisCluster) {
    let (a, b) = tokio::join!(instance(cluster, "tags:"), instance(cluster, "tags:"));
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    for i in 0..60u64 {
        on_a.set_tagged(&format!("order:{i}"), &i, TTL, &["user:4", "orders"]).await.unwrap();
        on_a.set_tagged(&format!("invoice:{i}"), &i, TTL, &["user:5"]).await.unwrap();
    }
    assert!(per_primary(cluster, "tags:{order:*").iter().all(|&n| n > 0), "tagged entries on every primary");
    assert_eq!(on_b.get::<u64>("order:3").await.unwrap(), Some(3));

    on_b.invalidate_tag("user:4").await.unwrap();
    for i in 0..60u64 {
        for on in [&on_a, &on_b] {
            assert_eq!(on.get::<u64>(&format!("order:{i}")).await.unwrap(), None, "order:{i}");
            assert_eq!(on.get::<u64>(&format!("invoice:{i}")).await.unwrap(), Some(i), "user:5 is not user:4");
        }
    }
    assert!(!on_a.exists("order:1").await.unwrap());
    // Written again after the invalidation: it lives.
    on_a.set_tagged("order:1", &100u64, TTL, &["user:4"]).await.unwrap();
    assert_eq!(on_b.get::<u64>("order:1").await.unwrap(), Some(100));
    assert_eq!((a.stats().errors, b.stats().errors), (0, 0));
}

async fn a_pattern_clear_and_a_clear_reach_every_primary(cluster: &RedisCluster) {
    let (a, b) = tokio::join!(instance(cluster, "pat:"), instance(cluster, "pat:"));
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    for i in 0..200u64 {
        on_a.set(&format!("p:{i}"), &i, TTL).await.unwrap();
    }
    for i in 0..50u64 {
        on_a.set(&format!("q:{i}"), &i, TTL).await.unwrap();
    }
    assert!(per_primary(cluster, "pat:{p:*").iter().all(|&n| n > 20));
    // Another prefix on the same cluster is left alone.
    let other = aside(&instance(cluster, "other:").await).await;
    other.set("p:1", &1u64, TTL).await.unwrap();

    assert_eq!(on_b.clear_pattern("p:*").await.unwrap(), 200);
    assert_eq!(per_primary(cluster, "pat:{p:*"), [0, 0, 0]);
    assert_eq!(per_primary(cluster, "pat:{q:*").iter().sum::<usize>(), 50);
    assert_eq!(on_a.get::<u64>("p:3").await.unwrap(), None);
    assert_eq!(on_a.get::<u64>("q:3").await.unwrap(), Some(3));

    assert_eq!(on_b.clear().await.unwrap(), 50);
    assert_eq!(per_primary(cluster, "pat:*"), [0, 0, 0]);
    assert_eq!(other.get::<u64>("p:1").await.unwrap(), Some(1));
}

async fn near_caches_hear_writes_through_the_cluster(cluster: &RedisCluster) {
    let (a, b) = tokio::join!(near_instance(cluster, "near:"), near_instance(cluster, "near:"));
    let (on_a, on_b) = (aside(&a).await, aside(&b).await);
    on_a.set("k", &1u64, TTL).await.unwrap();
    // A's message about its write reaches B's node through the cluster bus a moment later, and
    // may drop what B read meanwhile: B serves from its near cache once it has arrived.
    wait_until("B serves k from its near cache", Duration::from_secs(1), || async {
        on_b.get::<u64>("k").await.unwrap() == Some(1) && b.stats().near_hits >= 1
    })
    .await;
    on_a.set("k", &2u64, TTL).await.unwrap();
    wait_until("B's near cache drops k", Duration::from_millis(500), || async {
        on_b.get::<u64>("k").await.unwrap() == Some(2)
    })
    .await;
}

async fn init_from_env_takes_a_cluster_url(cluster: &RedisCluster) {
    std::env::remove_var("REDIS_URL");
    std::env::set_var("CACHE_URL", cluster.env_url());
    std::env::set_var("CACHE_PREFIX", "env:");
    cache_runtime::init_from_env().await.unwrap();
    for i in 0..30u64 {
        cache_runtime::set(&format!("e:{i}"), &i, TTL).await.unwrap();
    }
    assert_eq!(cache_runtime::get::<u64>("e:3").await.unwrap(), Some(3));
    let spread = per_primary(cluster, "env:{e:*");
    assert_eq!(spread.iter().sum::<usize>(), 30, "the default provider is the cluster: {spread:?}");
    assert!(spread.iter().all(|&n| n > 0), "{spread:?}");
    std::env::remove_var("CACHE_URL");
    std::env::remove_var("CACHE_PREFIX");
}

static FAILOVER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "fo:{id}")]
async fn failover(id: u64) -> Result<u64, String> {
    FAILOVER_RUNS.fetch_add(1, SeqCst);
    Ok(id + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_no_call_and_hits_resume_after_its_replica_is_promoted() {
    let mut cluster = tokio::task::spawn_blocking(RedisCluster::start).await.unwrap();
    let redis = RedisProvider::cluster_builder(cluster.urls())
        .prefix("fo:")
        .op_timeout(Duration::from_millis(300))
        .circuit_breaker(3, Duration::from_millis(100), Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let ids: Vec<u64> = (0..60).collect();
    with_provider(redis.clone(), async {
        for &id in &ids {
            assert_eq!(failover(id).await, Ok(id + 1));
        }
        for &id in &ids {
            assert_eq!(outcome(failover(id)).await, (Ok(id + 1), Some(Outcome::Hit)));
        }
    })
    .await;
    // The primary that holds `fo:{fo:0}`.
    let victim = *cluster
        .primaries()
        .iter()
        .find(|&&port| cluster.keys_on(port, "fo:{fo:0}").len() == 1)
        .expect("a primary holds fo:0");
    let on_victim: Vec<u64> =
        ids.iter().copied().filter(|id| cluster.keys_on(victim, &format!("fo:{{fo:{id}}}")).len() == 1).collect();
    assert!(!on_victim.is_empty());

    // Two near caches that subscribe through the node about to die (the first URL given).
    let mut urls = cluster.urls();
    urls.sort_by_key(|url| !url.ends_with(&format!(":{victim}")));
    let near = |urls: Vec<String>| async move {
        RedisProvider::cluster_builder(urls)
            .prefix("fo-near:")
            .op_timeout(Duration::from_millis(300))
            .circuit_breaker(3, Duration::from_millis(100), Duration::from_millis(300))
            .near_cache(MemoryProvider::builder().max_capacity(100).build())
            .connect()
            .await
            .unwrap()
    };
    let (near_a, near_b) = tokio::join!(near(urls.clone()), near(urls));
    let (on_a, on_b) = (aside(&near_a).await, aside(&near_b).await);

    cluster.kill(victim);
    let runs = FAILOVER_RUNS.load(SeqCst);
    // Until the replica takes over, every call still returns its body's value (run when the
    // store fails), on the dead primary's keys and the others.
    let killed = tokio::time::Instant::now();
    with_provider(redis.clone(), async {
        while killed.elapsed() < Duration::from_millis(800) {
            for &id in &on_victim {
                assert_eq!(failover(id).await, Ok(id + 1));
            }
        }
    })
    .await;
    assert!(FAILOVER_RUNS.load(SeqCst) > runs, "the bodies ran while the primary was down");
    assert!(redis.stats().errors > 0, "the failures were counted: {:?}", redis.stats());

    let took = tokio::task::spawn_blocking(move || {
        let took = cluster.kill_and_fail_over(victim);
        (cluster, took)
    })
    .await
    .unwrap();
    let _cluster = took.0;
    // Hits resume on the promoted replica: a call stores, the next one is a hit.
    with_provider(redis.clone(), async {
        wait_until("hits on the killed primary's keys", Duration::from_secs(10), || async {
            let id = on_victim[0];
            let _ = failover(id).await;
            outcome(failover(id)).await == (Ok(id + 1), Some(Outcome::Hit))
        })
        .await;
        for &id in &on_victim {
            assert_eq!(failover(id).await, Ok(id + 1));
            assert_eq!(outcome(failover(id)).await, (Ok(id + 1), Some(Outcome::Hit)), "fo:{id}");
        }
    })
    .await;

    // The near caches lost their node: they subscribe through another one and serve again, and
    // a write through A reaches B's near cache.
    wait_until("B's near cache serves again", Duration::from_secs(10), || async {
        let before = near_b.stats().near_hits;
        on_a.set("n", &1u64, TTL).await.is_ok()
            && on_b.get::<u64>("n").await.ok().flatten() == Some(1)
            && on_b.get::<u64>("n").await.ok().flatten() == Some(1)
            && near_b.stats().near_hits > before
    })
    .await;
    on_a.set("n", &2u64, TTL).await.unwrap();
    wait_until("B's near cache drops n", Duration::from_millis(500), || async {
        on_b.get::<u64>("n").await.unwrap() == Some(2)
    })
    .await;
}
