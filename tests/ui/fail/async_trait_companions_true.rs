// Under `#[async_trait]`, `companions = true` is the same mistake as leaving it out: the error
// points at the option.
use async_trait::async_trait;
use cache_runtime::cached;

#[async_trait]
trait Orders {
    async fn total(&self, id: u64) -> Option<u64>;
}

struct Db;

#[async_trait]
impl Orders for Db {
    #[cached(key = "total:{id}", companions = true)]
    async fn total(&self, id: u64) -> Option<u64> {
        Some(id)
    }
}

fn main() {
    let _ = Db.total(1);
}
