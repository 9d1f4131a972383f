// `#[cached]` needs an `async fn`: the error points at `fn` and says to make it async. The helper
// is still generated, so the call to `square_invalidate` below adds no second error.
use cache_runtime::cached;

#[cached(key = "square:{n}")]
fn square(n: u64) -> u64 {
    n * n
}

fn main() {
    let _ = square(3);
    let _ = square_invalidate(3);
}
