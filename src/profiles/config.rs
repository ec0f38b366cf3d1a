//! `orchestrator.json`: user profiles, overrides of built-in ones, and model tags.
//!
//! Read from `~/.config/opencode/orchestrator.json`, then every `.opencode/orchestrator.json`
//! from the worktree root down to the project directory; later files win field by field.
//! JSONC is accepted. Unknown keys are errors, so a typo is reported, not ignored.
//!
//! ```jsonc
//! {
//!   "profiles": {
//!     "docs": { "model": "node:fast" },                     // override a built-in
//!     "reviewer": { "name": "Reviewer", "model": ["anthropic/claude-sonnet-4-5", "node"] }
//!   },
//!   "tags": { "cheap": ["groq/llama-3.1-8b-instant", "node:fast"] }
//! }
//! ```
//!
//! An agent-backend profile may name its server and credentials; the password is named by
//! an environment variable or a file, never written inline (an inline one is refused):
//!
//! ```jsonc
//! "remote": { "backend": "agent",
//!             "server": { "url": "https://big.example:4096", "username": "opencode",
//!                         "passwordEnv": "BIG_OPENCODE_PASSWORD" } }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{AgentServer, BackendKind, Fallback, ModelSpec, PasswordSource, Profile, Profiles};
use crate::budget::Budget;
use crate::paths::{Environment, Paths};
use crate::sources::config::{parse_config_text, project_dirs};
use crate::sources::{ConfigError, Redacted};

/// Longest model reference accepted anywhere.
pub const MAX_REF_LEN: usize = 512;

/// Failures to read `orchestrator.json`.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 JSONC of the expected shape.
    #[error("invalid {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        #[source]
        source: ConfigError,
    },
    /// The file parses but says something invalid.
    #[error("invalid {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The shape of one `orchestrator.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrchestratorConfig {
    #[serde(default, rename = "$schema")]
    _schema: Option<String>,
    /// Profiles by id: new ones, or fields that override a built-in.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfilePatch>,
    /// Tags by name.
    #[serde(default)]
    pub tags: BTreeMap<String, TagEntry>,
    /// The project's budget (checked by [`crate::budget::Budget::from_value`]).
    #[serde(default)]
    pub budget: Option<serde_json::Value>,
}

/// A user tag: a reference or chain, or `{"models": ..., "fallback": "ranked" | "none"}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TagEntry {
    /// References alone.
    Models(ModelSpec),
    /// References with options.
    Full {
        /// The references.
        models: ModelSpec,
        /// Run-time fallback along its entries.
        #[serde(default)]
        fallback: Option<Fallback>,
    },
}

/// Fields of a profile in `orchestrator.json`; absent fields keep the built-in's value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfilePatch {
    name: Option<String>,
    purpose: Option<String>,
    when_to_use: Option<String>,
    model: Option<ModelSpec>,
    fallback: Option<Fallback>,
    backend: Option<BackendKind>,
    agent: Option<String>,
    vision: Option<bool>,
    web: Option<bool>,
    tools: Option<BTreeMap<String, bool>>,
    prompt: Option<String>,
    delegate: Option<bool>,
    server: Option<ServerPatch>,
    budget: Option<serde_json::Value>,
}

/// `server` of an agent-backend profile in `orchestrator.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerPatch {
    url: String,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    /// Accepted only to refuse it with a clear message; its value is never read or shown.
    #[serde(default, deserialize_with = "crate::catalog::lenient::present")]
    password: bool,
}

impl ServerPatch {
    /// The server, or why it is refused (never echoing a credential).
    fn check(self, what: &str) -> Result<AgentServer, String> {
        if self.password {
            return Err(format!(
                "{what}: an inline \"password\" is not accepted (orchestrator.json is not a secret store); name an environment variable with \"passwordEnv\" or a file with \"passwordFile\""
            ));
        }
        let url = url::Url::parse(self.url.trim()).map_err(|_| {
            format!("{what}: \"url\" must be an http:// or https:// URL such as https://host:4096")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "{what}: \"url\" must be an http:// or https:// URL such as https://host:4096"
            ));
        }
        if url.password().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{what}: \"url\" must not carry credentials; use \"username\" and \"passwordEnv\" or \"passwordFile\""
            ));
        }
        let password = match (self.password_env, self.password_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{what}: give either \"passwordEnv\" or \"passwordFile\", not both"
                ));
            }
            (Some(var), None) if var.trim().is_empty() => {
                return Err(format!("{what}: \"passwordEnv\" is empty"));
            }
            (Some(var), None) => Some(PasswordSource::Env(var.trim().to_owned())),
            (None, Some(path)) if !path.is_absolute() => {
                return Err(format!("{what}: \"passwordFile\" must be an absolute path"));
            }
            (None, Some(path)) => Some(PasswordSource::File(path)),
            (None, None) => None,
        };
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if password.is_some() && url.scheme() == "http" && !loopback {
            return Err(format!(
                "{what}: a password is sent to another machine only over https://; change \"url\" to https://{}",
                url.host_str().unwrap_or("host")
            ));
        }
        Ok(AgentServer {
            url: self.url.trim().to_owned(),
            username: self.username,
            password,
        })
    }
}

/// Built-in profiles overlaid with the user's `orchestrator.json` files.
pub fn load_orchestrator(paths: &Paths, env: &Environment) -> Result<Profiles, ProfileError> {
    let mut files = vec![paths.global_orchestrator_file()];
    files.extend(
        project_dirs(&paths.project_dir)
            .into_iter()
            .map(|d| d.join(".opencode").join("orchestrator.json")),
    );
    let mut profiles = Profiles::builtin();
    for path in files {
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| ProfileError::Parse {
                path: path.clone(),
                source: ConfigError::NotUtf8(e),
            })?,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
                ) =>
            {
                continue;
            }
            Err(e) => return Err(ProfileError::Read { path, source: e }),
        };
        let config = parse_file(&text, &path, env)?;
        apply(&mut profiles, config, &path)?;
        profiles.files.push(path);
    }
    Ok(profiles)
}

/// Parses one file's text.
pub fn parse_file(
    text: &str,
    path: &Path,
    env: &Environment,
) -> Result<OrchestratorConfig, ProfileError> {
    let invalid = |source: ConfigError| ProfileError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let value = parse_config_text(text, path.parent(), env).map_err(invalid)?;
    OrchestratorConfig::deserialize(&value).map_err(|e| invalid(ConfigError::Shape(Redacted(e))))
}

fn check_ref(r: &str, what: &str) -> Result<(), String> {
    if r.trim().is_empty() {
        return Err(format!("{what} has an empty model reference"));
    }
    if r.len() > MAX_REF_LEN {
        return Err(format!(
            "{what} has a model reference longer than {MAX_REF_LEN} bytes"
        ));
    }
    if r.chars().any(char::is_control) {
        return Err(format!(
            "{what} has a model reference with control characters"
        ));
    }
    Ok(())
}

fn check_spec(spec: &ModelSpec, what: &str) -> Result<(), String> {
    if spec.refs().is_empty() {
        return Err(format!(
            "{what} has an empty fallback chain; give at least one reference"
        ));
    }
    spec.refs().iter().try_for_each(|r| check_ref(r, what))
}

/// Whether `id` can name a worker: 1–64 of `a-z 0-9 - _`, starting with a letter or digit.
pub fn valid_worker_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A field of a patch over the value in effect: an absent field keeps it.
fn overlay<T>(field: &mut T, patch: Option<T>) {
    if let Some(v) = patch {
        *field = v;
    }
}

/// Applies one file to the profiles in effect.
pub fn apply(
    profiles: &mut Profiles,
    config: OrchestratorConfig,
    path: &Path,
) -> Result<(), ProfileError> {
    let invalid = |message: String| ProfileError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if let Some(b) = &config.budget {
        let budget = Budget::from_value(b, "budget").map_err(invalid)?;
        if !budget.has_limits() {
            return Err(invalid(
                "budget names no limit; give \"day\" or \"month\" with \"usd\" or \"tokens\" (for example {\"day\": {\"usd\": 5}})".to_owned(),
            ));
        }
        profiles.budget = Some(budget);
    }
    for (name, entry) in config.tags {
        let (spec, fallback) = match entry {
            TagEntry::Models(spec) => (spec, None),
            TagEntry::Full { models, fallback } => (models, fallback),
        };
        if name.trim().is_empty()
            || name.chars().any(|c| c.is_whitespace() || c.is_control())
            || name.contains('/')
        {
            return Err(invalid(format!(
                "tag name {:?} must be a single word without spaces or '/' (for example \"cheap\" or \"team:review\")",
                name.chars().take(40).collect::<String>()
            )));
        }
        check_spec(&spec, &format!("tag {name}")).map_err(invalid)?;
        match fallback {
            Some(f) => profiles.tag_fallback.insert(name.clone(), f),
            None => profiles.tag_fallback.remove(&name),
        };
        profiles.tags.insert(name, spec.refs().to_vec());
    }
    for (id, patch) in config.profiles {
        if !valid_worker_id(&id) {
            return Err(invalid(format!(
                "profile id {:?} must be 1-64 characters of a-z, 0-9, '-' or '_'",
                id.chars().take(70).collect::<String>()
            )));
        }
        if let Some(spec) = &patch.model {
            check_spec(spec, &format!("profile {id}")).map_err(invalid)?;
        }
        let defined_in = path.display().to_string();
        let profile = match profiles.list.iter_mut().find(|p| p.id == id) {
            Some(p) => p,
            None => {
                profiles.list.push(Profile {
                    id: id.clone(),
                    name: id.clone(),
                    purpose: String::new(),
                    when_to_use: String::new(),
                    model: ModelSpec::One("node".into()),
                    fallback: Fallback::Ranked,
                    backend: BackendKind::Shared,
                    agent: None,
                    vision: false,
                    web: false,
                    tools: BTreeMap::new(),
                    prompt: None,
                    delegate: false,
                    server: None,
                    budget: None,
                    defined_in: defined_in.clone(),
                });
                profiles.list.sort_by(|a, b| a.id.cmp(&b.id));
                match profiles.list.iter_mut().find(|p| p.id == id) {
                    Some(p) => p,
                    None => continue,
                }
            }
        };
        let ProfilePatch {
            name,
            purpose,
            when_to_use,
            model,
            fallback,
            backend,
            agent,
            vision,
            web,
            tools,
            prompt,
            delegate,
            server,
            budget,
        } = patch;
        let budget = budget
            .map(|b| Budget::from_value(&b, &format!("profile {id}: budget")))
            .transpose()
            .map_err(invalid)?;
        if budget
            .as_ref()
            .is_some_and(|b| !b.has_limits() && b.over.is_none())
        {
            return Err(invalid(format!(
                "profile {id}: budget names no limit; give \"day\" or \"month\" with \"usd\" or \"tokens\", or \"over\" for the project's budget"
            )));
        }
        let server = server
            .map(|s| s.check(&format!("profile {id}: server")))
            .transpose()
            .map_err(invalid)?;
        overlay(&mut profile.name, name);
        overlay(&mut profile.purpose, purpose);
        overlay(&mut profile.when_to_use, when_to_use);
        overlay(&mut profile.model, model);
        overlay(&mut profile.fallback, fallback);
        overlay(&mut profile.backend, backend);
        overlay(&mut profile.agent, agent.map(Some));
        overlay(&mut profile.vision, vision);
        overlay(&mut profile.web, web);
        profile.tools.extend(tools.unwrap_or_default());
        overlay(&mut profile.prompt, prompt.map(Some));
        overlay(&mut profile.delegate, delegate);
        overlay(&mut profile.server, server.map(Some));
        overlay(&mut profile.budget, budget.map(Some));
        if profile.server.is_some() && profile.backend != BackendKind::Agent {
            return Err(invalid(format!(
                "profile {id}: \"server\" is for workers with \"backend\": \"agent\""
            )));
        }
        profile.defined_in = defined_in;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Profiles, String> {
        let path = Path::new("/x/orchestrator.json");
        let env = Environment::default();
        let mut p = Profiles::builtin();
        let c = parse_file(text, path, &env).map_err(|e| e.to_string())?;
        apply(&mut p, c, path).map_err(|e| e.to_string())?;
        Ok(p)
    }

    #[test]
    fn overrides_add_profiles_and_tags() {
        let p = parse(
            r#"{ // comment
              "profiles": {"docs": {"model": "node:fast", "tools": {"bash": true}},
                           "reviewer": {"name": "Reviewer", "model": ["a/b", "node"]}},
              "tags": {"cheap": ["groq/x", "node:fast"], "one": "a/b"},
            }"#,
        )
        .expect("the profiles parse");
        let docs = p.get("docs").cloned().expect("a docs entry exists");
        assert_eq!(docs.model, ModelSpec::One("node:fast".into()));
        assert_eq!(docs.name, "Documentation Librarian");
        assert_eq!(docs.tools.get("bash"), Some(&true));
        assert_eq!(docs.tools.get("write"), Some(&false));
        assert!(docs.defined_in.ends_with("orchestrator.json"));
        let r = p
            .get("reviewer")
            .map(|r| r.model.display())
            .unwrap_or_default();
        assert_eq!(r, "a/b > node");
        assert_eq!(p.tags.get("one").map(Vec::len), Some(1));
        assert_eq!(
            p.ids(),
            [
                "architect",
                "coder",
                "docs",
                "explorer",
                "memory",
                "reviewer",
                "vision"
            ]
        );
    }

    #[test]
    fn fallback_is_an_option_of_profiles_and_tags() {
        let p = parse(
            r#"{"profiles": {"docs": {"fallback": "none"}, "coder": {"model": ["a/b", "cheap"]}},
                "tags": {"cheap": {"models": ["groq/x", "node:fast"], "fallback": "none"},
                         "wide": {"models": "node"}, "plain": ["a/b"]}}"#,
        )
        .expect("the profiles parse");
        let profile = |id: &str| p.get(id).cloned().expect("the profile exists");
        assert_eq!(profile("docs").fallback, Fallback::None);
        assert_eq!(profile("coder").fallback, Fallback::Ranked);
        assert_eq!(p.tag_fallback.get("cheap"), Some(&Fallback::None));
        assert_eq!(p.tag_fallback.get("wide"), None);
        assert_eq!(p.tags.get("cheap").map(Vec::len), Some(2));
        assert_eq!(p.tags.get("wide").map(Vec::len), Some(1));
        let bad = parse(r#"{"profiles": {"docs": {"fallback": "sometimes"}}}"#);
        assert!(bad.is_err(), "{bad:?}");
        let bad = parse(r#"{"tags": {"x": {"models": ["a/b"], "fallback": "always"}}}"#);
        assert!(bad.is_err(), "{bad:?}");
    }

    #[test]
    fn invalid_files_are_clear_errors_naming_the_file() {
        let cases = [
            (r#"{"profile": {}}"#, "unknown field"),
            (r#"{"profiles": {"Bad Id": {}}}"#, "profile id"),
            (
                r#"{"profiles": {"x": {"model": []}}}"#,
                "empty fallback chain",
            ),
            (
                r#"{"profiles": {"x": {"model": "  "}}}"#,
                "empty model reference",
            ),
            (r#"{"profiles": {"x": {"vision": "yes"}}}"#, "invalid type"),
            (r#"{"tags": {"a b": "x/y"}}"#, "tag name"),
            (r#"{"profiles": "#, "invalid JSON"),
            ("[1]", "invalid type"),
        ];
        for (text, want) in cases {
            let err = parse(text).err().unwrap_or_default();
            assert!(
                err.contains("/x/orchestrator.json") && err.contains(want),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn agent_servers_name_their_password_and_never_hold_it() {
        let p = parse(
            r#"{"profiles": {
              "remote": {"backend": "agent", "delegate": true,
                         "server": {"url": "https://big.example:4096", "username": "team", "passwordEnv": "BIG_PW"}},
              "filed": {"backend": "agent", "server": {"url": "http://127.0.0.1:4096", "passwordFile": "/run/pw"}}
            }}"#,
        )
        .expect("valid profiles");
        let remote = p.get("remote").expect("remote");
        assert!(remote.delegate);
        let server = remote.server.as_ref().expect("a server");
        assert_eq!(server.url, "https://big.example:4096");
        assert_eq!(server.username.as_deref(), Some("team"));
        assert_eq!(server.password, Some(PasswordSource::Env("BIG_PW".into())));
        let filed = p
            .get("filed")
            .and_then(|f| f.server.clone())
            .expect("filed");
        assert_eq!(filed.password, Some(PasswordSource::File("/run/pw".into())));
        assert!(!p.get("docs").expect("docs").delegate, "off by default");

        let refused = [
            (
                r#"{"url": "https://h:1", "password": "hunter2-inline"}"#,
                "inline \"password\" is not accepted",
            ),
            (
                r#"{"url": "https://u:hunter2-inline@h:1"}"#,
                "must not carry credentials",
            ),
            (
                r#"{"url": "https://h:1", "passwordEnv": "A", "passwordFile": "/b"}"#,
                "not both",
            ),
            (
                r#"{"url": "https://h:1", "passwordFile": "pw.txt"}"#,
                "absolute path",
            ),
            (r#"{"url": "ftp://h:1"}"#, "http:// or https://"),
            (
                r#"{"url": "http://big.example:4096", "passwordEnv": "A"}"#,
                "only over https://",
            ),
        ];
        for (server, want) in refused {
            let text =
                format!(r#"{{"profiles": {{"r": {{"backend": "agent", "server": {server}}}}}}}"#);
            let err = parse(&text).err().unwrap_or_default();
            assert!(err.contains(want), "{server}: {err}");
            assert!(!err.contains("hunter2-inline"), "{err}");
        }
        let err = parse(r#"{"profiles": {"r": {"server": {"url": "https://h:1"}}}}"#)
            .err()
            .unwrap_or_default();
        assert!(err.contains("\"backend\": \"agent\""), "{err}");
    }

    #[test]
    fn budgets_of_the_project_and_of_workers_are_read_and_checked() {
        let p = parse(
            r#"{"budget": {"day": {"usd": 5}},
                "profiles": {"coder": {"budget": {"month": {"tokens": 2000000}, "over": "downgrade"}},
                             "docs": {"budget": {"over": "downgrade"}}}}"#,
        )
        .expect("valid budgets");
        let project = p.budget.clone().expect("a project budget");
        assert_eq!(project.limits.len(), 1);
        assert_eq!(project.over, None);
        let coder = p
            .get("coder")
            .and_then(|c| c.budget.clone())
            .expect("coder's");
        assert_eq!(coder.over, Some(crate::budget::Over::Downgrade));
        assert!(p.get("docs").and_then(|d| d.budget.clone()).is_some());
        assert!(p.get("vision").and_then(|v| v.budget.clone()).is_none());
        let cases = [
            (
                r#"{"budget": {"day": {"usd": -0.5}}}"#,
                "budget.day.usd must be a finite number",
            ),
            (
                r#"{"budget": {"over": "downgrade"}}"#,
                "budget names no limit",
            ),
            (
                r#"{"budget": {"daily": {"usd": 1}}}"#,
                "unknown key \"daily\"",
            ),
            (
                r#"{"profiles": {"coder": {"budget": {"day": {"usd": 1, "tokns": 5}}}}}"#,
                "profile coder: budget.day: unknown key \"tokns\"",
            ),
            (
                r#"{"profiles": {"coder": {"budget": {}}}}"#,
                "profile coder: budget names no limit",
            ),
            (
                r#"{"profiles": {"coder": {"budget": "cheap"}}}"#,
                "profile coder: budget must be an object",
            ),
            (
                r#"{"budget": {"day": {"usd": 1e999}}}"#,
                "orchestrator.json",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).err().unwrap_or_default();
            assert!(
                err.contains("/x/orchestrator.json") && err.contains(want),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn worker_ids() {
        for ok in ["docs", "a", "w-1_x", "9"] {
            assert!(valid_worker_id(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", &"x".repeat(65)] {
            assert!(!valid_worker_id(bad), "{bad}");
        }
    }
}
