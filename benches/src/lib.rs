//! What the benchmarks share: the value every contender caches, the criterion settings, the
//! runtimes, and the loop that measures throughput with several tasks.
//!
//! Every bench compares the toolkit with what a user would pick instead, in one run on one
//! machine: raw `moka::future::Cache`, the `cached` crate's `#[cached]`, and (over Redis) raw
//! redis-rs. `BENCHMARKS.md` at the repository root holds the results and the command that
//! reproduces them.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde::{Deserialize, Serialize};

/// The value every contender caches: a small record with two heap strings, so that a hit pays
/// for one realistic clone.
///
/// ```
/// let user = cache_benches::User::new(7);
/// assert_eq!(user.id, 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The id the value was loaded for.
    pub id: u64,
    /// A name of 12 characters.
    pub name: String,
    /// An address of about 24 characters.
    pub email: String,
}

impl User {
    /// The user every contender's body returns for `id`.
    ///
    /// ```
    /// assert_eq!(cache_benches::User::new(1).name, "user-0000001");
    /// ```
    pub fn new(id: u64) -> Self {
        User { id, name: format!("user-{id:07}"), email: format!("user-{id:07}@example.com") }
    }
}

/// The entry bound every in-memory contender gets: the toolkit's default capacity.
pub const CAPACITY: u64 = 10_000;

/// The time to live every contender gets: 300 s, the macro's default.
pub const TTL: Duration = Duration::from_secs(300);

/// How many distinct keys the throughput benches cycle over: a small hot set, all hits.
pub const HOT_KEYS: u64 = 64;

/// The cache key the toolkit's macro builds for `id` with `key = "user:{id}"`; raw moka and
/// the cache-aside calls use the same text.
///
/// ```
/// assert_eq!(cache_benches::user_key(42), "user:42");
/// ```
pub fn user_key(id: u64) -> String {
    format!("user:{id}")
}

/// Criterion tuned for this suite: short warm-up and measurement, so that the whole suite runs
/// in about ten minutes on two cores. Ratios matter here, not the last nanosecond.
///
/// ```
/// let _criterion = cache_benches::criterion();
/// ```
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50)
        .noise_threshold(0.05)
        .configure_from_args()
}

/// A multi-threaded tokio runtime with `workers` worker threads.
///
/// ```
/// let rt = cache_benches::multi_thread(2);
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("a tokio runtime")
}

/// A current-thread tokio runtime, for single-task benches.
///
/// ```
/// let rt = cache_benches::current_thread();
/// assert_eq!(rt.block_on(async { 2 * 3 }), 6);
/// ```
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// Runs `tasks` spawned tasks that each make `per_task` calls of `call(task, i)`, and returns
/// the wall time from their common start to the end of the last one. Must run inside a
/// multi-threaded runtime for the tasks to run in parallel.
///
/// ```
/// # let rt = cache_benches::multi_thread(2);
/// rt.block_on(async {
///     let took = cache_benches::run_tasks(4, 100, |_task, i| async move { i * 2 }).await;
///     assert!(took > std::time::Duration::ZERO);
/// });
/// ```
pub async fn run_tasks<F, Fut>(tasks: usize, per_task: u64, call: F) -> Duration
where
    F: Fn(u64, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: Send,
{
    let start_line = Arc::new(tokio::sync::Barrier::new(tasks + 1));
    let handles: Vec<_> = (0..tasks as u64)
        .map(|task| {
            let call = call.clone();
            let start_line = Arc::clone(&start_line);
            tokio::spawn(async move {
                start_line.wait().await;
                for i in 0..per_task {
                    black_box(call(task, i).await);
                }
            })
        })
        .collect();
    start_line.wait().await;
    let start = Instant::now();
    for handle in handles {
        handle.await.expect("a bench task panicked");
    }
    start.elapsed()
}

/// The hot key a throughput task reads at its `i`-th call: tasks start at different offsets of
/// the hot set and walk through it.
///
/// ```
/// assert!(cache_benches::hot_id(3, 1_000) < cache_benches::HOT_KEYS);
/// ```
pub fn hot_id(task: u64, i: u64) -> u64 {
    (task * 17 + i) % HOT_KEYS
}

/// The memory contenders, defined once so that every bench and the instruction counter measure
/// the same functions: ours through the macro, `cached`'s macro, and raw moka.
pub mod contenders {
    use std::sync::LazyLock;

    use crate::{User, CAPACITY, TTL};

    /// Our `#[cached]` on the default `MemoryProvider`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(cache_benches::contenders::ours(3).await.id, 3);
    /// # });
    /// ```
    #[cache_runtime::cached(ttl = 300, key = "user:{id}")]
    pub async fn ours(id: u64) -> User {
        User::new(id)
    }

    /// The `cached` crate's `#[cached]` with the same bound and TTL.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(cache_benches::contenders::theirs(3).await.id, 3);
    /// # });
    /// ```
    #[cached::macros::cached(max_size = 10_000, ttl_secs = 300)]
    pub async fn theirs(id: u64) -> User {
        User::new(id)
    }

    /// Raw moka with the same bound and one TTL for all entries.
    pub static MOKA: LazyLock<moka::future::Cache<String, User>> =
        LazyLock::new(|| moka::future::Cache::builder().max_capacity(CAPACITY).time_to_live(TTL).build());
}

/// The tagged functions of issue 15, on the default provider: one function per number of tags
/// (0, 1 and 3), the same parameters and the same key length, so that the tags are the only
/// difference between them. Tags with placeholders are written per call, as the macro does.
pub mod tagged {
    use crate::User;

    /// The region every tagged function is called with.
    pub const REGION: &str = "eu";

    /// No tags: the baseline of a tagged hit.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(cache_benches::tagged::tags_0(3, 7, "eu").await.id, 3);
    /// # });
    /// ```
    #[cache_runtime::cached(ttl = 300, key = "order:{id}:t0")]
    pub async fn tags_0(id: u64, _user_id: u64, _region: &str) -> User {
        User::new(id)
    }

    /// One tag with a placeholder: `user:{user_id}`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(cache_benches::tagged::tags_1(3, 7, "eu").await.id, 3);
    /// # });
    /// ```
    #[cache_runtime::cached(ttl = 300, key = "order:{id}:t1", tags = ["user:{user_id}"])]
    pub async fn tags_1(id: u64, user_id: u64, _region: &str) -> User {
        User::new(id)
    }

    /// Three tags, two with placeholders: `user:{user_id}`, `orders`, `region:{region}`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// assert_eq!(cache_benches::tagged::tags_3(3, 7, "eu").await.id, 3);
    /// # });
    /// ```
    #[cache_runtime::cached(ttl = 300, key = "order:{id}:t3", tags = ["user:{user_id}", "orders", "region:{region}"])]
    pub async fn tags_3(id: u64, user_id: u64, region: &str) -> User {
        User::new(id)
    }
}

/// The Redis contenders other than ours, defined once for the Redis bench and the instruction
/// counter: the `cached` crate's `AsyncRedisCache`, and raw redis-rs `GET` plus postcard decode.
/// Set [`URL`](redis_contenders::URL) and [`RAW`](redis_contenders::RAW) before the first call.
pub mod redis_contenders {
    use std::sync::OnceLock;

    use redis::AsyncCommands;

    use crate::{User, TTL};

    /// The URL of the server, for the `cached` store's `create` block.
    pub static URL: OnceLock<String> = OnceLock::new();
    /// The raw redis-rs connection (multiplexed: clones share one connection).
    pub static RAW: OnceLock<redis::aio::MultiplexedConnection> = OnceLock::new();
    /// The key the raw contender reads.
    pub const RAW_KEY: &str = "raw:user:1";

    /// The `cached` crate's `#[concurrent_cached]` on its `AsyncRedisCache`.
    #[cached::macros::concurrent_cached(
        ty = "cached::AsyncRedisCache<u64, User>",
        create = {
            cached::AsyncRedisCache::builder("bench_theirs")
                .ttl(TTL)
                .connection_string(URL.get().expect("the server's URL"))
                .build()
                .await
                .expect("the cached crate's AsyncRedisCache")
        },
        map_error = |e| format!("{e:?}")
    )]
    pub async fn theirs_redis(id: u64) -> Result<User, String> {
        Ok(User::new(id))
    }

    /// What a user of raw redis-rs writes for a read: `GET`, then decode.
    pub async fn raw_get() -> User {
        let mut connection = RAW.get().expect("the raw connection").clone();
        let bytes: Vec<u8> = connection.get(RAW_KEY).await.expect("a GET");
        postcard::from_bytes(&bytes).expect("a postcard User")
    }
}

/// Resident bytes of this process (Linux: `/proc/self/statm`), for the memory measurements.
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux only)");
    let pages: u64 =
        statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("statm's resident field");
    // SAFETY: sysconf has no preconditions; it only reads a system setting.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page_size).expect("a positive page size")
}

/// Runs this binary again as a child with `args` (one contender per process, so that each is
/// measured alone) and reads the numbers it prints on one line.
pub fn child_numbers(args: &[&str]) -> Vec<f64> {
    let me = std::env::current_exe().expect("the path of this binary");
    let out = std::process::Command::new(&me).args(args).output().expect("a child process");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).expect("UTF-8 output");
    line.split_whitespace().map(|f| f.parse().expect("a number")).collect()
}
