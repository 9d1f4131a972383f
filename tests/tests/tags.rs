//! Tags on the memory store, through the cache-aside calls: one call drops every entry with the
//! tag, whatever their number, and nothing else; bad tags are errors that say what a tag is.

use std::time::Duration;

use cache_runtime::{with_provider, CacheError, CacheProvider, MemoryProvider};

const TTL: Duration = Duration::from_secs(60);

#[tokio::test]
async fn invalidating_a_tag_drops_its_entries_and_only_them() {
    with_provider(MemoryProvider::new(), async {
        let cache = cache_runtime::cache();
        cache.set_tagged("order:1", &1u64, TTL, &["user:4", "orders"]).await.unwrap();
        cache.set_tagged("order:2", &2u64, TTL, &["user:42", "orders"]).await.unwrap();
        cache.set_tagged("invoice:1", &3u64, TTL, &["user:4"]).await.unwrap();
        cache.set("plain", &4u64, TTL).await.unwrap();

        cache.invalidate_tag("user:4").await.unwrap();
        assert_eq!(cache.get::<u64>("order:1").await.unwrap(), None);
        assert_eq!(cache.get::<u64>("invoice:1").await.unwrap(), None);
        assert!(!cache.exists("invoice:1").await.unwrap(), "a dropped entry does not exist");
        assert_eq!(cache.get::<u64>("order:2").await.unwrap(), Some(2), "user:42 is another tag than user:4");
        assert_eq!(cache.get::<u64>("plain").await.unwrap(), Some(4));

        cache.invalidate_tag("orders").await.unwrap();
        assert_eq!(cache.get::<u64>("order:2").await.unwrap(), None);
        assert_eq!(cache.get::<u64>("plain").await.unwrap(), Some(4));
    })
    .await;
}

#[tokio::test]
async fn an_entry_written_after_the_invalidation_lives() {
    with_provider(MemoryProvider::new(), async {
        let cache = cache_runtime::cache();
        cache.set_tagged("order:1", &1u64, TTL, &["user:4"]).await.unwrap();
        cache_runtime::invalidate_tag("user:4").await.unwrap();
        cache.set_tagged("order:1", &2u64, TTL, &["user:4"]).await.unwrap();
        assert_eq!(cache.get::<u64>("order:1").await.unwrap(), Some(2));
        // Invalidated again: gone again.
        cache_runtime::invalidate_tag("user:4").await.unwrap();
        assert_eq!(cache.get::<u64>("order:1").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn the_cost_of_an_invalidation_does_not_depend_on_the_entries_it_drops() {
    // 100,000 tagged entries: the invalidation touches none of them (each is dropped on its next
    // read), so the store still holds them all afterwards, and reads find none.
    let memory = MemoryProvider::builder().max_capacity(200_000).build();
    with_provider(memory.clone(), async {
        let cache = cache_runtime::cache();
        for n in 0..100_000u64 {
            cache.set_tagged(&format!("row:{n}"), &n, TTL, &["bulk"]).await.unwrap();
        }
        cache_runtime::invalidate_tag("bulk").await.unwrap();
        assert_eq!(memory.entry_count(), 100_000, "no entry was touched by the invalidation");
        let mut read = 0;
        for n in (0..100_000u64).step_by(997) {
            assert_eq!(cache.get::<u64>(&format!("row:{n}")).await.unwrap(), None);
            read += 1;
        }
        // A read that finds a dropped entry frees its room.
        assert_eq!(memory.entry_count(), 100_000 - read);
    })
    .await;
}

#[tokio::test]
async fn a_bad_tag_is_an_error_that_says_what_a_tag_is() {
    with_provider(MemoryProvider::new(), async {
        let cache = cache_runtime::cache();
        for bad in ["", "a\nb"] {
            let error = cache.set_tagged("k", &1u8, TTL, &[bad]).await.unwrap_err();
            assert!(matches!(error, CacheError::BadTag { .. }), "{error}");
            assert!(error.to_string().contains("a tag is non-empty text"), "{error}");
            let error = cache_runtime::invalidate_tag(bad).await.unwrap_err();
            assert!(matches!(error, CacheError::BadTag { .. }), "{error}");
        }
        assert_eq!(cache.get::<u8>("k").await.unwrap(), None, "nothing was stored");
    })
    .await;
}

#[tokio::test]
async fn a_store_of_your_own_refuses_tags_with_an_error_that_says_what_to_do() {
    /// A store that keeps nothing, and supports no tags.
    struct Nothing(cache_runtime::StatsCounters);
    impl CacheProvider for Nothing {
        fn kind(&self) -> &'static str {
            "nothing"
        }
        fn get<'a>(&'a self, _: &'a str) -> cache_runtime::ProviderFuture<'a, Option<cache_runtime::CachedValue>> {
            Box::pin(async { Ok(None) })
        }
        fn set<'a>(
            &'a self,
            _: &'a str,
            _: cache_runtime::CachedValue,
            _: Duration,
        ) -> cache_runtime::ProviderFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn delete<'a>(&'a self, _: &'a str) -> cache_runtime::ProviderFuture<'a, bool> {
            Box::pin(async { Ok(false) })
        }
        fn exists<'a>(&'a self, _: &'a str) -> cache_runtime::ProviderFuture<'a, bool> {
            Box::pin(async { Ok(false) })
        }
        fn clear(&self) -> cache_runtime::ProviderFuture<'_, u64> {
            Box::pin(async { Ok(0) })
        }
        fn clear_pattern<'a>(&'a self, _: &'a cache_runtime::key::Pattern) -> cache_runtime::ProviderFuture<'a, u64> {
            Box::pin(async { Ok(0) })
        }
        fn counters(&self) -> &cache_runtime::StatsCounters {
            &self.0
        }
    }
    let error = with_provider(Nothing(Default::default()), async { cache_runtime::cache().invalidate_tag("t").await });
    let error = error.await.unwrap_err();
    assert!(matches!(error, CacheError::Unsupported { .. }), "{error}");
    assert!(error.to_string().contains("memory or Redis provider"), "{error}");
}
