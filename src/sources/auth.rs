//! OpenCode's `auth.json`: which providers have credentials stored by `/connect`.
//!
//! Only each entry's `type` is read; keys and tokens are skipped by the parser and
//! never held in memory.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::redact;

/// The kind of credential stored for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `{"type":"api","key":...}`: an API key.
    Api,
    /// `{"type":"oauth",...}`: an OAuth login, handled by an OpenCode auth plugin.
    OAuth,
    /// `{"type":"wellknown",...}`: a well-known auth endpoint.
    WellKnown,
    /// A type this version of orch does not know.
    Other,
}

/// Credentials by provider id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The kind of credential per provider id.
    pub entries: BTreeMap<String, CredentialKind>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default, rename = "type")]
    kind: Option<String>,
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

    /// Parses the contents of `auth.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let raw: BTreeMap<String, Entry> = serde_json::from_slice(bytes)
            .map_err(|e| format!("invalid JSON: {}", redact(&e.to_string())))?;
        let entries = raw
            .into_iter()
            .map(|(id, e)| {
                let kind = match e.kind.as_deref() {
                    Some("api") => CredentialKind::Api,
                    Some("oauth") => CredentialKind::OAuth,
                    Some("wellknown") => CredentialKind::WellKnown,
                    _ => CredentialKind::Other,
                };
                (id, kind)
            })
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
    fn missing_is_empty_and_broken_is_a_warning_naming_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("auth.json");
        assert_eq!(Credentials::load(&path), (Credentials::default(), None));
        std::fs::write(&path, r#"{"openai": "sk-test-123"#).unwrap_or_else(|e| panic!("{e}"));
        let (c, warning) = Credentials::load(&path);
        assert!(c.entries.is_empty());
        let warning = warning.unwrap_or_default();
        assert!(
            warning.contains("auth.json") && !warning.contains("sk-test-123"),
            "{warning}"
        );
        // A directory where the file should be: unreadable.
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("{e}"));
        let (_, warning) = Credentials::load(&path);
        assert!(warning.unwrap_or_default().contains("cannot read"));
    }
}
