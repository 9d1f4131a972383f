//! Instructions per operation, counted by callgrind: repeatable where wall-clock times are not
//! (a shared two-core machine). Each contender's hit (and miss) runs `CALLS` times inside
//! `hot_loop`, and callgrind counts only what runs inside it.
//!
//! The Redis contenders count the client's instructions per hit (the round trip to a
//! `redis-server` started for the run, whose own work is not counted), with the calls made one
//! after the other on a current-thread runtime; that count includes the runtime's I/O driver.
//!
//! Run: `cargo run --release -p cache-benches --bin instructions` (needs `valgrind`, and
//! `redis-server` for the Redis rows). It runs itself under `valgrind --tool=callgrind` once per
//! contender and prints a table; with a contender's name as argument it runs just that one
//! (`CACHE_BENCH_REDIS_URL` names the server of the Redis ones), for `callgrind_annotate`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, OnceLock};
use std::task::{Context, Poll, Waker};

use cache_benches::redis_contenders::{raw_get, theirs_redis, RAW, RAW_KEY, URL};
use cache_benches::{user_key, User, CAPACITY, TTL};
use redis::AsyncCommands;

const CALLS: u64 = 20_000;
/// Calls counted for the Redis contenders, whose calls are slower to run under callgrind.
const REDIS_CALLS: u64 = 2_000;
/// The variable that hands the server's URL to a Redis contender.
const REDIS_URL_VARIABLE: &str = "CACHE_BENCH_REDIS_URL";

use cache_benches::contenders::{ours, theirs, MOKA};
use cache_benches::tagged::{tags_0, tags_1, tags_3, REGION};

/// The user the tagged functions are called with, and the tags of `tags_3`'s entry.
const USER: u64 = 42;
const OWN_TAGS: [&str; 3] = ["user:42", "orders", "region:eu"];
/// Tags invalidated besides the entries' own for the `_marked` contenders.
const OTHER_TAGS: u64 = 1_000;

static KEY: LazyLock<String> = LazyLock::new(|| user_key(1));

static NEXT: AtomicU64 = AtomicU64::new(1_000_000);

/// The Redis contenders' runtime.
static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The contenders: name, what it does.
const CONTENDERS: [(&str, &str); 17] = [
    ("moka_get", "hit: raw moka get, key built once"),
    ("moka_get_format_key", "hit: raw moka get, key built with format! per call"),
    ("ours_macro", "hit: #[cache_runtime::cached]"),
    ("ours_aside_get", "hit: cache_runtime::get, key built once"),
    ("cached_macro", "hit: cached 4.x #[cached]"),
    ("miss_moka", "miss: raw moka get + insert, format! key"),
    ("miss_ours_macro", "miss: #[cache_runtime::cached], body returns at once"),
    ("miss_cached_macro", "miss: cached 4.x #[cached], body returns at once"),
    ("key_1_placeholder", "KeyBuilder for key = \"user:{id}\", id: u64, as the macro writes it"),
    ("tags_0", "hit: #[cached] on the tagged functions' parameters, no tags"),
    ("tags_1", "hit: #[cached], tags = [\"user:{user_id}\"], no tag invalidated yet"),
    ("tags_3", "hit: #[cached], 3 tags (2 with placeholders), no tag invalidated yet"),
    ("tags_1_marked", "hit: as tags_1, after its tag and 1,000 others were invalidated"),
    ("tags_3_marked", "hit: as tags_3, after its tags and 1,000 others were invalidated"),
    ("redis_ours_macro", "Redis hit: #[cache_runtime::cached] on a RedisProvider"),
    ("redis_raw_get_postcard", "Redis hit: raw redis-rs GET + postcard decode"),
    ("redis_cached_async", "Redis hit: cached 4.x AsyncRedisCache"),
];

/// How many tags a tagged contender's function has; `None` for the others.
fn tag_count(contender: &str) -> Option<usize> {
    match contender {
        "tags_0" => Some(0),
        "tags_1" | "tags_1_marked" => Some(1),
        "tags_3" | "tags_3_marked" => Some(3),
        _ => None,
    }
}

/// One call of the tagged function with `tags` tags.
fn tagged_call(tags: usize) -> User {
    match tags {
        0 => now(tags_0(black_box(1), black_box(USER), black_box(REGION))),
        1 => now(tags_1(black_box(1), black_box(USER), black_box(REGION))),
        _ => now(tags_3(black_box(1), black_box(USER), black_box(REGION))),
    }
}

fn is_redis(contender: &str) -> bool {
    contender.starts_with("redis_")
}

fn calls(contender: &str) -> u64 {
    if is_redis(contender) {
        REDIS_CALLS
    } else {
        CALLS
    }
}

/// Polls a future that must complete without waiting: every call measured here does.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a measured call waited"),
    }
}

/// Everything callgrind counts (`--toggle-collect=*hot_loop*`).
#[inline(never)]
fn hot_loop(contender: &str) {
    match contender {
        "moka_get" => (0..CALLS).for_each(|_| drop(black_box(now(MOKA.get(black_box(&*KEY)))))),
        "moka_get_format_key" => (0..CALLS).for_each(|_| drop(black_box(now(MOKA.get(&user_key(black_box(1))))))),
        "ours_macro" => (0..CALLS).for_each(|_| drop(black_box(now(ours(black_box(1)))))),
        "ours_aside_get" => (0..CALLS).for_each(|_| drop(black_box(now(cache_runtime::get::<User>(black_box(&*KEY)))))),
        "cached_macro" => (0..CALLS).for_each(|_| drop(black_box(now(theirs(black_box(1)))))),
        "miss_moka" => (0..CALLS).for_each(|_| {
            let id = NEXT.fetch_add(1, Relaxed);
            let key = user_key(id);
            if now(MOKA.get(&key)).is_none() {
                now(MOKA.insert(key, User::new(id)));
            }
        }),
        "miss_ours_macro" => (0..CALLS).for_each(|_| drop(black_box(now(ours(NEXT.fetch_add(1, Relaxed)))))),
        "miss_cached_macro" => (0..CALLS).for_each(|_| drop(black_box(now(theirs(NEXT.fetch_add(1, Relaxed)))))),
        "key_1_placeholder" => (0..CALLS).for_each(|_| {
            // What the macro generates for a `u64` parameter: the key stays in its buffer.
            let mut key = cache_runtime::__private::KeyBuilder::with_capacity(13);
            key.literal("user:");
            key.integer(black_box(4_242_424u64));
            black_box(key.as_str());
        }),
        "tags_0" | "tags_1" | "tags_3" | "tags_1_marked" | "tags_3_marked" => {
            let tags = tag_count(contender).expect("a tagged contender");
            (0..CALLS).for_each(|_| drop(black_box(tagged_call(tags))))
        }
        "redis_ours_macro" | "redis_raw_get_postcard" | "redis_cached_async" => {
            RT.get().expect("the runtime").block_on(redis_calls(contender, REDIS_CALLS))
        }
        other => panic!("unknown contender {other}"),
    }
}

async fn redis_calls(contender: &str, calls: u64) {
    for _ in 0..calls {
        let user = match contender {
            "redis_ours_macro" => ours(black_box(1)).await,
            "redis_raw_get_postcard" => raw_get().await,
            _ => theirs_redis(black_box(1)).await.expect("a cached hit"),
        };
        assert_eq!(black_box(user).id, 1);
    }
}

/// Connects every Redis contender to the server and stores its entry.
fn redis_setup() {
    let url = std::env::var(REDIS_URL_VARIABLE).expect("the server's URL");
    URL.set(url.clone()).expect("set once");
    let rt = RT.get_or_init(cache_benches::current_thread);
    rt.block_on(async {
        let provider = cache_runtime::RedisProvider::builder(&url).connect().await.expect("the RedisProvider");
        cache_runtime::set_default(provider);
        let client = redis::Client::open(url).expect("a redis URL");
        let mut raw = client.get_multiplexed_async_connection().await.expect("a raw connection");
        let bytes = postcard::to_allocvec(&User::new(1)).expect("postcard");
        let () = raw.set_ex(RAW_KEY, bytes, TTL.as_secs()).await.expect("a SET");
        RAW.set(raw).expect("set once");
        ours(1).await;
        theirs_redis(1).await.expect("a cached store");
    });
}

fn run(contender: &str) {
    if is_redis(contender) {
        redis_setup();
        RT.get().expect("the runtime").block_on(redis_calls(contender, REDIS_CALLS));
        hot_loop(contender);
        let stats = cache_runtime::stats();
        assert_eq!(stats.errors, 0, "every Redis call must succeed");
        return;
    }
    cache_runtime::set_default(cache_runtime::MemoryProvider::builder().max_capacity(CAPACITY).build());
    // Warm every cache (and every lazy static) on key 1, and the miss paths on keys never hit.
    now(ours(1));
    now(theirs(1));
    now(MOKA.insert(KEY.clone(), User::new(1)));
    if let Some(tags) = tag_count(contender) {
        tagged_call(tags);
        if contender.ends_with("_marked") {
            // Marks for the entry's own tags and others: each hit now looks its tags' marks up.
            let cache = cache_runtime::cache();
            for tag in OWN_TAGS
                .iter()
                .map(|tag| (*tag).to_owned())
                .chain((0..OTHER_TAGS).map(|n| format!("user:{}", 1_000_000 + n)))
            {
                now(cache.invalidate_tag(&tag)).expect("invalidate_tag");
            }
            let sets = cache_runtime::stats().sets;
            tagged_call(tags);
            assert_eq!(cache_runtime::stats().sets, sets + 1, "the invalidation dropped the entry");
        }
    }
    for _ in 0..CALLS {
        hot_loop_warm(contender);
    }
    let sets = cache_runtime::stats().sets;
    hot_loop(contender);
    if tag_count(contender).is_some() {
        assert_eq!(cache_runtime::stats().sets, sets, "every counted call of {contender} hit");
    }
}

/// The same calls as `hot_loop`, outside the counted function, so that one-time costs (first
/// allocations, lazy statics, moka's first housekeeping) are not counted.
fn hot_loop_warm(contender: &str) {
    match contender {
        c if c.starts_with("miss_") => {
            let id = NEXT.fetch_add(1, Relaxed);
            match c {
                "miss_moka" => now(MOKA.insert(user_key(id), User::new(id))),
                "miss_ours_macro" => drop(now(ours(id))),
                _ => drop(now(theirs(id))),
            }
        }
        c if tag_count(c).is_some() => drop(tagged_call(tag_count(c).expect("a tagged contender"))),
        _ => {
            now(ours(1));
            now(theirs(1));
            drop(now(MOKA.get(&*KEY)));
        }
    }
}

fn main() {
    if let Some(contender) = std::env::args().nth(1) {
        return run(&contender);
    }
    let me = std::env::current_exe().expect("the path of this binary");
    let out_dir = std::env::temp_dir();
    let server = std::panic::catch_unwind(cache_tests::RedisServer::start).ok();
    println!(
        "Instructions per call (callgrind; {CALLS} calls counted after {CALLS} warm-up calls, \
         {REDIS_CALLS} after {REDIS_CALLS} for Redis):\n"
    );
    println!("| contender | what | instructions/call |");
    println!("|---|---|---:|");
    for (contender, what) in CONTENDERS {
        if is_redis(contender) && server.is_none() {
            println!("| {contender} | {what} | (no redis-server) |");
            continue;
        }
        let out_file = out_dir.join(format!("callgrind.cache-benches.{contender}"));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--toggle-collect=*hot_loop*")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(&me)
            .arg(contender)
            .env(REDIS_URL_VARIABLE, server.as_ref().map(|server| server.url()).unwrap_or_default())
            .output()
            .expect("valgrind (apt-get install valgrind)");
        assert!(status.status.success(), "{contender}: {}", String::from_utf8_lossy(&status.stderr));
        let stderr = String::from_utf8_lossy(&status.stderr);
        let total: u64 = stderr
            .lines()
            .find_map(|line| line.split_once("Collected : ").map(|(_, n)| n.trim().replace(',', "")))
            .and_then(|n| n.parse().ok())
            .expect("callgrind's `Collected` line");
        println!("| {contender} | {what} | {} |", total / calls(contender));
    }
    println!(
        "\nPer-function detail: callgrind_annotate --inclusive=yes {}",
        out_dir.join("callgrind.cache-benches.<contender>").display()
    );
}
