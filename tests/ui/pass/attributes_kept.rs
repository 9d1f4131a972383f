//! Doc comments and other attributes stay on the function; `#[cfg]` applies to the helper too.
#![deny(missing_docs)]

use cache_runtime::cached;

/// Documented: `missing_docs` is denied, and the helper is documented too.
#[cached(key = "doc:{id}")]
#[must_use = "the count is the point"]
#[inline]
pub async fn documented(id: u64) -> u64 {
    id
}

/// Left out by `#[cfg]`: if its helper were not, the `gone_invalidate` below would clash with it.
#[cached(key = "gone:{id}")]
#[cfg(any())]
pub async fn gone(id: u64) -> u64 {
    id
}

/// Stands in for the helper of `gone`, which `#[cfg(any())]` removed.
pub async fn gone_invalidate(_id: u64) -> bool {
    std::future::ready(false).await
}

#[cached(key = "lint:{id}")]
#[allow(clippy::needless_return)]
async fn with_lint_attribute(id: u64) -> u64 {
    return id;
}

#[cached]
#[cfg_attr(any(), deprecated)]
async fn with_cfg_attr() -> u8 {
    1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(documented(1).await, 1);
    assert!(documented_invalidate(1).await);
    assert!(!gone_invalidate(1).await);
    assert_eq!(with_lint_attribute(2).await, 2);
    assert_eq!(with_cfg_attr().await, 1);
    assert!(with_cfg_attr_invalidate().await);
}
