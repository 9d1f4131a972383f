// The cached value is stored and decoded: the return type must be named, not `impl Trait`.
use cache_runtime::cached;

#[cached(key = "label:{id}")]
async fn label(id: u64) -> impl std::fmt::Display {
    id
}

fn main() {
    let _ = label(1);
    let _ = label_invalidate(1);
}
