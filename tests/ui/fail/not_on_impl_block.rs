// `#[cached]` goes on each method, not on the impl block.
use cache_runtime::cached;

struct Repo;

#[cached]
impl Repo {
    async fn count(&self) -> u64 {
        1
    }
}

fn main() {
    let _ = Repo.count();
}
