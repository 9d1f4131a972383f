//! Hit ratios on Zipf traces (issue 12: "hit ratio at least moka's"), and, in a second mode,
//! resident memory per entry of quick_cache against moka.
//!
//! Three traces over a keyspace of 1,000,000 keys, each replayed against every contender bounded
//! to 10,000 entries, cache-aside: a read that misses inserts the key.
//!
//! - `zipf-0.9`: Zipf with exponent 0.9.
//! - `zipf-0.9+scans`: the same, with a scan of 20,000 fresh keys (never requested before or
//!   after) after every 50,000 Zipf requests, warm-up included. Scan requests always miss: the
//!   hit ratio is counted over the Zipf requests only (the ratio over all requests is printed too).
//! - `zipf-0.7`: Zipf with exponent 0.7.
//!
//! Each trace is 500,000 Zipf requests of warm-up (not counted) then 2,000,000 counted, drawn
//! from a SplitMix64 generator with a fixed seed per trace ([`TRACES`]). A rank is drawn by
//! binary search of a uniform number in the precomputed CDF of the 1,000,000 ranks; rank 1
//! (the most requested) is key 0. The trace is generated once and replayed identically to every
//! contender.
//!
//! Contenders:
//! - raw moka 0.12 `future::Cache` configured as `cache_runtime::MemoryProvider` configures it
//!   (`max_capacity(10_000)`, a per-entry TTL through `Expiry` of 300 s, an eviction listener),
//!   with `String` keys `item:<id>`, driven from one task on a current-thread runtime. moka
//!   applies its policy (admission, eviction, frequency sketch) lazily from buffered reads and
//!   writes: it runs that housekeeping by itself when 64 reads or writes are pending; this
//!   harness also calls `run_pending_tasks()` every 1,000 requests, and a second row calls it
//!   after every request (moka's policy applied at once, nothing dropped from its read buffer);
//! - ours: `cache_runtime::get` then `set` on a `MemoryProvider` of 10,000 entries (quick_cache's
//!   policy underneath, in the toolkit's own shards), `run_pending_tasks()` every 1,000 requests;
//! - quick_cache 0.7 `sync::Cache::new(10_000)` (default options: sharded, S3-FIFO-like);
//! - a plain LRU of 10,000 entries (written here: a map and an intrusive doubly linked list);
//! - for reference, the share of counted requests that fall on the 10,000 most probable keys
//!   (what a cache that held exactly those keys would hit; not an upper bound for a dynamic
//!   policy, but close to one for a stationary Zipf).
//!
//! Run: `cargo run --release -p cache-benches --bin hit_ratio` (hit ratios, about a minute), and
//! `cargo run --release -p cache-benches --bin hit_ratio -- memory` (resident bytes per entry of
//! 1,000,000 entries of a 100-byte value, one child process per contender, as the `memory`
//! binary does).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::notification::RemovalCause;
use moka::Expiry;

/// Entries every contender holds at most.
const CAPACITY: usize = 10_000;
/// Distinct keys a Zipf draw can name.
const KEYSPACE: usize = 1_000_000;
/// Zipf requests not counted, at the start of each trace.
const WARM_UP: usize = 500_000;
/// Zipf requests counted, after the warm-up.
const MEASURED: usize = 2_000_000;
/// Zipf requests between two scans, in the trace with scans.
const SCAN_EVERY: usize = 50_000;
/// Fresh keys per scan.
const SCAN_LEN: u64 = 20_000;
/// Scan keys start here, far above the Zipf keyspace, and are never repeated.
const SCAN_BASE: u64 = 1 << 40;
/// moka's `run_pending_tasks()` every this many requests.
const HOUSEKEEPING_EVERY: usize = 1_000;
/// The time to live every moka entry gets: the macro's default, far beyond a run.
const TTL: Duration = Duration::from_secs(300);

/// A trace: its name, Zipf exponent, whether it has scans, and its seed.
struct TraceSpec {
    name: &'static str,
    exponent: f64,
    scans: bool,
    seed: u64,
}

const TRACES: [TraceSpec; 3] = [
    TraceSpec { name: "zipf-0.9", exponent: 0.9, scans: false, seed: 0x1209 },
    TraceSpec { name: "zipf-0.9+scans", exponent: 0.9, scans: true, seed: 0x1219 },
    TraceSpec { name: "zipf-0.7", exponent: 0.7, scans: false, seed: 0x1207 },
];

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Draws ranks 0..KEYSPACE with P(rank r) proportional to 1 / (r + 1)^exponent.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(exponent: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=KEYSPACE)
            .map(|k| {
                total += (k as f64).powf(-exponent);
                total
            })
            .collect();
        for p in &mut cdf {
            *p /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut SplitMix64) -> u64 {
        let u = rng.next_f64();
        self.cdf.partition_point(|&p| p <= u).min(KEYSPACE - 1) as u64
    }

    /// The probability mass of the `n` most probable ranks.
    fn head_mass(&self, n: usize) -> f64 {
        self.cdf[n - 1]
    }
}

/// A generated trace: every request's key, and where the counted part starts.
struct Trace {
    keys: Vec<u64>,
    measured_from: usize,
    /// The share of counted Zipf requests that fall on the 10,000 most probable keys.
    top_share: f64,
    /// The probability mass of those keys.
    top_mass: f64,
}

fn generate(spec: &TraceSpec) -> Trace {
    let zipf = Zipf::new(spec.exponent);
    let mut rng = SplitMix64(spec.seed);
    let mut keys = Vec::with_capacity(WARM_UP + MEASURED + if spec.scans { 1_000_000 } else { 0 });
    let mut measured_from = 0;
    let mut next_scan_key = SCAN_BASE;
    let mut top_hits = 0u64;
    for i in 0..WARM_UP + MEASURED {
        if spec.scans && i > 0 && i % SCAN_EVERY == 0 {
            keys.extend(next_scan_key..next_scan_key + SCAN_LEN);
            next_scan_key += SCAN_LEN;
        }
        if i == WARM_UP {
            measured_from = keys.len();
        }
        let key = zipf.sample(&mut rng);
        if i >= WARM_UP && (key as usize) < CAPACITY {
            top_hits += 1;
        }
        keys.push(key);
    }
    Trace { keys, measured_from, top_share: top_hits as f64 / MEASURED as f64, top_mass: zipf.head_mass(CAPACITY) }
}

/// Hits and requests, over the Zipf requests and over all requests of the counted part.
#[derive(Default, Clone, Copy)]
struct Tally {
    zipf_hits: u64,
    zipf_requests: u64,
    all_hits: u64,
    all_requests: u64,
}

impl Tally {
    fn record(&mut self, trace: &Trace, index: usize, hit: bool) {
        if index < trace.measured_from {
            return;
        }
        self.all_requests += 1;
        self.all_hits += u64::from(hit);
        if trace.keys[index] < SCAN_BASE {
            self.zipf_requests += 1;
            self.zipf_hits += u64::from(hit);
        }
    }

    fn zipf_ratio(&self) -> f64 {
        self.zipf_hits as f64 / self.zipf_requests as f64
    }

    fn all_ratio(&self) -> f64 {
        self.all_hits as f64 / self.all_requests as f64
    }
}

/// What moka holds per entry in the replica of `MemoryProvider`: a shared value, its TTL and
/// its weight, as the `Entry` of cache-runtime's `memory.rs` does (held for their size, never read).
#[derive(Clone)]
#[allow(dead_code)]
struct Entry {
    value: Arc<u64>,
    ttl: Duration,
    weight: u32,
}

/// `MemoryProvider`'s `PerEntryTtl`: each entry lives for the TTL it was stored with.
struct PerEntryTtl;

impl<V> Expiry<String, V> for PerEntryTtl
where
    V: HasTtl,
{
    fn expire_after_create(&self, _: &String, entry: &V, _: Instant) -> Option<Duration> {
        Some(entry.ttl())
    }
    fn expire_after_update(&self, _: &String, entry: &V, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(entry.ttl())
    }
}

trait HasTtl {
    fn ttl(&self) -> Duration;
}

impl HasTtl for Entry {
    fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// moka configured as `MemoryProvider::builder().max_capacity(capacity)` configures it; the
/// listener counts evictions by size, as the provider's feeds its counters.
fn moka_like_provider<V: HasTtl + Clone + Send + Sync + 'static>(
    capacity: u64,
    evictions: Arc<AtomicU64>,
) -> moka::future::Cache<String, V> {
    moka::future::Cache::builder()
        .expire_after(PerEntryTtl)
        .eviction_listener(move |_key: Arc<String>, _: V, cause: RemovalCause| {
            if cause == RemovalCause::Size {
                evictions.fetch_add(1, Ordering::Relaxed);
            }
        })
        .max_capacity(capacity)
        .build()
}

fn item_key(id: u64) -> String {
    format!("item:{id}")
}

/// Replays `trace` against the moka replica, with `run_pending_tasks()` every `every` requests.
fn run_moka(trace: &Trace, every: usize) -> Tally {
    let rt = cache_benches::current_thread();
    rt.block_on(async {
        let evictions = Arc::new(AtomicU64::new(0));
        let cache = moka_like_provider::<Entry>(CAPACITY as u64, Arc::clone(&evictions));
        let mut tally = Tally::default();
        for (index, &id) in trace.keys.iter().enumerate() {
            let key = item_key(id);
            let hit = cache.get(&key).await.is_some();
            if !hit {
                cache.insert(key, Entry { value: Arc::new(id), ttl: TTL, weight: 1 }).await;
            }
            tally.record(trace, index, hit);
            if (index + 1) % every == 0 {
                cache.run_pending_tasks().await;
            }
        }
        cache.run_pending_tasks().await;
        assert!(cache.entry_count() <= CAPACITY as u64, "moka holds {} entries", cache.entry_count());
        assert!(evictions.load(Ordering::Relaxed) > 0, "the listener saw evictions");
        tally
    })
}

/// Replays `trace` against the toolkit: `cache_runtime::get`, and `set` on a miss.
fn run_ours(trace: &Trace) -> Tally {
    let rt = cache_benches::current_thread();
    let provider = cache_runtime::MemoryProvider::builder().max_capacity(CAPACITY as u64).build();
    rt.block_on(cache_runtime::with_provider(provider.clone(), async {
        let mut tally = Tally::default();
        for (index, &id) in trace.keys.iter().enumerate() {
            let key = item_key(id);
            let hit = cache_runtime::get::<u64>(&key).await.expect("an in-memory get").is_some();
            if !hit {
                cache_runtime::set(&key, &id, TTL).await.expect("an in-memory set");
            }
            tally.record(trace, index, hit);
            if (index + 1) % HOUSEKEEPING_EVERY == 0 {
                provider.run_pending_tasks().await;
            }
        }
        provider.run_pending_tasks().await;
        assert!(provider.entry_count() <= CAPACITY as u64);
        tally
    }))
}

/// Replays `trace` against quick_cache with default options.
fn run_quick_cache(trace: &Trace) -> Tally {
    let cache: quick_cache::sync::Cache<u64, Arc<u64>> = quick_cache::sync::Cache::new(CAPACITY);
    let mut tally = Tally::default();
    for (index, &id) in trace.keys.iter().enumerate() {
        let hit = cache.get(&id).is_some();
        if !hit {
            cache.insert(id, Arc::new(id));
        }
        tally.record(trace, index, hit);
    }
    assert!(cache.len() <= CAPACITY);
    tally
}

/// A plain LRU: a map from key to slot, and the slots in a doubly linked list, most recent first.
struct Lru {
    map: HashMap<u64, u32>,
    slots: Vec<Slot>,
    head: u32,
    tail: u32,
    capacity: usize,
}

struct Slot {
    key: u64,
    prev: u32,
    next: u32,
}

const NIL: u32 = u32::MAX;

impl Lru {
    fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
            head: NIL,
            tail: NIL,
            capacity,
        }
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = (self.slots[slot as usize].prev, self.slots[slot as usize].next);
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, slot: u32) {
        self.slots[slot as usize].prev = NIL;
        self.slots[slot as usize].next = self.head;
        match self.head {
            NIL => self.tail = slot,
            h => self.slots[h as usize].prev = slot,
        }
        self.head = slot;
    }

    /// True on a hit (the key becomes the most recent); on a miss the key is inserted, evicting
    /// the least recent key when full.
    fn access(&mut self, key: u64) -> bool {
        if let Some(&slot) = self.map.get(&key) {
            self.unlink(slot);
            self.push_front(slot);
            return true;
        }
        let slot = if self.slots.len() < self.capacity {
            self.slots.push(Slot { key, prev: NIL, next: NIL });
            (self.slots.len() - 1) as u32
        } else {
            let victim = self.tail;
            self.unlink(victim);
            self.map.remove(&self.slots[victim as usize].key);
            self.slots[victim as usize].key = key;
            victim
        };
        self.map.insert(key, slot);
        self.push_front(slot);
        false
    }
}

fn run_lru(trace: &Trace) -> Tally {
    let mut lru = Lru::new(CAPACITY);
    let mut tally = Tally::default();
    for (index, &id) in trace.keys.iter().enumerate() {
        let hit = lru.access(id);
        tally.record(trace, index, hit);
    }
    assert_eq!(lru.map.len(), CAPACITY);
    tally
}

const CONTENDERS: [&str; 5] = [
    "quick_cache 0.7 `sync::Cache`, default options",
    "moka 0.12 as `MemoryProvider` configures it, `run_pending_tasks()` every 1,000 requests",
    "moka 0.12, the same, `run_pending_tasks()` after every request",
    "ours: `cache_runtime::get`/`set` on a `MemoryProvider` of 10,000",
    "LRU",
];

fn hit_ratios() {
    println!(
        "Hit ratio (%), capacity {CAPACITY} entries, keyspace {KEYSPACE} keys, {WARM_UP} Zipf requests of warm-up then \
         {MEASURED} counted; cache-aside (a miss inserts).\n"
    );
    let mut columns = Vec::new();
    for spec in &TRACES {
        let started = Instant::now();
        let trace = generate(spec);
        eprintln!("{}: {} requests generated in {:.1?}", spec.name, trace.keys.len(), started.elapsed());
        let mut results = Vec::new();
        for (i, run) in [
            &(|t: &Trace| run_quick_cache(t)) as &dyn Fn(&Trace) -> Tally,
            &|t: &Trace| run_moka(t, HOUSEKEEPING_EVERY),
            &|t: &Trace| run_moka(t, 1),
            &|t: &Trace| run_ours(t),
            &|t: &Trace| run_lru(t),
        ]
        .into_iter()
        .enumerate()
        {
            let started = Instant::now();
            let tally = run(&trace);
            eprintln!(
                "  {}: {:.2} % ({:.2} % of all requests) in {:.1?}",
                CONTENDERS[i],
                100.0 * tally.zipf_ratio(),
                100.0 * tally.all_ratio(),
                started.elapsed()
            );
            results.push(tally);
        }
        columns.push((spec, trace.top_share, trace.top_mass, results));
    }
    print!("| contender |");
    for (spec, ..) in &columns {
        print!(" {} |", spec.name);
    }
    println!();
    println!("|---|{}", "---:|".repeat(columns.len()));
    for (i, name) in CONTENDERS.iter().enumerate() {
        print!("| {name} |");
        for (spec, _, _, results) in &columns {
            let tally = results[i];
            if spec.scans {
                print!(" {:.2} ({:.2} of all) |", 100.0 * tally.zipf_ratio(), 100.0 * tally.all_ratio());
            } else {
                print!(" {:.2} |", 100.0 * tally.zipf_ratio());
            }
        }
        println!();
    }
    print!("| the 10,000 most probable keys: share of counted requests (probability mass) |");
    for (_, share, mass, _) in &columns {
        print!(" {:.2} ({:.2}) |", 100.0 * share, 100.0 * mass);
    }
    println!();
    println!("\nRatios of hit ratios (over the Zipf requests):");
    for (spec, _, _, results) in &columns {
        println!(
            "  {}: quick_cache / moka (every 1,000) = {:.3}, moka (every 1,000) / LRU = {:.3}",
            spec.name,
            results[0].zipf_ratio() / results[1].zipf_ratio(),
            results[1].zipf_ratio() / results[4].zipf_ratio()
        );
    }
}

// ---- memory mode -------------------------------------------------------------------------

const MEMORY_ENTRIES: u64 = 1_000_000;
const VALUE_LEN: usize = 100;

const MEMORY_CONTENDERS: [(&str, &str); 3] = [
    ("moka", "raw moka `future::Cache<String, Vec<u8>>`, `time_to_live` (the `memory` binary's baseline)"),
    (
        "moka_provider_like",
        "moka `future::Cache<String, Entry>` as `MemoryProvider` configures it (`Expiry`, listener)",
    ),
    ("quick_cache", "quick_cache 0.7 `sync::Cache<String, Vec<u8>>::new(1_000_000)`, default options"),
];

fn value(id: u64) -> Vec<u8> {
    vec![(id % 251) as u8; VALUE_LEN]
}

/// The replica's entry with a byte value (held for its size, never read).
#[derive(Clone)]
#[allow(dead_code)]
struct BytesEntry {
    value: Vec<u8>,
    ttl: Duration,
    weight: u32,
}

impl HasTtl for BytesEntry {
    fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Fills one contender's cache and prints `bytes_per_entry rss_before rss_after entries`. The
/// resident set is read before the cache is built, so that what a cache allocates up front
/// (quick_cache sizes its tables for its capacity) counts.
fn measure_memory(contender: &str) {
    let rt = cache_benches::current_thread();
    let (before, after, held) = rt.block_on(async {
        match contender {
            "moka" => {
                let before = cache_benches::rss();
                let cache: moka::future::Cache<String, Vec<u8>> =
                    moka::future::Cache::builder().max_capacity(MEMORY_ENTRIES).time_to_live(TTL).build();
                for id in 0..MEMORY_ENTRIES {
                    cache.insert(item_key(id), value(id)).await;
                }
                cache.run_pending_tasks().await;
                (before, cache_benches::rss(), cache.entry_count())
            }
            "moka_provider_like" => {
                let before = cache_benches::rss();
                let cache = moka_like_provider::<BytesEntry>(MEMORY_ENTRIES, Arc::new(AtomicU64::new(0)));
                for id in 0..MEMORY_ENTRIES {
                    let entry = BytesEntry { value: value(id), ttl: TTL, weight: 1 };
                    cache.insert(item_key(id), entry).await;
                }
                cache.run_pending_tasks().await;
                (before, cache_benches::rss(), cache.entry_count())
            }
            "quick_cache" => {
                let before = cache_benches::rss();
                let cache: quick_cache::sync::Cache<String, Vec<u8>> =
                    quick_cache::sync::Cache::new(MEMORY_ENTRIES as usize);
                for id in 0..MEMORY_ENTRIES {
                    cache.insert(item_key(id), value(id));
                }
                (before, cache_benches::rss(), cache.len() as u64)
            }
            other => panic!("unknown contender {other}"),
        }
    });
    println!("{:.1} {before} {after} {held}", (after - before) as f64 / held as f64);
}

fn memory() {
    println!(
        "Resident bytes per entry held, {MEMORY_ENTRIES} inserts of a {VALUE_LEN}-byte value (keys `item:<id>`), RSS \
         read before the cache is built:\n"
    );
    println!("| contender | entries held | bytes/entry | vs raw moka | RSS before → after (MiB) |");
    println!("|---|---:|---:|---:|---:|");
    let mut baseline = None;
    for (contender, what) in MEMORY_CONTENDERS {
        let fields = cache_benches::child_numbers(&["memory-child", contender]);
        let per_entry = fields[0];
        let baseline = *baseline.get_or_insert(per_entry);
        let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
        println!(
            "| {what} | {:.0} | {per_entry:.0} | {:.2}x | {:.0} → {:.0} |",
            fields[3],
            per_entry / baseline,
            mib(fields[1]),
            mib(fields[2])
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => hit_ratios(),
        ["memory"] => memory(),
        ["memory-child", contender] => measure_memory(contender),
        _ => panic!("usage: hit_ratio [memory]"),
    }
}
