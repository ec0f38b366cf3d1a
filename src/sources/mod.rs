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

use std::future::Future;
use std::path::PathBuf;

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
    #[error("invalid OpenCode config {}: {message}", path.display())]
    Config {
        /// The file (or `$OPENCODE_CONFIG_CONTENT`).
        path: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A catalog could not be read.
    #[error("invalid model catalog {what}: {message}")]
    Catalog {
        /// Which catalog (a path, a URL, or the bundled snapshot).
        what: String,
        /// What is wrong.
        message: String,
    },
    /// An OpenCode server could not be reached or answered badly.
    #[error("OpenCode server at {url}: {message}")]
    Server {
        /// The URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
}

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
