//! The global registry: the default and named providers, replacing them, `with_provider`, and a
//! provider of the user's own, including one that fails.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::key::Pattern;
use cache_runtime::{cached, CacheError, CacheProvider, CachedValue, MemoryProvider, ProviderFuture, StatsCounters};

static SESSION_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(provider = "sessions", key = "session:{id}")]
async fn session(id: u32) -> u32 {
    SESSION_RUNS.fetch_add(1, SeqCst);
    id
}

static DEFAULT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "plain:{id}")]
async fn plain(id: u32) -> u32 {
    DEFAULT_RUNS.fetch_add(1, SeqCst);
    id
}

/// A store that is always down.
#[derive(Default)]
struct Down {
    counters: StatsCounters,
}

impl Down {
    fn fail<T: Send + 'static>() -> ProviderFuture<'static, T> {
        Box::pin(async { Err(CacheError::Connection { message: "connection refused".into() }) })
    }
}

impl CacheProvider for Down {
    fn kind(&self) -> &'static str {
        "down"
    }
    fn get<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        Self::fail()
    }
    fn set<'a>(&'a self, _: &'a str, _: CachedValue, _: Duration) -> ProviderFuture<'a, ()> {
        Self::fail()
    }
    fn delete<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, bool> {
        Self::fail()
    }
    fn exists<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, bool> {
        Self::fail()
    }
    fn clear(&self) -> ProviderFuture<'_, u64> {
        Self::fail()
    }
    fn clear_pattern<'a>(&'a self, _: &'a Pattern) -> ProviderFuture<'a, u64> {
        Self::fail()
    }
    fn counters(&self) -> &StatsCounters {
        &self.counters
    }
}

/// A cheap handle on `Down`, so the test keeps one to read its counters.
#[derive(Clone, Default)]
struct SharedDown(Arc<Down>);

impl CacheProvider for SharedDown {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        self.0.get(key)
    }
    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
        self.0.set(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        self.0.delete(key)
    }
    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        self.0.exists(key)
    }
    fn clear(&self) -> ProviderFuture<'_, u64> {
        self.0.clear()
    }
    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
        self.0.clear_pattern(pattern)
    }
    fn counters(&self) -> &StatsCounters {
        self.0.counters()
    }
}

static DOWN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "down:{id}")]
async fn through_a_broken_cache(id: u32) -> Result<u32, String> {
    DOWN_RUNS.fetch_add(1, SeqCst);
    Ok(id + 1)
}

/// One test owns the global registry, so that the steps run in order.
#[tokio::test(flavor = "multi_thread")]
async fn the_registry_serves_replaces_and_isolates() {
    // An unregistered provider: the call runs uncached and still returns its value.
    assert_eq!(session(1).await, 1);
    assert_eq!(session(1).await, 1);
    assert_eq!(SESSION_RUNS.load(SeqCst), 2);
    let unknown = cache_runtime::named("sessions").err().expect("not registered yet");
    assert!(unknown.to_string().contains("register(\"sessions\""), "{unknown}");

    // Registered: cached, and only there.
    let sessions = MemoryProvider::new();
    cache_runtime::register("sessions", sessions.clone());
    session(1).await;
    session(1).await;
    assert_eq!(SESSION_RUNS.load(SeqCst), 3);
    assert_eq!(sessions.stats().sets, 1);
    assert!(session_invalidate(1).await);

    // Registered again: the new provider replaces the old one.
    let replacement = MemoryProvider::new();
    cache_runtime::register("sessions", replacement.clone());
    session(1).await;
    assert_eq!(SESSION_RUNS.load(SeqCst), 4);
    assert_eq!((sessions.stats().sets, replacement.stats().sets), (1, 1));

    // The default provider, replaced at run time.
    let first = MemoryProvider::new();
    cache_runtime::set_default(first.clone());
    plain(5).await;
    plain(5).await;
    assert_eq!(DEFAULT_RUNS.load(SeqCst), 1);
    let second = MemoryProvider::new();
    cache_runtime::set_default(second.clone());
    plain(5).await;
    assert_eq!(DEFAULT_RUNS.load(SeqCst), 2, "the new default starts empty");
    assert_eq!(cache_runtime::stats(), second.stats());

    // with_provider: this task's calls, cache-aside calls and stats() use the override; other
    // tasks keep the global default.
    let isolated = MemoryProvider::new();
    cache_runtime::with_provider(isolated.clone(), async {
        plain(5).await;
        assert_eq!(DEFAULT_RUNS.load(SeqCst), 3);
        assert!(cache_runtime::exists("plain:5").await.unwrap());
        assert_eq!(cache_runtime::stats().sets, 1);
        let elsewhere = tokio::spawn(async { cache_runtime::stats() }).await.unwrap();
        assert_eq!(elsewhere, second.stats());
    })
    .await;
    assert_eq!(isolated.stats().sets, 1);

    // A provider that always fails: every call still returns the body's result, and the errors are
    // counted; cache-aside calls return the error.
    let down = SharedDown::default();
    cache_runtime::with_provider(down.clone(), async {
        for _ in 0..3 {
            assert_eq!(through_a_broken_cache(1).await, Ok(2));
        }
        assert!(!through_a_broken_cache_invalidate(1).await);
        let error = cache_runtime::get::<u32>("x").await.unwrap_err();
        assert!(matches!(error, CacheError::Connection { .. }));
        assert!(error.to_string().contains("check that the server is running"), "{error}");
    })
    .await;
    assert_eq!(DOWN_RUNS.load(SeqCst), 3);
    let stats = down.stats();
    // Three calls each failed to read and to store; the helper failed to delete; one aside get.
    assert_eq!(stats.errors, 3 * 2 + 1 + 1, "{stats:?}");
    assert_eq!(stats.hits, 0);
}
