//! OpenCode's `auth.json`: which providers have credentials stored by `/connect`.
//!
//! Only each entry's `type` and the shape of its fields are read; keys and tokens are
//! skipped by the parser and never held in memory. Entries OpenCode's schema rejects
//! count as no credential, as in OpenCode; one bad entry does not hide the others.

use std::collections::BTreeMap;
use std::path::Path;

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Redacted;
use crate::fsutil::strip_bom;

/// Why `auth.json` could not be parsed (values it holds are not shown).
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON: {0}")]
pub struct AuthFileError(#[source] pub Redacted<serde_json::Error>);

/// The kind of credential stored for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `{"type":"api","key":...}`: an API key.
    Api,
    /// `{"type":"oauth",...}`: an OAuth login, handled by an OpenCode auth plugin.
    OAuth,
    /// `{"type":"wellknown",...}`: a well-known auth endpoint.
    WellKnown,
    /// A type this version of orch does not know, or an entry OpenCode's schema rejects
    /// (an `api` entry without a string `key`, ...): OpenCode ignores it, so does orch.
    Other,
}

/// Credentials by provider id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The kind of credential per provider id.
    pub entries: BTreeMap<String, CredentialKind>,
}

/// One entry of `auth.json`, judged the way OpenCode's schema judges it: `api` needs a
/// string `key`; `oauth` string `refresh` and `access` and a numeric `expires`; `wellknown`
/// string `key` and `token`. Anything else is dropped by OpenCode, and is [`CredentialKind::Other`]
/// here. Only the shape of each value is looked at: no value is copied.
struct Entry(CredentialKind);

/// The shape of one JSON value; a string is remembered only when it is a credential type name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    TypeApi,
    TypeOAuth,
    TypeWellKnown,
    Str,
    Num,
    Other,
}

impl Shape {
    fn is_str(self) -> bool {
        matches!(
            self,
            Self::TypeApi | Self::TypeOAuth | Self::TypeWellKnown | Self::Str
        )
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Shape, E> {
        Ok(match s {
            "api" => Shape::TypeApi,
            "oauth" => Shape::TypeOAuth,
            "wellknown" => Shape::TypeWellKnown,
            _ => Shape::Str,
        })
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Num)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Num)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Num)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Shape::Other)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a credential object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut fields: BTreeMap<String, Shape> = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let shape: Shape = map.next_value()?;
            fields.insert(name, shape);
        }
        let field = |name: &str| fields.get(name).copied().unwrap_or(Shape::Other);
        let string = |name: &str| field(name).is_str();
        let kind = match field("type") {
            Shape::TypeApi if string("key") => CredentialKind::Api,
            Shape::TypeOAuth
                if string("refresh") && string("access") && field("expires") == Shape::Num =>
            {
                CredentialKind::OAuth
            }
            Shape::TypeWellKnown if string("key") && string("token") => CredentialKind::WellKnown,
            _ => CredentialKind::Other,
        };
        Ok(Entry(kind))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Entry, A::Error> {
        ShapeVisitor
            .visit_seq(seq)
            .map(|_| Entry(CredentialKind::Other))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Entry, E> {
        Ok(Entry(CredentialKind::Other))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Entry, E> {
        Ok(Entry(CredentialKind::Other))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Entry, E> {
        Ok(Entry(CredentialKind::Other))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Entry, E> {
        Ok(Entry(CredentialKind::Other))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Entry, E> {
        Ok(Entry(CredentialKind::Other))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Entry, E> {
        Ok(Entry(CredentialKind::Other))
    }
}

impl Credentials {
    /// Reads `auth.json`. A missing file means no credentials. A file that cannot be
    /// read or parsed also yields none (OpenCode ignores it too), with a warning that
    /// names the file.
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => {
                return (
                    Self::default(),
                    Some(format!("ignoring {}: cannot read it: {e}", path.display())),
                );
            }
        };
        match Self::parse(&text) {
            Ok(c) => (c, None),
            Err(message) => (
                Self::default(),
                Some(format!("ignoring {}: {message}", path.display())),
            ),
        }
    }

    /// Parses the contents of `auth.json` (a leading byte order mark is skipped).
    pub fn parse(bytes: &[u8]) -> Result<Self, AuthFileError> {
        let raw: BTreeMap<String, Entry> =
            serde_json::from_slice(strip_bom(bytes)).map_err(|e| AuthFileError(Redacted(e)))?;
        let entries = raw
            .into_iter()
            .map(|(id, Entry(kind))| (id, kind))
            .collect();
        Ok(Self { entries })
    }

    /// The credential kind stored for a provider.
    pub fn get(&self, provider: &str) -> Option<CredentialKind> {
        self.entries.get(provider).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_skipped_like_opencode_does() {
        let c =
            Credentials::parse("\u{feff}{\"openai\":{\"type\":\"api\",\"key\":\"k\"}}".as_bytes())
                .expect("a marked auth.json parses");
        assert_eq!(c.get("openai"), Some(CredentialKind::Api));
    }

    #[test]
    fn reads_types_and_never_keys() {
        let c = Credentials::parse(
            br#"{"openai":{"type":"api","key":"sk-test-123"},"anthropic":{"type":"oauth","refresh":"r","access":"a","expires":1},"x":{}}"#,
        )
        .unwrap_or_default();
        assert_eq!(c.get("openai"), Some(CredentialKind::Api));
        assert_eq!(c.get("anthropic"), Some(CredentialKind::OAuth));
        assert_eq!(c.get("x"), Some(CredentialKind::Other));
        assert!(!format!("{c:?}").contains("sk-test-123"));
    }

    #[test]
    fn entries_are_judged_one_by_one_like_opencode_does() {
        use CredentialKind::*;
        let cases: &[(&str, CredentialKind)] = &[
            (r#"{"type":"api","key":"sk-test-123"}"#, Api),
            (
                r#"{"type":"api","key":"sk-test-123","baseURL":"http://x"}"#,
                Api,
            ),
            (r#"{"type":"api"}"#, Other),
            (r#"{"type":"api","key":null}"#, Other),
            (r#"{"type":"api","key":["sk-test-123"]}"#, Other),
            (
                r#"{"type":"oauth","refresh":"r","access":"a","expires":1.5}"#,
                OAuth,
            ),
            (r#"{"type":"oauth","refresh":"r","access":"a"}"#, Other),
            (
                r#"{"type":"oauth","refresh":"r","access":"a","expires":"1"}"#,
                Other,
            ),
            (r#"{"type":"wellknown","key":"k","token":"t"}"#, WellKnown),
            (r#"{"type":"wellknown","key":"k"}"#, Other),
            (r#"{"type":"API","key":"k"}"#, Other),
            (r#"{"key":"k"}"#, Other),
            (r#""sk-test-123""#, Other),
            (r#"["sk-test-123", {"a": [1, {"b": 2}]}]"#, Other),
            ("null", Other),
            ("12", Other),
            ("true", Other),
        ];
        for (entry, want) in cases {
            let json = format!(r#"{{"p": {entry}, "openai": {{"type":"api","key":"k"}}}}"#);
            let c = Credentials::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert_eq!(c.get("p"), Some(*want), "{entry}");
            assert_eq!(
                c.get("openai"),
                Some(Api),
                "{entry}: a bad entry hides no other"
            );
            assert!(!format!("{c:?}").contains("sk-test-123"));
        }
        for bad in [
            "",
            "[]",
            "\"sk-test-123\"",
            "{\"a\": ",
            "{\"a\":{\"type\":\"api\",\"key\":\"sk-test-123\"},}",
        ] {
            let err = Credentials::parse(bad.as_bytes())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("invalid JSON") && !err.contains("sk-test-123"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_is_empty_and_broken_is_a_warning_naming_the_file() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let path = dir.path().join("auth.json");
        assert_eq!(Credentials::load(&path), (Credentials::default(), None));
        std::fs::write(&path, r#"{"openai": "sk-test-123"#).expect("the file is written");
        let (c, warning) = Credentials::load(&path);
        assert!(c.entries.is_empty());
        let warning = warning.unwrap_or_default();
        assert!(
            warning.contains("auth.json") && !warning.contains("sk-test-123"),
            "{warning}"
        );
        // A directory where the file should be: unreadable.
        std::fs::remove_file(&path).expect("the file is removed");
        std::fs::create_dir(&path).expect("the directory is created");
        let (_, warning) = Credentials::load(&path);
        assert!(warning.unwrap_or_default().contains("cannot read"));
    }
}
