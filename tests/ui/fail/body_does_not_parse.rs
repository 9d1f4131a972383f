// A body that does not parse yet: the macro leaves it to rustc and still declares the function
// and its helper, so the only error is the body's own, at the body (no "cannot find function
// `get_user_invalidate`", no error at the attribute).
use cache_runtime::cached;

#[cached(key = "user:{id}")]
async fn get_user(id: u64) -> String {
    let name = ;
    name
}

fn main() {
    let _ = get_user(1);
    let _ = get_user_invalidate(1);
}
