//! Worker profiles (built-in and from `orchestrator.json`) and user-defined model tags.

mod config;

pub use config::{
    MAX_REF_LEN, OrchestratorConfig, ProfileError, ProfilePatch, ServerPatch, load_orchestrator,
    valid_worker_id,
};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The built-in profiles, as data.
const BUILTIN: &str = include_str!("../../assets/profiles.json");

/// A model reference or an ordered fallback chain of references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelSpec {
    /// One reference: `provider/model`, a fuzzy id, or a tag.
    One(String),
    /// Tried in order; the first that resolves wins.
    Chain(Vec<String>),
}

impl ModelSpec {
    /// The references in order.
    pub fn refs(&self) -> &[String] {
        match self {
            Self::One(r) => std::slice::from_ref(r),
            Self::Chain(v) => v,
        }
    }

    /// How a user would write it: the ref, or the chain joined by ` > `.
    pub fn display(&self) -> String {
        self.refs().join(" > ")
    }

    /// A reference or a chain as typed: entries separated by `,` or ` > `
    /// (`"anthropic/claude-sonnet-5, node"`), blanks dropped; one entry is [`ModelSpec::One`].
    pub fn parse(text: &str) -> Self {
        let mut refs: Vec<String> = text
            .split([',', '>'])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        match refs.len() {
            0 => Self::One(String::new()),
            1 => Self::One(refs.remove(0)),
            _ => Self::Chain(refs),
        }
    }
}

/// Whether a task falls back at run time along a tag's ranked candidates
/// (`docs/model-selection.md`, "Run-time fallback").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// A failing model hands the task to the next entry of the chain, and a tag to its
    /// next ranked candidate (the default).
    #[default]
    Ranked,
    /// No run-time fallback: the task fails with its first model.
    None,
}

impl Fallback {
    /// Whether it is the default.
    pub fn is_ranked(&self) -> bool {
        *self == Self::Ranked
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ranked => "ranked",
            Self::None => "none",
        }
    }
}

/// Which OpenCode a worker runs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A session of the one OpenCode server orch shares between the workers of a backend
    /// (the default; see `docs/workers.md`, "Hosting modes"). A delegating profile still
    /// gets a dedicated server: it needs a process environment of its own.
    #[default]
    Shared,
    /// Its own `opencode serve` process (a dedicated server).
    Server,
    /// A session on an existing OpenCode server.
    Agent,
}

impl BackendKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Server => "server",
            Self::Agent => "agent",
        }
    }
}

/// Where a password comes from: never inline in `orchestrator.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PasswordSource {
    /// The value of this environment variable (of the backend's environment).
    Env(String),
    /// The contents of this file (without a trailing newline); it must not be readable by
    /// group or others.
    File(std::path::PathBuf),
}

/// An existing OpenCode server for agent-backend workers, with its basic-auth credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentServer {
    /// `http(s)://host:port`, without credentials.
    pub url: String,
    /// The basic-auth user name (`opencode` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Where the password comes from; no password when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSource>,
}

/// One kind of worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Worker id (`docs`).
    pub id: String,
    /// Display name (`Documentation Librarian`).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub purpose: String,
    /// When the orchestrator should hand it work.
    #[serde(default)]
    pub when_to_use: String,
    /// Its configured model: a tag by default.
    pub model: ModelSpec,
    /// Run-time fallback: `ranked` (default) or `none`.
    #[serde(default, skip_serializing_if = "Fallback::is_ranked")]
    pub fallback: Fallback,
    /// Server or agent backend.
    #[serde(default)]
    pub backend: BackendKind,
    /// The OpenCode agent to prompt (agent backend); OpenCode's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Needs image input: never gets a model without it.
    #[serde(default)]
    pub vision: bool,
    /// May use the web.
    #[serde(default)]
    pub web: bool,
    /// Tool switches passed to OpenCode (`{"write": false}`); absent tools keep OpenCode's default.
    #[serde(default)]
    pub tools: BTreeMap<String, bool>,
    /// Extra system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// May start tasks of its own through orch's MCP tools (off by default: a worker's
    /// OpenCode gets orch's `mcp` entry disabled).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delegate: bool,
    /// The OpenCode server an agent-backend worker attaches to (else `ORCH_AGENT_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<AgentServer>,
    /// Its budget (issue 12), from `orchestrator.json`; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::Budget>,
    /// Where the profile was defined (`built-in` or a file path).
    #[serde(default, skip_deserializing)]
    pub defined_in: String,
}

#[derive(Deserialize)]
struct BuiltinFile {
    profiles: Vec<Profile>,
}

/// The built-in profiles.
pub fn builtin_profiles() -> Vec<Profile> {
    // The asset is part of the binary and checked by a test; an error here is a build defect,
    // reported as an empty list rather than a crash.
    serde_json::from_str::<BuiltinFile>(BUILTIN)
        .map(|f| f.profiles)
        .unwrap_or_default()
        .into_iter()
        .map(|mut p| {
            p.defined_in = "built-in".into();
            p
        })
        .collect()
}

/// The profiles and tags in effect: built-ins overlaid by the user's files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profiles {
    /// Profiles sorted by id.
    pub list: Vec<Profile>,
    /// User-defined tags: name → ordered references.
    pub tags: BTreeMap<String, Vec<String>>,
    /// User tags that set `fallback` (the rest fall back along their entries).
    pub tag_fallback: BTreeMap<String, Fallback>,
    /// Files read, in merge order.
    pub files: Vec<std::path::PathBuf>,
    /// The project's budget (top-level `"budget"` of `orchestrator.json`), when set.
    pub budget: Option<crate::budget::Budget>,
}

impl Profiles {
    /// The built-in profiles alone.
    pub fn builtin() -> Self {
        let mut list = builtin_profiles();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Self {
            list,
            ..Self::default()
        }
    }

    /// The profile with this id.
    pub fn get(&self, id: &str) -> Option<&Profile> {
        self.list.iter().find(|p| p.id == id)
    }

    /// Profile ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        self.list.iter().map(|p| p.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_parse_from_commas_and_arrows() {
        assert_eq!(ModelSpec::parse(" node "), ModelSpec::One("node".into()));
        assert_eq!(
            ModelSpec::parse("a/b, node > groq/c,"),
            ModelSpec::Chain(vec!["a/b".into(), "node".into(), "groq/c".into()])
        );
        assert_eq!(ModelSpec::parse(" , "), ModelSpec::One(String::new()));
    }

    #[test]
    fn builtins_use_tags() {
        let p = Profiles::builtin();
        let model = |id: &str| p.get(id).map(|p| p.model.display()).unwrap_or_default();
        assert_eq!(model("vision"), "node:vision");
        assert_eq!(model("docs"), "node:docs");
        assert_eq!(model("explorer"), "node:fast");
        for id in ["coder", "architect", "memory"] {
            assert_eq!(model(id), "node", "{id}");
        }
        assert_eq!(p.list.len(), 6);
        assert!(p.get("vision").is_some_and(|v| v.vision));
        assert!(
            p.list
                .iter()
                .all(|p| !p.purpose.is_empty() && !p.when_to_use.is_empty())
        );
        assert!(p.list.iter().all(|p| p.defined_in == "built-in"));
    }
}
