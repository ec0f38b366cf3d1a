//! The error every client sees: a kind, a readable message, and suggestions.
//!
//! Area errors (`ResolveError`, `SourceError`, `ProfileError`, ...) convert into it; it is
//! serializable so that it crosses the MCP socket unchanged.

use serde::{Deserialize, Serialize};

use crate::profiles::ProfileError;
use crate::resolve::ResolveError;
use crate::sources::SourceError;

/// What kind of failure, for exit codes and for callers that branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input was wrong (a reference, an argument).
    InvalidInput,
    /// A worker, model, task or provider does not exist.
    NotFound,
    /// Several things match; the caller must choose.
    Ambiguous,
    /// A file or configuration is broken.
    Config,
    /// OpenCode or the backend could not be reached or failed.
    Unavailable,
    /// Anything else that failed.
    Failed,
    /// A budget in `orchestrator.json` is spent: the task was refused (issue 12).
    Budget,
}

/// An error with what it takes to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// The kind.
    pub kind: ErrorKind,
    /// What went wrong and how to fix it.
    pub message: String,
    /// References or ids the user may have meant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    /// How many more candidates match than `suggestions` lists (0: none, or not counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: usize,
    /// For a task whose every candidate model failed: each attempt (the task registry moves
    /// them onto the task's row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<crate::wire::Attempt>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Error {
    /// An error of a kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            suggestions: Vec::new(),
            more: 0,
            attempts: Vec::new(),
        }
    }

    /// With suggestions.
    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }
}

impl From<ResolveError> for Error {
    fn from(e: ResolveError) -> Self {
        let suggestions = e.suggestions().to_vec();
        let mut error = Self::new(e.kind(), e.to_string()).with_suggestions(suggestions);
        error.more = e.more();
        error
    }
}

impl From<SourceError> for Error {
    fn from(e: SourceError) -> Self {
        let kind = match e {
            SourceError::Server { .. } => ErrorKind::Unavailable,
            SourceError::Read { .. } | SourceError::Config { .. } | SourceError::Catalog { .. } => {
                ErrorKind::Config
            }
        };
        Self::new(kind, e.to_string())
    }
}

impl From<ProfileError> for Error {
    fn from(e: ProfileError) -> Self {
        let kind = match e {
            ProfileError::Read { .. }
            | ProfileError::Parse { .. }
            | ProfileError::Invalid { .. } => ErrorKind::Config,
        };
        Self::new(kind, e.to_string())
    }
}
