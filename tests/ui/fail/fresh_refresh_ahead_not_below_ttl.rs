use cache_runtime::cached;

#[cached(ttl = "5m", refresh_ahead = "5m", key = "price:{id}")]
async fn price(id: u64) -> Result<u64, String> {
    Ok(id)
}

// Without `ttl`, the default (5 minutes) is the bound.
#[cached(refresh_ahead = "10m", key = "rate:{id}")]
async fn rate(id: u64) -> u64 {
    id
}

fn main() {}
