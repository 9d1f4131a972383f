//! Cache keys: the escaping that keeps macro keys injective, and glob patterns.
//!
//! # Escaping
//!
//! The macro writes each placeholder value with its `Display` impl (`{x}`) or its `Debug` impl
//! (`{x:?}`) and escapes the text: bytes outside `[A-Za-z0-9_.-]` become `%XX` (upper-case hex of
//! each UTF-8 byte), `%` included. So `42` stays `42` and `rust-lang` stays `rust-lang`, while
//! `a:b` becomes `a%3Ab`, `*` becomes `%2A` and `Some("a")` becomes `Some%28%22a%22%29`. A
//! default key (no `key`) writes each argument with `Display` when its type has it and with
//! `Debug` otherwise; a `key_fn` key writes the key function's result with `Display`.
//!
//! # What is injective, and what is not
//!
//! Escaping is injective: two different texts never escape to the same text, and an escaped
//! value never holds `:`, `/`, a space or a glob character. So:
//!
//! - two argument lists whose **texts** differ never give the same key (the macro also requires
//!   literal text with such a character between two placeholders), and
//! - a value can never act as a wildcard in [`clear_pattern`](crate::clear_pattern) or reach into
//!   another entry's key.
//!
//! Whether two different **values** give different texts is up to their `Display` or `Debug`
//! impl, and nothing checks it. The standard library's impls for integers, `str`, `String`,
//! `bool`, `char`, and the `Debug` of `Option`, `Result`, tuples, slices, `Vec` and derived
//! `Debug` over such fields tell values apart (`Debug` quotes and escapes strings, so `None`,
//! `Some("")` and `Some("None")` differ). Other impls may not: every `NaN` prints `NaN` whatever its
//! bits; a custom
//! `Display` or `Debug` that leaves out a field, or prints two values the same way (a redacting
//! `Debug`, `Display` of a path that is not UTF-8), makes those values share one entry. A
//! `key_fn` is injective exactly when the function is. The macro cannot see any of this: where
//! two values must never share an entry, key on a field whose text identifies them.
//!
//! Cache-aside keys are used verbatim; call [`escape`] to build them from user input the way the
//! macro does.

use std::fmt::{self, Display};

use crate::error::CacheError;

/// Escapes one value the way the macro escapes a placeholder.
///
/// ```
/// use cache_runtime::key::escape;
///
/// assert_eq!(escape(&42), "42");
/// assert_eq!(escape("1:admin"), "1%3Aadmin");
/// assert_eq!(escape("*"), "%2A");
/// ```
pub fn escape<V: Display + ?Sized>(value: &V) -> String {
    crate::key_builder::escape_to_string(value)
}

/// The key as logs show it: whole up to 48 characters, else its first 40 and an ellipsis.
pub(crate) fn shorten(key: &str) -> &str {
    const MAX: usize = 48;
    const KEEP: usize = 40;
    if key.len() <= MAX {
        return key;
    }
    let mut end = KEEP;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// Whether [`shorten`] cut the key, for the ellipsis.
pub(crate) fn ellipsis(key: &str) -> &'static str {
    if shorten(key).len() < key.len() {
        "…"
    } else {
        ""
    }
}

/// A glob pattern as Redis reads it: `*` any run of characters, `?` one character, `[abc]`,
/// `[a-z]` and `[^a]` a set, `\` escapes the next character.
///
/// ```
/// use cache_runtime::key::Pattern;
///
/// let pattern = Pattern::parse("user:*")?;
/// assert!(pattern.matches("user:42"));
/// assert!(!pattern.matches("users:42"));
/// assert!(Pattern::parse("user:[").is_err());
/// # Ok::<(), cache_runtime::CacheError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    AnyRun,
    Set { negated: bool, items: Vec<(char, char)> },
}

impl Pattern {
    /// Parses a pattern; a `[` without `]` or a trailing `\` is a [`CacheError::BadPattern`].
    pub fn parse(pattern: &str) -> Result<Self, CacheError> {
        let bad = |reason: &str| CacheError::BadPattern { pattern: pattern.to_owned(), reason: reason.to_owned() };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => {
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    Token::AnyRun
                }
                '?' => Token::Any,
                '\\' => Token::Char(chars.next().ok_or_else(|| bad("it ends with a lone `\\`"))?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut items = Vec::new();
                    loop {
                        let first = match chars.next() {
                            None => return Err(bad("a `[` has no closing `]`")),
                            Some(']') if !items.is_empty() => break,
                            Some('\\') => chars.next().ok_or_else(|| bad("it ends with a lone `\\`"))?,
                            Some(c) => c,
                        };
                        let range = chars.peek() == Some(&'-') && {
                            let mut ahead = chars.clone();
                            ahead.next();
                            ahead.peek().is_some_and(|&c| c != ']')
                        };
                        if range {
                            chars.next();
                            let mut last = chars.next().unwrap_or(first);
                            if last == '\\' {
                                last = chars.next().ok_or_else(|| bad("it ends with a lone `\\`"))?;
                            }
                            items.push((first.min(last), first.max(last)));
                        } else {
                            items.push((first, first));
                        }
                    }
                    Token::Set { negated, items }
                }
                c => Token::Char(c),
            };
            tokens.push(token);
        }
        Ok(Pattern { source: pattern.to_owned(), tokens })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The one key the pattern matches, when it has no wildcard (`a\\*b` matches only `a*b`).
    ///
    /// ```
    /// use cache_runtime::key::Pattern;
    /// assert_eq!(Pattern::parse("user:1")?.as_literal().as_deref(), Some("user:1"));
    /// assert_eq!(Pattern::parse("user:*")?.as_literal(), None);
    /// # Ok::<(), cache_runtime::CacheError>(())
    /// ```
    pub fn as_literal(&self) -> Option<String> {
        self.tokens
            .iter()
            .map(|token| match token {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// A Redis glob (for `SCAN MATCH`) that matches every key this pattern matches, and maybe
    /// more: literal characters are escaped, and `?` and sets become `*`, since Redis reads them
    /// on bytes and a character may take several. The keys it finds are checked with
    /// [`matches`](Self::matches).
    ///
    /// ```
    /// use cache_runtime::key::Pattern;
    /// assert_eq!(Pattern::parse("user:[ab]?:*")?.redis_superset(), "user:*:*");
    /// assert_eq!(Pattern::parse("a\\*b")?.redis_superset(), "a\\*b");
    /// # Ok::<(), cache_runtime::CacheError>(())
    /// ```
    pub fn redis_superset(&self) -> String {
        let mut glob = String::with_capacity(self.source.len());
        for token in &self.tokens {
            match token {
                Token::Char(c) => {
                    if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                        glob.push('\\');
                    }
                    glob.push(*c);
                }
                Token::Any | Token::AnyRun | Token::Set { .. } => {
                    if !glob.ends_with('*') || glob.ends_with("\\*") {
                        glob.push('*');
                    }
                }
            }
        }
        glob
    }

    /// Whether `key` matches the whole pattern.
    pub fn matches(&self, key: &str) -> bool {
        let key: Vec<char> = key.chars().collect();
        let (mut t, mut k) = (0, 0);
        // Where to resume after the last `*`: the token after it and the key position it covers.
        let mut resume: Option<(usize, usize)> = None;
        while k < key.len() {
            match self.tokens.get(t) {
                Some(Token::AnyRun) => {
                    resume = Some((t + 1, k));
                    t += 1;
                    continue;
                }
                Some(token) if token.matches_one(key[k]) => {
                    t += 1;
                    k += 1;
                    continue;
                }
                _ => {}
            }
            match resume {
                Some((rt, rk)) => {
                    t = rt;
                    k = rk + 1;
                    resume = Some((rt, rk + 1));
                }
                None => return false,
            }
        }
        self.tokens[t..].iter().all(|token| *token == Token::AnyRun)
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Char(expected) => *expected == c,
            Token::Any => true,
            Token::AnyRun => false,
            Token::Set { negated, items } => items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

/// `text` as a Redis glob that matches only itself: `*`, `?`, `[`, `]` and `\` are escaped.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_readable() {
        assert_eq!(escape(&1234567), "1234567");
        assert_eq!(escape("abc_DEF.x-y"), "abc_DEF.x-y");
        assert_eq!(escape(&-3.5), "-3.5");
    }

    #[test]
    fn everything_else_is_percent_escaped() {
        assert_eq!(escape("a:b"), "a%3Ab");
        assert_eq!(escape("100%"), "100%25");
        assert_eq!(escape("é"), "%C3%A9");
        assert_eq!(escape("aé😀b"), "a%C3%A9%F0%9F%98%80b");
        assert_eq!(escape("[*?]\\"), "%5B%2A%3F%5D%5C");
    }

    #[test]
    fn globs_follow_redis() {
        let m = |p: &str, k: &str| Pattern::parse(p).unwrap().matches(k);
        assert!(m("*", ""));
        assert!(m("user:*", "user:"));
        assert!(m("u*r:*1", "user:41"));
        assert!(!m("u*r:*1", "user:42"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-c]llo", "hbllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*a*a*", "banana-a"));
        assert!(!m("*a*a*a*b", "banana-a"));
    }

    #[test]
    fn malformed_globs_are_errors() {
        assert!(matches!(Pattern::parse("a["), Err(CacheError::BadPattern { .. })));
        assert!(matches!(Pattern::parse("a\\"), Err(CacheError::BadPattern { .. })));
        assert!(Pattern::parse("[]").is_err());
        assert!(Pattern::parse("[]]").unwrap().matches("]"));
        assert!(Pattern::parse("[]a]").unwrap().matches("]"));
    }

    #[test]
    fn escaped_prefixes_match_only_themselves() {
        for prefix in ["app:", "a*b?:", "t[1]:", "back\\slash:"] {
            let glob = Pattern::parse(&format!("{}*", escape_glob(prefix))).unwrap();
            assert!(glob.matches(&format!("{prefix}user:1")), "{prefix}");
        }
        let glob = Pattern::parse(&format!("{}*", escape_glob("a*:"))).unwrap();
        assert!(!glob.matches("abc:user:1"));
        let glob = Pattern::parse(&format!("{}*", escape_glob("t[1]:"))).unwrap();
        assert!(!glob.matches("t1:user:1"));
    }

    #[test]
    fn long_keys_are_shortened_on_a_char_boundary() {
        let key = "é".repeat(40);
        assert!(shorten(&key).len() <= 40);
        assert_eq!(ellipsis(&key), "…");
        assert_eq!(shorten("user:1"), "user:1");
    }
}
