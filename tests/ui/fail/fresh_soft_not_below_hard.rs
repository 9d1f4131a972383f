use cache_runtime::cached;

#[cached(ttl = 60, stale = "1h", soft_timeout = "3s", hard_timeout = "3s", key = "price:{id}")]
async fn price(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
