//! One redactor at the boundary: every secret orch knows, removed from every string that
//! leaves the backend (task outputs and errors before they are stored, worker rows, views,
//! MCP replies, logs).
//!
//! A [`Redactor`] is a cheap handle to one shared set of secrets: clones see secrets added
//! later ([`Redactor::add`]), so the log writer set up before anything is loaded, the task
//! registry and the MCP server all redact with what is known now. Secrets are learnt from
//! the values of the catalog's `env` variables (and variables named like keys), the strings
//! of `auth.json` (API keys, OAuth access and refresh tokens, well-known tokens), the
//! config's `provider.*.options.apiKey`, header values and other key-like options after
//! `{env:}`/`{file:}` substitution, and the contents of substituted files. Worker
//! passwords are added at run time.
//!
//! Rules: exact substring replacement with a fixed marker, longest secret first; a secret
//! shorter than [`MIN_SECRET_LEN`] bytes is ignored (replacing it would garble ordinary
//! text, and so short a value is no real key); each secret is also removed in its
//! URL-encoded and JSON-escaped forms, and [`Redactor::add_basic_auth`] adds the base64
//! of `user:password` that a basic-auth header carries. A substituted file's content is
//! replaced by `{file:PATH}`, so a reason or an error names the file, not what it holds.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine;
use serde_json::Value;

use crate::error::Error;
use crate::paths::{Environment, Paths};
use crate::sources::ProviderSet;
use crate::sources::config::ConfigLocations;
use crate::wire::{TaskRow, WorkerRow};

/// What a secret is replaced with.
pub const MARKER: &str = "[REDACTED]";

/// Secrets shorter than this many bytes are not redacted.
pub const MIN_SECRET_LEN: usize = 8;

/// One value to remove and what replaces it.
#[derive(Clone, PartialEq, Eq)]
struct Secret {
    value: String,
    marker: String,
}

/// A shared, growing set of secrets; cloning shares it. `Debug` shows only how many.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<Secret>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.read().len())
            .finish()
    }
}

/// `s` percent-encoded the way URLs and form bodies carry it (unreserved bytes kept).
fn url_encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of `s` as a JSON string literal, without the quotes.
fn json_escaped(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor holding these secrets.
    pub fn from_secrets<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) -> Self {
        let r = Self::new();
        for s in secrets {
            r.add(s.as_ref());
        }
        r
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Secret>> {
        match self.secrets.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn insert(&self, value: &str, marker: &str) {
        let value = value.trim();
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let mut forms = vec![value.to_owned()];
        for form in [url_encoded(value), json_escaped(value)] {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
        let mut list = match self.secrets.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for form in forms {
            if list.iter().any(|s| s.value == form) {
                continue;
            }
            list.push(Secret {
                value: form,
                marker: marker.to_owned(),
            });
        }
        // Longest first, so a secret that contains another is removed whole.
        list.sort_by(|a, b| {
            b.value
                .len()
                .cmp(&a.value.len())
                .then(a.value.cmp(&b.value))
        });
    }

    /// Adds a secret (and its URL-encoded and JSON-escaped forms); one shorter than
    /// [`MIN_SECRET_LEN`] is ignored. Every clone of this redactor sees it.
    pub fn add(&self, secret: &str) {
        self.insert(secret, MARKER);
    }

    /// Adds a basic-auth password and the base64 of `user:password` a header carries.
    pub fn add_basic_auth(&self, user: &str, password: &str) {
        self.add(password);
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.add(&token);
    }

    /// How many strings it removes (every form counted).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether it knows no secret.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// `text` with every secret replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let list = self.read();
        let mut out = Cow::Borrowed(text);
        for s in list.iter() {
            if out.contains(s.value.as_str()) {
                out = Cow::Owned(out.replace(s.value.as_str(), &s.marker));
            }
        }
        out
    }

    /// Redacts `text` in place.
    pub fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }

    /// Redacts every string (and object key) of a JSON value in place.
    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.redact_in_place(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                let redacted_keys = map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_)));
                if redacted_keys {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.redact_value(&mut v);
                        map.insert(self.redact(&k).into_owned(), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.redact_value(v));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Redacts an error's message and suggestions.
    pub fn redact_error(&self, error: &mut Error) {
        self.redact_in_place(&mut error.message);
        error
            .suggestions
            .iter_mut()
            .for_each(|s| self.redact_in_place(s));
    }

    /// Redacts the free-text fields of a worker row (its error, its reason, its model).
    pub fn redact_worker(&self, row: &mut WorkerRow) {
        self.redact_in_place(&mut row.reason);
        self.redact_in_place(&mut row.model_ref);
        for s in [
            &mut row.error,
            &mut row.answered_by,
            &mut row.resolved_model,
        ]
        .into_iter()
        .flatten()
        {
            self.redact_in_place(s);
        }
    }

    /// Redacts the free-text fields of a task row: output, error, reason, models, its
    /// worker row.
    pub fn redact_task(&self, row: &mut TaskRow) {
        for s in [
            &mut row.output,
            &mut row.reason,
            &mut row.requested_ref,
            &mut row.resolved_model,
            &mut row.answered_by,
        ]
        .into_iter()
        .flatten()
        {
            self.redact_in_place(s);
        }
        if let Some(e) = row.error.as_mut() {
            self.redact_error(e);
        }
        if let Some(w) = row.worker_row.as_mut() {
            self.redact_worker(w);
        }
    }

    /// Learns every secret of the user's setup: key variables, `auth.json`, the OpenCode
    /// config after substitution, and the contents of substituted files (except a content
    /// that is just a model of `set`, such as a `model` kept in a file). Nothing fails:
    /// what cannot be read holds no secret orch could leak.
    pub fn learn(&self, paths: &Paths, env: &Environment, set: &ProviderSet) {
        self.learn_names(
            env,
            set.providers
                .iter()
                .flat_map(|p| p.provider.env.iter())
                .map(String::as_str),
        );
        self.learn_files(paths, env, |content| {
            content.split_once('/').is_some_and(|(p, m)| {
                set.providers
                    .iter()
                    .any(|e| e.provider.id == p && e.provider.model(m).is_some())
            })
        });
    }

    /// What a client can learn without the catalog (for its own log): variables named
    /// like credentials, `auth.json`, the config and substituted files.
    pub fn learn_client(&self, paths: &Paths, env: &Environment) {
        self.learn_names(env, std::iter::empty());
        self.learn_files(paths, env, |_| false);
    }

    fn learn_names<'a>(&self, env: &'a Environment, names: impl Iterator<Item = &'a str>) {
        for name in names.chain(env.vars().map(|(n, _)| n).filter(|n| key_like(n))) {
            if let Some(value) = env.get(name) {
                self.add(value);
            }
        }
    }

    fn learn_files(&self, paths: &Paths, env: &Environment, is_model: impl Fn(&str) -> bool) {
        self.learn_auth(&paths.auth_file());
        let locations = ConfigLocations {
            global_dir: paths.opencode_config_dir.clone(),
            project_dir: paths.project_dir.clone(),
        };
        if let Ok(merged) = locations.load_merged(env) {
            for file in merged.substituted {
                if !is_model(file.content.trim()) {
                    self.insert(&file.content, &format!("{{file:{}}}", file.name));
                }
            }
            // After the files, so a key read from a file is shown by the file's name.
            self.learn_config(&merged.value);
        }
    }

    /// Every string of every entry of `auth.json` except its `type`.
    fn learn_auth(&self, path: &Path) {
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        let Ok(Value::Object(entries)) = serde_json::from_slice::<Value>(&bytes) else {
            return;
        };
        for entry in entries.values() {
            self.learn_strings(entry, &["type"]);
        }
    }

    /// `provider.*.options`: `apiKey`, header values and any key-like option.
    fn learn_config(&self, config: &Value) {
        let Some(providers) = config.get("provider").and_then(Value::as_object) else {
            return;
        };
        for provider in providers.values() {
            let Some(options) = provider.get("options").and_then(Value::as_object) else {
                continue;
            };
            for (name, value) in options {
                if name == "headers" {
                    self.learn_strings(value, &[]);
                } else if key_like(name)
                    && let Some(s) = value.as_str()
                {
                    self.add(s);
                }
            }
        }
    }

    fn learn_strings(&self, value: &Value, skip: &[&str]) {
        match value {
            Value::String(s) => self.add(s),
            Value::Array(items) => items.iter().for_each(|v| self.learn_strings(v, &[])),
            Value::Object(map) => {
                for (k, v) in map {
                    if !skip.contains(&k.as_str()) {
                        self.learn_strings(v, &[]);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// A writer that redacts what it is given when dropped or flushed: a log subscriber makes
/// one per event (`with_writer(move || RedactingWriter::new(r.clone(), std::io::stderr()))`),
/// so each event is redacted whole, even when a secret spans two of its writes.
pub struct RedactingWriter<W: std::io::Write> {
    redactor: Redactor,
    inner: W,
    buf: Vec<u8>,
}

impl<W: std::io::Write> RedactingWriter<W> {
    /// Redacts into `inner`.
    pub fn new(redactor: Redactor, inner: W) -> Self {
        Self {
            redactor,
            inner,
            buf: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&self.buf);
            let clean = self.redactor.redact(&text).into_owned();
            self.buf.clear();
            self.inner.write_all(clean.as_bytes())?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Whether a variable or option name looks like it holds a credential.
fn key_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["key", "token", "secret", "password", "passwd", "credential"]
        .iter()
        .any(|w| n.contains(w))
        && !["_file", "_path", "_dir", "_home"]
            .iter()
            .any(|suffix| n.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence_longest_first() {
        let r = Redactor::from_secrets(["sk-abcdefgh", "sk-abcdefgh-longer"]);
        let out = r.redact("a sk-abcdefgh-longer b sk-abcdefgh c");
        assert_eq!(out, "a [REDACTED] b [REDACTED] c");
    }

    #[test]
    fn short_secrets_are_ignored() {
        let r = Redactor::from_secrets(["short", "1234567"]);
        assert!(r.is_empty());
        assert_eq!(r.redact("short 1234567"), "short 1234567");
    }

    #[test]
    fn clones_share_secrets_added_later() {
        let r = Redactor::new();
        let c = r.clone();
        r.add("pw-0123456789");
        assert_eq!(c.redact("x pw-0123456789"), "x [REDACTED]");
    }

    #[test]
    fn url_encoded_json_escaped_and_basic_auth_forms() {
        let r = Redactor::new();
        r.add("k/ey+with\"quote");
        assert_eq!(r.redact("k%2Fey%2Bwith%22quote"), "[REDACTED]");
        assert_eq!(
            r.redact(r#"{"v":"k/ey+with\"quote"}"#),
            r#"{"v":"[REDACTED]"}"#
        );
        r.add_basic_auth("opencode", "hunter2-password");
        let header = base64::engine::general_purpose::STANDARD.encode("opencode:hunter2-password");
        assert_eq!(
            r.redact(&format!("Authorization: Basic {header}")),
            "Authorization: Basic [REDACTED]"
        );
    }

    #[test]
    fn json_values_are_redacted_everywhere() {
        let r = Redactor::from_secrets(["sk-secret-key-1"]);
        let mut v = serde_json::json!({"a": ["x sk-secret-key-1"], "sk-secret-key-1": {"b": "sk-secret-key-1"}, "n": 1});
        r.redact_value(&mut v);
        let text = v.to_string();
        assert!(!text.contains("sk-secret-key-1"), "{text}");
        assert_eq!(v["[REDACTED]"]["b"], "[REDACTED]");
    }

    #[test]
    fn debug_shows_no_secret() {
        let r = Redactor::from_secrets(["sk-secret-key-1"]);
        assert!(!format!("{r:?}").contains("sk-secret"));
    }

    #[test]
    fn the_writer_redacts_a_secret_split_across_writes() {
        use std::io::Write;
        let r = Redactor::from_secrets(["sk-secret-key-1"]);
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(r, &mut out);
            w.write_all(b"error: sk-sec").expect("buffered");
            w.write_all(b"ret-key-1 rejected\n").expect("buffered");
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            "error: [REDACTED] rejected\n"
        );
    }

    #[test]
    fn learns_env_auth_config_and_substituted_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (paths, env) = crate::testutil::capture_home(dir.path());
        std::fs::write(
            paths.auth_file(),
            r#"{"openai":{"type":"api","key":"sk-test-123"},
                "anthropic":{"type":"oauth","refresh":"rt-refresh-000111","access":"at-access-000222","expires":1},
                "wk":{"type":"wellknown","key":"wk-key-00000333","token":"wk-token-0000444"}}"#,
        )
        .expect("auth.json");
        crate::testutil::write_dot_opencode(
            &paths.project_dir,
            &[
                ("key.txt", "file-key-abcdef123\n"),
                ("small.txt", "openai/gpt-5-mini\n"),
            ],
            r#"{"small_model": "{file:../small.txt}",
                "provider": {"openai": {"options": {
                    "apiKey": "{file:../key.txt}",
                    "headers": {"X-Custom-Auth": "hdr-secret-value-1"},
                    "baseURL": "https://api.example.invalid/v1"}}}}"#,
        );
        let set = crate::sources::local::LocalSource::new(paths.clone(), env.clone())
            .load_now()
            .expect("the setup loads");
        let r = Redactor::new();
        r.learn(&paths, &env, &set);
        for secret in [
            "gsk-test-env",
            "sk-test-123",
            "rt-refresh-000111",
            "at-access-000222",
            "wk-key-00000333",
            "wk-token-0000444",
            "hdr-secret-value-1",
        ] {
            assert_eq!(r.redact(&format!("<{secret}>")), "<[REDACTED]>", "{secret}");
        }
        // A substituted file is shown by its name; a file that holds a model is no secret.
        assert_eq!(
            r.redact("model file-key-abcdef123 is unknown"),
            "model {file:../key.txt} is unknown"
        );
        assert_eq!(r.redact("openai/gpt-5-mini"), "openai/gpt-5-mini");
        assert_eq!(
            r.redact("https://api.example.invalid/v1"),
            "https://api.example.invalid/v1"
        );
    }

    #[test]
    fn key_like_names() {
        for n in [
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "apiKey",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(key_like(n), "{n}");
        }
        for n in [
            "HOME",
            "PATH",
            "baseURL",
            "GOOGLE_APPLICATION_CREDENTIALS_FILE",
        ] {
            assert!(!key_like(n), "{n}");
        }
    }
}
