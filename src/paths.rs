//! Every path orch reads or writes, resolved in one place so that the backend and
//! its clients cannot disagree.
//!
//! OpenCode keeps its files in XDG locations on every OS (also on macOS), so orch does
//! the same for OpenCode's files and for its own: config beside OpenCode's
//! (`~/.config/opencode/orchestrator.json`), state in `$XDG_STATE_HOME/orch`
//! (`~/.local/state/orch`), the socket in `$XDG_RUNTIME_DIR/orch/<backend key>.sock`, else
//! `$TMPDIR/orch-$UID/<backend key>.sock`.
//!
//! One backend serves one project directory in one environment ([`Paths::backend_key`]):
//! the key names the directory and hashes its canonical path and the variables that decide
//! providers ([`decides_providers`]), so a client in another project or a shell with other
//! keys reaches another backend, never one that would answer for someone else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A snapshot of the process environment, so that tests can hand in their own.
///
/// Values may be keys (`GROQ_API_KEY`): `Debug` shows variable names only.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Environment {
    /// The current process environment (variables that are not UTF-8 are skipped).
    pub fn capture() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// An environment holding exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value when it is set and not empty (OpenCode ignores empty values too).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets a variable (tests and overrides).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// Whether a flag variable is `true` or `1`.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("1" | "true" | "TRUE" | "True"))
    }

    /// The user's home directory: `HOME`, else what the OS says, else `/`.
    pub fn home(&self) -> PathBuf {
        if let Some(home) = self.get("HOME") {
            return PathBuf::from(home);
        }
        directories::BaseDirs::new()
            .map(|b| b.home_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    /// The variables that decide providers and the backend's behaviour
    /// ([`decides_providers`]), sorted by name.
    pub fn context_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars()
            .filter(|(k, v)| !v.is_empty() && decides_providers(k))
    }

    /// A short hex digest of [`Environment::context_vars`] (names and values): two
    /// environments with the same fingerprint load the same providers.
    pub fn context_fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (k, v) in self.context_vars() {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        hex(&h.finalize()[..6])
    }

    /// An absolute XDG directory from `var`, else `home/default`.
    fn xdg(&self, var: &str, default: &str) -> PathBuf {
        match self.get(var).map(PathBuf::from) {
            Some(p) if p.is_absolute() => p,
            _ => self.home().join(default),
        }
    }
}

/// Whether a variable can change which providers are usable or how the backend runs, so
/// that a client with a different value needs its own backend: OpenCode's own variables,
/// the XDG directories and `HOME`, cloud credential detection (`AWS_*`, `GOOGLE_*`,
/// `AZURE_*`, `CLOUDFLARE_*`, `GCP_*`, `GCLOUD_*`), every variable a catalog provider names
/// in its `env` list (all of them end in one of the suffixes below; a test checks the bundled
/// catalog), and orch's backend settings. Session noise (`PWD`, `TERM`, `XDG_SESSION_ID`,
/// `ORCH_DELEGATION_DEPTH`, and `OPENCODE`/`OPENCODE_PID`, which OpenCode sets on its MCP
/// servers) is not part of it.
pub fn decides_providers(name: &str) -> bool {
    const EXACT: [&str; 11] = [
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
        "ORCH_OPENCODE_BIN",
        "ORCH_AGENT_URL",
        "ORCH_TASK_TIMEOUT_MS",
        "ORCH_READY_TIMEOUT_MS",
        "ORCH_KEEP_WORKERS",
        "ORCH_IDLE_EXIT_SECS",
    ];
    const PREFIXES: [&str; 7] = [
        "OPENCODE_",
        "AWS_",
        "GOOGLE_",
        "AZURE_",
        "CLOUDFLARE_",
        "GCP_",
        "GCLOUD_",
    ];
    const SUFFIXES: [&str; 17] = [
        "_API_KEY",
        "_APIKEY",
        "_KEY",
        "_TOKEN",
        "_SECRET",
        "_PAT",
        "_BASE_URL",
        "_ENDPOINT",
        "_HOST",
        "_REGION",
        "_PROJECT",
        "_PROJECT_ID",
        "_PRODUCT_ID",
        "_RESOURCE_NAME",
        "_ACCOUNT",
        "_ACCOUNT_ID",
        "_ORG_ID",
    ];
    // What OpenCode sets on each of its MCP servers (`OPENCODE=1`, `OPENCODE_PID`): the
    // `orch mcp` of every OpenCode instance must reach the user's one backend.
    const SESSION: [&str; 1] = ["OPENCODE_PID"];
    if SESSION.contains(&name) {
        return false;
    }
    EXACT.contains(&name)
        || PREFIXES.iter().any(|p| name.starts_with(p))
        || SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The project part of a backend key: the directory's name (letters, digits, `-`, `_`, `.`,
/// at most 20) and a digest of its canonical path.
pub fn project_key(project_dir: &Path) -> String {
    let canonical =
        std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_path_buf());
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(20)
        .collect();
    let name = name.trim_start_matches('.');
    let digest = hex(&Sha256::digest(canonical.as_os_str().as_encoded_bytes())[..6]);
    if name.is_empty() {
        digest
    } else {
        format!("{name}-{digest}")
    }
}

/// Resolved locations for one user and one project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The project directory (the working directory unless told otherwise).
    pub project_dir: PathBuf,
    /// OpenCode's global config directory.
    pub opencode_config_dir: PathBuf,
    /// OpenCode's data directory (holds `auth.json`).
    pub opencode_data_dir: PathBuf,
    /// OpenCode's cache directory (holds the `models.json` catalog cache).
    pub opencode_cache_dir: PathBuf,
    /// orch's state directory (durable settings, worker registry, logs).
    pub state_dir: PathBuf,
    /// The backend's socket, in the order clients try it; the first is where the backend listens.
    pub socket_candidates: Vec<PathBuf>,
    /// The project part of the backend key ([`project_key`]).
    pub project_key: String,
    /// The environment part of the backend key ([`Environment::context_fingerprint`]).
    pub env_key: String,
}

impl Paths {
    /// Resolves every path from an environment and a project directory.
    pub fn resolve(env: &Environment, project_dir: impl Into<PathBuf>) -> Self {
        let project_dir = project_dir.into();
        let project_key = project_key(&project_dir);
        let env_key = env.context_fingerprint();
        let backend_key = format!("{project_key}-{env_key}");
        Self {
            socket_candidates: socket_candidates(env, &backend_key),
            project_key,
            env_key,
            project_dir,
            opencode_config_dir: env.xdg("XDG_CONFIG_HOME", ".config").join("opencode"),
            opencode_data_dir: env.xdg("XDG_DATA_HOME", ".local/share").join("opencode"),
            opencode_cache_dir: env.xdg("XDG_CACHE_HOME", ".cache").join("opencode"),
            state_dir: match env.get("ORCH_STATE_DIR") {
                Some(dir) => PathBuf::from(dir),
                None => env.xdg("XDG_STATE_HOME", ".local/state").join("orch"),
            },
        }
    }

    /// The key of the backend that serves this project in this environment: one backend
    /// per key, one socket per backend.
    pub fn backend_key(&self) -> String {
        format!("{}-{}", self.project_key, self.env_key)
    }

    /// What belongs to the project whatever the environment: worker settings, task
    /// records (`<state dir>/projects/<project key>`).
    pub fn project_state_dir(&self) -> PathBuf {
        self.state_dir.join("projects").join(&self.project_key)
    }

    /// What belongs to one backend: its log, its registry of running workers
    /// (`<project state dir>/env-<env key>`).
    pub fn backend_state_dir(&self) -> PathBuf {
        self.project_state_dir()
            .join(format!("env-{}", self.env_key))
    }

    /// OpenCode's `auth.json` (credentials stored by `/connect`).
    pub fn auth_file(&self) -> PathBuf {
        self.opencode_data_dir.join("auth.json")
    }

    /// OpenCode's cached models.dev catalog.
    pub fn models_cache(&self) -> PathBuf {
        self.opencode_cache_dir.join("models.json")
    }

    /// orch's global config.
    pub fn global_orchestrator_file(&self) -> PathBuf {
        self.opencode_config_dir.join("orchestrator.json")
    }

    /// The socket the backend listens on.
    pub fn socket(&self) -> &Path {
        self.socket_candidates
            .first()
            .map_or(Path::new("orch.sock"), PathBuf::as_path)
    }
}

/// `ORCH_SOCKET` when set; else `$XDG_RUNTIME_DIR/orch/<key>.sock` then
/// `$TMPDIR/orch-$UID/<key>.sock` (a client started without `XDG_RUNTIME_DIR` still finds
/// a backend that had it, and the other way round).
fn socket_candidates(env: &Environment, key: &str) -> Vec<PathBuf> {
    let file = format!("{key}.sock");
    if let Some(path) = env.get("ORCH_SOCKET") {
        return vec![PathBuf::from(path)];
    }
    let mut out = Vec::new();
    if let Some(dir) = env
        .get("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        out.push(dir.join("orch").join(&file));
    }
    let tmp = env
        .get("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    out.push(
        tmp.join(format!("orch-{}", nix::unistd::getuid()))
            .join(&file),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_variables_win_and_relative_ones_are_ignored() {
        let p = Paths::resolve(
            &Environment::from_pairs([
                ("HOME", "/h"),
                ("XDG_CONFIG_HOME", "/c"),
                ("XDG_DATA_HOME", "rel"),
            ]),
            "/proj",
        );
        assert_eq!(p.opencode_config_dir, PathBuf::from("/c/opencode"));
        assert_eq!(
            p.auth_file(),
            PathBuf::from("/h/.local/share/opencode/auth.json")
        );
        assert_eq!(
            p.models_cache(),
            PathBuf::from("/h/.cache/opencode/models.json")
        );
        assert_eq!(p.state_dir, PathBuf::from("/h/.local/state/orch"));
        assert_eq!(
            p.global_orchestrator_file(),
            PathBuf::from("/c/opencode/orchestrator.json")
        );
    }

    #[test]
    fn socket_order_runtime_dir_then_tmp_and_override_wins() {
        let p = Paths::resolve(
            &Environment::from_pairs([
                ("HOME", "/h"),
                ("XDG_RUNTIME_DIR", "/run/user/7"),
                ("TMPDIR", "/t"),
            ]),
            "/",
        );
        // One socket per backend key (project and environment), in the runtime dir first.
        let key = p.backend_key();
        assert_eq!(
            p.socket(),
            Path::new(&format!("/run/user/7/orch/{key}.sock"))
        );
        assert_eq!(p.socket_candidates.len(), 2);
        assert!(p.socket_candidates[1].starts_with("/t"));
        let p = Paths::resolve(
            &Environment::from_pairs([("ORCH_SOCKET", "/x.sock"), ("XDG_RUNTIME_DIR", "/r")]),
            "/",
        );
        assert_eq!(p.socket_candidates, vec![PathBuf::from("/x.sock")]);
    }

    #[test]
    fn a_backend_key_differs_by_project_and_by_provider_variables_only() {
        let env = Environment::from_pairs([("HOME", "/h"), ("GROQ_API_KEY", "gsk-a")]);
        let a = Paths::resolve(&env, "/proj/a");
        assert_eq!(
            a.backend_key(),
            Paths::resolve(&env, "/proj/a").backend_key()
        );
        assert!(a.project_key.starts_with("a-"), "{}", a.project_key);
        // Another project: another backend.
        assert_ne!(
            a.backend_key(),
            Paths::resolve(&env, "/proj/b").backend_key()
        );
        // Another key in the same project: same project state, another backend.
        let mut other = env.clone();
        other.set("GROQ_API_KEY", "gsk-b");
        let b = Paths::resolve(&other, "/proj/a");
        assert_eq!(a.project_state_dir(), b.project_state_dir());
        assert_ne!(a.backend_key(), b.backend_key());
        assert_ne!(a.backend_state_dir(), b.backend_state_dir());
        // Session noise does not split backends.
        let mut noisy = env.clone();
        for (k, v) in [
            ("PWD", "/x"),
            ("TERM", "xterm"),
            ("XDG_SESSION_ID", "7"),
            ("ORCH_DELEGATION_DEPTH", "1"),
        ] {
            noisy.set(k, v);
        }
        assert_eq!(
            a.backend_key(),
            Paths::resolve(&noisy, "/proj/a").backend_key()
        );
        // The key never shows a value.
        assert!(!a.backend_key().contains("gsk"));
    }

    #[test]
    fn every_catalog_env_variable_decides_providers() {
        let catalog = crate::catalog::snapshot::bundled().expect("the bundled catalog");
        let missed: Vec<&str> = catalog
            .providers
            .iter()
            .flat_map(|p| p.env.iter().map(String::as_str))
            .filter(|n| !decides_providers(n))
            .collect();
        assert!(missed.is_empty(), "not part of the backend key: {missed:?}");
        for noise in [
            "PWD",
            "OLDPWD",
            "TERM",
            "SHLVL",
            "XDG_SESSION_ID",
            "ORCH_SOCKET",
            "ORCH_DELEGATION_DEPTH",
            "PATH",
            "OPENCODE",
            "OPENCODE_PID",
        ] {
            assert!(!decides_providers(noise), "{noise}");
        }
    }

    #[test]
    fn debug_shows_names_never_values() {
        let e = Environment::from_pairs([("GROQ_API_KEY", "gsk-test-env"), ("HOME", "/h")]);
        let shown = format!("{e:?}");
        assert!(
            shown.contains("GROQ_API_KEY") && !shown.contains("gsk-test-env"),
            "{shown}"
        );
        assert!(!shown.contains("/h"), "{shown}");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let e = Environment::from_pairs([("A", ""), ("B", "1")]);
        assert_eq!(e.get("A"), None);
        assert!(e.flag("B") && !e.flag("A"));
    }
}
