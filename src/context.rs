//! The context a client works in: its project directory and the environment that decides
//! providers. Every orch client sends it in the MCP `initialize` request
//! (`capabilities.experimental["orch/context"]`), and the backend refuses a client whose
//! context is not its own, so no answer ever silently comes from another project or
//! environment, even through `--socket` or `ORCH_SOCKET`.
//!
//! Only names and short digests travel, never a value: `vars` maps each variable of
//! [`Environment::context_vars`] to a digest of its value, enough to name the variables
//! that differ. A client that sends no context (the Python SDK, MCP Inspector, any generic
//! MCP client of this user) is accepted: it runs as the same user, and orch cannot know its
//! context. A worker's OpenCode runs `orch mcp` in an environment orch changed
//! (`OPENCODE_CONFIG_CONTENT`, its server password): the manager gives it the backend's
//! socket and key ([`WORKER_OF_VAR`]), and the backend accepts its own workers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::paths::{Environment, Paths};

/// The key of the context in the client's `capabilities.experimental`.
pub const CAPABILITY: &str = "orch/context";

/// Set by the manager on a worker's OpenCode: the key of the backend that runs it, which
/// the worker's clients send so that the backend accepts them in its changed environment.
pub const WORKER_OF_VAR: &str = "ORCH_WORKER_OF";

/// A client's project and environment, by name and digest only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The project directory.
    pub project: String,
    /// Its key ([`crate::paths::project_key`]).
    pub project_key: String,
    /// The environment's key ([`Environment::context_fingerprint`]).
    pub env_key: String,
    /// Each variable that decides providers, with a short digest of its value.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Inside a worker: the key of the backend that runs it ([`WORKER_OF_VAR`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_of: Option<String>,
}

/// Why a backend refuses a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Another project directory.
    #[error(
        "this orch backend serves the project {ours}, not {theirs}; run the command in {theirs} without --socket/ORCH_SOCKET (each project has its own backend)"
    )]
    Project {
        /// The backend's project.
        ours: String,
        /// The client's.
        theirs: String,
    },
    /// The same project in another environment.
    #[error(
        "this orch backend for {project} runs in another environment: {} differ from the client's; run the command without --socket/ORCH_SOCKET (each environment has its own backend) or restart the backend from this shell", .names.join(", ")
    )]
    Environment {
        /// The project.
        project: String,
        /// The variables that differ (set on one side only, or with other values).
        names: Vec<String>,
    },
}

/// A short digest of one variable: its name and value, so equal values in different
/// variables do not look alike.
fn digest(name: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"orch-context\0");
    h.update(name.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    h.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Context {
    /// The context of a process with these paths and this environment.
    pub fn of(paths: &Paths, env: &Environment) -> Self {
        Self {
            project: paths.project_dir.display().to_string(),
            project_key: paths.project_key.clone(),
            env_key: paths.env_key.clone(),
            vars: env
                .context_vars()
                .map(|(k, v)| (k.to_owned(), digest(k, v)))
                .collect(),
            worker_of: env.get(WORKER_OF_VAR).map(str::to_owned),
        }
    }

    /// The backend key this context names ([`Paths::backend_key`]).
    pub fn backend_key(&self) -> String {
        format!("{}-{}", self.project_key, self.env_key)
    }

    /// Whether a backend in context `self` serves a client in `client`: the same project
    /// and environment, or one of its own workers.
    pub fn admits(&self, client: &Self) -> Result<(), Mismatch> {
        if client.worker_of.as_deref() == Some(self.backend_key().as_str()) {
            return Ok(());
        }
        if client.project_key != self.project_key {
            return Err(Mismatch::Project {
                ours: self.project.clone(),
                theirs: client.project.clone(),
            });
        }
        if client.env_key == self.env_key {
            return Ok(());
        }
        let mut names: Vec<String> = self
            .vars
            .iter()
            .filter(|(k, v)| client.vars.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .chain(
                client
                    .vars
                    .keys()
                    .filter(|k| !self.vars.contains_key(*k))
                    .cloned(),
            )
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            // Digests agree but keys do not: another orch version computes them.
            names.push("(the environment key; is the client another orch version?)".into());
        }
        Err(Mismatch::Environment {
            project: self.project.clone(),
            names,
        })
    }

    /// The context in a client's `initialize` capabilities: `None` when it sent none, an
    /// error when it sent one this backend cannot read.
    pub fn from_capabilities(
        experimental: Option<&BTreeMap<String, serde_json::Map<String, serde_json::Value>>>,
    ) -> Result<Option<Self>, String> {
        let Some(sent) = experimental.and_then(|e| e.get(CAPABILITY)) else {
            return Ok(None);
        };
        serde_json::from_value(serde_json::Value::Object(sent.clone()))
            .map(Some)
            .map_err(|e| format!("the client's {CAPABILITY} is not readable: {e}"))
    }

    /// As a JSON object, for `capabilities.experimental`.
    pub fn to_object(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(o)) => o,
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &str, pairs: &[(&str, &str)]) -> Context {
        let env = Environment::from_pairs(pairs.iter().copied());
        Context::of(&Paths::resolve(&env, dir), &env)
    }

    #[test]
    fn the_same_project_and_environment_is_admitted() {
        let a = ctx("/p/a", &[("HOME", "/h"), ("MISTRAL_API_KEY", "m-1")]);
        assert_eq!(a.admits(&a.clone()), Ok(()));
        // Session noise is not part of it.
        let b = ctx(
            "/p/a",
            &[("HOME", "/h"), ("MISTRAL_API_KEY", "m-1"), ("TERM", "x")],
        );
        assert_eq!(a.admits(&b), Ok(()));
    }

    #[test]
    fn another_project_is_refused_naming_both_directories() {
        let a = ctx("/p/a", &[("HOME", "/h")]);
        let b = ctx("/p/b", &[("HOME", "/h")]);
        let e = a.admits(&b).expect_err("another project");
        let text = e.to_string();
        assert!(text.contains("/p/a") && text.contains("/p/b"), "{text}");
    }

    #[test]
    fn another_environment_is_refused_naming_variables_never_values() {
        let a = ctx(
            "/p/a",
            &[
                ("HOME", "/h"),
                ("MISTRAL_API_KEY", "m-secret-1"),
                ("GROQ_API_KEY", "g-1"),
            ],
        );
        let b = ctx(
            "/p/a",
            &[
                ("HOME", "/h"),
                ("GROQ_API_KEY", "g-2"),
                ("OPENAI_API_KEY", "o-1"),
            ],
        );
        let e = a.admits(&b).expect_err("another environment");
        let Mismatch::Environment { names, .. } = &e else {
            panic!("an environment mismatch: {e}")
        };
        assert_eq!(
            names,
            &["GROQ_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY"]
        );
        let text = e.to_string();
        for value in ["m-secret-1", "g-1", "g-2", "o-1"] {
            assert!(!text.contains(value), "{text}");
        }
        // What travels holds no value either.
        let sent = serde_json::to_string(&b).expect("serialises");
        for value in ["g-2", "o-1"] {
            assert!(!sent.contains(value), "{sent}");
        }
    }

    #[test]
    fn a_worker_of_this_backend_is_admitted_in_its_changed_environment() {
        let backend = ctx("/p/a", &[("HOME", "/h")]);
        let key = backend.backend_key();
        let worker = ctx(
            "/p/a",
            &[
                ("HOME", "/h"),
                ("OPENCODE_CONFIG_CONTENT", "{}"),
                (WORKER_OF_VAR, key.as_str()),
            ],
        );
        assert_eq!(backend.admits(&worker), Ok(()));
        // A worker of another backend is judged like any client.
        let stranger = ctx(
            "/p/a",
            &[
                ("HOME", "/h"),
                ("OPENCODE_CONFIG_CONTENT", "{}"),
                (WORKER_OF_VAR, "other-key"),
            ],
        );
        assert!(backend.admits(&stranger).is_err());
    }

    #[test]
    fn capabilities_round_trip_and_absence_is_none() {
        let a = ctx("/p/a", &[("HOME", "/h")]);
        let mut caps = BTreeMap::new();
        caps.insert(CAPABILITY.to_owned(), a.to_object());
        assert_eq!(Context::from_capabilities(Some(&caps)), Ok(Some(a)));
        assert_eq!(Context::from_capabilities(None), Ok(None));
        let mut bad = BTreeMap::new();
        bad.insert(CAPABILITY.to_owned(), serde_json::Map::new());
        assert!(Context::from_capabilities(Some(&bad)).is_err());
    }
}
