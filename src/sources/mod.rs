//! Where providers come from, and which of them the user can really use.
//!
//! Two interchangeable sources produce the same [`ProviderSet`]: [`local::LocalSource`]
//! reads OpenCode's files, the environment and a catalog; [`live::LiveSource`] asks a
//! running OpenCode server.

pub mod auth;
pub mod config;
pub mod live;
pub mod local;
mod set;

pub use set::{Access, Origin, ProviderEntry, ProviderSet, SetOrigin};

use std::fmt;
use std::future::Future;
use std::path::PathBuf;

use crate::catalog::snapshot::SnapshotError;
use crate::opencode::OpenCodeError;

/// Something that yields the providers a user has, classified.
pub trait ProviderSource: Send + Sync {
    /// Loads and classifies every provider.
    fn load(&self) -> impl Future<Output = Result<ProviderSet, SourceError>> + Send;
}

/// Failures to load providers. Messages never carry a value read from a file,
/// so a key in a malformed file cannot leak through an error.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An OpenCode config file is malformed.
    #[error("invalid OpenCode config {}: {source}", path.display())]
    Config {
        /// The file (or `$OPENCODE_CONFIG_CONTENT`).
        path: PathBuf,
        /// What is wrong, with line and column where known.
        #[source]
        source: ConfigError,
    },
    /// A catalog could not be read.
    #[error("invalid model catalog {what}: {source}")]
    Catalog {
        /// Which catalog (a path, a URL, or the bundled snapshot).
        what: String,
        /// What is wrong.
        #[source]
        source: SnapshotError,
    },
    /// An OpenCode server could not be reached or answered badly.
    #[error("OpenCode server at {url}: {source}")]
    Server {
        /// The URL asked.
        url: String,
        /// What went wrong.
        #[source]
        source: OpenCodeError,
    },
}

/// Why the text of one OpenCode config file (or `orchestrator.json`) is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The bytes are not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    /// A `{file:path}` substitution names a file that cannot be read.
    #[error("cannot read {} named by {{file:{name}}}: {source}", path.display())]
    SubstitutedFile {
        /// The file, resolved against the config's directory.
        path: PathBuf,
        /// The path as written in the token.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSONC.
    #[error("invalid JSON: {0}")]
    Syntax(#[source] Redacted<jsonc_parser::errors::ParseError>),
    /// The top level is not an object.
    #[error("the top level must be a JSON object")]
    NotObject,
    /// A value has the wrong type or an unknown field.
    #[error("{0}")]
    Shape(#[source] Redacted<serde_json::Error>),
}

/// A parser's error whose message may echo the content it parsed (a key in a malformed
/// file): shown, and debug-printed, with quoted values removed by [`redact`]. The error
/// itself stays available to code through [`Redacted::get_ref`], never to a printer.
pub struct Redacted<E>(pub E);

impl<E> Redacted<E> {
    /// The parser's error, for code that wants its position or class.
    pub fn get_ref(&self) -> &E {
        &self.0
    }
}

impl<E: fmt::Display> fmt::Display for Redacted<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0.to_string()))
    }
}

impl<E: fmt::Display> fmt::Debug for Redacted<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redacted({self})")
    }
}

/// No `source()`: the wrapped error's own text is what must not be shown.
impl<E: fmt::Display> std::error::Error for Redacted<E> {}

/// Removes quoted values from a parser's message, which may echo file content.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_drops_quoted_values() {
        let m = super::redact(
            r#"invalid type: string "sk-test-123", expected a sequence at line 1 column 9"#,
        );
        assert_eq!(
            m,
            r#"invalid type: string "…", expected a sequence at line 1 column 9"#
        );
    }
}
