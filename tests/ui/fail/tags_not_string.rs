// Tags are string literals in brackets, read at compile time: not a constant, not a bare string.
use cache_runtime::cached;

const ORDERS: &str = "orders";

#[cached(key = "order:{id}", tags = [ORDERS, "user:{user_id}"])]
async fn order(id: u64, user_id: u64) -> u64 {
    id + user_id
}

#[cached(key = "invoice:{id}", tags = "invoices")]
async fn invoice(id: u64) -> u64 {
    id
}

fn main() {
    let _ = ORDERS;
    let _ = order(1, 2);
    let _ = order_invalidate(1);
    let _ = invoice(1);
}
