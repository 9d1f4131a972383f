//! Durations written the way `#[cached(ttl = "5m")]` takes them, for settings read at run time
//! (`CACHE_TTL=5m` in the environment, say): a whole number and a unit, `ms`, `s`, `m`, `h` or `d`.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::CacheError;

/// The longest the runtime waits or plans ahead from now: a year. Longer settings (a `max_wait`
/// of `Duration::MAX`, a `stale` kept "forever") are taken as this, since adding them to an
/// `Instant` would overflow.
pub(crate) const LONGEST_AHEAD: Duration = Duration::from_secs(365 * 86_400);

/// The instant `after` from now, `after` capped at [`LONGEST_AHEAD`].
pub(crate) fn from_now(after: Duration) -> Instant {
    Instant::now() + after.min(LONGEST_AHEAD)
}

/// Reads `"250ms"`, `"30s"`, `"5m"`, `"24h"`, `"7d"`: a whole number and a unit, nothing around
/// them. The macro reads its `ttl` strings with the same rules (a test holds them together). Zero
/// is a duration here; a caller that wants more says so.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::duration::parse;
///
/// assert_eq!(parse("5m")?, Duration::from_secs(300));
/// assert_eq!(parse("250ms")?, Duration::from_millis(250));
/// assert!(parse("5 m").is_err() && parse("1.5h").is_err() && parse("30").is_err());
/// # Ok::<(), cache_runtime::CacheError>(())
/// ```
pub fn parse(text: &str) -> Result<Duration, CacheError> {
    let bad = |why: String| CacheError::Config { message: format!("the duration `{text}` cannot be read: {why}") };
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(bad("write a whole number and a unit, such as 30s or 5m".into()));
    }
    let number: u64 = number.parse().map_err(|_| bad("the number is too large".into()))?;
    let scale: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(bad(format!("add a unit: {number}s for seconds"))),
        other => return Err(bad(format!("unknown unit `{other}`: use ms, s, m, h or d, such as {number}s"))),
    };
    let ms = number.checked_mul(scale).ok_or_else(|| bad("the duration is too large".into()))?;
    Ok(Duration::from_millis(ms))
}
