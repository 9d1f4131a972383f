// The helper takes the parameters the key names, in signature order and with their declared
// types, whatever the order in the template; parameters the key leaves out are not taken.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "order:{b}:{a}")]
async fn order(a: u8, verbose: bool, b: String) -> String {
    RUNS.fetch_add(1, SeqCst);
    format!("{a}{b}{verbose}")
}

#[cached(key = "twice:{id}:{id}")]
async fn twice(id: u64) -> u64 {
    id
}

/// Only ever called, never run: checks the helper's signature against explicit types.
#[allow(dead_code)]
async fn signatures() {
    let _: bool = order_invalidate(1u8, String::new()).await;
    let helper: fn(u64) -> _ = twice_invalidate;
    let _ = helper(1).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(order(1, true, "x".into()).await, "1xtrue");
    assert_eq!(order(1, false, "x".into()).await, "1xtrue", "verbose is not part of the key");
    assert_eq!(RUNS.load(SeqCst), 1);
    assert!(cache_runtime::exists("order:x:1").await.unwrap());
    assert!(order_invalidate(1, "x".into()).await);
    assert!(!order_invalidate(1, "x".into()).await, "nothing left to remove");
    assert_eq!(order(1, false, "x".into()).await, "1xfalse");
    assert_eq!(RUNS.load(SeqCst), 2);

    assert_eq!(twice(7).await, 7);
    assert!(cache_runtime::exists("twice:7:7").await.unwrap());
    assert!(twice_invalidate(7).await);
}
