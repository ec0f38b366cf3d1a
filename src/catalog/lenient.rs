//! Forgiving field readers for catalogs written by other programs.
//!
//! Catalogs come from OpenCode, models.dev and users' caches: a `null` where a string
//! was expected, or `131072.0` for a token count, must not make the whole catalog
//! unreadable. A value of a really wrong type is still an error, with its position.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::model::Limits;

/// A display name, or the id when the catalog gave none (or an empty one).
pub fn name_or_id(name: String, id: &str) -> String {
    if name.is_empty() { id.to_owned() } else { name }
}

/// A string, or `null` as empty.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings, or `null` as empty.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A nested object, or `null` as its default (`"limit": null` must not reject a catalog).
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A boolean, or `null` as false.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or_default())
}

/// Any number, or `null` as 0. Non-finite values become 0.
pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = Option::<f64>::deserialize(d)?.unwrap_or_default();
    Ok(if v.is_finite() { v } else { 0.0 })
}

/// A non-negative count, written as an integer or a float, or `null` as 0.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = number(d)?;
    // Saturating float-to-int conversion is the intent: negative counts are nonsense.
    Ok(if v <= 0.0 { 0 } else { v as u64 })
}

/// A `limit` object as both OpenCode and models.dev write it (`context` and `output`
/// read as [`count`]s), or `null` as unknown.
pub fn limits<'de, D: Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct Raw {
        #[serde(deserialize_with = "count")]
        context: u64,
        #[serde(deserialize_with = "count")]
        output: u64,
    }
    let raw: Raw = object(d)?;
    Ok(Limits {
        context: raw.context,
        output: raw.output,
    })
}

/// Whether a value is present and not `null`; the value itself is skipped unread.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<bool, D2::Error> {
            IgnoredAny::deserialize(d)?;
            Ok(true)
        }
    }
    d.deserialize_option(V)
}

/// Something stored in a JSON object under its id, which may repeat the id inside.
pub trait Keyed {
    /// The id read from inside the value; empty when absent.
    fn id_mut(&mut self) -> &mut String;
}

/// An object of values keyed by id (or `null`), as a list; a value without an
/// `id` takes its key, a `null` value is skipped.
pub fn map_values<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Keyed,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Keyed> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object keyed by id")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(v) = seq.next_element::<Option<T>>()? {
                out.extend(v);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(key) = map.next_key::<String>()? {
                // `"id": null` is an absent entry, not a broken catalog.
                let Some(mut v) = map.next_value::<Option<T>>()? else {
                    continue;
                };
                let id = v.id_mut();
                if id.is_empty() {
                    *id = key;
                }
                out.push(v);
            }
            Ok(out)
        }
    }
    d.deserialize_option(V(PhantomData))
}
