// The cached value must be `Clone + Serialize + DeserializeOwned + Send + Sync + 'static`: one
// error, at the user's type in the signature.
use cache_runtime::cached;

#[derive(Clone)]
struct User {
    id: u64,
}

#[cached(key = "user:{id}")]
async fn get_user(id: u64) -> Result<User, String> {
    Ok(User { id })
}

fn main() {
    let _ = get_user(1);
    let _ = get_user_invalidate(1);
}
