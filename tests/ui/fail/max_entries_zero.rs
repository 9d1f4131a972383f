use cache_runtime::cached;

#[cached(key = "n:{n}", max_entries = 0)]
async fn n(n: u64) -> u64 {
    n
}

fn main() {}
