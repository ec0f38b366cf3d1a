//! Model references → one model, with a reason. One resolver serves every code path.
//!
//! A reference is `provider/model` (explicit; the model id may contain `/`), a partial id
//! or display name (fuzzy, scored), a built-in tag (`node`, `node:fast`, `node:vision`,
//! `node:docs`, or the `auto:*` spellings), or a user tag / fallback chain from
//! `orchestrator.json`. See `docs/model-selection.md`.

mod error;
pub mod fit;
mod index;
pub mod matcher;
mod resolver;
mod similar;
pub mod tags;
#[cfg(test)]
mod tests;
mod types;

pub use error::{Ranked, ResolveError, UnfitModel, shown};
pub use index::strip_version;
pub use resolver::{Request, Resolver, TagPreview, validate};
pub use similar::by_similarity;
pub use types::{Candidate, Metadata, Policy, RefKind, Resolution, Skipped};
