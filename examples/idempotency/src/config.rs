//! Settings, read once from the environment at start.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BIND_ADDR` | `127.0.0.1:8000` | where the service listens (`0.0.0.0:8000` in a container; port `0` picks a free one) |
//! | `CACHE_TTL` | `24h` | how long an answer is kept: `"24h"`, `"30m"`, `"90s"`, `"250ms"`, `"7d"`, or whole seconds (`"3600"`) |
//! | `CACHE_STALE` | `off` | how long past `CACHE_TTL` an answer is kept to be served with `X-Cache: STALE` when the LLM fails; `off`, or a duration as `CACHE_TTL` takes it |
//! | `REQUEST_TIMEOUT` | `30s` | how long a request may take before it is answered 504 and abandoned; same format |
//! | `LLM_LATENCY_MS` | `2000` | how long the LLM stand-in takes per call |
//! | `LLM_INPUT_USD_PER_MTOK` | `2.50` | price of a million prompt tokens, for the cost estimate |
//! | `LLM_OUTPUT_USD_PER_MTOK` | `10.00` | price of a million completion tokens |
//! | `ADMIN_TOKEN` | unset | bearer token of the `/admin` endpoints; unset or empty: they answer 404 |
//!
//! `CACHE_URL` / `REDIS_URL` (where the cache lives) and `CACHE_NEAR` (entries kept in this
//! process's memory in front of Redis: [`DEFAULT_CACHE_NEAR`] unless set, `0` for none) are read
//! by [`cache_runtime::init_from_env_near`], and `RUST_LOG` / `LOG_FORMAT` by
//! [`telemetry::init`](crate::telemetry::init).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::llm::Pricing;

/// The service's settings. Build it with [`Config::from_env`], or start from [`Config::default`]
/// and change what a test needs with the `with_*` methods.
///
/// ```
/// use std::time::Duration;
/// use idempotency_service::Config;
///
/// let config = Config::default().with_llm_latency(Duration::from_millis(200));
/// assert_eq!(config.cache_ttl(), Duration::from_secs(24 * 3600));
/// assert_eq!(config.llm_latency(), Duration::from_millis(200));
/// ```
#[derive(Clone)]
pub struct Config {
    bind_addr: SocketAddr,
    cache_ttl: Duration,
    cache_stale: Duration,
    request_timeout: Duration,
    llm_latency: Duration,
    pricing: Pricing,
    admin_token: Option<String>,
}

/// A variable that is set to something the service cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?}: {reason}")]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    reason: String,
}

/// The 24 hours the original service kept its answers.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Well above an LLM call (seconds), well below a client giving up.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The near cache in front of Redis unless `CACHE_NEAR` says otherwise: answers already paid for
/// are served from memory, and still served while Redis is down.
pub const DEFAULT_CACHE_NEAR: u64 = 10_000;
/// The LLM stand-in's default latency: about what a real extraction call takes.
pub const DEFAULT_LLM_LATENCY: Duration = Duration::from_secs(2);

impl Default for Config {
    fn default() -> Self {
        Config {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_stale: Duration::ZERO,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            llm_latency: DEFAULT_LLM_LATENCY,
            pricing: Pricing::default(),
            admin_token: None,
        }
    }
}

impl Config {
    /// Reads the variables in the [module table](self); unset ones keep their defaults.
    ///
    /// ```
    /// let config = idempotency_service::Config::from_env()?;
    /// println!("{config:?}");
    /// # Ok::<(), idempotency_service::config::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value, or `None` when unset).
    ///
    /// ```
    /// use std::time::Duration;
    /// use idempotency_service::Config;
    ///
    /// let config = Config::from_lookup(|name| (name == "CACHE_TTL").then(|| "30m".to_string()))?;
    /// assert_eq!(config.cache_ttl(), Duration::from_secs(1800));
    /// assert!(Config::from_lookup(|name| (name == "CACHE_TTL").then(|| "soon".to_string())).is_err());
    /// # Ok::<(), idempotency_service::config::ConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let var = |name: &'static str| lookup(name).map(|v| (name, v.trim().to_owned())).filter(|(_, v)| !v.is_empty());
        if let Some((name, value)) = var("BIND_ADDR") {
            config.bind_addr = value.parse().map_err(|e| ConfigError::new(name, &value, e))?;
        }
        if let Some((name, value)) = var("CACHE_TTL") {
            config.cache_ttl = parse_duration(&value).map_err(|reason| ConfigError::new(name, &value, reason))?;
        }
        if let Some((name, value)) = var("CACHE_STALE") {
            config.cache_stale = match value.as_str() {
                "off" => Duration::ZERO,
                value => parse_duration(value).map_err(|reason| ConfigError::new(name, value, reason))?,
            };
        }
        if let Some((name, value)) = var("REQUEST_TIMEOUT") {
            config.request_timeout = parse_duration(&value).map_err(|reason| ConfigError::new(name, &value, reason))?;
        }
        if let Some((name, value)) = var("LLM_LATENCY_MS") {
            let ms: u64 = value.parse().map_err(|e| ConfigError::new(name, &value, e))?;
            config.llm_latency = Duration::from_millis(ms);
        }
        if let Some((name, value)) = var("LLM_INPUT_USD_PER_MTOK") {
            config.pricing.input_usd_per_mtok = parse_price(&value).map_err(|r| ConfigError::new(name, &value, r))?;
        }
        if let Some((name, value)) = var("LLM_OUTPUT_USD_PER_MTOK") {
            config.pricing.output_usd_per_mtok = parse_price(&value).map_err(|r| ConfigError::new(name, &value, r))?;
        }
        // Trimmed like the presented token (HTTP drops surrounding spaces); empty means unset.
        config.admin_token = var("ADMIN_TOKEN").map(|(_, token)| token);
        Ok(config)
    }

    /// Where the service listens.
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind_addr
    }

    /// How long past its TTL an answer is kept, to be served with `X-Cache: STALE` when the LLM
    /// fails (`CACHE_STALE`); zero: never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use idempotency_service::Config;
    ///
    /// assert_eq!(Config::default().cache_stale(), Duration::ZERO);
    /// let config = Config::from_lookup(|name| (name == "CACHE_STALE").then(|| "7d".to_string()))?;
    /// assert_eq!(config.cache_stale(), Duration::from_secs(7 * 86_400));
    /// # Ok::<(), idempotency_service::config::ConfigError>(())
    /// ```
    pub fn cache_stale(&self) -> Duration {
        self.cache_stale
    }

    /// The same settings, keeping answers `stale` past their TTL for the LLM's failures.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = idempotency_service::Config::default().with_cache_stale(Duration::from_secs(3600));
    /// assert_eq!(config.cache_stale(), Duration::from_secs(3600));
    /// ```
    pub fn with_cache_stale(mut self, stale: Duration) -> Self {
        self.cache_stale = stale;
        self
    }

    /// How long an answer stays cached (`CACHE_TTL`).
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// How long a request may take (`REQUEST_TIMEOUT`).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long the LLM stand-in takes per call (`LLM_LATENCY_MS`).
    pub fn llm_latency(&self) -> Duration {
        self.llm_latency
    }

    /// Token prices for the cost estimate.
    pub fn pricing(&self) -> Pricing {
        self.pricing
    }

    /// The bearer token of the admin endpoints; `None` disables them.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// Sets where the service listens; `127.0.0.1:0` picks a free port.
    ///
    /// ```
    /// let config = idempotency_service::Config::default().with_bind_addr(([127, 0, 0, 1], 0).into());
    /// assert_eq!(config.bind_addr().port(), 0);
    /// ```
    pub fn with_bind_addr(mut self, addr: SocketAddr) -> Self {
        self.bind_addr = addr;
        self
    }

    /// Sets the time to live of cached answers.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = idempotency_service::Config::default().with_cache_ttl(Duration::from_secs(60));
    /// assert_eq!(config.cache_ttl(), Duration::from_secs(60));
    /// ```
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Sets how long a request may take before it is answered 504.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = idempotency_service::Config::default().with_request_timeout(Duration::from_secs(5));
    /// assert_eq!(config.request_timeout(), Duration::from_secs(5));
    /// ```
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the LLM stand-in's latency.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = idempotency_service::Config::default().with_llm_latency(Duration::ZERO);
    /// assert_eq!(config.llm_latency(), Duration::ZERO);
    /// ```
    pub fn with_llm_latency(mut self, latency: Duration) -> Self {
        self.llm_latency = latency;
        self
    }

    /// Enables the admin endpoints with this bearer token (`None` disables them).
    ///
    /// ```
    /// let config = idempotency_service::Config::default().with_admin_token(Some("s3cret".into()));
    /// assert_eq!(config.admin_token(), Some("s3cret"));
    /// ```
    pub fn with_admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token.map(|token| token.trim().to_owned()).filter(|token| !token.is_empty());
        self
    }
}

/// Shows every setting but the admin token.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind_addr", &self.bind_addr)
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_stale", &self.cache_stale)
            .field("request_timeout", &self.request_timeout)
            .field("llm_latency", &self.llm_latency)
            .field("pricing", &self.pricing)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ConfigError {
    fn new(variable: &'static str, value: &str, reason: impl fmt::Display) -> Self {
        ConfigError { variable, value: value.to_owned(), reason: reason.to_string() }
    }
}

/// A duration (`CACHE_TTL`, `REQUEST_TIMEOUT`): whole seconds (`"3600"`), or a whole number with
/// a unit: `ms`, `s`, `m`, `h`, `d`, the units `#[cached(ttl = "...")]` takes. Zero is refused.
///
/// ```
/// use std::time::Duration;
/// use idempotency_service::config::parse_duration;
///
/// assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
/// assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
/// assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert!(parse_duration("0").is_err());
/// assert!(parse_duration("1.5h").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    // Whole seconds, as the service always took them; anything else reads as `ttl` strings do.
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => cache_runtime::duration::parse(text).map_err(|error| match error {
            cache_runtime::CacheError::Config { message } => message,
            other => other.to_string(),
        })?,
    };
    if duration.is_zero() {
        return Err("must be longer than zero; use at least 1ms".into());
    }
    Ok(duration)
}

fn parse_price(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(price) if price.is_finite() && price >= 0.0 => Ok(price),
        _ => Err("expected a price in USD, such as 2.50".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn every_variable_is_read() {
        let config = Config::from_lookup(lookup(&[
            ("BIND_ADDR", "0.0.0.0:9000"),
            ("CACHE_TTL", "7d"),
            ("REQUEST_TIMEOUT", "90s"),
            ("LLM_LATENCY_MS", "150"),
            ("LLM_INPUT_USD_PER_MTOK", "1.25"),
            ("LLM_OUTPUT_USD_PER_MTOK", "5"),
            ("ADMIN_TOKEN", "t0ken"),
        ]))
        .unwrap();
        assert_eq!(config.bind_addr(), "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.cache_ttl(), Duration::from_secs(7 * 86_400));
        assert_eq!(config.request_timeout(), Duration::from_secs(90));
        assert_eq!(config.llm_latency(), Duration::from_millis(150));
        assert_eq!(config.pricing().input_usd_per_mtok, 1.25);
        assert_eq!(config.pricing().output_usd_per_mtok, 5.0);
        assert_eq!(config.admin_token(), Some("t0ken"));
    }

    #[test]
    fn empty_values_keep_the_defaults_and_disable_admin() {
        let config = Config::from_lookup(lookup(&[("CACHE_TTL", " "), ("ADMIN_TOKEN", "")])).unwrap();
        assert_eq!(config.cache_ttl(), DEFAULT_CACHE_TTL);
        assert_eq!(config.admin_token(), None);
        let config = Config::from_lookup(lookup(&[("ADMIN_TOKEN", " s3cret\n")])).unwrap();
        assert_eq!(config.admin_token(), Some("s3cret"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let error = Config::from_lookup(lookup(&[("LLM_LATENCY_MS", "2s")])).unwrap_err();
        assert!(error.to_string().starts_with("LLM_LATENCY_MS=\"2s\""), "{error}");
        let error = Config::from_lookup(lookup(&[("CACHE_TTL", "1w")])).unwrap_err();
        assert!(error.to_string().contains("unknown unit `w`"), "{error}");
        let error = Config::from_lookup(lookup(&[("REQUEST_TIMEOUT", "0s")])).unwrap_err();
        assert!(error.to_string().starts_with("REQUEST_TIMEOUT=\"0s\": must be longer than zero"), "{error}");
        assert!(Config::from_lookup(lookup(&[("LLM_INPUT_USD_PER_MTOK", "-1")])).is_err());
    }

    #[test]
    fn debug_hides_the_admin_token() {
        let shown = format!("{:?}", Config::default().with_admin_token(Some("hunter2".into())));
        assert!(!shown.contains("hunter2") && shown.contains("<set>"), "{shown}");
    }
}
