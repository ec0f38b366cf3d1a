//! The JSON shapes orch prints and serves: one place, documented here.
//!
//! Field names are `snake_case` everywhere in output (`resolved_model`, `model_ref`);
//! MCP tool *arguments* follow the MCP convention of `camelCase` (`workerId`) and are
//! defined with the tools. Every view is what `orch <cmd> --format json` prints and what
//! `task_list({view, format: "json"})` returns.

use serde::{Deserialize, Serialize};

use crate::resolve::{Policy, Resolution};

/// Which models to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Models of usable providers.
    #[default]
    #[serde(alias = "usable")]
    Configured,
    /// Every model in the catalog.
    All,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "configured" | "usable" => Ok(Self::Configured),
            "all" => Ok(Self::All),
            _ => Err("scope must be configured or all".into()),
        }
    }
}

/// A request for the models view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsQuery {
    /// Usable providers only, or everything.
    #[serde(default)]
    pub scope: Scope,
    /// Only these providers (any when empty).
    #[serde(default)]
    pub providers: Vec<String>,
    /// Only models matching this text (id or name), best match first.
    #[serde(default)]
    pub query: Option<String>,
    /// Only models with image input.
    #[serde(default)]
    pub vision_only: bool,
    /// At most this many rows.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One model in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRow {
    /// `provider/model`.
    pub model: String,
    /// Provider id.
    pub provider: String,
    /// Display name.
    pub name: String,
    /// Provider source (`config`, `api`, `env`, `custom`) or why it is unusable (`none`, `disabled`, `not-enabled`).
    pub source: String,
    /// Whether its provider is usable.
    pub usable: bool,
    /// Accepts images.
    pub image: bool,
    /// Calls tools.
    pub tool_call: bool,
    /// Has a reasoning mode.
    pub reasoning: bool,
    /// Accepts attachments.
    pub attachment: bool,
    /// Context window (tokens; 0 unknown).
    pub context: u64,
    /// Output limit (tokens; 0 unknown).
    pub output: u64,
    /// US dollars per million input tokens.
    pub cost_input: f64,
    /// US dollars per million output tokens.
    pub cost_output: f64,
    /// `active`, `beta`, `alpha` or `deprecated`.
    pub status: String,
    /// Release date, when known.
    pub release_date: String,
    /// Whether it is its provider's default model.
    pub default: bool,
}

/// The models view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsView {
    /// `local` or `live`.
    pub source: String,
    /// The catalog used.
    pub catalog: String,
    /// The scope listed.
    pub scope: Scope,
    /// Usable provider ids.
    pub usable_providers: Vec<String>,
    /// Rows that matched before the limit.
    pub total: usize,
    /// The rows.
    pub models: Vec<ModelRow>,
    /// Problems worth knowing (an unreadable `auth.json`, ...).
    pub warnings: Vec<String>,
}

/// A request to resolve a reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveQuery {
    /// The reference.
    pub reference: String,
    /// Resolve for this worker (its vision need applies).
    #[serde(default)]
    pub worker: Option<String>,
    /// The policy to record.
    #[serde(default)]
    pub policy: Policy,
}

/// The resolve view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveView {
    /// The worker it was resolved for.
    pub worker: Option<String>,
    /// The resolution with its reason and ranked candidates.
    pub resolution: Resolution,
}

/// One profile in the profiles view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRow {
    /// Worker id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub purpose: String,
    /// When to use it.
    pub when_to_use: String,
    /// Its configured model reference (a chain is joined by ` > `).
    pub model_ref: String,
    /// What that reference resolves to now.
    pub resolved_model: Option<String>,
    /// Why, or why it does not resolve.
    pub reason: String,
    /// `server` or `agent`.
    pub backend: String,
    /// Needs image input.
    pub vision: bool,
    /// May use the web.
    pub web: bool,
    /// Tools switched off or on.
    pub tools: std::collections::BTreeMap<String, bool>,
    /// `built-in` or the file that defined it.
    pub defined_in: String,
}

/// One user tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRow {
    /// Tag name.
    pub tag: String,
    /// Its ordered references.
    pub refs: Vec<String>,
}

/// The profiles view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesView {
    /// Profiles by id.
    pub profiles: Vec<ProfileRow>,
    /// User tags.
    pub tags: Vec<TagRow>,
    /// `orchestrator.json` files read.
    pub files: Vec<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// A Markdown table.
    Markdown,
    /// JSON (one of the views above).
    Json,
}
