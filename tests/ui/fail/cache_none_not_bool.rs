// `cache_none` takes `true` or `false`.
use cache_runtime::cached;

#[cached(cache_none = "yes")]
async fn find(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {
    let _ = find(1);
    let _ = find_invalidate(1);
}
