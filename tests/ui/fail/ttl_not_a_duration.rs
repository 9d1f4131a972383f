// A bad `ttl`: a string that is not a duration. The error points at the value and says what to write.
use cache_runtime::cached;

#[cached(ttl = "soon")]
async fn fetch(n: u64) -> u64 {
    n
}

fn main() {
    let _ = fetch(1);
    let _ = fetch_invalidate(1);
}
