use cache_runtime::cached;

#[cached(ttl = 60, refresh_ahead = 30, key = "quote:{symbol}")]
async fn quote(symbol: &str) -> Option<u64> {
    Some(symbol.len() as u64)
}

struct Repo {
    tenant: String,
}

impl Repo {
    #[cached(ttl = 60, stale = "1h", soft_timeout = "1s", key = "count:{self.tenant}")]
    async fn count(&self) -> Result<u64, String> {
        Ok(self.tenant.len() as u64)
    }
}

fn main() {}
