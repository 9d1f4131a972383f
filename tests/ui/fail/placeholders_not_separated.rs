// Two placeholders need a separator that no escaped value holds, or `{a}{b}` would give the same
// key for (1, 23) and (12, 3). `-` is not one: escaped values keep `-` as it is.
use cache_runtime::cached;

#[cached(key = "sum:{a}{b}")]
async fn sum(a: u64, b: u64) -> u64 {
    a + b
}

#[cached(key = "diff:{a}-{b}")]
async fn diff(a: u64, b: u64) -> u64 {
    a - b
}

fn main() {
    let _ = sum(1, 2);
    let _ = diff(2, 1);
    let _ = sum_invalidate(1, 2);
    let _ = diff_invalidate(2, 1);
}
