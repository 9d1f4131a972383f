//! The quick start on the embedded in-memory default: `cargo run --example quickstart`.
//!
//! A slow lookup (about a second) is called twice: the first call runs it, the second is a hit.
//! Then a write invalidates the entry, the next call recomputes, and the stats show what happened.

use std::time::{Duration, Instant};

use cache_runtime::cached;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug)]
struct DbError;

/// Stands in for a slow database read.
#[cached(ttl = "5m", key = "user:{id}")]
async fn get_user(id: u64) -> Result<User, DbError> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(User { id, name: format!("user #{id}") })
}

/// A write, followed by the invalidation of what it changed.
async fn rename_user(id: u64, _name: &str) {
    // ... UPDATE users SET name = $2 WHERE id = $1 ...
    let removed = get_user_invalidate(id).await;
    println!("renamed user {id}; cached entry removed: {removed}");
}

/// Calls `get_user` and prints how long it took.
async fn timed_get(id: u64, label: &str) {
    let started = Instant::now();
    let user = get_user(id).await.expect("the stand-in database never fails");
    println!("{label:<28} {:>10.3?}  {user:?}", started.elapsed());
}

#[tokio::main]
async fn main() {
    timed_get(42, "first call (runs the body)").await;
    timed_get(42, "second call (cache hit)").await;
    rename_user(42, "Ada").await;
    timed_get(42, "after invalidation").await;

    let stats = cache_runtime::stats();
    println!(
        "stats: hits={} misses={} sets={} deletes={} errors={} hit rate={:.0}%",
        stats.hits,
        stats.misses,
        stats.sets,
        stats.deletes,
        stats.errors,
        stats.hit_rate() * 100.0
    );
}
