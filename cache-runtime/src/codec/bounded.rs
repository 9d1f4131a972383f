//! Bounds the work of a decode by the length of the bytes decoded.
//!
//! A compact format reads a sequence's length from the bytes and then asks for that many
//! elements; an element of a zero-sized type (`()`, a unit struct) takes no bytes, so a header
//! claiming `u64::MAX` of them decodes for hours without ever running out of input. [`Bounded`]
//! wraps a deserializer and everything it hands out (visitors, seeds, sequence, map and enum
//! accesses) so that every sequence and map whose length comes from the data draws on one
//! [`Budget`]: as many elements, all sequences and maps of the value together, as the payload has
//! bytes. A sequence or map that declares (`size_hint`) more than the budget has left fails
//! before its first element; one that declares nothing (JSON, or postcard when the length is more
//! than the bytes left) or hands out more than it declared draws one per element as they come,
//! zero-sized ones included. Nested sequences share the budget, so they
//! cannot multiply it.
//!
//! A well-formed value never meets the bound unless it holds sequences of zero-sized values:
//! in postcard, bincode and JSON every element of a sequence or map owns at least one byte that
//! none of its own elements owns (a length prefix, a discriminant, a bracket, a digit). Tuples,
//! arrays and structs have as many elements as their type says, not as the data says, so they
//! draw nothing.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

/// The elements that the sequences and maps of one value may still hold.
pub(super) struct Budget {
    left: Cell<usize>,
    total: usize,
    overrun: Cell<Option<Overrun>>,
}

/// Why a decode was stopped, kept because some formats (postcard) drop custom error messages.
#[derive(Clone, Copy)]
struct Overrun {
    what: &'static str,
    claimed: Option<usize>,
}

impl Budget {
    /// A budget of one element per byte of a `bytes`-long payload.
    pub(super) fn new(bytes: usize) -> Self {
        Budget { left: Cell::new(bytes), total: bytes, overrun: Cell::new(None) }
    }

    /// Takes `n` elements from the budget, or fails (and leaves it as it was).
    #[inline]
    fn take<E: de::Error>(&self, n: usize, what: &'static str, claimed: Option<usize>) -> Result<(), E> {
        match self.left.get().checked_sub(n) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                let overrun = Overrun { what, claimed };
                self.overrun.set(Some(overrun));
                Err(E::custom(self.describe(overrun)))
            }
        }
    }

    /// Why the decode was stopped, if the budget stopped it.
    pub(super) fn overrun(&self) -> Option<String> {
        self.overrun.get().map(|overrun| self.describe(overrun))
    }

    fn describe(&self, overrun: Overrun) -> String {
        match overrun.claimed {
            Some(n) => {
                format!("a {} claims {n} elements, more than the {}-byte payload can hold", overrun.what, self.total)
            }
            None => format!("a {} holds more elements than the {}-byte payload can hold", overrun.what, self.total),
        }
    }
}

/// A deserializer whose sequences and maps draw on a [`Budget`].
pub(super) struct Bounded<'b, D> {
    inner: D,
    budget: &'b Budget,
}

impl<'b, D> Bounded<'b, D> {
    pub(super) fn new(inner: D, budget: &'b Budget) -> Self {
        Bounded { inner, budget }
    }
}

/// Forwards `deserialize_*` methods, wrapping the visitor; `$counted` says whether a sequence the
/// visitor gets has a length read from the data (and so draws on the budget).
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) $counted:literal;)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method($($arg,)* BoundedVisitor { inner: visitor, budget: self.budget, counted: $counted })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    forward! {
        deserialize_any() true;
        deserialize_bool() true;
        deserialize_i8() true;
        deserialize_i16() true;
        deserialize_i32() true;
        deserialize_i64() true;
        deserialize_i128() true;
        deserialize_u8() true;
        deserialize_u16() true;
        deserialize_u32() true;
        deserialize_u64() true;
        deserialize_u128() true;
        deserialize_f32() true;
        deserialize_f64() true;
        deserialize_char() true;
        deserialize_str() true;
        deserialize_string() true;
        deserialize_bytes() true;
        deserialize_byte_buf() true;
        deserialize_option() true;
        deserialize_unit() true;
        deserialize_unit_struct(name: &'static str) true;
        deserialize_newtype_struct(name: &'static str) true;
        deserialize_seq() true;
        deserialize_tuple(len: usize) false;
        deserialize_tuple_struct(name: &'static str, len: usize) false;
        deserialize_map() true;
        deserialize_struct(name: &'static str, fields: &'static [&'static str]) false;
        deserialize_enum(name: &'static str, variants: &'static [&'static str]) true;
        deserialize_identifier() true;
        deserialize_ignored_any() true;
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor whose deserializers and accesses are bounded in turn.
struct BoundedVisitor<'b, V> {
    inner: V,
    budget: &'b Budget,
    /// Whether a sequence handed to this visitor has a length read from the data.
    counted: bool,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for BoundedVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Bounded::new(deserializer, self.budget))
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Bounded::new(deserializer, self.budget))
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let reserved = if self.counted {
            let declared = seq.size_hint().unwrap_or(0);
            self.budget.take::<A::Error>(declared, "sequence", Some(declared))?;
            declared
        } else {
            0
        };
        self.inner.visit_seq(BoundedSeq { inner: seq, budget: self.budget, counted: self.counted, reserved })
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let declared = map.size_hint().unwrap_or(0);
        self.budget.take::<A::Error>(declared, "map", Some(declared))?;
        self.inner.visit_map(BoundedMap { inner: map, budget: self.budget, reserved: declared })
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(BoundedEnum { inner: data, budget: self.budget })
    }
}

/// A seed whose deserializer is bounded.
struct BoundedSeed<'b, S> {
    inner: S,
    budget: &'b Budget,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for BoundedSeed<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Bounded::new(deserializer, self.budget))
    }
}

/// A sequence whose elements draw on the budget beyond the `reserved` it declared (when
/// `counted`).
struct BoundedSeq<'b, A> {
    inner: A,
    budget: &'b Budget,
    counted: bool,
    reserved: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for BoundedSeq<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let element = self.inner.next_element_seed(BoundedSeed { inner: seed, budget: self.budget })?;
        if element.is_some() && self.counted {
            if self.reserved > 0 {
                self.reserved -= 1;
            } else {
                self.budget.take::<A::Error>(1, "sequence", None)?;
            }
        }
        Ok(element)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A map whose entries draw on the budget beyond the `reserved` it declared.
struct BoundedMap<'b, A> {
    inner: A,
    budget: &'b Budget,
    reserved: usize,
}

impl<A> BoundedMap<'_, A> {
    #[inline]
    fn count<E: de::Error>(&mut self) -> Result<(), E> {
        if self.reserved > 0 {
            self.reserved -= 1;
            Ok(())
        } else {
            self.budget.take(1, "map", None)
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for BoundedMap<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let key = self.inner.next_key_seed(BoundedSeed { inner: seed, budget: self.budget })?;
        if key.is_some() {
            self.count::<A::Error>()?;
        }
        Ok(key)
    }

    #[inline]
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(BoundedSeed { inner: seed, budget: self.budget })
    }

    #[inline]
    fn next_entry_seed<K: DeserializeSeed<'de>, S: DeserializeSeed<'de>>(
        &mut self,
        key: K,
        value: S,
    ) -> Result<Option<(K::Value, S::Value)>, A::Error> {
        let entry = self.inner.next_entry_seed(
            BoundedSeed { inner: key, budget: self.budget },
            BoundedSeed { inner: value, budget: self.budget },
        )?;
        if entry.is_some() {
            self.count::<A::Error>()?;
        }
        Ok(entry)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An enum whose variant's content is bounded.
struct BoundedEnum<'b, A> {
    inner: A,
    budget: &'b Budget,
}

impl<'b, 'de, A: EnumAccess<'de>> EnumAccess<'de> for BoundedEnum<'b, A> {
    type Error = A::Error;
    type Variant = BoundedEnum<'b, A::Variant>;

    #[inline]
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(BoundedSeed { inner: seed, budget: self.budget })?;
        Ok((value, BoundedEnum { inner: variant, budget: self.budget }))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for BoundedEnum<'_, A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.newtype_variant_seed(BoundedSeed { inner: seed, budget: self.budget })
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, BoundedVisitor { inner: visitor, budget: self.budget, counted: false })
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, BoundedVisitor { inner: visitor, budget: self.budget, counted: false })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;

    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};

    #[cfg(feature = "json")]
    use super::{Bounded, Budget};
    #[cfg(feature = "bincode")]
    use crate::codec::Bincode;
    #[cfg(feature = "json")]
    use crate::codec::Json;
    use crate::codec::{Codec, Postcard};
    use crate::error::CacheError;

    fn codecs() -> Vec<Box<dyn Codec>> {
        vec![
            Box::new(Postcard),
            #[cfg(feature = "bincode")]
            Box::new(Bincode),
            #[cfg(feature = "json")]
            Box::new(Json),
        ]
    }

    fn encode<T: Serialize>(codec: &dyn Codec, value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        codec.encode(value, &mut out).expect("encode");
        out
    }

    fn decode<T: DeserializeOwned>(codec: &dyn Codec, bytes: &[u8]) -> Result<T, CacheError> {
        let mut out = None;
        codec.decode(bytes, &mut |de| {
            out = Some(erased_serde::deserialize::<T>(de)?);
            Ok(())
        })?;
        Ok(out.expect("a decode that succeeds yields a value"))
    }

    /// Postcard's varint for `n`: how it writes a sequence or map length.
    fn varint(n: u64) -> Vec<u8> {
        postcard::to_stdvec(&n).unwrap()
    }

    /// Decodes `bytes` as a `T` with `codec` and expects the budget's error.
    #[track_caller]
    fn refused<T: DeserializeOwned + Debug>(codec: &dyn Codec, bytes: &[u8]) {
        match decode::<T>(codec, bytes) {
            Err(CacheError::Codec { message, .. }) => {
                assert!(message.contains("payload can hold"), "{}: not the budget's error: {message}", codec.name())
            }
            other => panic!("{}: {} decoded as {other:?}", codec.name(), std::any::type_name::<T>()),
        }
    }

    #[test]
    fn postcard_huge_count_of_units_is_refused() {
        refused::<Vec<()>>(&Postcard, &varint(u64::MAX));
        refused::<Vec<()>>(&Postcard, &varint(u64::from(u32::MAX)));
        // Room for the length and nothing else: 10 bytes hold no 11 units.
        let mut bytes = varint(11);
        bytes.extend_from_slice(&[0; 8]);
        refused::<Vec<()>>(&Postcard, &bytes);
    }

    #[test]
    fn postcard_huge_map_is_refused() {
        refused::<HashMap<String, ()>>(&Postcard, &varint(u64::MAX));
        refused::<HashMap<(), ()>>(&Postcard, &varint(u64::MAX));
        refused::<BTreeMap<(), ()>>(&Postcard, &varint(u64::MAX));
    }

    #[test]
    fn postcard_nested_huge_count_is_refused() {
        // The outer length is more than the bytes left, so postcard gives no size hint: the first
        // inner sequence runs out of bytes.
        assert!(decode::<Vec<Vec<()>>>(&Postcard, &varint(u64::MAX)).is_err());
        let mut bytes = varint(3);
        bytes.extend(varint(u64::MAX));
        refused::<Vec<Vec<()>>>(&Postcard, &bytes);
    }

    #[test]
    fn nested_sequences_share_one_budget() {
        // 100 000 sequences of 100 000 units: each length fits in the bytes, the product (10^10
        // elements, minutes of decoding) does not.
        let n = 100_000;
        let mut bytes = varint(n);
        for _ in 0..n {
            bytes.extend(varint(n));
        }
        refused::<Vec<Vec<()>>>(&Postcard, &bytes);
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Holder {
        id: u8,
        units: Option<Vec<()>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Carrier {
        Empty,
        Newtype(Vec<()>),
        Tuple(u8, Vec<()>),
        Struct { id: u8, units: HashMap<(), ()> },
    }

    #[test]
    fn a_huge_count_deep_inside_a_value_is_refused() {
        let huge = varint(u64::MAX);
        let with = |prefix: &[u8]| [prefix, &huge].concat();
        // Through a struct field and an option.
        refused::<Holder>(&Postcard, &with(&[7, 1]));
        // Through each kind of enum variant.
        refused::<Carrier>(&Postcard, &with(&[1]));
        refused::<Carrier>(&Postcard, &with(&[2, 7]));
        refused::<Carrier>(&Postcard, &with(&[3, 7]));
        // Through a tuple, an array and a newtype.
        refused::<(u8, Vec<()>)>(&Postcard, &with(&[7]));
        refused::<[Vec<()>; 2]>(&Postcard, &with(&[0]));
        refused::<Box<Vec<Vec<()>>>>(&Postcard, &with(&[1]));
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_huge_counts_are_refused() {
        let len = |n: u64| bincode::serde::encode_to_vec(n, Bincode::config()).unwrap();
        refused::<Vec<()>>(&Bincode, &len(u64::MAX));
        refused::<HashMap<String, ()>>(&Bincode, &len(u64::MAX));
        refused::<HashMap<(), ()>>(&Bincode, &len(u64::MAX));
        refused::<Vec<Vec<()>>>(&Bincode, &len(u64::MAX));
        refused::<Vec<Vec<()>>>(&Bincode, &[len(3), len(u64::MAX)].concat());
        let n = 100_000;
        let mut bytes = len(n);
        for _ in 0..n {
            bytes.extend(len(n));
        }
        refused::<Vec<Vec<()>>>(&Bincode, &bytes);
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_elements_are_counted_one_by_one() {
        // serde_json says nothing of a sequence's length: its elements are counted as they come.
        let nulls = format!("[{}null]", "null,".repeat(99));
        for budget in [0, 1, 99] {
            let budget = Budget::new(budget);
            let mut de = serde_json::Deserializer::from_str(&nulls);
            let result = <Vec<()>>::deserialize(Bounded::new(&mut de, &budget));
            assert!(result.is_err());
            assert!(budget.overrun().is_some());
        }
        let budget = Budget::new(100);
        let mut de = serde_json::Deserializer::from_str(&nulls);
        assert_eq!(<Vec<()>>::deserialize(Bounded::new(&mut de, &budget)).unwrap().len(), 100);
        // Maps, nested arrays and self-describing values draw on the same budget.
        let nested = r#"{"a": [[null, null], [null]], "b": {"c": [1, 2, 3]}}"#;
        // 2 entries, 2 + 2 + 1 elements, 1 entry, 3 elements.
        for budget in 0..11 {
            let budget = Budget::new(budget);
            let mut de = serde_json::Deserializer::from_str(nested);
            assert!(serde_json::Value::deserialize(Bounded::new(&mut de, &budget)).is_err());
        }
        let budget = Budget::new(11);
        let mut de = serde_json::Deserializer::from_str(nested);
        assert!(serde_json::Value::deserialize(Bounded::new(&mut de, &budget)).is_ok());
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_huge_array_of_nulls_is_bounded() {
        // Every JSON element takes bytes, so the bound never refuses a real array...
        let nulls = format!("[{}null]", "null,".repeat(999_999));
        assert_eq!(decode::<Vec<()>>(&Json, nulls.as_bytes()).unwrap().len(), 1_000_000);
        let nested = format!("[{}[]]", "[null,null],".repeat(99_999));
        assert_eq!(decode::<Vec<Vec<()>>>(&Json, nested.as_bytes()).unwrap().len(), 100_000);
        assert!(decode::<serde_json::Value>(&Json, nulls.as_bytes()).is_ok());
        // ...and a truncated one is an error, not a wait.
        assert!(decode::<Vec<()>>(&Json, &nulls.as_bytes()[..nulls.len() - 1]).is_err());
    }

    #[test]
    fn more_units_than_bytes_do_not_read_back() {
        // The price of the bound: a sequence of zero-sized values longer than the payload.
        let bytes = encode(&Postcard, &vec![(); 1000]);
        assert_eq!(bytes.len(), 2);
        refused::<Vec<()>>(&Postcard, &bytes);
        // Within the payload's length they do.
        let value = (vec![(); 3], "some bytes".to_owned());
        let bytes = encode(&Postcard, &value);
        assert_eq!(decode::<(Vec<()>, String)>(&Postcard, &bytes).unwrap(), value);
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Marker;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Item {
        id: u64,
        name: String,
        tags: Vec<String>,
        score: f64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Newtype(u32),
        Tuple(i8, String),
        Struct { next: Option<Box<Shape>>, bytes: Vec<u8> },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Deep {
        inner: Deeper,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Deeper {
        inner: Deepest,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Deepest {
        x: u8,
        marker: Marker,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Everything {
        item: Item,
        nested: Vec<Vec<u32>>,
        empty_nested: Vec<Vec<u32>>,
        by_name: BTreeMap<String, Vec<Item>>,
        by_id: HashMap<u32, Option<String>>,
        shapes: Vec<Shape>,
        some: Option<Item>,
        none: Option<u8>,
        tuple: (u8, i64, char, bool),
        array: [u16; 8],
        big: (i128, u128),
        unit: (),
        marker: Marker,
        unit_array: [(); 16],
        markers: Vec<Marker>,
        deep: Vec<Deep>,
        text: String,
    }

    fn everything() -> Everything {
        let item = |id: u64| Item { id, name: format!("item {id}"), tags: vec!["a".into(), "é".into()], score: 1.5 };
        Everything {
            item: item(1),
            nested: vec![vec![], vec![1], vec![2, 3, u32::MAX]],
            empty_nested: vec![vec![]; 100],
            by_name: (0..20).map(|i| (format!("k{i}"), (0..i).map(item).collect())).collect(),
            by_id: (0..50).map(|i| (i, (i % 2 == 0).then(|| i.to_string()))).collect(),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, "t".into()),
                Shape::Struct { next: Some(Box::new(Shape::Struct { next: None, bytes: vec![] })), bytes: vec![1, 2] },
                Shape::Unit,
            ],
            some: Some(item(2)),
            none: None,
            tuple: (255, i64::MIN, 'ß', true),
            array: [0, 1, 2, 3, 4, 5, 6, u16::MAX],
            big: (i128::MIN, u128::MAX),
            unit: (),
            marker: Marker,
            unit_array: [(); 16],
            markers: vec![Marker; 5],
            deep: vec![Deep { inner: Deeper { inner: Deepest { x: 9, marker: Marker } } }; 1000],
            text: "a string, with \"quotes\" and ünïcode".repeat(10),
        }
    }

    #[track_caller]
    fn round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
        for codec in codecs() {
            let bytes = encode(codec.as_ref(), value);
            match decode::<T>(codec.as_ref(), &bytes) {
                Ok(back) => {
                    assert!(back == *value, "{}: {} changed on the way", codec.name(), std::any::type_name::<T>())
                }
                Err(error) => panic!("{}: {}: {error}", codec.name(), std::any::type_name::<T>()),
            }
        }
    }

    #[test]
    fn values_of_every_shape_round_trip_through_every_codec() {
        round_trips(&everything());
        round_trips(&vec![everything(); 3]);
        round_trips(&Some(everything()));
        round_trips(&Shape::Struct { next: Some(Box::new(Shape::Newtype(1))), bytes: vec![0; 300] });
        round_trips(&Marker);
        round_trips(&());
        round_trips(&String::new());
        round_trips(&Vec::<u8>::new());
        round_trips(&vec![()]);
        round_trips(&BTreeMap::from([(1u8, ())]));
        round_trips(&vec![vec![vec![1u8]; 10]; 10]);
        round_trips(&HashMap::from([("a".to_owned(), vec![Shape::Unit; 3]), ("b".to_owned(), vec![])]));
    }

    #[test]
    fn a_megabyte_of_bytes_round_trips_through_every_codec() {
        let bytes: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        round_trips(&bytes);
    }
}
