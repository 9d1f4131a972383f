//! The key builder of the macro's generated code (reached through `__private`).
//!
//! A key is written into a buffer on the stack: a hit reads the store with it and never
//! allocates. Only a key longer than the buffer, or a call that misses (whose key outlives the
//! call, in the flight and the store), becomes a `String`.
//!
//! Values are escaped as [`key`](crate::key) describes. The macro writes an argument whose
//! declared type is a primitive integer with [`integer`](KeyBuilder::integer), and a `String` or
//! `&str` with [`text`](KeyBuilder::text): the same text as their `Display`, without the `fmt`
//! machinery. Every other value goes through `Display` ([`value`](KeyBuilder::value)), or
//! `Debug` for a `{x:?}` placeholder ([`debug`](KeyBuilder::debug)). A default key writes each
//! other argument with `Display` when its type has it and with `Debug` otherwise; [`KeyArg`]
//! makes that choice at compile time.

use std::fmt::{self, Debug, Display, Write};

/// The bytes a key may take before it moves to the heap: a module path, a function name and a
/// few arguments fit.
const INLINE: usize = 64;

/// Builds a key from literal text and escaped values; the macro's generated code uses it.
///
/// ```
/// use cache_runtime::__private::KeyBuilder;
///
/// let mut key = KeyBuilder::with_capacity(16);
/// key.literal("user:");
/// key.value(&"a b");
/// key.literal(":");
/// key.integer(-42i64);
/// assert_eq!(key.as_str(), "user:a%20b:-42");
/// assert_eq!(key.finish(), "user:a%20b:-42");
/// ```
pub struct KeyBuilder {
    inline: [u8; INLINE],
    len: usize,
    /// The key, once it outgrew `inline`.
    spilled: Option<String>,
}

impl KeyBuilder {
    /// An empty key; `capacity` is the length the macro expects, which decides whether the key
    /// starts on the heap.
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        let spilled = (capacity > INLINE).then(|| String::with_capacity(capacity));
        KeyBuilder { inline: [0; INLINE], len: 0, spilled }
    }

    /// Appends text as it is.
    #[inline]
    pub fn literal(&mut self, text: &str) {
        self.push_str(text);
    }

    /// Appends a value's `Display` output, escaped.
    #[inline]
    pub fn value<V: Display + ?Sized>(&mut self, value: &V) {
        // `Display` impls that fail are a bug of theirs: what they wrote so far is kept, as
        // `ToString` does.
        let _ = write!(Escaper(self), "{value}");
    }

    /// Appends a value's `Debug` output, escaped: what a `{x:?}` placeholder writes.
    ///
    /// ```
    /// use cache_runtime::__private::KeyBuilder;
    ///
    /// let mut key = KeyBuilder::with_capacity(16);
    /// key.literal("search:");
    /// key.debug(&Some("a b"));
    /// assert_eq!(key.finish(), "search:Some%28%22a%20b%22%29");
    /// ```
    #[inline]
    pub fn debug<V: Debug + ?Sized>(&mut self, value: &V) {
        // As in `value`: what a failing impl wrote so far is kept.
        let _ = write!(Escaper(self), "{value:?}");
    }

    /// [`debug`](Self::debug) for a default key: an empty `Debug` output is written as `%`, as
    /// [`argument`](Self::argument) does.
    ///
    /// ```
    /// use cache_runtime::__private::KeyBuilder;
    ///
    /// let mut key = KeyBuilder::with_capacity(16);
    /// key.literal("m::f:");
    /// key.debug_argument(&[1u32, 2]);
    /// assert_eq!(key.finish(), "m::f:%5B1%2C%202%5D");
    /// ```
    #[inline]
    pub fn debug_argument<V: Debug + ?Sized>(&mut self, value: &V) {
        let before = self.len();
        self.debug(value);
        self.mark_empty_since(before);
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
    #[inline]
    pub fn argument<V: Display + ?Sized>(&mut self, value: &V) {
        let before = self.len();
        self.value(value);
        self.mark_empty_since(before);
    }

    /// Appends an integer: what its `Display` writes, which needs no escaping.
    #[inline]
    pub fn integer<I: itoa::Integer>(&mut self, value: I) {
        self.push_str(itoa::Buffer::new().format(value));
    }

    /// Appends text, escaped: what [`value`](Self::value) writes for a `str`.
    #[inline]
    pub fn text(&mut self, text: &str) {
        push_escaped_str(self, text);
    }

    /// [`text`](Self::text) for a default key: empty text is written as `%`, as
    /// [`argument`](Self::argument) does.
    #[inline]
    pub fn text_argument(&mut self, text: &str) {
        let before = self.len();
        self.text(text);
        self.mark_empty_since(before);
    }

    /// The key written so far.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.spilled {
            Some(key) => key,
            // Only whole `str`s and ASCII bytes are ever written.
            None => std::str::from_utf8(&self.inline[..self.len]).expect("a key holds only text"),
        }
    }

    /// The bytes of the key written so far.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.spilled {
            Some(key) => key.as_bytes(),
            None => &self.inline[..self.len],
        }
    }

    /// The finished key.
    pub fn finish(self) -> String {
        match self.spilled {
            Some(key) => key,
            None => self.as_str().to_owned(),
        }
    }

    fn len(&self) -> usize {
        self.spilled.as_ref().map_or(self.len, String::len)
    }

    fn mark_empty_since(&mut self, before: usize) {
        if self.len() == before {
            self.push_str("%");
        }
    }

    #[inline]
    fn push_str(&mut self, text: &str) {
        if let Some(key) = &mut self.spilled {
            key.push_str(text);
            return;
        }
        let end = self.len + text.len();
        if end <= INLINE {
            self.inline[self.len..end].copy_from_slice(text.as_bytes());
            self.len = end;
        } else {
            self.spill(text);
        }
    }

    #[cold]
    fn spill(&mut self, text: &str) {
        let mut key = String::with_capacity((2 * INLINE).max(self.len + text.len()));
        key.push_str(self.as_str());
        key.push_str(text);
        self.spilled = Some(key);
    }
}

impl fmt::Debug for KeyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyBuilder").field(&self.as_str()).finish()
    }
}

/// An argument of a default key, for the choice between `Display` and `Debug` (autoref
/// specialization): `(&&KeyArg(&x)).__cache_key_kind()` is a [`DisplayTag`] when `x`'s type is
/// `Display` (through [`DisplayKind`], implemented on `&KeyArg`), and a [`DebugTag`] otherwise
/// (through [`DebugKind`], implemented on every `KeyArg`), whose `write` then needs
/// [`DefaultKeyArgument`], that is `Debug`. Method resolution tries `&&KeyArg` before `&KeyArg`,
/// so `Display` wins where a type has both; the choice is made at compile time, from the type or
/// a generic parameter's bounds.
///
/// ```
/// use cache_runtime::__private::{DebugKind as _, DisplayKind as _, KeyArg, KeyBuilder};
///
/// let (name, tags): (&str, &[u32]) = ("a b", &[1, 2]);
/// let mut key = KeyBuilder::with_capacity(32);
/// (&&KeyArg(&name)).__cache_key_kind().write(&mut key, &name);
/// key.literal(":");
/// (&&KeyArg(&tags)).__cache_key_kind().write(&mut key, &tags);
/// assert_eq!(key.finish(), "a%20b:%5B1%2C%202%5D");
/// ```
pub struct KeyArg<'a, T: ?Sized>(pub &'a T);

/// The choice of a `Display` argument; see [`KeyArg`].
///
/// ```
/// use cache_runtime::__private::{DisplayKind as _, KeyArg, DisplayTag};
/// let _: DisplayTag = (&&KeyArg(&1.5f64)).__cache_key_kind();
/// ```
pub struct DisplayTag;

/// The choice of an argument that is not `Display`; see [`KeyArg`].
///
/// ```
/// use cache_runtime::__private::{DebugKind as _, DisplayKind as _, KeyArg, DebugTag};
/// let _: DebugTag = (&&KeyArg(&Some(1))).__cache_key_kind();
/// ```
pub struct DebugTag;

/// Picks [`DisplayTag`] for a `Display` argument; see [`KeyArg`].
///
/// ```
/// use cache_runtime::__private::{DisplayKind, KeyArg};
/// let _ = DisplayKind::__cache_key_kind(&&KeyArg("text"));
/// ```
pub trait DisplayKind {
    /// [`DisplayTag`].
    #[inline]
    fn __cache_key_kind(&self) -> DisplayTag {
        DisplayTag
    }
}

impl<T: Display + ?Sized> DisplayKind for &KeyArg<'_, T> {}

/// Picks [`DebugTag`] for any other argument; see [`KeyArg`].
///
/// ```
/// use cache_runtime::__private::{DebugKind, KeyArg};
/// let _ = DebugKind::__cache_key_kind(&KeyArg(&()));
/// ```
pub trait DebugKind {
    /// [`DebugTag`].
    #[inline]
    fn __cache_key_kind(&self) -> DebugTag {
        DebugTag
    }
}

impl<T: ?Sized> DebugKind for KeyArg<'_, T> {}

/// What a default key needs of an argument that is not `Display`: `Debug`. Its own trait only for
/// the message of the error, at the parameter, when an argument is neither.
///
/// ```
/// fn writable<T: cache_runtime::__private::DefaultKeyArgument + ?Sized>() {}
/// writable::<Option<&str>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither Display nor Debug, so the default key cannot write it",
    label = "neither `Display` nor `Debug`",
    note = "implement or derive `Debug` for it, give the function a `key = \"...\"` that names what identifies this argument, or a `key_fn = path` that computes the key from the arguments"
)]
pub trait DefaultKeyArgument: Debug {}

impl<T: Debug + ?Sized> DefaultKeyArgument for T {}

impl DisplayTag {
    /// Writes `value` with [`KeyBuilder::argument`].
    ///
    /// ```
    /// use cache_runtime::__private::{DisplayTag, KeyBuilder};
    /// let mut key = KeyBuilder::with_capacity(8);
    /// DisplayTag.write(&mut key, "");
    /// assert_eq!(key.finish(), "%");
    /// ```
    #[inline]
    pub fn write<T: Display + ?Sized>(self, key: &mut KeyBuilder, value: &T) {
        key.argument(value);
    }
}

impl DebugTag {
    /// Writes `value` with [`KeyBuilder::debug_argument`].
    ///
    /// ```
    /// use cache_runtime::__private::{DebugTag, KeyBuilder};
    /// let mut key = KeyBuilder::with_capacity(8);
    /// DebugTag.write(&mut key, &None::<u8>);
    /// assert_eq!(key.finish(), "None");
    /// ```
    #[inline]
    pub fn write<T: DefaultKeyArgument + ?Sized>(self, key: &mut KeyBuilder, value: &T) {
        key.debug_argument(value);
    }
}

/// A key whose text is made only when something needs it (a log line, an error): a hit on the
/// memory store needs only its bytes. `pub` in a private module (unnameable outside the crate),
/// because the hidden `Mode` trait's methods take one.
pub trait KeyText {
    /// The key's text.
    fn key_text(&self) -> &str;
}

impl KeyText for str {
    fn key_text(&self) -> &str {
        self
    }
}

impl KeyText for KeyBuilder {
    fn key_text(&self) -> &str {
        self.as_str()
    }
}

/// Escapes `value`'s `Display` output into a `String`: [`key::escape`](crate::key::escape).
pub(crate) fn escape_to_string<V: Display + ?Sized>(value: &V) -> String {
    let mut key = KeyBuilder::with_capacity(0);
    key.value(value);
    key.finish()
}

/// Percent-escapes whatever is written through it.
struct Escaper<'a>(&'a mut KeyBuilder);

impl Write for Escaper<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped_str(self.0, s);
        Ok(())
    }
}

/// Appends `s` with every byte outside `[A-Za-z0-9_.-]` written as `%XX`.
#[inline]
fn push_escaped_str(out: &mut KeyBuilder, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_plain(b) {
            continue;
        }
        // A run of plain bytes is ASCII, so it starts and ends on char boundaries; the empty run
        // between two bytes of one multi-byte char does not, and is skipped.
        if start < i {
            out.push_str(&s[start..i]);
        }
        let escaped = [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]];
        out.push_str(std::str::from_utf8(&escaped).expect("ASCII"));
        start = i + 1;
    }
    if start < s.len() {
        out.push_str(&s[start..]);
    }
}

/// Whether a byte stays as it is in an escaped value.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

#[cfg(test)]
mod tests {
    use super::{KeyBuilder, INLINE};

    #[test]
    fn a_key_longer_than_the_buffer_moves_to_the_heap_whole() {
        let mut key = KeyBuilder::with_capacity(0);
        let mut expected = String::new();
        for i in 0..40u32 {
            key.literal(":");
            key.integer(i);
            key.text("a b");
            expected.push_str(&format!(":{i}a%20b"));
        }
        assert!(expected.len() > INLINE);
        assert_eq!(key.as_str(), expected);
        assert_eq!(key.finish(), expected);
    }

    #[test]
    fn the_fast_paths_write_what_display_writes() {
        for value in [i64::MIN, -1, 0, 7, i64::MAX] {
            let (mut fast, mut display) = (KeyBuilder::with_capacity(0), KeyBuilder::with_capacity(0));
            fast.integer(value);
            display.value(&value);
            assert_eq!(fast.as_str(), display.as_str());
        }
        for text in ["", "plain", "a:b", "é*?", "x y%z"] {
            let (mut fast, mut display) = (KeyBuilder::with_capacity(0), KeyBuilder::with_capacity(0));
            fast.text_argument(text);
            display.argument(text);
            assert_eq!(fast.as_str(), display.as_str());
        }
    }

    #[test]
    fn a_default_key_argument_is_display_where_it_can_be_and_debug_otherwise() {
        use super::{DebugKind as _, DisplayKind as _, KeyArg};
        fn write<T: std::fmt::Debug>(value: T) -> String {
            let mut key = KeyBuilder::with_capacity(0);
            // The expression the macro generates; here the `&&` resolves to `Debug`, which clippy
            // sees as a borrow for nothing.
            #[allow(clippy::needless_borrow)]
            (&&KeyArg(&value)).__cache_key_kind().write(&mut key, &value);
            key.finish()
        }
        let mut key = KeyBuilder::with_capacity(0);
        (&&KeyArg(&"a\"b")).__cache_key_kind().write(&mut key, &"a\"b");
        assert_eq!(key.finish(), "a%22b", "Display, not Debug's quotes");
        // In a generic function bound by `Debug` only, `Debug` is all there is, even for a `str`.
        assert_eq!(write("x"), "%22x%22");
        assert_eq!(write(None::<&str>), "None");
        assert_eq!(write(Some("")), "Some%28%22%22%29");
        assert_eq!(write((1u32, 2u32)), "%281%2C%202%29");
        let mut empty = KeyBuilder::with_capacity(0);
        empty.debug_argument(&format_args!(""));
        assert_eq!(empty.finish(), "%", "an empty Debug output is written `%`");
    }
}
