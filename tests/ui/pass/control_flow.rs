// `?` and early `return` in the body behave as in the original function.
use std::num::ParseIntError;

use cache_runtime::cached;

#[cached(key = "parse:{text}")]
async fn parse(text: String) -> Result<u32, ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u32 = text.trim().parse()?;
    Ok(n * 2)
}

#[cached(key = "first_even:{limit}")]
async fn first_even(limit: u32) -> Option<u32> {
    for n in 1..limit {
        if n % 2 == 0 {
            return Some(n);
        }
    }
    None
}

#[cached(key = "boxed:{text}")]
async fn boxed(text: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let n: usize = text.parse()?;
    if n > 10 {
        return Err("too large".into());
    }
    Ok(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(parse(String::new()).await, Ok(0));
    assert_eq!(parse(" 21 ".into()).await, Ok(42));
    assert!(parse("x".into()).await.is_err());
    assert_eq!(first_even(5).await, Some(2));
    assert_eq!(first_even(2).await, None);
    assert_eq!(boxed("3").await.unwrap(), 3);
    assert!(boxed("30").await.is_err());
    assert!(boxed("x").await.is_err());
}
