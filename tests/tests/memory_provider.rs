//! The in-memory provider: bounds, expiry, globs, counters, and hits that never serialize.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, with_provider, CacheError, MemoryProvider};
use serde::{Deserialize, Serialize, Serializer};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_entry_bound_holds() {
    let provider = MemoryProvider::builder().max_capacity(100).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    for i in 0..1_000u32 {
        cache.set(&format!("k:{i}"), &i, MINUTE).await.unwrap();
    }
    provider.run_pending_tasks().await;
    assert!(provider.entry_count() <= 100, "{} entries", provider.entry_count());
    assert!(provider.stats().evictions >= 900, "{:?}", provider.stats());
}

#[tokio::test]
async fn the_byte_bound_holds() {
    let provider = MemoryProvider::builder().max_bytes(100_000).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    for i in 0..1_000u32 {
        cache.set(&format!("blob:{i}"), &vec![7u8; 1_000], MINUTE).await.unwrap();
    }
    provider.run_pending_tasks().await;
    // Each entry weighs over 1,000 bytes, so at most 100 fit.
    assert!(provider.entry_count() <= 100, "{} entries", provider.entry_count());
    assert!(provider.entry_count() > 0);
}

#[tokio::test]
async fn expired_entries_are_reclaimed_without_being_read() {
    // Far more room than the keys written, so only expiry can keep the count down.
    let provider = MemoryProvider::builder().max_capacity(10_000_000).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    let (rounds, per_round) = (40u32, 500u32);
    let mut peak = 0;
    for round in 0..rounds {
        for i in 0..per_round {
            cache.set(&format!("once:{round}:{i}"), &i, Duration::from_millis(40)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        if round >= rounds / 2 {
            peak = peak.max(provider.entry_count());
        }
    }
    // No key was ever read. The writes themselves reclaim expired entries, a few each,
    // so the count stays near what one ttl's worth of writes holds instead of growing.
    let written = u64::from(rounds * per_round);
    assert!(peak <= written / 2, "{peak} entries at the peak of the second half; {written} written");
    assert!(provider.stats().expirations >= written / 2, "{:?}", provider.stats());
    assert_eq!(provider.stats().hits + provider.stats().misses, 0, "nothing was read");
}

#[tokio::test]
async fn an_expired_entry_is_neither_read_nor_counted_as_removed() {
    with_provider(MemoryProvider::new(), async {
        cache_runtime::set("brief", &1u8, Duration::from_millis(30)).await.unwrap();
        assert!(cache_runtime::exists("brief").await.unwrap());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(cache_runtime::get::<u8>("brief").await.unwrap(), None);
        assert!(!cache_runtime::exists("brief").await.unwrap());
        assert!(!cache_runtime::delete("brief").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn clear_pattern_takes_redis_globs() {
    let provider = MemoryProvider::new();
    with_provider(provider.clone(), async {
        for key in ["user:1", "user:2", "user:10", "user_list:1", "user_list:2", "other"] {
            cache_runtime::set(key, &key.to_string(), MINUTE).await.unwrap();
        }
        assert_eq!(cache_runtime::clear_pattern("user:?").await.unwrap(), 2);
        assert_eq!(cache_runtime::clear_pattern("user_list:[12]").await.unwrap(), 2);
        assert_eq!(cache_runtime::clear_pattern("nothing:*").await.unwrap(), 0);
        assert!(cache_runtime::exists("user:10").await.unwrap());
        let bad = cache_runtime::clear_pattern("user:[").await.unwrap_err();
        assert!(matches!(bad, CacheError::BadPattern { .. }), "{bad}");
        assert!(bad.to_string().contains("user:["));
        assert_eq!(cache_runtime::clear().await.unwrap(), 2);
        assert!(!cache_runtime::exists("other").await.unwrap());
    })
    .await;
    assert_eq!(provider.stats().deletes, 6);
}

#[tokio::test]
async fn counters_follow_what_happened() {
    let provider = MemoryProvider::new();
    with_provider(provider.clone(), async {
        cache_runtime::set("a", &1u32, MINUTE).await.unwrap();
        assert_eq!(cache_runtime::get::<u32>("a").await.unwrap(), Some(1));
        assert_eq!(cache_runtime::get::<u32>("b").await.unwrap(), None);
        // Another type under the same key: a miss and an error, never a panic or garbage.
        assert_eq!(cache_runtime::get::<String>("a").await.unwrap(), None);
        assert!(cache_runtime::delete("a").await.unwrap());
        let stats = cache_runtime::stats();
        assert_eq!((stats.hits, stats.misses, stats.sets, stats.deletes, stats.errors), (1, 2, 1, 1, 1));
        assert!((stats.hit_rate() - 1.0 / 3.0).abs() < 1e-9);
    })
    .await;
    assert_eq!(provider.stats().sets, 1, "the provider's own stats() agree");
}

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

/// A value that counts how often it is serialized.
#[derive(Clone, Deserialize)]
struct Watched(u64);

impl Serialize for Watched {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SERIALIZED.fetch_add(1, SeqCst);
        serializer.serialize_u64(self.0)
    }
}

static WATCHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "watched:{n}")]
async fn watched(n: u64) -> Watched {
    WATCHED_RUNS.fetch_add(1, SeqCst);
    Watched(n)
}

#[tokio::test]
async fn memory_hits_clone_and_never_serialize() {
    with_provider(MemoryProvider::new(), async {
        for _ in 0..100 {
            assert_eq!(watched(3).await.0, 3);
        }
    })
    .await;
    assert_eq!(WATCHED_RUNS.load(SeqCst), 1);
    assert_eq!(SERIALIZED.load(SeqCst), 0, "neither the store nor the 99 hits serialized the value");
}

#[tokio::test]
async fn a_zero_ttl_stores_nothing() {
    with_provider(MemoryProvider::new(), async {
        cache_runtime::set("zero", &1u8, Duration::ZERO).await.unwrap();
        assert!(!cache_runtime::exists("zero").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_bounded_store_always_stores_a_new_key() {
    for capacity in [1u64, 2, 10, 1_000] {
        let provider = MemoryProvider::builder().max_capacity(capacity).build();
        let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
        for i in 0..capacity * 3 {
            let key = format!("k:{i}");
            cache.set(&key, &i, MINUTE).await.unwrap();
            assert_eq!(
                cache.get::<u64>(&key).await.unwrap(),
                Some(i),
                "capacity {capacity}: the new key {key} was stored"
            );
        }
        assert!(provider.entry_count() <= capacity, "capacity {capacity}: {} entries", provider.entry_count());
    }
}

#[tokio::test(start_paused = true)]
async fn entries_expire_on_tokio_s_clock() {
    let provider = MemoryProvider::new();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    cache.set("paused", &1u8, Duration::from_secs(30)).await.unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(cache.get::<u8>("paused").await.unwrap(), Some(1));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(cache.get::<u8>("paused").await.unwrap(), None, "expired when the paused clock passed its ttl");
    assert_eq!(provider.stats().expirations, 1);
}
