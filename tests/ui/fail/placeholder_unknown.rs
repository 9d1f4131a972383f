// A placeholder that names no parameter: the error lists the parameters there are.
use cache_runtime::cached;

#[cached(key = "user:{user_id}")]
async fn get_user(id: u64, verbose: bool) -> String {
    format!("{id}{verbose}")
}

fn main() {
    let _ = get_user(1, false);
}
