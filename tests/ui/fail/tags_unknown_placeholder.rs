// A tag's placeholders name parameters, as a key's do; and tags follow the key's other rules.
use cache_runtime::cached;

#[cached(key = "order:{id}", tags = ["user:{user}"])]
async fn order(id: u64, user_id: u64) -> u64 {
    id + user_id
}

#[cached(key = "square:{n}", tags = ["tenant:{self.tenant}", "n:{n:>5}"])]
async fn square(n: u64) -> u64 {
    n * n
}

fn main() {
    let _ = order(1, 2);
    let _ = order_invalidate(1);
    let _ = square(3);
}
