// `300ms` is an integer literal with a suffix, which would otherwise read as 300 seconds: the unit
// goes inside a string.
use cache_runtime::cached;

#[cached(ttl = 300ms)]
async fn fetch(n: u64) -> u64 {
    n
}

fn main() {
    let _ = fetch(1);
    let _ = fetch_invalidate(1);
}
