//! Every `#[cached]` function linked into the binary, called or not, and [`check`], which finds at
//! start-up those that name a provider nobody registered.
//!
//! The macro puts a registration inside each function's body: a static item, which is compiled
//! and linked with the function whether or not it ever runs, and which is the same for every type
//! argument of a generic function. `inventory` gathers them before `main` starts (a constructor
//! per function, one pointer written each): `inventory` over `linkme` because it works on every
//! target rustc links with constructors, wasm included, and needs no proc-macro of its own.

use std::fmt;
use std::time::Duration;

use crate::error::CacheError;
use crate::registry::{self, DEFAULT};

/// One `#[cached]` function, as its attribute describes it; [`functions`] lists them all.
///
/// ```
/// use cache_runtime::{cached, CachedFunction, FunctionTtl};
/// use std::time::Duration;
///
/// #[cached(ttl = "5m", key = "user:{id}", provider = "users")]
/// async fn user(id: u64) -> String { format!("user {id}") }
///
/// let found: &CachedFunction = cache_runtime::functions()
///     .into_iter()
///     .find(|f| f.name().ends_with("::user"))
///     .expect("registered, though never called");
/// assert_eq!(found.key(), Some("user:{id}"));
/// assert_eq!(found.provider(), "users");
/// assert_eq!(found.ttl(), FunctionTtl::Fixed(Duration::from_secs(300)));
/// println!("{found}"); // app::user: key "user:{id}", provider "users", ttl 300s
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachedFunction {
    name: &'static str,
    key: Option<&'static str>,
    provider: &'static str,
    ttl: FunctionTtl,
}

/// How long a function's entries live, as its `ttl` option gives it.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::FunctionTtl;
///
/// let ttl = FunctionTtl::Fixed(Duration::from_secs(60));
/// assert_eq!(ttl.to_string(), "60s");
/// assert_eq!(FunctionTtl::PerCall("settings::ttl()").to_string(), "settings::ttl() (at each call)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FunctionTtl {
    /// Known at compile time: an integer, a string with a unit, or the default of 300 s.
    Fixed(Duration),
    /// A `Duration` expression evaluated at each call, as written (spacing aside).
    PerCall(&'static str),
}

inventory::collect!(CachedFunction);

/// What the macro registers; reached through `__private`, never named by users.
pub const fn cached_function(
    name: &'static str,
    key: Option<&'static str>,
    provider: &'static str,
    ttl: FunctionTtl,
) -> CachedFunction {
    CachedFunction { name, key, provider, ttl }
}

impl CachedFunction {
    /// The function's module path and name (`app::users::get_user`), as logs and metrics label it.
    /// A method is named after its module too, without its type.
    ///
    /// ```
    /// for function in cache_runtime::functions() {
    ///     assert!(function.name().contains("::"));
    /// }
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The `key` template as written (`"user:{id}"`), or `None` for the default key: the
    /// function's path, then every argument.
    ///
    /// ```
    /// let defaults = cache_runtime::functions().into_iter().filter(|f| f.key().is_none()).count();
    /// # let _ = defaults;
    /// ```
    pub fn key(&self) -> Option<&'static str> {
        self.key
    }

    /// The provider that stores the entries: `"default"`, or the name given with `provider`.
    ///
    /// ```
    /// let named: Vec<&str> = cache_runtime::functions()
    ///     .into_iter()
    ///     .map(|f| f.provider())
    ///     .filter(|p| *p != cache_runtime::DEFAULT)
    ///     .collect();
    /// # let _ = named;
    /// ```
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// How long its entries live.
    ///
    /// ```
    /// use cache_runtime::FunctionTtl;
    ///
    /// for function in cache_runtime::functions() {
    ///     if let FunctionTtl::PerCall(expr) = function.ttl() {
    ///         println!("{} reads its ttl from {expr}", function.name());
    ///     }
    /// }
    /// ```
    pub fn ttl(&self) -> FunctionTtl {
        self.ttl
    }
}

/// `app::user: key "user:{id}", provider "users", ttl 300s`: one line for a start-up listing.
impl fmt::Display for CachedFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        match self.key {
            Some(key) => write!(f, "key {key:?}")?,
            None => f.write_str("default key")?,
        }
        write!(f, ", provider {:?}, ttl {}", self.provider, self.ttl)
    }
}

impl fmt::Display for FunctionTtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FunctionTtl::Fixed(ttl) => write!(f, "{ttl:?}"),
            FunctionTtl::PerCall(expr) => write!(f, "{expr} (at each call)"),
        }
    }
}

/// Every `#[cached]` function linked into the binary, whether or not it was ever called, sorted
/// by name: for a listing at start-up, or a test that every function is configured.
///
/// A generic function is listed once, whatever its type arguments; a method is listed like a free
/// function. Functions of a library crate are listed in every binary that links the crate, called
/// or not; a crate that the binary never names is not linked at all (write `use that_crate as _;`
/// in the binary to link it).
///
/// ```
/// use cache_runtime::cached;
///
/// #[cached(key = "square:{n}")]
/// async fn square(n: u64) -> u64 { n * n }
///
/// for function in cache_runtime::functions() {
///     println!("{function}");
/// }
/// assert!(cache_runtime::functions().iter().any(|f| f.key() == Some("square:{n}")));
/// ```
pub fn functions() -> Vec<&'static CachedFunction> {
    let mut all: Vec<&'static CachedFunction> = inventory::iter::<CachedFunction>.into_iter().collect();
    all.sort_by_key(|function| (function.name, function.key, function.provider));
    all
}

/// Checks that every named provider a `#[cached]` function asks for (`provider = "sessions"`) is
/// registered, so that a typo fails at start-up instead of leaving the function uncached.
///
/// Call it once every provider is registered. The error,
/// [`CacheError::MissingProviders`], names each function and the provider it lacks. It reads
/// the global registry: a [`with_provider`](crate::with_provider) scope does not change the answer.
///
/// ```
/// use cache_runtime::{cached, MemoryProvider};
///
/// #[cached(provider = "sessions", key = "session:{id}")]
/// async fn session(id: u64) -> u64 { id }
///
/// let error = cache_runtime::check().unwrap_err();
/// assert!(error.to_string().contains("session` uses provider \"sessions\""), "{error}");
///
/// cache_runtime::register("sessions", MemoryProvider::new());
/// cache_runtime::check()?;
/// # Ok::<_, cache_runtime::CacheError>(())
/// ```
pub fn check() -> Result<(), CacheError> {
    let missing: Vec<&'static CachedFunction> = functions()
        .into_iter()
        .filter(|function| function.provider != DEFAULT && !registry::is_registered(function.provider))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CacheError::MissingProviders { functions: missing })
    }
}

/// The message of [`CacheError::MissingProviders`].
pub(crate) fn missing_providers(functions: &[&'static CachedFunction]) -> String {
    let mut providers: Vec<&str> = functions.iter().map(|function| function.provider).collect();
    providers.sort_unstable();
    providers.dedup();
    let listed: Vec<String> =
        functions.iter().map(|function| format!("`{}` uses provider {:?}", function.name, function.provider)).collect();
    let calls: Vec<String> =
        providers.iter().map(|provider| format!("cache_runtime::register({provider:?}, provider)")).collect();
    format!(
        "{} not registered: {}; call {} before cache_runtime::check(), or fix the name in #[cached(provider = \"...\")]",
        if providers.len() == 1 { "a cache provider is" } else { "cache providers are" },
        listed.join(", "),
        calls.join(" and "),
    )
}
