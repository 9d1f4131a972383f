//! Codecs turn values into bytes for stores that keep bytes (Redis), behind a small header.
//!
//! A stored value is a 19-byte header and the codec's payload:
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | magic `0xCA` |
//! | 1 | format version, `1` |
//! | 2 | codec id ([`Codec::id`]) |
//! | 3..11 | when it was stored, milliseconds since the Unix epoch, little-endian |
//! | 11..19 | the stored type: FNV-1a 64 of its `std::any::type_name`, little-endian |
//!
//! Bytes without this header, with another version, or from another codec are never decoded:
//! they read as a miss. Nor is a payload written for another Rust type: compact formats such as
//! postcard do not describe their types, so a `Vec<u64>` could otherwise decode as a `String` of
//! garbage. The type check knows names, not layouts: when a type's fields change, change its key
//! (`"user:v2:{id}"`) so that old entries are not read. The in-memory provider keeps typed values
//! and uses no codec at all.
//!
//! Decoding what a store returns is bounded by the payload's length, whatever the payload
//! claims: in the built-in codecs, all the sequences and maps of one value together hold at most
//! one element per payload byte, zero-sized elements (`()`, unit structs) included. A claim
//! beyond that is a decode error (a miss): before the first element when the format passes the
//! length on, at the latest once the elements outnumber the bytes. A well-formed value
//! reaches the bound only by holding more zero-sized values in sequences than its encoding has
//! bytes (postcard writes a `Vec<()>` of 1000 elements in 2 bytes): such a value is stored but
//! never read back.

use std::fmt;

pub use erased_serde;

use crate::error::CacheError;

mod bounded;

use bounded::{Bounded, Budget};

/// The closure a codec hands its deserializer to; see [`Codec::decode`].
pub type DecodeVisitor<'v> = dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error> + 'v;

/// A serde format that values are stored in.
///
/// Built in: [`Postcard`] (the default), [`Bincode`] (feature `bincode`) and [`Json`] (feature
/// `json`). A codec of your own works on type-erased serde values through
/// [`erased_serde`], re-exported here:
///
/// ```
/// use cache_runtime::codec::{erased_serde, Codec, DecodeVisitor};
/// use cache_runtime::CacheError;
///
/// #[derive(Debug)]
/// struct MyJson;
///
/// impl Codec for MyJson {
///     fn id(&self) -> u8 { 200 }
///     fn name(&self) -> &'static str { "my-json" }
///     fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), CacheError> {
///         serde_json::to_writer(out, value).map_err(|e| CacheError::Codec { codec: "my-json", message: e.to_string() })
///     }
///     fn decode(&self, bytes: &[u8], visit: &mut DecodeVisitor<'_>) -> Result<(), CacheError> {
///         let mut de = serde_json::Deserializer::from_slice(bytes);
///         visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
///             .map_err(|e| CacheError::Codec { codec: "my-json", message: e.to_string() })
///     }
/// }
/// ```
pub trait Codec: Send + Sync + fmt::Debug + 'static {
    /// The id written in each value's header: 1 to 15 are the built-in codecs', take 16 to 255.
    fn id(&self) -> u8;
    /// A short name for errors and logs.
    fn name(&self) -> &'static str;
    /// Appends the encoding of `value` to `out`.
    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), CacheError>;
    /// Hands a deserializer over `bytes` to `visit`, and fails if `bytes` hold more than one value.
    ///
    /// `bytes` come from a store and may be foreign or corrupt: decoding them should fail rather
    /// than run longer than their length warrants. The built-in codecs do (see the
    /// [module docs](self)); a format whose elements can take no bytes needs a bound of its own.
    fn decode(&self, bytes: &[u8], visit: &mut DecodeVisitor<'_>) -> Result<(), CacheError>;
}

fn codec_error(codec: &'static str, message: impl fmt::Display) -> CacheError {
    CacheError::Codec { codec, message: message.to_string() }
}

/// The error of a failed decode: the budget's own words if it stopped the decode (postcard drops
/// custom messages), the format's otherwise.
fn decode_error(codec: &'static str, budget: &Budget, error: impl fmt::Display) -> CacheError {
    match budget.overrun() {
        Some(overrun) => codec_error(codec, overrun),
        None => codec_error(codec, error),
    }
}

/// [postcard](https://docs.rs/postcard): compact, maintained, the default.
///
/// Sequences read from the wire are pre-allocated by serde with at most 1 MiB whatever length a
/// corrupt payload claims, and strings are checked against the bytes left, so a damaged value
/// cannot make decoding allocate without bound; nor can it claim more elements than it has bytes
/// (see the [module docs](self)).
///
/// ```
/// use cache_runtime::codec::{Codec, Postcard};
/// assert_eq!(Postcard.name(), "postcard");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl Codec for Postcard {
    fn id(&self) -> u8 {
        1
    }
    fn name(&self) -> &'static str {
        "postcard"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), CacheError> {
        let taken = std::mem::take(out);
        *out = postcard::to_extend(value, taken).map_err(|e| codec_error("postcard", e))?;
        Ok(())
    }
    fn decode(&self, bytes: &[u8], visit: &mut DecodeVisitor<'_>) -> Result<(), CacheError> {
        let budget = Budget::new(bytes.len());
        let mut de = postcard::Deserializer::from_bytes(bytes);
        visit(&mut <dyn erased_serde::Deserializer>::erase(Bounded::new(&mut de, &budget)))
            .map_err(|e| decode_error("postcard", &budget, e))?;
        let rest = de.finalize().map_err(|e| codec_error("postcard", e))?;
        if !rest.is_empty() {
            return Err(codec_error("postcard", format!("{} bytes left over after the value", rest.len())));
        }
        Ok(())
    }
}

/// [bincode](https://docs.rs/bincode) 2.x with its standard configuration, for those who ask for
/// it by name.
///
/// ```
/// use cache_runtime::codec::{Codec, Bincode};
/// assert_eq!(Bincode.name(), "bincode");
/// ```
#[cfg(feature = "bincode")]
#[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Bincode;

#[cfg(feature = "bincode")]
impl Bincode {
    fn config() -> impl bincode::config::Config {
        // A corrupt length can claim at most this much.
        bincode::config::standard().with_limit::<{ 512 * 1024 * 1024 }>()
    }
}

#[cfg(feature = "bincode")]
impl Codec for Bincode {
    fn id(&self) -> u8 {
        2
    }
    fn name(&self) -> &'static str {
        "bincode"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), CacheError> {
        let bytes = bincode::serde::encode_to_vec(value, Self::config()).map_err(|e| codec_error("bincode", e))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }
    fn decode(&self, bytes: &[u8], visit: &mut DecodeVisitor<'_>) -> Result<(), CacheError> {
        let budget = Budget::new(bytes.len());
        let ((), read) =
            bincode::serde::seed_decode_from_slice(ErasedSeed { visit, budget: &budget }, bytes, Self::config())
                .map_err(|e| decode_error("bincode", &budget, e))?;
        if read != bytes.len() {
            return Err(codec_error("bincode", format!("{} bytes left over after the value", bytes.len() - read)));
        }
        Ok(())
    }
}

/// Hands a typed deserializer, bounded by `budget`, to an erased visitor, for formats that only
/// take a seed.
#[cfg(feature = "bincode")]
struct ErasedSeed<'a, 'v, 'b> {
    visit: &'a mut DecodeVisitor<'v>,
    budget: &'b Budget,
}

#[cfg(feature = "bincode")]
impl<'de> serde::de::DeserializeSeed<'de> for ErasedSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        (self.visit)(&mut <dyn erased_serde::Deserializer>::erase(Bounded::new(deserializer, self.budget)))
            .map_err(serde::de::Error::custom)
    }
}

/// JSON through [serde_json](https://docs.rs/serde_json), for values that programs in other
/// languages read.
///
/// ```
/// use cache_runtime::codec::{Codec, Json};
/// assert_eq!(Json.name(), "json");
/// ```
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl Codec for Json {
    fn id(&self) -> u8 {
        3
    }
    fn name(&self) -> &'static str {
        "json"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<(), CacheError> {
        serde_json::to_writer(out, value).map_err(|e| codec_error("json", e))
    }
    fn decode(&self, bytes: &[u8], visit: &mut DecodeVisitor<'_>) -> Result<(), CacheError> {
        let budget = Budget::new(bytes.len());
        let mut de = serde_json::Deserializer::from_slice(bytes);
        visit(&mut <dyn erased_serde::Deserializer>::erase(Bounded::new(&mut de, &budget)))
            .map_err(|e| decode_error("json", &budget, e))?;
        de.end().map_err(|e| codec_error("json", e))
    }
}

/// The length of the header in front of every encoded value.
pub use crate::value::HEADER_LEN;

/// The codec a provider uses when it is given none.
#[cfg(feature = "redis")]
pub(crate) fn default_codec() -> std::sync::Arc<dyn Codec> {
    std::sync::Arc::new(Postcard)
}
