//! What a resolution returns.

use serde::{Deserialize, Serialize};

use crate::catalog::{Capabilities, Cost};

/// How a model change applies to a worker.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Policy {
    /// The model rides on each message; a change applies to the next task without a respawn.
    #[default]
    Dynamic,
    /// The model becomes the worker's default until reset.
    Sticky,
}

impl Policy {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic",
            Self::Sticky => "sticky",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dynamic" => Ok(Self::Dynamic),
            "sticky" => Ok(Self::Sticky),
            _ => Err("policy must be dynamic or sticky".into()),
        }
    }
}

/// What kind of reference was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefKind {
    /// `provider/model`.
    Explicit,
    /// A partial id or display name.
    Fuzzy,
    /// A built-in tag (`node`, `node:fast`, ...).
    Tag,
    /// A tag from `orchestrator.json`.
    UserTag,
    /// A profile's fallback chain.
    Chain,
}

/// One model considered, with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// `provider/model`.
    pub model: String,
    /// Display name.
    pub name: String,
    /// Score; higher wins. Comparable only within one resolution.
    pub score: i64,
    /// Whether its provider is usable.
    pub usable: bool,
    /// What earned the score.
    pub notes: String,
}

/// A reference that was tried and passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The reference.
    pub reference: String,
    /// Why it did not win.
    pub why: String,
}

/// Everything known about a resolved model and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The kind of reference.
    pub kind: RefKind,
    /// Provider id.
    pub provider: String,
    /// Model id within the provider.
    pub model: String,
    /// Display name.
    pub name: String,
    /// The provider's source (`config`, `api`, `env`, `custom`) or why it is unusable (`none`, ...).
    pub provider_source: String,
    /// Whether the provider is usable.
    pub usable: bool,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Context window in tokens; 0 when unknown (`null` in JSON).
    #[serde(
        serialize_with = "crate::numbers::serialize_tokens",
        deserialize_with = "crate::numbers::deserialize_tokens"
    )]
    pub context: u64,
    /// Output limit in tokens; 0 when unknown (`null` in JSON).
    #[serde(
        serialize_with = "crate::numbers::serialize_tokens",
        deserialize_with = "crate::numbers::deserialize_tokens"
    )]
    pub output: u64,
    /// Price per million tokens.
    pub cost: Cost,
    /// Release status.
    pub status: String,
    /// How many models were considered.
    pub considered: usize,
    /// The best candidates, best first (at most ten).
    pub candidates: Vec<Candidate>,
    /// References passed over before this one won.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Fallback-chain entries (before or after the winner) that name a model or provider
    /// that does not exist, each with the "did you mean" of its error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Skipped>,
}

/// One model reference turned into one model, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// `provider/model`.
    pub resolved_model: String,
    /// The reference as given.
    pub model_ref: String,
    /// Why this model, in one sentence.
    pub reason: String,
    /// The policy the caller asked for.
    pub policy: Policy,
    /// Details.
    pub metadata: Metadata,
}

impl Resolution {
    /// Provider id and model id.
    pub fn provider_and_model(&self) -> (&str, &str) {
        (&self.metadata.provider, &self.metadata.model)
    }
}
