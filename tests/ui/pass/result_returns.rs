// `Result` returns, written every way the macro reads them: `Ok` is cached, `Err` never is.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct NotFound;

#[cached(key = "plain:{id}")]
async fn plain(id: u64) -> Result<u64, NotFound> {
    RUNS.fetch_add(1, SeqCst);
    if id == 0 {
        Err(NotFound)
    } else {
        Ok(id * 10)
    }
}

#[cached(key = "io:{path}")]
async fn io(path: &str) -> std::io::Result<String> {
    RUNS.fetch_add(1, SeqCst);
    if path.is_empty() {
        return Err(std::io::Error::other("empty path"));
    }
    Ok(path.to_uppercase())
}

#[cached(key = "qualified:{id}")]
async fn qualified(id: u64) -> std::result::Result<Vec<u64>, String> {
    RUNS.fetch_add(1, SeqCst);
    if id == 0 {
        return Err("zero".to_string());
    }
    Ok(vec![id; 2])
}

fn runs() -> usize {
    RUNS.load(SeqCst)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(plain(1).await.unwrap(), 10);
    assert_eq!(plain(1).await.unwrap(), 10);
    assert_eq!(runs(), 1);
    assert!(plain(0).await.is_err());
    assert!(plain(0).await.is_err());
    assert_eq!(runs(), 3, "Err is not cached");
    // Only the Ok value is stored, under the key as written.
    assert_eq!(cache_runtime::get::<u64>("plain:1").await.unwrap(), Some(10));

    assert_eq!(io("a").await.unwrap(), "A");
    assert_eq!(io("a").await.unwrap(), "A");
    assert!(io("").await.is_err());
    assert!(io("").await.is_err());
    assert_eq!(runs(), 6);

    assert_eq!(qualified(3).await.unwrap(), [3, 3]);
    assert_eq!(qualified(3).await.unwrap(), [3, 3]);
    assert!(qualified(0).await.is_err());
    assert!(qualified(0).await.is_err());
    assert_eq!(runs(), 9);
}
