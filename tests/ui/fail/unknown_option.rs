// An option that `#[cached]` does not know: the error points at its name and lists the options.
use cache_runtime::cached;

#[cached(ttl_secs = 30)]
async fn slow(n: u64) -> u64 {
    n
}

fn main() {
    let _ = slow(1);
    let _ = slow_invalidate(1);
}
