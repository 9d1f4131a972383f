//! Code the memory store runs while it holds a shard's read lock (a value's `Clone` on a hit) may
//! call the cache: a call never waits on itself. (A log subscriber that calls the cache:
//! `reentrant_log.rs`.)
//!
//! Each scenario runs on a thread of its own with a deadline: a hang fails the test instead of
//! hanging the suite.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cache_runtime::{cached, with_provider, CacheProvider, CachedValue, MemoryProvider};
use cache_tests::within_deadline;
use serde::{Deserialize, Serialize};

/// How long a scenario may take before it counts as waiting on itself.
const DEADLINE: Duration = Duration::from_secs(20);

/// The store the values below write to, set by the test that uses them (one test at a time).
static STORE: Mutex<Option<MemoryProvider>> = Mutex::new(None);
static BODY_RUNS: AtomicU32 = AtomicU32::new(0);

/// A value whose `Clone` writes to the store it is read from, and reads it.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Noisy(u64);

impl Clone for Noisy {
    fn clone(&self) -> Self {
        let store = STORE.lock().unwrap().clone();
        if let Some(store) = store {
            // `set` and `get` of the memory store act before their futures are polled.
            drop(store.set("side", CachedValue::new(self.0), Duration::from_secs(60)));
            drop(store.get("side"));
        }
        Noisy(self.0)
    }
}

#[cached(ttl = 60, key = "noisy:{n}")]
async fn noisy(n: u64) -> Noisy {
    BODY_RUNS.fetch_add(1, Ordering::SeqCst);
    Noisy(n)
}

#[test]
fn a_value_whose_clone_uses_the_store_is_still_served_from_it() {
    within_deadline(DEADLINE, || {
        // One shard: the clone's write goes to the shard the hit holds.
        let provider = MemoryProvider::builder().max_capacity(100).build();
        *STORE.lock().unwrap() = Some(provider.clone());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(with_provider(provider.clone(), async {
            assert_eq!(noisy(1).await, Noisy(1));
            for _ in 0..3 {
                assert_eq!(noisy(1).await, Noisy(1));
            }
        }));
        *STORE.lock().unwrap() = None;
        assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 1, "the hits must be served from the store");
        assert!(provider.stats().hits >= 3, "{:?}", provider.stats());
    });
}

/// The store a [`WritesOnClone`]'s clone writes to.
static CLONE_WRITES_TO: Mutex<Option<MemoryProvider>> = Mutex::new(None);

/// A value whose `Clone` stores another entry: on a hit, under the shard's lock, that store is
/// skipped, and must not touch the store's expiry bookkeeping either.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct WritesOnClone(u64);

impl Clone for WritesOnClone {
    fn clone(&self) -> Self {
        let store = CLONE_WRITES_TO.lock().unwrap().clone();
        if let Some(store) = store {
            drop(store.set("side", CachedValue::new(0u8), Duration::from_secs(3_600)));
        }
        WritesOnClone(self.0)
    }
}

#[cached(ttl = 3600, key = "writes_on_clone")]
async fn writes_on_clone() -> WritesOnClone {
    WritesOnClone(1)
}

#[tokio::test(start_paused = true)]
async fn skipped_writes_from_a_clone_leave_expired_entries_reclaimable() {
    // Two thousand skipped writes would have pushed the expiry heap past its compaction threshold
    // with the scan skipped (every expiry dropped), or popped expiries whose removal was skipped.
    let provider = MemoryProvider::builder().max_capacity(100).build();
    with_provider(provider.clone(), async {
        for i in 0..10u64 {
            provider.set(&format!("short:{i}"), CachedValue::new(i), Duration::from_secs(1)).await.unwrap();
        }
        *CLONE_WRITES_TO.lock().unwrap() = Some(provider.clone());
        for _ in 0..2_000 {
            assert_eq!(writes_on_clone().await, WritesOnClone(1));
        }
        *CLONE_WRITES_TO.lock().unwrap() = None;
        tokio::time::advance(Duration::from_secs(2)).await;
        provider.run_pending_tasks().await;
        // The function's entry and the side entry its first (miss) clone stored are live; the ten
        // short entries expired and are reclaimed.
        assert_eq!(provider.entry_count(), 2);
    })
    .await;
}
