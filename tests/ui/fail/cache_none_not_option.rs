// `cache_none` on a function that does not return an `Option`.
use cache_runtime::cached;

#[cached(cache_none = true)]
async fn count(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {
    let _ = count(1);
    let _ = count_invalidate(1);
}
