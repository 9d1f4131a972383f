// A bad `ttl`: a number without a unit. The error points at the value and says what to write.
use cache_runtime::cached;

#[cached(ttl = "30")]
async fn fetch(n: u64) -> u64 {
    n
}

fn main() {
    let _ = fetch(1);
    let _ = fetch_invalidate(1);
}
