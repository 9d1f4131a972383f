//! Logs and counters: what an operator sees. One test, because it installs the global tracing
//! subscriber and metrics recorder of this test binary.

use std::time::Duration;

use cache_runtime::key::Pattern;
use cache_runtime::{
    cached, with_provider, CacheError, CacheProvider, CachedValue, MemoryProvider, ProviderFuture, StatsCounters,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};

#[cached(ttl = "5m", key = "user:{id}")]
async fn get_user(id: u64) -> String {
    format!("user {id}")
}

#[cached(ttl = 60, key = "idem:{digest}")]
async fn extract(digest: String) -> usize {
    digest.len()
}

type Snapshot = Vec<(CompositeKey, Option<metrics::Unit>, Option<metrics::SharedString>, DebugValue)>;

/// A store whose reads time out and whose other calls succeed.
#[derive(Default)]
struct SlowStore(StatsCounters);

impl CacheProvider for SlowStore {
    fn kind(&self) -> &'static str {
        "slow"
    }
    fn get<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        Box::pin(async { Err(CacheError::Timeout { operation: "get", after: Duration::from_millis(100) }) })
    }
    fn set<'a>(&'a self, _: &'a str, _: CachedValue, _: Duration) -> ProviderFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn delete<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn exists<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn clear(&self) -> ProviderFuture<'_, u64> {
        Box::pin(async { Ok(0) })
    }
    fn clear_pattern<'a>(&'a self, _: &'a Pattern) -> ProviderFuture<'a, u64> {
        Box::pin(async { Ok(0) })
    }
    fn counters(&self) -> &StatsCounters {
        &self.0
    }
}

fn counter(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .find_map(|(key, _, _, value)| {
            let key_labels: Vec<(String, String)> =
                key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            let wanted: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let same = key.kind() == MetricKind::Counter
                && key.key().name() == name
                && wanted.iter().all(|l| key_labels.contains(l));
            match (same, value) {
                (true, DebugValue::Counter(n)) => Some(*n),
                _ => None,
            }
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn events_are_logged_and_counted_with_function_and_provider() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder of this binary");
    let logs = cache_tests::CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");

    let provider = MemoryProvider::new();
    with_provider(provider.clone(), async {
        get_user(42).await;
        get_user(42).await;
        assert!(get_user_invalidate(42).await);
        extract("a".repeat(64)).await;
        cache_runtime::set("brief", &1u8, Duration::from_millis(10)).await.unwrap();
    })
    .await;
    with_provider(SlowStore::default(), async {
        assert_eq!(get_user(7).await, "user 7", "a store that times out never fails the call");
    })
    .await;

    // An entry a store meets outside a read (a list where `exists` looks) is counted too.
    #[cfg(feature = "redis")]
    let _server = {
        let server = cache_tests::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("RPUSH").arg("o:listed").arg("x").query_async(&mut raw).await.unwrap();
        let redis = cache_runtime::RedisProvider::builder(server.url()).prefix("o:").connect().await.unwrap();
        assert!(!with_provider(redis.clone(), cache_runtime::exists("listed")).await.unwrap());
        assert_eq!(redis.stats().errors, 1);
        // A breaker that opens shows in the metrics.
        let mut server = server;
        let fragile = cache_runtime::RedisProvider::builder(server.url())
            .prefix("o:")
            .circuit_breaker(1, Duration::from_secs(60), Duration::from_secs(60))
            .connect()
            .await
            .unwrap();
        server.stop();
        assert_eq!(with_provider(fragile.clone(), get_user(9)).await, "user 9", "Redis down never fails a call");
        assert!(
            matches!(fragile.circuit(), cache_runtime::redis::CircuitState::Open { .. }),
            "{:?}",
            fragile.circuit()
        );
        server
    };

    // Writes reclaim expired entries; here none come after, so the test asks for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !logs.text().contains("[CACHE EXPIRED]") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        provider.run_pending_tasks().await;
    }

    let text = logs.text();
    for line in [
        "[CACHE MISS] key=user:42",
        "[CACHE SAVE] key=user:42 ttl=5m",
        "[CACHE HIT] key=user:42 age=0.",
        "[CACHE INVALIDATE] key=user:42 removed=1",
        "[CACHE EXPIRED] key=brief",
        "observability::get_user",
        "WARN cache_runtime: [CACHE ERROR] op=get key=user:7 error=cache operation `get` timed out after 100ms",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // Long keys are shortened in logs.
    let long_key = format!("idem:{}", "a".repeat(64));
    assert!(!text.contains(&long_key), "{text}");
    assert!(text.contains(&format!("key={}…", &long_key[..40])), "{text}");

    // A snapshot drains the counters: take one and read them all from it.
    let snapshot = snapshotter.snapshot().into_vec();
    let function = ("function", "observability::get_user");
    let provider_label = ("provider", "default");
    assert_eq!(counter(&snapshot, "cache_hits_total", &[function, provider_label]), 1);
    // The second miss and set are the call through the store whose reads time out; with Redis,
    // a third miss is the call through the provider whose breaker opened (nothing stored).
    let misses = if cfg!(feature = "redis") { 3 } else { 2 };
    assert_eq!(counter(&snapshot, "cache_misses_total", &[function, provider_label]), misses);
    assert_eq!(counter(&snapshot, "cache_sets_total", &[function, provider_label]), 2);
    assert_eq!(counter(&snapshot, "cache_invalidations_total", &[function]), 1);
    assert_eq!(counter(&snapshot, "cache_hits_total", &[("function", "observability::extract")]), 0);
    // The store that times out, and (with Redis) the stopped server: a timeout or a refused
    // connection, whichever the reconnecting client meets first.
    let timeouts = counter(&snapshot, "cache_errors_total", &[function, ("kind", "timeout")]);
    let refused = counter(&snapshot, "cache_errors_total", &[function, ("kind", "connection")]);
    assert_eq!(timeouts + refused, if cfg!(feature = "redis") { 2 } else { 1 });
    assert!(timeouts >= 1);
    #[cfg(feature = "redis")]
    assert_eq!(
        counter(
            &snapshot,
            "cache_errors_total",
            &[("function", "store"), ("provider", "redis"), ("kind", "foreign_entry")]
        ),
        1,
        "an entry that is not ours is counted in the metric as in the stats"
    );
    #[cfg(feature = "redis")]
    {
        assert_eq!(counter(&snapshot, "cache_circuit_transitions_total", &[("to", "open")]), 1);
        let open = snapshot.iter().find_map(|(key, _, _, value)| match value {
            DebugValue::Gauge(level) if key.key().name() == "cache_circuit_open" => Some(level.into_inner()),
            _ => None,
        });
        assert_eq!(open, Some(1.0), "the gauge says the breaker is open");
    }
}
