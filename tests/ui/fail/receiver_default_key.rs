// A method with a receiver and no `key`: the default key would ignore `self`, so two receivers
// would share every entry. The error is at the receiver and names both fixes, with the method's
// own parameters; the helper is still declared (as an associated fn), so it is the only error.
use cache_runtime::cached;

struct Repo {
    tenant: String,
}

impl Repo {
    #[cached]
    async fn count(&self, kind: u8, label: String) -> usize {
        self.tenant.len() + usize::from(kind) + label.len()
    }

    #[cached(ttl = 60)]
    async fn size(self) -> usize {
        self.tenant.len()
    }
}

fn main() {
    let repo = Repo { tenant: "acme".into() };
    let _ = repo.count(1, "x".into());
    let _ = Repo::count_invalidate(1, "x".into());
    let _ = repo.size();
    let _ = Repo::size_invalidate();
}
