//! Values as they travel between the typed API and a provider.

use std::any::{type_name, Any};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::Codec;
use crate::error::CacheError;
use crate::key_builder::KeyText;
use crate::tags::{TagList, Tagging};

/// What a type needs to be cached: `Clone + Serialize + DeserializeOwned + Send + Sync + 'static`.
///
/// It is implemented for every such type; you never implement it by hand.
///
/// ```
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct User { id: u64, name: String }
///
/// fn assert_cacheable<T: cache_runtime::CacheValue>() {}
/// assert_cacheable::<User>();
/// assert_cacheable::<Vec<Option<String>>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached",
    label = "this type is not Clone + Serialize + DeserializeOwned + Send + Sync + 'static",
    note = "derive or implement the missing traits for `{Self}`, or cache another type"
)]
pub trait CacheValue: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {}

// Without this, a type that is not cacheable gets one error per missing trait, with notes about
// the runtime's internals; with it, one error at the user's type with the message above.
#[diagnostic::do_not_recommend]
impl<T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static> CacheValue for T {}

/// What a type needs to be cached with `#[cached(local)]`: `Clone + Send + Sync + 'static`, no
/// serde.
///
/// A local value never leaves the process: it is kept in a memory store (on any other default,
/// the function keeps a memory store of its own), and a hit is a clone. It is implemented for
/// every such type; you never implement it by hand.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// struct Client { requests: Mutex<u32> }   // no serde, not even Clone: its Arc is
///
/// fn assert_local<T: cache_runtime::LocalValue>() {}
/// assert_local::<Arc<Client>>();
/// assert_local::<String>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached, even locally",
    label = "this type is not Clone + Send + Sync + 'static",
    note = "`#[cached(local)]` clones the value on every hit: derive or implement the missing traits for `{Self}`, or cache an `Arc` of it"
)]
pub trait LocalValue: Clone + Send + Sync + 'static {}

// As for `CacheValue`: one error at the user's type, not one per missing trait.
#[diagnostic::do_not_recommend]
impl<T: Clone + Send + Sync + 'static> LocalValue for T {}

/// A cached value handed to or returned by a [`CacheProvider`](crate::CacheProvider).
///
/// It is either the typed object itself (the in-memory provider keeps these and a hit is a clone,
/// never a decode), a [local](Self::local) object that never leaves the process, or bytes with a
/// codec header (what Redis keeps). Cloning it is cheap.
///
/// A provider that keeps bytes turns it into bytes with [`to_bytes`](Self::to_bytes) and back
/// with [`from_bytes`](Self::from_bytes):
///
/// ```
/// use std::sync::Arc;
/// use cache_runtime::{codec::Postcard, CachedValue};
///
/// let bytes = CachedValue::new(vec![1u32, 2, 3]).to_bytes(&Postcard)?;
/// let back = CachedValue::from_bytes(&bytes, Arc::new(Postcard))?;
/// assert!(back.stored_at() <= std::time::SystemTime::now());
/// # Ok::<(), cache_runtime::CacheError>(())
/// ```
#[derive(Clone)]
pub struct CachedValue {
    held: Held,
    /// When the value was first stored, in milliseconds since the Unix epoch (what the header
    /// keeps): 8 bytes where a `SystemTime` takes 16, in every entry of the memory store.
    stored_at_ms: u64,
}

#[derive(Clone)]
enum Repr {
    Object(Arc<dyn Object>),
    /// Behind its own `Arc`, so that a `CachedValue` (and every memory entry) stays small.
    Encoded(Arc<Encoded>),
    /// A value that only memory stores keep: it has no encoding.
    Local(Arc<dyn LocalObject>),
}

/// A value, with its tags if it has any.
#[derive(Clone)]
enum Held {
    Plain(Repr),
    /// A value with tags, and the start of its computation (see [`tags`](crate::tags)): behind
    /// an `Arc` of its own, in the niche of `Repr`'s tag, so that untagged values (and every
    /// memory entry) do not grow.
    Tagged(Arc<Tagged>),
}

/// A value with its tags.
struct Tagged {
    repr: Repr,
    tagging: Tagging,
}

impl CachedValue {
    /// The value itself, its tags aside.
    #[inline]
    fn repr(&self) -> &Repr {
        match &self.held {
            Held::Plain(repr) => repr,
            Held::Tagged(tagged) => &tagged.repr,
        }
    }
}

/// Bytes with our header, and what decodes them.
struct Encoded {
    bytes: Vec<u8>,
    codec: Arc<dyn Codec>,
    fingerprint: u64,
    /// Where the payload starts: after the header and the tags.
    payload: usize,
}

/// A typed value behind `dyn`: downcast for hits (upcast to `dyn Any`), serialize for stores that
/// keep bytes.
trait Object: Any + Send + Sync {
    fn as_serialize(&self) -> &dyn erased_serde::Serialize;
    fn type_name(&self) -> &'static str;
}

impl<T: Any + Serialize + Send + Sync> Object for T {
    fn as_serialize(&self) -> &dyn erased_serde::Serialize {
        self
    }
    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }
}

/// A local value behind `dyn`: downcast for hits, its type's name and size for errors and
/// byte-bounded stores.
///
/// Every `Any + Send + Sync` type implements it, an `Arc` of a `dyn` object too: its methods have
/// names of their own and are called on the object (`(**object).local_size()`), never on the
/// `Arc` that holds it.
trait LocalObject: Any + Send + Sync {
    fn local_type_name(&self) -> &'static str;
    fn local_size(&self) -> usize;
}

impl<T: Any + Send + Sync> LocalObject for T {
    fn local_type_name(&self) -> &'static str {
        type_name::<T>()
    }
    fn local_size(&self) -> usize {
        std::mem::size_of::<T>()
    }
}

impl CachedValue {
    /// Wraps a typed value, stamped with the current time.
    pub fn new<T: CacheValue>(value: T) -> Self {
        CachedValue { held: Held::Plain(Repr::Object(Arc::new(value))), stored_at_ms: millis(SystemTime::now()) }
    }

    /// Wraps a value that never leaves the process (what `#[cached(local)]` stores), stamped with
    /// the current time. A memory store keeps it and a hit clones it; a store that keeps bytes
    /// cannot: [`to_bytes`](Self::to_bytes) refuses it with [`CacheError::LocalValue`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use cache_runtime::{CacheProvider, CachedValue, MemoryProvider};
    ///
    /// struct Client { requests: Mutex<u32> }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
    /// let memory = MemoryProvider::new();
    /// let client = Arc::new(Client { requests: Mutex::new(0) });
    /// memory.set("client", CachedValue::local(Arc::clone(&client)), Duration::from_secs(60)).await?;
    /// assert!(memory.get("client").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub fn local<T: LocalValue>(value: T) -> Self {
        CachedValue { held: Held::Plain(Repr::Local(Arc::new(value))), stored_at_ms: millis(SystemTime::now()) }
    }

    /// The same value, carrying `tags` and the start of its computation on its store's clock.
    pub(crate) fn tagged(self, tagging: Option<Tagging>) -> Self {
        let repr = self.repr().clone();
        let held = match tagging {
            Some(tagging) => Held::Tagged(Arc::new(Tagged { repr, tagging })),
            None => Held::Plain(repr),
        };
        CachedValue { held, stored_at_ms: self.stored_at_ms }
    }

    /// Its tags and start, if it has tags.
    #[inline]
    pub(crate) fn tagging(&self) -> Option<&Tagging> {
        match &self.held {
            Held::Tagged(tagged) => Some(&tagged.tagging),
            Held::Plain(_) => None,
        }
    }

    /// When the value was first stored.
    pub fn stored_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.stored_at_ms)
    }

    /// [`stored_at`](Self::stored_at), in milliseconds since the Unix epoch.
    #[inline]
    pub(crate) fn stored_at_ms(&self) -> u64 {
        self.stored_at_ms
    }

    /// How long ago a value stored at `stored_at_ms` (milliseconds since the Unix epoch) was
    /// stored, on the wall clock; zero if the clock went back.
    pub(crate) fn age_of(stored_at_ms: u64) -> Duration {
        (UNIX_EPOCH + Duration::from_millis(stored_at_ms)).elapsed().unwrap_or_default()
    }

    /// Encodes the value with `codec`, behind the header described in [`codec`](crate::codec).
    pub fn to_bytes(&self, codec: &dyn Codec) -> Result<Vec<u8>, CacheError> {
        let mut out = Vec::with_capacity(64);
        match self.repr() {
            Repr::Object(object) => {
                let fingerprint = type_fingerprint(object.type_name());
                write_header(&mut out, codec, &Header { stored_at: self.stored_at(), fingerprint }, self.tagging());
                codec.encode(object.as_serialize(), &mut out)?;
            }
            Repr::Encoded(encoded) if encoded.codec.id() == codec.id() => {
                let header = Header { stored_at: self.stored_at(), fingerprint: encoded.fingerprint };
                write_header(&mut out, codec, &header, self.tagging());
                out.extend_from_slice(&encoded.bytes[encoded.payload..]);
            }
            Repr::Encoded(encoded) => {
                return Err(CacheError::Codec {
                    codec: codec.name(),
                    message: format!("the value is encoded with `{}` and cannot be re-encoded", encoded.codec.name()),
                })
            }
            Repr::Local(object) => return Err(CacheError::LocalValue { type_name: (**object).local_type_name() }),
        }
        Ok(out)
    }

    /// Takes bytes written by [`to_bytes`](Self::to_bytes) with the same codec. Bytes without our
    /// header, of another format version or of another codec are a [`CacheError::Codec`]; the
    /// payload itself is decoded only when a typed value is asked for, and only if the header
    /// names that type.
    pub fn from_bytes(bytes: &[u8], codec: Arc<dyn Codec>) -> Result<Self, CacheError> {
        Self::from_vec(bytes.to_vec(), codec)
    }

    /// [`from_bytes`](Self::from_bytes) for bytes the caller owns: nothing is copied.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cache_runtime::{codec::Postcard, CachedValue};
    ///
    /// let bytes = CachedValue::new(7u8).to_bytes(&Postcard)?;
    /// assert!(CachedValue::from_vec(bytes, Arc::new(Postcard)).is_ok());
    /// # Ok::<(), cache_runtime::CacheError>(())
    /// ```
    pub fn from_vec(bytes: Vec<u8>, codec: Arc<dyn Codec>) -> Result<Self, CacheError> {
        let header = read_header(&bytes, codec.as_ref())
            .map_err(|message| CacheError::Codec { codec: codec.name(), message })?;
        let payload = header.payload;
        let value = CachedValue {
            held: Held::Plain(Repr::Encoded(Arc::new(Encoded {
                bytes,
                codec,
                fingerprint: header.fingerprint,
                payload,
            }))),
            stored_at_ms: millis(header.stored_at),
        };
        Ok(match header.tagging {
            Some(tagging) => value.tagged(Some(tagging)),
            None => value,
        })
    }

    /// The typed value: a clone of the object, or a decode of the bytes.
    pub(crate) fn to_typed<T: CacheValue, K: KeyText + ?Sized>(&self, key: &K) -> Result<T, CacheError> {
        match self.repr() {
            // Upcast, not `as_any()`: one call through the vtable (`type_id`) instead of two.
            Repr::Object(object) => match (&**object as &dyn Any).downcast_ref::<T>() {
                Some(value) => Ok(value.clone()),
                None => Err(mismatch::<T, K>(key, object.type_name())),
            },
            Repr::Local(object) => local_typed(object, key),
            Repr::Encoded(encoded) => {
                let Encoded { bytes, codec, fingerprint, payload } = &**encoded;
                if *fingerprint != type_fingerprint(type_name::<T>()) {
                    return Err(CacheError::TypeMismatch {
                        key: key.key_text().to_owned(),
                        expected: type_name::<T>(),
                        found: "a value of another type (its header names another type)",
                    });
                }
                let mut out: Option<T> = None;
                codec.decode(&bytes[*payload..], &mut |de| {
                    out = Some(erased_serde::deserialize::<T>(de)?);
                    Ok(())
                })?;
                out.ok_or_else(|| CacheError::Codec { codec: codec.name(), message: "no value was decoded".into() })
            }
        }
    }

    /// The typed value of a local entry (or of a typed object of the same type): a clone. Bytes
    /// are never decoded into a local type.
    pub(crate) fn to_local<T: LocalValue, K: KeyText + ?Sized>(&self, key: &K) -> Result<T, CacheError> {
        match self.repr() {
            Repr::Local(object) => local_typed(object, key),
            Repr::Object(object) => match (&**object as &dyn Any).downcast_ref::<T>() {
                Some(value) => Ok(value.clone()),
                None => Err(mismatch::<T, K>(key, object.type_name())),
            },
            Repr::Encoded(_) => Err(mismatch::<T, K>(key, "encoded bytes, which a local value never is")),
        }
    }

    /// An estimate of the bytes the value holds, for byte-bounded stores: the encoded length of
    /// the payload (a postcard size walk for typed values, which allocates nothing). A
    /// [local](Self::local) value weighs `size_of::<T>()`: what it points to (behind an `Arc`, a
    /// `Vec`) is not counted.
    ///
    /// ```
    /// use cache_runtime::CachedValue;
    ///
    /// assert_eq!(CachedValue::new(vec![0u8; 100]).estimated_size(), 101);
    /// let pointer = std::mem::size_of::<usize>();
    /// assert_eq!(CachedValue::local(std::sync::Arc::new([0u8; 100])).estimated_size(), pointer);
    /// ```
    pub fn estimated_size(&self) -> usize {
        match self.repr() {
            Repr::Object(object) => {
                let mut counter = ByteCounter(0);
                // A value that cannot be serialized weighs what was counted before it failed.
                let _ = postcard::to_extend(object.as_serialize(), &mut counter);
                counter.0
            }
            Repr::Encoded(encoded) => encoded.bytes.len(),
            Repr::Local(object) => (**object).local_size(),
        }
    }
}

/// A clone of the local value, if it is a `T`.
#[inline]
fn local_typed<T: Clone + 'static, K: KeyText + ?Sized>(
    object: &Arc<dyn LocalObject>,
    key: &K,
) -> Result<T, CacheError> {
    match (&**object as &dyn Any).downcast_ref::<T>() {
        Some(value) => Ok(value.clone()),
        None => Err(mismatch::<T, K>(key, (**object).local_type_name())),
    }
}

/// The entry under `key` holds a `found`, not a `T`.
#[cold]
fn mismatch<T, K: KeyText + ?Sized>(key: &K, found: &'static str) -> CacheError {
    CacheError::TypeMismatch { key: key.key_text().to_owned(), expected: type_name::<T>(), found }
}

/// Milliseconds since the Unix epoch (0 before it).
fn millis(time: SystemTime) -> u64 {
    u64::try_from(time.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for CachedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("CachedValue");
        match self.repr() {
            Repr::Object(object) => out.field("type", &object.type_name()),
            Repr::Encoded(encoded) => out.field("codec", &encoded.codec.name()).field("bytes", &encoded.bytes.len()),
            Repr::Local(object) => out.field("type", &(**object).local_type_name()).field("local", &true),
        };
        if let Some(tagging) = self.tagging() {
            out.field("tags", &tagging.list).field("start", &tagging.start);
        }
        out.field("stored_at", &self.stored_at()).finish()
    }
}

/// Counts the bytes postcard would write.
struct ByteCounter(usize);

impl Extend<u8> for &mut ByteCounter {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, iter: I) {
        self.0 += iter.into_iter().count();
    }
}

// The header in front of every encoded value; its layout is documented in `codec`.

const MAGIC: u8 = 0xCA;
/// The format of a value without tags.
const VERSION: u8 = 1;
/// The format of a value with tags: the header, then the length of the tag section (`u32`,
/// little-endian) and the section, `<start>\n<tag>\n<tag>...` in text, then the payload. Redis's
/// scripts read the section (see `redis/scripts.rs`).
const VERSION_TAGGED: u8 = 2;
/// The length of the header in front of every encoded value (its layout is in the
/// [`codec`](crate::codec) docs).
pub const HEADER_LEN: usize = 19;

/// What a header says about its value.
struct Header {
    stored_at: SystemTime,
    fingerprint: u64,
}

/// Whether stored bytes are a tagged value (format version 2), by their header alone.
#[cfg(feature = "redis")]
pub(crate) fn is_tagged(bytes: &[u8]) -> bool {
    bytes.len() > 1 && bytes[0] == MAGIC && bytes[1] == VERSION_TAGGED
}

/// What [`read_header`] found.
struct ReadHeader {
    stored_at: SystemTime,
    fingerprint: u64,
    tagging: Option<Tagging>,
    payload: usize,
}

/// A stable name hash of a type (FNV-1a 64 of `std::any::type_name`): the same in every process
/// built from the same code, unlike `TypeId`.
fn type_fingerprint(type_name: &str) -> u64 {
    type_name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Writes the header for `codec` to the front of `out`.
fn write_header(out: &mut Vec<u8>, codec: &dyn Codec, header: &Header, tagging: Option<&Tagging>) {
    let millis = millis(header.stored_at);
    out.push(MAGIC);
    out.push(if tagging.is_some() { VERSION_TAGGED } else { VERSION });
    out.push(codec.id());
    out.extend_from_slice(&millis.to_le_bytes());
    out.extend_from_slice(&header.fingerprint.to_le_bytes());
    if let Some(tagging) = tagging {
        let section = format!("{}\n{}", tagging.start, tagging.list.as_str());
        // A tag is at most 1 KiB: a section past 4 GiB cannot be written.
        out.extend_from_slice(&u32::try_from(section.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(section.as_bytes());
    }
}

/// Checks the header of stored bytes against `codec`.
fn read_header(bytes: &[u8], codec: &dyn Codec) -> Result<ReadHeader, String> {
    if bytes.len() < HEADER_LEN || bytes[0] != MAGIC {
        return Err("no cache header (not written by this toolkit)".to_owned());
    }
    if bytes[1] != VERSION && bytes[1] != VERSION_TAGGED {
        return Err(format!("header format version {} (this build reads {VERSION} and {VERSION_TAGGED})", bytes[1]));
    }
    if bytes[2] != codec.id() {
        return Err(format!("codec id {} (this provider reads {} = {})", bytes[2], codec.id(), codec.name()));
    }
    let word = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let (tagging, payload) = match bytes[1] {
        VERSION_TAGGED => read_tags(bytes)?,
        _ => (None, HEADER_LEN),
    };
    Ok(ReadHeader { stored_at: UNIX_EPOCH + Duration::from_millis(word(3)), fingerprint: word(11), tagging, payload })
}

/// The tag section of a tagged value, and where its payload starts.
fn read_tags(bytes: &[u8]) -> Result<(Option<Tagging>, usize), String> {
    let broken = || "a tag section that does not read".to_owned();
    let len = bytes.get(HEADER_LEN..HEADER_LEN + 4).ok_or_else(broken)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let start_at = HEADER_LEN + 4;
    let section = bytes.get(start_at..start_at + len).ok_or_else(broken)?;
    let section = std::str::from_utf8(section).map_err(|_| broken())?;
    let (start, tags) = section.split_once('\n').ok_or_else(broken)?;
    let start = start.parse::<u64>().map_err(|_| broken())?;
    let list = TagList::from_text(tags).ok_or_else(broken)?;
    Ok((Some(Tagging { start, list }), start_at + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Postcard;

    #[test]
    fn tags_do_not_make_a_value_bigger() {
        // Every memory entry holds one: tags must not make it grow.
        assert_eq!(std::mem::size_of::<CachedValue>(), 32);
    }

    #[test]
    fn tags_and_start_round_trip_through_the_header() {
        let tagging = Tagging { start: 41, list: TagList::from_text("user:4\norders").unwrap() };
        let value = CachedValue::new(String::from("x")).tagged(Some(tagging.clone()));
        let bytes = value.to_bytes(&Postcard).unwrap();
        assert_eq!(bytes[1], VERSION_TAGGED);
        let back = CachedValue::from_bytes(&bytes, Arc::new(Postcard)).unwrap();
        assert_eq!(back.tagging(), Some(&tagging));
        assert_eq!(back.to_typed::<String, _>("k").unwrap(), "x");
        // Re-encoded as it came, and without tags: the plain format.
        assert_eq!(back.to_bytes(&Postcard).unwrap(), bytes);
        let plain = back.tagged(None).to_bytes(&Postcard).unwrap();
        assert_eq!(plain[1], VERSION);
        assert_eq!(
            CachedValue::from_bytes(&plain, Arc::new(Postcard)).unwrap().to_typed::<String, _>("k").unwrap(),
            "x"
        );
    }

    #[test]
    fn a_typed_value_comes_back_as_a_clone() {
        let value = CachedValue::new(String::from("hello"));
        assert_eq!(value.to_typed::<String, _>("k").unwrap(), "hello");
        let err = value.to_typed::<u64, _>("k").unwrap_err();
        assert!(matches!(err, CacheError::TypeMismatch { .. }), "{err}");
    }

    #[test]
    fn bytes_round_trip_through_the_header() {
        let bytes = CachedValue::new((7u8, String::from("x"))).to_bytes(&Postcard).unwrap();
        assert_eq!(bytes[0], 0xCA);
        let back = CachedValue::from_bytes(&bytes, Arc::new(Postcard)).unwrap();
        assert_eq!(back.to_typed::<(u8, String), _>("k").unwrap(), (7, "x".into()));
        // Re-encoding an encoded value with its own codec keeps the payload and the header.
        assert_eq!(back.to_bytes(&Postcard).unwrap(), bytes);
    }

    #[test]
    fn a_payload_written_for_another_type_is_not_decoded() {
        // Four u64 of 5 are also a valid postcard String: the header tells them apart.
        let bytes = CachedValue::new(vec![5u64; 4]).to_bytes(&Postcard).unwrap();
        let back = CachedValue::from_bytes(&bytes, Arc::new(Postcard)).unwrap();
        let err = back.to_typed::<String, _>("k").unwrap_err();
        assert!(matches!(err, CacheError::TypeMismatch { .. }), "{err}");
        assert_eq!(back.to_typed::<Vec<u64>, _>("k").unwrap(), vec![5; 4]);
    }

    #[test]
    fn corrupt_or_foreign_bytes_are_errors_not_panics() {
        assert!(CachedValue::from_bytes(b"plain text", Arc::new(Postcard)).is_err());
        let mut bytes = CachedValue::new(vec![1u64; 4]).to_bytes(&Postcard).unwrap();
        bytes.truncate(HEADER_LEN + 2);
        let cut = CachedValue::from_bytes(&bytes, Arc::new(Postcard)).unwrap();
        assert!(cut.to_typed::<Vec<u64>, _>("k").is_err());
        let mut long = CachedValue::new(1u8).to_bytes(&Postcard).unwrap();
        long.push(0);
        let long = CachedValue::from_bytes(&long, Arc::new(Postcard)).unwrap();
        assert!(long.to_typed::<u8, _>("k").is_err(), "trailing bytes are refused");
    }

    #[test]
    fn a_local_value_comes_back_as_a_clone_and_has_no_bytes() {
        let value = CachedValue::local(Arc::new(std::sync::Mutex::new(3u32)));
        let typed = value.to_local::<Arc<std::sync::Mutex<u32>>, _>("k").unwrap();
        assert_eq!(*typed.lock().unwrap(), 3);
        assert!(matches!(value.to_local::<u32, _>("k"), Err(CacheError::TypeMismatch { .. })));
        let err = value.to_bytes(&Postcard).unwrap_err();
        assert!(err.to_string().contains("is local"), "{err}");
        assert!(err.to_string().contains("Mutex<u32>"), "the value's own type, not the Arc around it: {err}");
        assert!(format!("{value:?}").contains("Mutex<u32>"));
        assert_eq!(value.estimated_size(), std::mem::size_of::<usize>());
        // A serde value of the same type reads as local too; bytes never do.
        assert_eq!(CachedValue::new(5u32).to_local::<u32, _>("k").unwrap(), 5);
        let bytes = CachedValue::new(5u32).to_bytes(&Postcard).unwrap();
        let encoded = CachedValue::from_vec(bytes, Arc::new(Postcard)).unwrap();
        assert!(encoded.to_local::<u32, _>("k").is_err());
    }

    #[test]
    fn size_estimate_is_the_encoded_length() {
        let value = CachedValue::new(vec![0u8; 100]);
        assert_eq!(value.estimated_size(), 101);
    }
}
