//! `invalidate_tag` against `clear_pattern` over the same entries (issue 15), on a
//! `MemoryProvider` and on a `RedisProvider` (against a `redis-server` started for the run).
//!
//! Per store: `invalidate_tag("orders")` on the empty store; then 1,000,000 entries
//! (`order:<n>`, tagged `user:<n % 10,000>` and `orders`, a `u64` value) are stored through the
//! provider; `invalidate_tag("orders")` is timed (several runs: it does no per-entry work, so the
//! later runs cost what the first one does); a sample of keys is read before and after to show
//! that the entries were live and are dropped. The entries are then stored again and
//! `clear_pattern("order:*")` is timed over them, with the same sample reads. On Redis the fill
//! runs in many tasks at once, so that the provider's multiplexed connection pipelines their
//! writes, and `INFO commandstats` counts the commands each operation sent.
//!
//! Run: `cargo run --release -p cache-benches --bin tag_invalidation [entries]` (default
//! 1,000,000; needs `redis-server`). Prints a Markdown table.

use std::time::{Duration, Instant};

use cache_runtime::{Cache, MemoryProvider, RedisProvider};
use cache_tests::{command_calls, RedisServer};

/// The tag every entry carries.
const TAG: &str = "orders";
/// The pattern that matches every entry.
const PATTERN: &str = "order:*";
/// How many times `invalidate_tag` is timed in each state.
const RUNS: usize = 5;
/// How many keys are read back to see whether the entries are live.
const SAMPLE: u64 = 1_000;
/// Tasks that fill the Redis store at once.
const FILL_TASKS: u64 = 256;
/// The entries' time to live: long enough that none expires during the run.
const TTL: Duration = Duration::from_secs(3_600);

fn key(n: u64) -> String {
    format!("order:{n}")
}

fn tags(n: u64) -> [String; 2] {
    [format!("user:{}", n % 10_000), TAG.to_owned()]
}

/// Stores entries `from, from + step, ...` below `entries`.
async fn fill_stride(cache: Cache, from: u64, step: u64, entries: u64) {
    let mut n = from;
    while n < entries {
        cache.set_tagged(&key(n), &n, TTL, &tags(n)).await.expect("set_tagged");
        n += step;
    }
}

/// Stores every entry, in `tasks` tasks at once; returns how long it took.
async fn fill(cache: &Cache, entries: u64, tasks: u64) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> =
        (0..tasks).map(|task| tokio::spawn(fill_stride(cache.clone(), task, tasks, entries))).collect();
    for handle in handles {
        handle.await.expect("a fill task");
    }
    start.elapsed()
}

/// How many of `SAMPLE` keys spread over the entries are read back as stored.
async fn live(cache: &Cache, entries: u64) -> u64 {
    let mut found = 0;
    for i in 0..SAMPLE {
        let n = i * entries / SAMPLE + i % 7;
        if let Some(value) = cache.get::<u64>(&key(n)).await.expect("get") {
            assert_eq!(value, n);
            found += 1;
        }
    }
    found
}

/// `RUNS` timings of `invalidate_tag(TAG)`.
async fn invalidations(cache: &Cache) -> Vec<Duration> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        cache.invalidate_tag(TAG).await.expect("invalidate_tag");
        runs.push(start.elapsed());
    }
    runs
}

fn median(runs: &[Duration]) -> Duration {
    let mut sorted = runs.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// `n` with a comma between each group of three digits.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn show(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.1} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1} ms", micros / 1_000.0)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

fn show_runs(runs: &[Duration]) -> String {
    let all: Vec<String> = runs.iter().map(|run| show(*run)).collect();
    format!("{} (runs: {})", show(median(runs)), all.join(", "))
}

/// The commands a Redis server ran since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
struct Commands {
    raw: Option<redis::aio::MultiplexedConnection>,
}

impl Commands {
    async fn reset(&mut self) {
        if let Some(raw) = &mut self.raw {
            let () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(raw).await.expect("CONFIG RESETSTAT");
        }
    }

    /// The calls of the commands that matter here, as text; empty for the memory store.
    async fn seen(&mut self) -> String {
        let Some(raw) = &mut self.raw else { return String::new() };
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(raw).await.expect("INFO");
        ["evalsha", "scan", "keys", "get", "set", "incr", "publish", "del", "unlink"]
            .iter()
            .map(|command| (command, command_calls(&info, command)))
            .filter(|(command, calls)| *calls > 0 || matches!(**command, "scan" | "keys"))
            .map(|(command, calls)| format!("{} {calls}", command.to_uppercase()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One store's rows of the table; `tasks` fill it at once.
async fn measure(store: &str, cache: Cache, mut commands: Commands, entries: u64, tasks: u64) -> Vec<String> {
    let mut rows = Vec::new();
    let mut row = |operation: &str, entries: u64, time: String, after: String, commands: String| {
        rows.push(format!("| {store} | {operation} | {} | {time} | {after} | {commands} |", thousands(entries)));
    };

    commands.reset().await;
    let empty = invalidations(&cache).await;
    let seen = commands.seen().await;
    row("`invalidate_tag`, empty store", 0, show_runs(&empty), String::new(), seen);

    let filled = fill(&cache, entries, tasks).await;
    eprintln!("{store}: {entries} entries stored in {}", show(filled));
    let before = live(&cache, entries).await;
    assert_eq!(before, SAMPLE, "{store}: every sampled entry is stored");
    commands.reset().await;
    let full = invalidations(&cache).await;
    let seen = commands.seen().await;
    let after = live(&cache, entries).await;
    assert_eq!(after, 0, "{store}: invalidate_tag dropped every sampled entry");
    row("`invalidate_tag(\"orders\")`", entries, show_runs(&full), format!("{before} → {after} of {SAMPLE}"), seen);

    let refilled = fill(&cache, entries, tasks).await;
    eprintln!("{store}: {entries} entries stored again in {}", show(refilled));
    let before = live(&cache, entries).await;
    assert_eq!(before, SAMPLE, "{store}: every sampled entry is stored again");
    commands.reset().await;
    let start = Instant::now();
    let removed = cache.clear_pattern(PATTERN).await.expect("clear_pattern");
    let cleared = start.elapsed();
    let seen = commands.seen().await;
    let after = live(&cache, entries).await;
    assert_eq!(after, 0, "{store}: clear_pattern removed every sampled entry");
    row(
        "`clear_pattern(\"order:*\")`",
        entries,
        format!("{} ({} removed)", show(cleared), thousands(removed)),
        format!("{before} → {after} of {SAMPLE}"),
        seen,
    );
    let ratio = cleared.as_secs_f64() / median(&full).as_secs_f64();
    row(
        "**`clear_pattern` / `invalidate_tag`**",
        entries,
        format!("**{}×**", thousands(ratio.round() as u64)),
        String::new(),
        String::new(),
    );
    rows
}

fn main() {
    let entries: u64 = std::env::args().nth(1).map_or(1_000_000, |n| n.parse().expect("a number of entries"));
    let rt = cache_benches::multi_thread(2);
    let server = RedisServer::start();
    let mut rows = rt.block_on(async {
        let memory = MemoryProvider::builder().max_capacity(2 * entries).build();
        cache_runtime::register("memory", memory.clone());
        let cache = cache_runtime::named("memory").expect("registered");
        let rows = measure("memory", cache, Commands { raw: None }, entries, 1).await;
        assert_eq!(memory.stats().errors, 0);
        rows
    });
    rows.extend(rt.block_on(async {
        let redis = RedisProvider::builder(server.url()).connect().await.expect("a RedisProvider");
        cache_runtime::register("redis", redis.clone());
        let cache = cache_runtime::named("redis").expect("registered");
        let client = redis::Client::open(server.url()).expect("a redis URL");
        let raw = client.get_multiplexed_async_connection().await.expect("a raw connection");
        let rows = measure("redis", cache, Commands { raw: Some(raw) }, entries, FILL_TASKS).await;
        assert_eq!(redis.stats().errors, 0, "every Redis call succeeded");
        rows
    }));
    println!(
        "\n`invalidate_tag` against `clear_pattern`, {} tagged entries (median of {RUNS} runs of \
         `invalidate_tag`; one `clear_pattern`; {SAMPLE} keys sampled):\n",
        thousands(entries)
    );
    println!("| store | operation | entries | time | sampled keys live before → after | Redis commands |");
    println!("|---|---|---:|---:|---|---|");
    for row in rows {
        println!("{row}");
    }
}
