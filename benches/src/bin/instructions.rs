//! Instructions per operation, counted by callgrind: repeatable where wall-clock times are not
//! (a shared two-core machine). Each contender's hit (and miss) runs `CALLS` times inside
//! `hot_loop`, and callgrind counts only what runs inside it.
//!
//! Run: `cargo run --release -p cache-benches --bin instructions` (needs `valgrind`). It runs
//! itself under `valgrind --tool=callgrind` once per contender and prints a table; with a
//! contender's name as argument it runs just that one (for `callgrind_annotate`).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use cache_benches::{user_key, User, CAPACITY, TTL};

const CALLS: u64 = 20_000;

#[cache_runtime::cached(ttl = 300, key = "user:{id}")]
async fn ours(id: u64) -> User {
    User::new(id)
}

#[cached::macros::cached(max_size = 10_000, ttl_secs = 300)]
async fn theirs(id: u64) -> User {
    User::new(id)
}

static MOKA: LazyLock<moka::future::Cache<String, User>> =
    LazyLock::new(|| moka::future::Cache::builder().max_capacity(CAPACITY).time_to_live(TTL).build());

static KEY: LazyLock<String> = LazyLock::new(|| user_key(1));

static NEXT: AtomicU64 = AtomicU64::new(1_000_000);

/// The contenders: name, what it does.
const CONTENDERS: [(&str, &str); 9] = [
    ("moka_get", "hit: raw moka get, key built once"),
    ("moka_get_format_key", "hit: raw moka get, key built with format! per call"),
    ("ours_macro", "hit: #[cache_runtime::cached]"),
    ("ours_aside_get", "hit: cache_runtime::get, key built once"),
    ("cached_macro", "hit: cached 4.x #[cached]"),
    ("miss_moka", "miss: raw moka get + insert, format! key"),
    ("miss_ours_macro", "miss: #[cache_runtime::cached], body returns at once"),
    ("miss_cached_macro", "miss: cached 4.x #[cached], body returns at once"),
    ("key_1_placeholder", "KeyBuilder for key = \"user:{id}\""),
];

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
            let mut key = cache_runtime::key::KeyBuilder::with_capacity(13);
            key.literal("user:");
            key.value(&black_box(4_242_424u64));
            drop(black_box(key.finish()));
        }),
        other => panic!("unknown contender {other}"),
    }
}

fn run(contender: &str) {
    cache_runtime::set_default(cache_runtime::MemoryProvider::builder().max_capacity(CAPACITY).build());
    // Warm every cache (and every lazy static) on key 1, and the miss paths on keys never hit.
    now(ours(1));
    now(theirs(1));
    now(MOKA.insert(KEY.clone(), User::new(1)));
    for _ in 0..CALLS {
        hot_loop_warm(contender);
    }
    hot_loop(contender);
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
    println!("Instructions per call (callgrind, {CALLS} calls counted after {CALLS} warm-up calls):\n");
    println!("| contender | what | instructions/call |");
    println!("|---|---|---:|");
    for (contender, what) in CONTENDERS {
        let out_file = out_dir.join(format!("callgrind.cache-benches.{contender}"));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--toggle-collect=*hot_loop*")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(&me)
            .arg(contender)
            .output()
            .expect("valgrind (apt-get install valgrind)");
        assert!(status.status.success(), "{contender}: {}", String::from_utf8_lossy(&status.stderr));
        let stderr = String::from_utf8_lossy(&status.stderr);
        let total: u64 = stderr
            .lines()
            .find_map(|line| line.split_once("Collected : ").map(|(_, n)| n.trim().replace(',', "")))
            .and_then(|n| n.parse().ok())
            .expect("callgrind's `Collected` line");
        println!("| {contender} | {what} | {} |", total / CALLS);
    }
    println!(
        "\nPer-function detail: callgrind_annotate --inclusive=yes {}",
        out_dir.join("callgrind.cache-benches.<contender>").display()
    );
}
