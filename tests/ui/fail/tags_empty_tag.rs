// An empty tag names no group of entries.
use cache_runtime::cached;

#[cached(key = "order:{id}", tags = ["orders", ""])]
async fn order(id: u64) -> u64 {
    id
}

fn main() {
    let _ = order(1);
    let _ = order_invalidate(1);
}
