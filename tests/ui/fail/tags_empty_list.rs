// `tags = []` gives no tag: list some, or remove the option.
use cache_runtime::cached;

#[cached(key = "order:{id}", tags = [])]
async fn order(id: u64) -> u64 {
    id
}

fn main() {
    let _ = order(1);
    let _ = order_invalidate(1);
}
