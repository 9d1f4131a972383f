// The body is written into the function, `_refresh` and `_uncached`: its error is reported once.
use cache_runtime::cached;

#[cached(key = "n:{n}")]
async fn n(n: u64) -> u64 {
    let text: String = n;
    text.len() as u64
}

fn main() {}
