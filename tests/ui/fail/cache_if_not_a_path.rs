use cache_runtime::cached;

#[cached(key = "n:{n}", cache_if = |v: &u64| *v > 0)]
async fn n(n: u64) -> u64 {
    n
}

fn main() {}
