// `#[async_trait]` on the impl block rewrites the method before `#[cached]` sees it; `#[cached]`
// caches it all the same, but a trait impl holds only the trait's methods, so `total_invalidate`
// cannot stand beside it. The error, at the method's name, says to add `companions = false`, and
// it is the only error (no "not a member of trait").
use async_trait::async_trait;
use cache_runtime::cached;

#[async_trait]
trait Orders {
    async fn total(&self, id: u64) -> Option<u64>;
}

struct Db {
    tenant: String,
}

#[async_trait]
impl Orders for Db {
    #[cached(key = "total:{self.tenant}:{id}")]
    async fn total(&self, id: u64) -> Option<u64> {
        Some(id)
    }
}

fn main() {
    let db = Db { tenant: "acme".into() };
    let _ = db.total(1);
}
