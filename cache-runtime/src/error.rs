//! The one error type of the toolkit.

use std::time::Duration;

use crate::functions::CachedFunction;

/// What went wrong in a cache operation.
///
/// The macro never returns it: a cached function whose cache fails runs its body and returns that
/// result. The cache-aside calls ([`get`](crate::get), [`set`](crate::set), ...) return it so that
/// code which uses the cache directly can decide what to do. Each message says what to check.
///
/// ```
/// use cache_runtime::CacheError;
///
/// let err = CacheError::BadPattern { pattern: "user:[".into(), reason: "unclosed `[`".into() };
/// assert!(err.to_string().contains("user:["));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The store could not be reached, or dropped the connection.
    #[error("cache connection failed: {message}; check that the server is running and the URL is right")]
    Connection {
        /// What the client said.
        message: String,
    },
    /// An operation took longer than the provider's timeout.
    #[error("cache operation `{operation}` timed out after {after:?}; the server is slow or unreachable (raise op_timeout if it is only slow)")]
    Timeout {
        /// The operation, such as `get`.
        operation: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The provider skips its store for a while after repeated failures.
    #[error("cache provider `{provider}` is skipped after repeated failures; it retries by itself in {retry_in:?}")]
    CircuitOpen {
        /// The provider's kind, such as `redis`.
        provider: &'static str,
        /// How long until the next attempt.
        retry_in: Duration,
    },
    /// A value could not be encoded, or stored bytes could not be decoded into the asked type.
    #[error("cache codec `{codec}` failed: {message}; the entry is treated as a miss (was it written by another type or version?)")]
    Codec {
        /// The codec's name, such as `postcard`.
        codec: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A local value (see [`LocalValue`](crate::LocalValue)) was handed to a store that keeps
    /// bytes: it never leaves the process, so it has no encoding.
    ///
    /// ```
    /// use cache_runtime::{codec::Postcard, CacheError, CachedValue};
    ///
    /// let err = CachedValue::local(std::sync::Arc::new(5u8)).to_bytes(&Postcard).unwrap_err();
    /// assert!(matches!(err, CacheError::LocalValue { .. }));
    /// assert_eq!(err.kind(), "local_value");
    /// ```
    #[error("cache value of type `{type_name}` is local (`#[cached(local)]`): it stays in process memory and a store that keeps bytes cannot hold it; keep it in a memory store")]
    LocalValue {
        /// The value's type.
        type_name: &'static str,
    },
    /// The entry holds a value of another Rust type than the one asked for.
    #[error("cache entry `{key}` holds a `{found}`, not the asked `{expected}`; two functions or calls share this key: give them different key templates")]
    TypeMismatch {
        /// The key.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The type stored.
        found: &'static str,
    },
    /// The key exists in the store with a type or format that is not ours.
    #[error("cache key `{key}` holds data that this cache did not write ({found}); it is left untouched: use another key or prefix")]
    ForeignEntry {
        /// The key.
        key: String,
        /// What was found, such as `a Redis list`.
        found: String,
    },
    /// A glob pattern given to `clear_pattern` is malformed.
    #[error(
        "bad cache pattern `{pattern}`: {reason}; patterns use `*`, `?`, `[abc]`, `[a-z]`, `[^a]` and `\\` to escape"
    )]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tag given at run time (cache-aside, `invalidate_tag`) is not one.
    #[error("bad cache tag `{tag}`: it {problem}")]
    BadTag {
        /// The tag (its first 40 characters when long).
        tag: String,
        /// What is wrong with it, and what a tag is.
        problem: String,
    },
    /// The store cannot do what was asked (a store of your own without tags, say).
    #[error("the {provider} cache provider does not support {what}: {hint}")]
    Unsupported {
        /// The kind of store.
        provider: &'static str,
        /// What it cannot do.
        what: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// No provider is registered under the name a call asked for.
    #[error(
        "no cache provider is registered as `{name}`: call cache_runtime::register(\"{name}\", provider) at start-up"
    )]
    UnknownProvider {
        /// The name asked for.
        name: String,
    },
    /// [`check`](crate::check) found `#[cached]` functions whose named provider is not
    /// registered.
    ///
    /// ```
    /// #[cache_runtime::cached(provider = "sesions", key = "session:{id}")]
    /// async fn session(id: u64) -> u64 { id }
    ///
    /// let Err(cache_runtime::CacheError::MissingProviders { functions }) = cache_runtime::check() else {
    ///     panic!("\"sesions\" is not registered");
    /// };
    /// assert_eq!(functions[0].provider(), "sesions");
    /// ```
    #[error("{}", crate::functions::missing_providers(functions))]
    MissingProviders {
        /// Each function whose provider is missing, sorted by name.
        functions: Vec<&'static CachedFunction>,
    },
    /// A configuration value (a URL, an environment variable) is invalid.
    #[error("invalid cache configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Any other failure of a provider, for stores implemented outside this crate.
    #[error("cache provider error: {message}")]
    Provider {
        /// What the store said.
        message: String,
    },
}

impl CacheError {
    /// A [`CacheError::Provider`] with this message, for [`CacheProvider`](crate::CacheProvider)
    /// implementations outside this crate.
    ///
    /// ```
    /// let err = cache_runtime::CacheError::provider("disk full");
    /// assert_eq!(err.to_string(), "cache provider error: disk full");
    /// ```
    pub fn provider(message: impl Into<String>) -> Self {
        CacheError::Provider { message: message.into() }
    }

    /// Whether the error is about one entry that cannot be used (it does not decode, holds another
    /// type, or is not ours) rather than about the store: such an entry reads as a miss.
    ///
    /// ```
    /// use cache_runtime::CacheError;
    /// assert!(CacheError::Codec { codec: "postcard", message: "truncated".into() }.is_unusable_entry());
    /// assert!(!CacheError::provider("down").is_unusable_entry());
    /// ```
    pub fn is_unusable_entry(&self) -> bool {
        matches!(self, CacheError::Codec { .. } | CacheError::TypeMismatch { .. } | CacheError::ForeignEntry { .. })
    }

    /// A short, stable name of the cause, used as a label in logs and metrics.
    ///
    /// ```
    /// assert_eq!(cache_runtime::CacheError::provider("x").kind(), "provider");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            CacheError::Connection { .. } => "connection",
            CacheError::Timeout { .. } => "timeout",
            CacheError::CircuitOpen { .. } => "circuit_open",
            CacheError::Codec { .. } => "codec",
            CacheError::LocalValue { .. } => "local_value",
            CacheError::TypeMismatch { .. } => "type_mismatch",
            CacheError::ForeignEntry { .. } => "foreign_entry",
            CacheError::BadPattern { .. } => "bad_pattern",
            CacheError::BadTag { .. } => "bad_tag",
            CacheError::Unsupported { .. } => "unsupported",
            CacheError::UnknownProvider { .. } => "unknown_provider",
            CacheError::MissingProviders { .. } => "missing_providers",
            CacheError::Config { .. } => "config",
            CacheError::Provider { .. } => "provider",
        }
    }
}
