use cache_runtime::cached;

#[cached(ttl = 60, soft_timeout = "200ms", key = "price:{id}")]
async fn price(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
