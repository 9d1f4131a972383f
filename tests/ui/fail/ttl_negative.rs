// A bad `ttl`: a negative number. The error points at the value and says what to write.
use cache_runtime::cached;

#[cached(ttl = -5)]
async fn fetch(n: u64) -> u64 {
    n
}

fn main() {
    let _ = fetch(1);
    let _ = fetch_invalidate(1);
}
