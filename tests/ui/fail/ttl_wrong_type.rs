// A `ttl` expression that is not a `Duration`: the type error points at the expression.
use cache_runtime::cached;

#[cached(ttl = 5u32 * 2)]
async fn fetch(n: u64) -> u64 {
    n
}

fn main() {
    let _ = fetch(1);
    let _ = fetch_invalidate(1);
}
