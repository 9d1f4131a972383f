//! `#[cached(local)]`: values that need only `Clone` (an `Arc` of a client, a handle) are kept in
//! process memory: in the provider when it is a memory store, in a memory store of the function's
//! own on any other (Redis), where the companions find them too.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_runtime::{cached, with_provider, MemoryProvider};

/// A client: no serde, not even `Clone`. Its `Arc` is what is cached.
struct Client {
    tenant: u64,
    requests: Mutex<u32>,
}

static CLIENT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(local, ttl = "10m", key = "client:{tenant}")]
async fn client(tenant: u64) -> Arc<Client> {
    CLIENT_RUNS.fetch_add(1, SeqCst);
    // Long enough for every concurrent caller to miss and join this computation.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Arc::new(Client { tenant, requests: Mutex::new(0) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_callers_share_one_arc_computed_once() {
    // The global default (a memory store), so that the spawned tasks use it too.
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                client(1).await
            })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    assert_eq!(CLIENT_RUNS.load(SeqCst), 1, "one computation for twenty callers");
    assert!(clients.iter().all(|client| Arc::ptr_eq(client, &clients[0])), "every caller has the same Arc");
    let again = client(1).await;
    assert!(Arc::ptr_eq(&again, &clients[0]), "a hit clones the Arc, never the client");
    *again.requests.lock().unwrap() += 1;
    assert_eq!(*clients[0].requests.lock().unwrap(), 1);
    assert_eq!(again.tenant, 1);
}

static HANDLE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(local = true, key = "handle:{id}")]
async fn handle(id: u64) -> Arc<Client> {
    HANDLE_RUNS.fetch_add(1, SeqCst);
    Arc::new(Client { tenant: id, requests: Mutex::new(0) })
}

#[tokio::test]
async fn on_a_memory_provider_the_entries_are_in_the_provider() {
    let memory = MemoryProvider::new();
    with_provider(memory.clone(), async {
        let first = handle(7).await;
        assert!(Arc::ptr_eq(&first, &handle(7).await));
        assert_eq!(HANDLE_RUNS.load(SeqCst), 1);
        assert_eq!(memory.entry_count(), 1);
        assert_eq!(memory.stats().hits, 1);
        // Cache-aside sees the entry; read as a type it is not, it is a miss.
        assert!(cache_runtime::exists("handle:7").await.unwrap());
        assert_eq!(cache_runtime::get::<u64>("handle:7").await.unwrap(), None);

        assert!(handle_invalidate(7).await);
        assert_eq!(memory.entry_count(), 0);
        let second = handle(7).await;
        assert!(!Arc::ptr_eq(&first, &second), "computed again after the invalidation");
        assert_eq!(HANDLE_RUNS.load(SeqCst), 2);
    })
    .await;
}

static SESSION_RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone)]
struct Session(Arc<Client>);

#[cached(local, key = "session:{id}")]
async fn session(id: u64) -> Result<Session, String> {
    SESSION_RUNS.fetch_add(1, SeqCst);
    if id == 0 {
        return Err("no session 0".to_owned());
    }
    Ok(Session(Arc::new(Client { tenant: id, requests: Mutex::new(0) })))
}

#[cached(local, key = "lookup:{id}")]
async fn lookup(id: u64) -> Option<Arc<Client>> {
    (id != 0).then(|| Arc::new(Client { tenant: id, requests: Mutex::new(0) }))
}

#[tokio::test]
async fn ok_and_some_values_are_kept_and_errors_and_none_are_not() {
    with_provider(MemoryProvider::new(), async {
        let first = session(3).await.unwrap();
        assert!(Arc::ptr_eq(&first.0, &session(3).await.unwrap().0));
        assert_eq!(session(0).await.err().as_deref(), Some("no session 0"));
        assert!(session(0).await.is_err());
        assert_eq!(SESSION_RUNS.load(SeqCst), 3, "one Ok computed once, each Err computed");

        let some = lookup(4).await.unwrap();
        assert!(Arc::ptr_eq(&some, &lookup(4).await.unwrap()));
        assert!(lookup(0).await.is_none());
        assert!(!cache_runtime::exists("lookup:0").await.unwrap());
    })
    .await;
}

#[cfg(feature = "redis")]
mod on_redis {
    use super::*;
    use cache_runtime::RedisProvider;
    use cache_tests::RedisServer;
    use redis::AsyncCommands;

    static POOL_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cached(local, ttl = "1h", key = "pool:{region}")]
    async fn pool(region: String) -> Arc<Client> {
        POOL_RUNS.fetch_add(1, SeqCst);
        Arc::new(Client { tenant: region.len() as u64, requests: Mutex::new(0) })
    }

    #[tokio::test]
    async fn on_redis_a_local_function_keeps_its_entries_in_memory() {
        let server = RedisServer::start();
        let redis = RedisProvider::builder(server.url())
            .prefix("app:")
            .op_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap();
        let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        with_provider(redis.clone(), async {
            let first = pool("eu".into()).await;
            assert!(Arc::ptr_eq(&first, &pool("eu".into()).await), "a hit from the function's memory store");
            assert_eq!(POOL_RUNS.load(SeqCst), 1);
            let in_redis: bool = raw.exists("app:pool:eu").await.unwrap();
            assert!(!in_redis, "nothing is written to Redis under the function's key");
            let keys: usize = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
            assert_eq!(keys, 0, "nor under any other key");
            assert_eq!(redis.stats().sets, 0);

            // The companions act on the same store.
            assert!(pool_invalidate("eu".into()).await);
            assert!(!pool_invalidate("eu".into()).await, "already gone");
            let second = pool("eu".into()).await;
            assert!(!Arc::ptr_eq(&first, &second), "computed again after the invalidation");
            assert_eq!(POOL_RUNS.load(SeqCst), 2);

            let refreshed = pool_refresh("eu".into()).await;
            assert!(!Arc::ptr_eq(&second, &refreshed));
            assert!(Arc::ptr_eq(&refreshed, &pool("eu".into()).await), "the refresh stored its value");
            assert_eq!(POOL_RUNS.load(SeqCst), 3);

            pool("us".into()).await;
            assert_eq!(pool_clear().await, 2);
            pool("eu".into()).await;
            assert_eq!(POOL_RUNS.load(SeqCst), 5, "computed again after the clear");
        })
        .await;
        let keys: usize = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
        assert_eq!(keys, 0);
    }
}
