//! A log subscriber that calls the cache on a hit's log line: the line is logged after the
//! store's lock is released, so the subscriber's call goes through, and nothing waits on itself.
//!
//! Alone in its test binary: tracing caches each log line's interest per process, and a line
//! first reached by a test on another thread, with no subscriber, could stay disabled here.

use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{with_provider, CacheProvider, CachedValue, MemoryProvider};
use cache_tests::within_deadline;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// How long a scenario may take before it counts as waiting on itself.
const DEADLINE: Duration = Duration::from_secs(20);

/// The store a subscriber writes to on every event of the cache.
static LOGGED_TO: OnceLock<MemoryProvider> = OnceLock::new();

/// A subscriber that writes to the cache's store on each debug event (a hit's log line).
struct WritesOnEvents;

impl Subscriber for WritesOnEvents {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == tracing::Level::DEBUG {
            if let Some(store) = LOGGED_TO.get() {
                drop(store.set("logged", CachedValue::new(1u8), Duration::from_secs(60)));
            }
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_log_subscriber_that_writes_to_the_store_on_a_hit_is_not_skipped() {
    within_deadline(DEADLINE, || {
        let provider = MemoryProvider::builder().max_capacity(100).build();
        LOGGED_TO.set(provider.clone()).ok();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(with_provider(provider.clone(), async {
            let cache = cache_runtime::cache();
            cache.set("k", &7u64, Duration::from_secs(60)).await.unwrap();
            let _subscriber = tracing::subscriber::set_default(WritesOnEvents);
            assert_eq!(cache.get::<u64>("k").await.unwrap(), Some(7));
            // The hit is logged after the store's lock is released: the subscriber's write went in.
            assert_eq!(cache.get::<u8>("logged").await.unwrap(), Some(1));
        }));
    });
}
