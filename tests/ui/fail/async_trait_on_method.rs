// `#[async_trait]` goes on the trait and the impl block. Written on the method, in either order
// with `#[cached]`, it is an error; below `#[cached]` (which then runs first) the error says
// where it goes, and async_trait's own error about the method is not reported.
use cache_runtime::cached;

struct Db;

impl Db {
    #[cached(key = "total:{id}")]
    #[async_trait::async_trait]
    async fn total(&self, id: u64) -> Option<u64> {
        Some(id)
    }
}

fn main() {
    let _ = Db.total(1);
}
