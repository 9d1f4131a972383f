// A newline separates an entry's tags: no tag may hold it, nor any other control character.
use cache_runtime::cached;

#[cached(key = "order:{id}", tags = ["user:{user_id}\norders"])]
async fn order(id: u64, user_id: u64) -> u64 {
    id + user_id
}

#[cached(key = "invoice:{id}", tags = ["invoices\t2026"])]
async fn invoice(id: u64) -> u64 {
    id
}

fn main() {
    let _ = order(1, 2);
    let _ = order_invalidate(1);
    let _ = invoice(1);
}
