// An option given twice: the error points at the second one, for `ttl` and for `key` alike.
use cache_runtime::cached;

#[cached(ttl = 30, ttl = "5m")]
async fn twice_ttl(n: u64) -> u64 {
    n
}

#[cached(key = "a:{n}", ttl = 30, key = "b:{n}")]
async fn twice_key(n: u64) -> u64 {
    n
}

fn main() {
    let _ = twice_ttl(1);
    let _ = twice_key(1);
    let _ = twice_key_invalidate(1);
}
