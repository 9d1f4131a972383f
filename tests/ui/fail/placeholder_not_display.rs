// A placeholder value must be `Display`; the error points at the key that names it.
use cache_runtime::cached;

#[derive(Debug)]
struct UserId(u64);

#[cached(key = "user:{id}")]
async fn get_user(id: UserId) -> u64 {
    id.0
}

fn main() {
    let _ = get_user(UserId(1));
    also();
}

// The default key names every parameter: the error points at the one that is not `Display`.
#[cached]
async fn by_default(verbose: bool, id: UserId) -> u64 {
    if verbose {
        id.0
    } else {
        0
    }
}

fn also() {
    let _ = by_default(false, UserId(1));
}
