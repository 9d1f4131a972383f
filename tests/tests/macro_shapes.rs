//! `#[cached]` on every supported shape of function, used the way a user would.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, with_provider, MemoryProvider};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug, PartialEq)]
struct DbError(String);

static USER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 300, key = "user:{id}")]
async fn get_user(id: u64) -> Result<User, DbError> {
    USER_RUNS.fetch_add(1, SeqCst);
    if id == 0 {
        return Err(DbError("no user 0".into()));
    }
    let name = format!("user{id}");
    Ok(User { id, name })
}

#[tokio::test]
async fn result_ok_is_cached_and_err_is_not() {
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        let before = USER_RUNS.load(SeqCst);
        assert_eq!(get_user(7).await.unwrap().name, "user7");
        assert_eq!(get_user(7).await.unwrap().name, "user7");
        assert_eq!(USER_RUNS.load(SeqCst) - before, 1, "the second call is a hit");

        assert!(get_user(0).await.is_err());
        assert!(get_user(0).await.is_err());
        assert_eq!(USER_RUNS.load(SeqCst) - before, 3, "errors are never stored");

        // Cache-aside reads what the macro stored, under the same key.
        let stored: Option<User> = cache_runtime::get("user:7").await.unwrap();
        assert_eq!(stored.unwrap().id, 7);

        assert!(get_user_invalidate(7).await);
        assert!(!get_user_invalidate(7).await, "nothing left to remove");
        get_user(7).await.unwrap();
        assert_eq!(USER_RUNS.load(SeqCst) - before, 4, "recomputed after invalidation");
    })
    .await;
    let stats = store.stats();
    assert_eq!((stats.hits, stats.sets, stats.deletes), (2, 2, 1));
}

static FIND_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "find:{name}")]
async fn find(name: &str) -> Option<u32> {
    FIND_RUNS.fetch_add(1, SeqCst);
    name.strip_prefix('n').and_then(|n| n.parse().ok())
}

static FIND_ALL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "find_all:{name}", cache_none = true)]
async fn find_caching_none(name: &str) -> Option<u32> {
    FIND_ALL_RUNS.fetch_add(1, SeqCst);
    name.parse().ok()
}

#[tokio::test]
async fn option_none_is_cached_only_when_asked() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(find("n5").await, Some(5));
        assert_eq!(find("n5").await, Some(5));
        assert_eq!(find("x").await, None);
        assert_eq!(find("x").await, None);
        assert_eq!(FIND_RUNS.load(SeqCst), 3, "Some is cached, None is not");

        assert_eq!(find_caching_none("x").await, None);
        assert_eq!(find_caching_none("x").await, None);
        assert_eq!(FIND_ALL_RUNS.load(SeqCst), 1, "cache_none stores None too");
        assert!(find_caching_none_invalidate("x").await);
    })
    .await;
}

struct Repo {
    tenant: String,
    runs: AtomicUsize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Page {
    tenant: String,
    number: u32,
}

struct Query {
    page: u32,
}

impl Repo {
    #[cached(ttl = "5m", key = "page:{self.tenant}:{query.page}")]
    async fn page(&self, query: &Query) -> Page {
        self.runs.fetch_add(1, SeqCst);
        Page { tenant: self.tenant.clone(), number: query.page }
    }

    #[cached(ttl = "250ms", key = "square:{n}")]
    async fn square(n: u64) -> u64 {
        n * n
    }

    #[cached(key = "count:{self.tenant}:{a}:{b}")]
    async fn count(&self, a: u8, b: String) -> usize {
        self.runs.fetch_add(1, SeqCst);
        usize::from(a) + b.len()
    }
}

#[tokio::test]
async fn methods_with_and_without_self() {
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        let repo = Repo { tenant: "acme".into(), runs: AtomicUsize::new(0) };
        let query = Query { page: 2 };
        assert_eq!(repo.page(&query).await.number, 2);
        assert_eq!(repo.page(&query).await.number, 2);
        assert_eq!(repo.runs.load(SeqCst), 1);
        assert!(cache_runtime::exists("page:acme:2").await.unwrap());
        assert!(repo.page_invalidate(&query).await);

        assert_eq!(Repo::square(12).await, 144);
        assert!(cache_runtime::exists("square:12").await.unwrap());
        assert!(Repo::square_invalidate(12).await);

        assert_eq!(repo.count(1, "ab".into()).await, 3);
        assert_eq!(repo.count(1, "ab".into()).await, 3);
        assert_eq!(repo.runs.load(SeqCst), 2);
        assert!(cache_runtime::exists("count:acme:1:ab").await.unwrap());
        assert!(repo.count_invalidate(1, "ab".into()).await);
    })
    .await;
}

fn ttl_from_settings() -> Duration {
    Duration::from_millis(100)
}

static SHORT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = ttl_from_settings(), key = "short:{x}")]
async fn short_lived(x: u8) -> u8 {
    SHORT_RUNS.fetch_add(1, SeqCst);
    x
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    with_provider(MemoryProvider::new(), async {
        short_lived(1).await;
        short_lived(1).await;
        assert_eq!(SHORT_RUNS.load(SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        short_lived(1).await;
        assert_eq!(SHORT_RUNS.load(SeqCst), 2, "an expired entry is never returned");
    })
    .await;
}

#[cached(key = "pair:{a}/{b}")]
async fn pair(a: String, b: String) -> String {
    format!("{a}+{b}")
}

#[tokio::test]
async fn escaped_values_keep_keys_apart() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(pair("a/b".into(), "c".into()).await, "a/b+c");
        assert_eq!(pair("a".into(), "b/c".into()).await, "a+b/c");
        assert!(cache_runtime::exists("pair:a%2Fb/c").await.unwrap());
        assert!(cache_runtime::exists("pair:a/b%2Fc").await.unwrap());
    })
    .await;
}
