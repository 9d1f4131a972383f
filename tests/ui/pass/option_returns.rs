// `Option` returns: `Some` is cached, `None` only with `cache_none = true`.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::cached;

static FIND_RUNS: AtomicUsize = AtomicUsize::new(0);
static FIND_ALL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "find:{name}")]
async fn find(name: String) -> Option<u32> {
    FIND_RUNS.fetch_add(1, SeqCst);
    name.parse().ok()
}

#[cached(key = "find_all:{name}", cache_none = true)]
async fn find_caching_none(name: String) -> Option<u32> {
    FIND_ALL_RUNS.fetch_add(1, SeqCst);
    name.parse().ok()
}

#[cached(key = "explicit_false:{name}", cache_none = false)]
async fn explicit_false(name: String) -> Option<u32> {
    name.parse().ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(find("5".into()).await, Some(5));
    assert_eq!(find("5".into()).await, Some(5));
    assert_eq!(find("x".into()).await, None);
    assert_eq!(find("x".into()).await, None);
    assert_eq!(FIND_RUNS.load(SeqCst), 3, "Some is cached, None is not");

    assert_eq!(find_caching_none("x".into()).await, None);
    assert_eq!(find_caching_none("x".into()).await, None);
    assert_eq!(FIND_ALL_RUNS.load(SeqCst), 1, "cache_none stores None too");
    assert!(find_caching_none_invalidate("x".into()).await);

    assert_eq!(explicit_false("x".into()).await, None);
    assert!(!explicit_false_invalidate("x".into()).await, "None was not stored");
}
