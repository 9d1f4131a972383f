//! The key builder of the macro's generated code (reached through `__private`).

use std::fmt::Display;

use crate::key::push_escaped;

/// Builds a key from literal text and escaped values; the macro's generated code uses it.
///
/// ```
/// use cache_runtime::__private::KeyBuilder;
///
/// let mut key = KeyBuilder::with_capacity(16);
/// key.literal("user:");
/// key.value(&"a b");
/// assert_eq!(key.finish(), "user:a%20b");
/// ```
#[derive(Debug, Default)]
pub struct KeyBuilder {
    buf: String,
}

impl KeyBuilder {
    /// An empty key with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        KeyBuilder { buf: String::with_capacity(capacity) }
    }

    /// Appends text as it is.
    pub fn literal(&mut self, text: &str) {
        self.buf.push_str(text);
    }

    /// Appends a value's `Display` output, escaped.
    pub fn value<V: Display + ?Sized>(&mut self, value: &V) {
        push_escaped(&mut self.buf, value);
    }

    /// Appends a value of a default key (no `key` option): like [`value`](Self::value), but an
    /// empty value is written as a lone `%`, which no escaped value can be. Otherwise the default
    /// key of `m::f(x: &str, y: &str)` for `("", "g")` would be `m::f::g`, the default key of a
    /// function `g` without parameters in a module `m::f`.
    ///
    /// ```
    /// use cache_runtime::__private::KeyBuilder;
    ///
    /// let mut key = KeyBuilder::with_capacity(16);
    /// key.literal("m::f:");
    /// key.argument(&"");
    /// assert_eq!(key.finish(), "m::f:%");
    /// ```
    pub fn argument<V: Display + ?Sized>(&mut self, value: &V) {
        let before = self.buf.len();
        push_escaped(&mut self.buf, value);
        if self.buf.len() == before {
            self.buf.push('%');
        }
    }

    /// The finished key.
    pub fn finish(self) -> String {
        self.buf
    }
}
