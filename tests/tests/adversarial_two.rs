//! A second round of adversarial tests: the quick_cache memory store (expiry bookkeeping, bounds,
//! counters, concurrency under invalidations) and the call path on Redis (detached leaders,
//! waiters, a slow Redis, cancellation).
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::{cached, with_provider, MemoryProvider, RedisProvider};
use cache_tests::rows::{version, write};
use cache_tests::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, Instant};

const HOUR: Duration = Duration::from_secs(3_600);

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

// =============================================================================================
// Memory store: bounds and counters
// =============================================================================================

#[tokio::test]
async fn a_ttl_of_duration_max_neither_panics_nor_expires() {
    tokio::time::pause();
    let provider = MemoryProvider::builder().max_capacity(10).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    cache.set("forever", &1u32, Duration::MAX).await.unwrap();
    cache.set("forever", &2u32, Duration::MAX - Duration::from_nanos(1)).await.unwrap();
    cache.set("almost", &3u32, Duration::from_secs(u64::MAX / 4)).await.unwrap();
    tokio::time::advance(Duration::from_secs(10 * 365 * 24 * 3600)).await;
    assert_eq!(cache.get::<u32>("forever").await.unwrap(), Some(2));
    assert_eq!(cache.get::<u32>("almost").await.unwrap(), Some(3));
    provider.run_pending_tasks().await;
    assert_eq!(provider.stats().expirations, 0);
}

#[tokio::test]
async fn a_store_of_capacity_zero_stores_nothing_and_never_fails() {
    let provider = MemoryProvider::builder().max_capacity(0).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    for i in 0..100u32 {
        cache.set(&format!("k{i}"), &i, HOUR).await.unwrap();
        assert_eq!(cache.get::<u32>(&format!("k{i}")).await.unwrap(), None);
    }
    assert_eq!(provider.entry_count(), 0);
    assert_eq!(cache.clear().await.unwrap(), 0);
}

#[tokio::test]
async fn a_value_heavier_than_the_whole_bound_is_not_stored_and_does_not_leave_the_old_one() {
    let provider = MemoryProvider::builder().max_bytes(10_000).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    cache.set("blob", &vec![1u8; 10], HOUR).await.unwrap();
    assert!(cache.get::<Vec<u8>>("blob").await.unwrap().is_some());
    // The new value does not fit: the old one must not be served in its place.
    cache.set("blob", &vec![2u8; 50_000], HOUR).await.unwrap();
    assert_eq!(cache.get::<Vec<u8>>("blob").await.unwrap(), None, "the replaced value is gone");
    assert!(provider.entry_count() <= 1);
}

#[tokio::test]
async fn an_expired_entry_removed_by_delete_or_clear_is_not_a_live_removal() {
    tokio::time::pause();
    let provider = MemoryProvider::new();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    for i in 0..10u32 {
        cache.set(&format!("e{i}"), &i, Duration::from_secs(1)).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(!cache.delete("e0").await.unwrap());
    assert_eq!(cache.clear_pattern("e*").await.unwrap(), 0);
    assert_eq!(cache.clear().await.unwrap(), 0);
    assert_eq!(provider.stats().deletes, 0, "{:?}", provider.stats());
    assert_eq!(provider.entry_count(), 0);
}

// =============================================================================================
// Memory store: many threads, invalidations interleaved
// =============================================================================================

#[cached(ttl = 60, key = "mrow:{id}")]
async fn memory_row(id: u64) -> u64 {
    let seen = version(id);
    tokio::task::yield_now().await;
    sleep(Duration::from_micros(200)).await;
    seen
}

/// The version each row had when its last invalidation returned.
static PUBLISHED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_tasks_and_interleaved_invalidations_never_serve_a_value_older_than_an_invalidation() {
    let provider = MemoryProvider::builder().max_capacity(64).build();
    let base = 9_000u64;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let (provider, stop) = (provider.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(with_provider(provider, async move {
            let mut n = 0u64;
            while !stop.load(SeqCst) {
                let slot = ((n * 3 + w) % 8) as usize;
                let id = base + slot as u64;
                let v = write(id);
                // Three kinds of invalidation: the helper, a pattern, everything.
                match n % 3 {
                    0 => drop(memory_row_invalidate(id).await),
                    1 => drop(cache_runtime::clear_pattern(&format!("mrow:{id}")).await.unwrap()),
                    _ => drop(cache_runtime::clear().await.unwrap()),
                }
                PUBLISHED[slot].fetch_max(v, SeqCst);
                n += 1;
                tokio::task::yield_now().await;
            }
        })));
    }
    let mut readers = Vec::new();
    for t in 0..4_000u64 {
        let provider = provider.clone();
        readers.push(tokio::spawn(with_provider(provider, async move {
            let slot = (t % 8) as usize;
            let id = base + slot as u64;
            for _ in 0..5 {
                let floor = PUBLISHED[slot].load(SeqCst);
                let got = memory_row(id).await;
                assert!(got >= floor, "row {id}: got version {got} after an invalidation of version {floor} returned");
            }
        })));
    }
    for reader in readers {
        reader.await.unwrap();
    }
    stop.store(true, SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    // After everything: one more invalidation, and every row reads its latest version.
    for slot in 0..8 {
        let id = base + slot as u64;
        with_provider(provider.clone(), memory_row_invalidate(id)).await;
        assert_eq!(with_provider(provider.clone(), memory_row(id)).await, version(id));
    }
}

// =============================================================================================
// Redis: detached leaders (no fleet waits) and their local waiters
// =============================================================================================

static DETACHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "det:{id}")]
async fn detached_row(id: u64, ms: u64) -> u64 {
    DETACHED_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(ms)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_waiters_of_a_detached_leader_neither_spin_nor_wait_forever() {
    let server = RedisServer::start();
    let build = || {
        RedisProvider::builder(server.url())
            .prefix("det:")
            .fleet_single_flight(false)
            .op_timeout(Duration::from_secs(2))
            .connect()
    };
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    let mut admin = raw(&server).await;
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut admin).await.unwrap();
    // Instance A holds the lease for a long computation.
    let holder = tokio::spawn(with_provider(a.clone(), detached_row(1, 1_500)));
    sleep(Duration::from_millis(150)).await;
    // Instance B: many local callers of the same key.
    let started = Instant::now();
    let callers: Vec<_> = (0..30).map(|_| tokio::spawn(with_provider(b.clone(), detached_row(1, 300)))).collect();
    for caller in callers {
        let got = tokio::time::timeout(Duration::from_secs(5), caller).await.expect("no caller waits forever");
        assert_eq!(got.unwrap(), 1);
    }
    let elapsed = started.elapsed();
    assert_eq!(holder.await.unwrap(), 1);
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut admin).await.unwrap();
    let scripts = cache_tests::command_calls(&info, "evalsha") + cache_tests::command_calls(&info, "eval");
    // Each caller on B may take one lease attempt; a spin would be thousands.
    assert!(scripts < 200, "{scripts} script calls for 31 callers: the waiters spin\n{info}");
    assert!(elapsed < Duration::from_secs(4), "B's callers took {elapsed:?}");
}

// =============================================================================================
// Cancellation at each await of a memory call: waiters take over, nothing stale is stored.
// =============================================================================================

static CANCEL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "cancel:{id}")]
async fn cancellable(id: u64, ms: u64) -> u64 {
    CANCEL_RUNS.fetch_add(1, SeqCst);
    let seen = version(id);
    sleep(Duration::from_millis(ms)).await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_memory_calls_at_every_point_leaves_no_stuck_waiter_and_no_stale_value() {
    let provider = MemoryProvider::new();
    for (round, cancel_after) in [0u64, 1, 5, 10, 19, 20, 21, 30].into_iter().enumerate() {
        let id = 9_100 + round as u64;
        let leader = tokio::spawn(with_provider(provider.clone(), cancellable(id, 20)));
        let waiters: Vec<_> =
            (0..10).map(|_| tokio::spawn(with_provider(provider.clone(), cancellable(id, 20)))).collect();
        sleep(Duration::from_millis(cancel_after)).await;
        leader.abort();
        let new = write(id);
        with_provider(provider.clone(), cancellable_invalidate(id)).await;
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(3), waiter).await.expect("a waiter was stuck").unwrap();
        }
        assert_eq!(with_provider(provider.clone(), cancellable(id, 0)).await, new, "round {round}");
    }
}

// =============================================================================================
// What this review found, fixed
// =============================================================================================

/// A TCP proxy in front of `upstream` that delays every chunk the client sends by `delay`: a Redis
/// that is slow but answers.
async fn slow_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
                tokio::spawn(async move {
                    while let Some((at, bytes)) = rx.recv().await {
                        tokio::time::sleep_until(at).await;
                        if server_write.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn replacing_a_live_entry_is_not_an_eviction() {
    let provider = MemoryProvider::new();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    for i in 0..100u32 {
        cache.set("same", &i, HOUR).await.unwrap();
    }
    let stats = provider.stats();
    assert_eq!(stats.evictions, 0, "nothing was evicted: one key in a store of 10,000\n{stats:?}");
}

#[tokio::test]
async fn a_value_within_the_byte_bound_is_stored_whatever_the_core_count() {
    let provider = MemoryProvider::builder().max_bytes(1024 * 1024).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    cache.set("big", &vec![7u8; 200 * 1024], HOUR).await.unwrap();
    assert!(
        cache.get::<Vec<u8>>("big").await.unwrap().is_some(),
        "a 200 KiB value in an empty 1 MiB store was dropped: {:?}",
        provider.stats()
    );
}

#[tokio::test]
async fn a_full_store_reclaims_expired_entries_before_evicting_live_ones() {
    tokio::time::pause();
    let provider = MemoryProvider::builder().max_capacity(10).build();
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    for i in 0..5u32 {
        cache.set(&format!("live:{i}"), &i, HOUR).await.unwrap();
    }
    for i in 0..5u32 {
        cache.set(&format!("brief:{i}"), &i, Duration::from_secs(1)).await.unwrap();
        for _ in 0..3 {
            let _ = cache.get::<u32>(&format!("brief:{i}")).await.unwrap();
        }
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    cache.set("new", &0u32, HOUR).await.unwrap();
    for i in 0..5u32 {
        assert_eq!(
            cache.get::<u32>(&format!("live:{i}")).await.unwrap(),
            Some(i),
            "live:{i} was evicted while 5 expired entries took room\n{:?}",
            provider.stats()
        );
    }
}

#[cached(ttl = 60, key = "slow:{id}")]
async fn slow_redis_row(id: u64) -> u64 {
    version(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_that_answers_within_the_op_timeout_still_caches() {
    let server = RedisServer::start();
    // Every operation takes 60 ms, the timeout is 100 ms: each one fits, but not two in a row.
    let port = slow_proxy(server.port(), Duration::from_millis(60)).await;
    let provider = RedisProvider::builder(format!("redis://127.0.0.1:{port}/0"))
        .prefix("slow:")
        .op_timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    for _ in 0..3 {
        with_provider(provider.clone(), slow_redis_row(1)).await;
    }
    let stats = provider.stats();
    let mut admin = raw(&server).await;
    let leases: Vec<String> = redis::cmd("KEYS").arg("*lease*").query_async(&mut admin).await.unwrap();
    assert!(
        stats.hits >= 1 && stats.sets >= 1,
        "never stored: {stats:?}; circuit {:?}; orphan leases {leases:?}",
        provider.circuit()
    );
}

static FLEET_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "fleet:{id}")]
async fn fleet_row(id: u64, ms: u64) -> u64 {
    FLEET_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(ms)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_waiters_get_a_value_stored_by_another_instance_promptly() {
    let server = RedisServer::start();
    let port = slow_proxy(server.port(), Duration::from_millis(20)).await;
    let a = RedisProvider::builder(server.url()).prefix("fleet:").connect().await.unwrap();
    let b = RedisProvider::builder(format!("redis://127.0.0.1:{port}/0"))
        .prefix("fleet:")
        .op_timeout(Duration::from_secs(1))
        .max_wait(Duration::from_secs(3))
        .connect()
        .await
        .unwrap();
    let leader = tokio::spawn(with_provider(a.clone(), fleet_row(1, 1_000)));
    sleep(Duration::from_millis(150)).await;
    let callers: Vec<_> = (0..60).map(|_| tokio::spawn(with_provider(b.clone(), fleet_row(1, 0)))).collect();
    assert_eq!(leader.await.unwrap(), 1);
    let stored = Instant::now();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 1);
    }
    let elapsed = stored.elapsed();
    let runs = FLEET_RUNS.load(SeqCst);
    assert!(
        elapsed < Duration::from_secs(1) && runs == 1,
        "B's 60 callers got A's value {elapsed:?} after it was stored; the body ran {runs} times; B: {:?}",
        b.stats()
    );
}

static ORPHAN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "orphan:{id}")]
async fn orphan_row(id: u64) -> u64 {
    ORPHAN_RUNS.fetch_add(1, SeqCst);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_while_its_lease_is_taken_leaves_no_lease_behind() {
    let server = RedisServer::start();
    let port = slow_proxy(server.port(), Duration::from_millis(50)).await;
    let a = RedisProvider::builder(format!("redis://127.0.0.1:{port}/0"))
        .prefix("orphan:")
        .op_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let b = RedisProvider::builder(server.url()).prefix("orphan:").connect().await.unwrap();
    // Load the scripts first (a first EVALSHA would only get NOSCRIPT).
    assert_eq!(with_provider(a.clone(), orphan_row(99)).await, 99);
    // The GET takes 50 ms; the ACQUIRE is sent then and reaches Redis at 100 ms. Cancel between.
    let _ = tokio::time::timeout(Duration::from_millis(75), with_provider(a.clone(), orphan_row(1))).await;
    sleep(Duration::from_millis(100)).await;
    let mut admin = raw(&server).await;
    let leases: Vec<String> = redis::cmd("KEYS").arg("*lease*").query_async(&mut admin).await.unwrap();
    let started = Instant::now();
    assert_eq!(with_provider(b.clone(), orphan_row(1)).await, 1);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "B waited {elapsed:?} on a lease no one holds: {leases:?}");
}
