//! `#[cached]` on methods of trait impls: a native `async fn` (a trait impl holds only the
//! trait's methods, so these say `companions = false`), a native `async fn` whose trait asks for a
//! `Send` future, and an `#[async_trait]` impl called through `dyn Trait` on other tasks.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use cache_runtime::key::escape;
use cache_runtime::{cached, with_provider, MemoryProvider};

trait Users {
    async fn name(&self, id: u64) -> Result<String, String>;
}

trait Sessions {
    fn session(&self, id: u64) -> impl Future<Output = u64> + Send;
}

#[async_trait::async_trait]
trait Orders: Send + Sync {
    async fn total(&self, id: u64) -> Option<u64>;
}

#[derive(Default)]
struct Db {
    tenant: String,
    runs: AtomicUsize,
}

impl Db {
    fn new(tenant: &str) -> Db {
        Db { tenant: tenant.into(), runs: AtomicUsize::new(0) }
    }
}

impl Users for Db {
    #[cached(key = "name:{self.tenant}:{id}", companions = false)]
    async fn name(&self, id: u64) -> Result<String, String> {
        self.runs.fetch_add(1, SeqCst);
        if id == 0 {
            return Err("no user 0".into());
        }
        Ok(format!("{}-{id}", self.tenant))
    }
}

impl Sessions for Db {
    #[cached(ttl = "1m", key = "session:{id}", companions = false)]
    async fn session(&self, id: u64) -> u64 {
        self.runs.fetch_add(1, SeqCst);
        id * 10
    }
}

#[async_trait::async_trait]
impl Orders for Db {
    #[cached(key = "total:{self.tenant}:{id}", provider = "orders", companions = false)]
    async fn total(&self, id: u64) -> Option<u64> {
        self.runs.fetch_add(1, SeqCst);
        (id != 0).then_some(id * 100)
    }
}

#[tokio::test]
async fn a_native_async_fn_in_a_trait_impl_is_cached_and_invalidated_by_key() {
    let cache = MemoryProvider::new();
    let db = Db::new("a:b");
    with_provider(cache.clone(), async {
        assert_eq!(db.name(1).await.as_deref(), Ok("a:b-1"));
        assert_eq!(db.name(1).await.as_deref(), Ok("a:b-1"));
        assert_eq!(db.runs.load(SeqCst), 1, "the second call was a hit");
        assert!(db.name(0).await.is_err());
        assert!(db.name(0).await.is_err());
        assert_eq!(db.runs.load(SeqCst), 3, "an Err is never stored");

        // Without companions there is no `name_invalidate`: the key, escaped as the macro does it.
        let key = format!("name:{}:{}", escape(&db.tenant), 1);
        assert_eq!(key, "name:a%3Ab:1");
        assert!(cache_runtime::delete(&key).await.unwrap());
        db.name(1).await.unwrap();
        assert_eq!(db.runs.load(SeqCst), 4);
    })
    .await;
    assert_eq!((cache.stats().hits, cache.stats().sets), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trait_that_asks_for_a_send_future_gets_one() {
    let cache = MemoryProvider::new();
    let db = Arc::new(Db::new("t"));
    for _ in 0..2 {
        let db = Arc::clone(&db);
        // `tokio::spawn` takes only `Send` futures: the cached method's future is one.
        let spawned = tokio::spawn(with_provider(cache.clone(), async move { db.session(4).await }));
        assert_eq!(spawned.await.unwrap(), 40);
    }
    assert_eq!(db.runs.load(SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_trait_method_is_cached_through_dyn_trait_on_other_tasks() {
    let cache = MemoryProvider::new();
    let db = Arc::new(Db::new("acme"));
    let orders: Arc<dyn Orders> = db.clone();
    for _ in 0..3 {
        let orders = Arc::clone(&orders);
        let spawned = tokio::spawn(with_provider(cache.clone(), async move { orders.total(2).await }));
        assert_eq!(spawned.await.unwrap(), Some(200));
    }
    assert_eq!(db.runs.load(SeqCst), 1);
    with_provider(cache.clone(), async {
        assert_eq!(orders.total(0).await, None);
        assert_eq!(orders.total(0).await, None);
        assert!(cache_runtime::named("orders").unwrap().delete("total:acme:2").await.unwrap());
        assert_eq!(orders.total(2).await, Some(200));
    })
    .await;
    assert_eq!(db.runs.load(SeqCst), 4, "None is not stored, and the deleted entry was computed again");
    assert_eq!((cache.stats().hits, cache.stats().sets), (2, 2));
}

#[test]
fn trait_methods_are_registered() {
    let found: Vec<String> = cache_runtime::functions().iter().map(|f| f.to_string()).collect();
    assert_eq!(
        found,
        [
            r#"trait_methods::name: key "name:{self.tenant}:{id}", provider "default", ttl 300s"#,
            r#"trait_methods::session: key "session:{id}", provider "default", ttl 60s"#,
            r#"trait_methods::total: key "total:{self.tenant}:{id}", provider "orders", ttl 300s"#,
        ]
    );
}
