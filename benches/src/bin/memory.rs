//! Resident memory per entry: 1,000,000 entries of a 100-byte value, the toolkit against raw
//! moka (and the `cached` crate, for reference).
//!
//! Each contender runs in a process of its own (this binary runs itself once per contender), so
//! that what one allocated never counts for another. A contender reads its resident set size from
//! `/proc/self/statm` once its runtime and empty cache exist, fills the cache, lets moka finish
//! its pending work, reads it again and reports the difference over the number of entries.
//!
//! Run: `cargo run --release -p cache-benches --bin memory`.

use std::time::Duration;

const ENTRIES: u64 = 1_000_000;
const VALUE_LEN: usize = 100;
const TTL: Duration = Duration::from_secs(300);

/// The contenders, the baseline first.
const CONTENDERS: [(&str, &str); 4] = [
    ("moka", "raw moka::future::Cache<String, Vec<u8>>, time_to_live"),
    ("ours_macro", "#[cache_runtime::cached] on the default MemoryProvider"),
    ("ours_aside_set", "cache_runtime::set on the default MemoryProvider"),
    ("cached_macro", "cached 4.x #[cached(max_size, ttl_secs)] (u64 keys)"),
];

fn value(id: u64) -> Vec<u8> {
    vec![(id % 251) as u8; VALUE_LEN]
}

#[cache_runtime::cached(ttl = 300, key = "item:{id}")]
async fn ours(id: u64) -> Vec<u8> {
    value(id)
}

#[cached::macros::cached(max_size = 1_000_000, ttl_secs = 300)]
async fn theirs(id: u64) -> Vec<u8> {
    value(id)
}

/// Fills one contender's cache and prints `bytes_per_entry rss_before rss_after`.
fn measure(contender: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    rt.block_on(async {
        let (before, after) = match contender {
            "moka" => {
                let cache: moka::future::Cache<String, Vec<u8>> =
                    moka::future::Cache::builder().max_capacity(ENTRIES).time_to_live(TTL).build();
                let before = cache_benches::rss();
                for id in 0..ENTRIES {
                    cache.insert(format!("item:{id}"), value(id)).await;
                }
                cache.run_pending_tasks().await;
                assert_eq!(cache.entry_count(), ENTRIES, "nothing may be evicted");
                (before, cache_benches::rss())
            }
            "ours_macro" | "ours_aside_set" => {
                // quick_cache splits its bound over shards that fill unevenly: room for 5 % more
                // keeps every entry (its tables are sized by the bound: this weighs a little more).
                let provider = cache_runtime::MemoryProvider::builder().max_capacity(ENTRIES * 21 / 20).build();
                cache_runtime::set_default(provider.clone());
                let before = cache_benches::rss();
                for id in 0..ENTRIES {
                    if contender == "ours_macro" {
                        ours(id).await;
                    } else {
                        cache_runtime::set(&format!("item:{id}"), &value(id), TTL).await.expect("an in-memory set");
                    }
                }
                provider.run_pending_tasks().await;
                assert_eq!(provider.entry_count(), ENTRIES, "nothing may be evicted");
                assert_eq!(provider.stats().sets, ENTRIES);
                (before, cache_benches::rss())
            }
            "cached_macro" => {
                let before = cache_benches::rss();
                for id in 0..ENTRIES {
                    theirs(id).await;
                }
                (before, cache_benches::rss())
            }
            other => panic!("unknown contender {other}"),
        };
        println!("{:.1} {before} {after}", (after - before) as f64 / ENTRIES as f64);
    });
}

fn main() {
    if let Some(contender) = std::env::args().nth(1) {
        return measure(&contender);
    }
    println!("Resident bytes per entry, {ENTRIES} entries of a {VALUE_LEN}-byte value (keys `item:<id>`):\n");
    println!("| contender | bytes/entry | vs raw moka | RSS before → after (MiB) |");
    println!("|---|---:|---:|---:|");
    let mut baseline = None;
    for (contender, what) in CONTENDERS {
        let fields = cache_benches::child_numbers(&[contender]);
        let per_entry = fields[0];
        let baseline = *baseline.get_or_insert(per_entry);
        let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
        println!(
            "| {contender}: {what} | {per_entry:.0} | {:.2}x | {:.0} → {:.0} |",
            per_entry / baseline,
            mib(fields[1]),
            mib(fields[2])
        );
    }
}
