// `companions` takes `true` or `false`.
use cache_runtime::cached;

#[cached(key = "find:{id}", companions = "no")]
async fn find(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {
    let _ = find(1);
    let _ = find_invalidate(1);
}
