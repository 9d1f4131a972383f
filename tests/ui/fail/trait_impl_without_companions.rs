// A native `async fn` in `impl Trait for Type`: the macro cannot tell a trait impl from an
// inherent one, so without `companions = false` it generates `name_invalidate` beside the method,
// and rustc reports it at the attribute: "not a member of trait". The fix is
// `#[cached(key = "...", companions = false)]` (see tests/trait_methods.rs).
use cache_runtime::cached;

trait Users {
    async fn name(&self, id: u64) -> String;
}

struct Db;

impl Users for Db {
    #[cached(key = "name:{id}")]
    async fn name(&self, id: u64) -> String {
        id.to_string()
    }
}

fn main() {
    let _ = Db.name(1);
}
