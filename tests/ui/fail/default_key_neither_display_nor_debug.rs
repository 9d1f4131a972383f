// The default key writes each argument with `Display` or `Debug`: one that has neither is an
// error at its parameter that says what to do.
use cache_runtime::cached;

struct Token(u64);

#[cached]
async fn owner(verbose: bool, token: Token) -> u64 {
    if verbose {
        token.0
    } else {
        0
    }
}

fn main() {
    let _ = owner(false, Token(1));
}
