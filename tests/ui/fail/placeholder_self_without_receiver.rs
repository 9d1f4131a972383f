// `{self.x}` in a function without `self`.
use cache_runtime::cached;

struct Repo;

impl Repo {
    #[cached(key = "page:{self.tenant}:{page}")]
    async fn page(page: u32) -> u32 {
        page
    }
}

fn main() {
    let _ = Repo::page(1);
    let _ = Repo::page_invalidate(1);
}
