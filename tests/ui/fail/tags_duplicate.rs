// The same tag template twice: the error points at the second one. A duplicate `tags` option is
// the generic duplicate error.
use cache_runtime::cached;

#[cached(key = "order:{id}", tags = ["user:{user_id}", "orders", "user:{user_id}"])]
async fn order(id: u64, user_id: u64) -> u64 {
    id + user_id
}

#[cached(key = "invoice:{id}", tags = ["invoices"], tags = ["orders"])]
async fn invoice(id: u64) -> u64 {
    id
}

fn main() {
    let _ = order(1, 2);
    let _ = order_invalidate(1);
    let _ = invoice(1);
}
