// A free function returning a plain value, with an explicit key and with the default key.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "square:{n}")]
async fn square(n: u64) -> u64 {
    RUNS.fetch_add(1, SeqCst);
    n * n
}

#[cached]
async fn greet(name: String, times: usize) -> String {
    RUNS.fetch_add(1, SeqCst);
    name.repeat(times)
}

#[cached]
async fn constant() -> Vec<u8> {
    RUNS.fetch_add(1, SeqCst);
    vec![1, 2, 3]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(square(12).await, 144);
    assert_eq!(square(12).await, 144);
    assert_eq!(RUNS.load(SeqCst), 1);
    assert!(cache_runtime::exists("square:12").await.unwrap());

    assert_eq!(greet("ab".into(), 2).await, "abab");
    assert_eq!(greet("ab".into(), 2).await, "abab");
    assert_eq!(RUNS.load(SeqCst), 2);
    assert!(greet_invalidate("ab".into(), 2).await);

    assert_eq!(constant().await, [1, 2, 3]);
    assert_eq!(constant().await, [1, 2, 3]);
    assert_eq!(RUNS.load(SeqCst), 3);
    assert!(constant_invalidate().await);
}
