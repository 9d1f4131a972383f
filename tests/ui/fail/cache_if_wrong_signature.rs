use cache_runtime::cached;

fn positive(n: u64) -> bool {
    n > 0
}

#[cached(key = "n:{n}", cache_if = positive)]
async fn n(n: u64) -> u64 {
    n
}

fn main() {}
