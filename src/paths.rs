//! Every path orch reads or writes, resolved in one place so that the backend and
//! its clients cannot disagree.
//!
//! OpenCode keeps its files in XDG locations on every OS (also on macOS), so orch does
//! the same for OpenCode's files and for its own: config beside OpenCode's
//! (`~/.config/opencode/orchestrator.json`), state in `$XDG_STATE_HOME/orch`
//! (`~/.local/state/orch`), the socket in `$XDG_RUNTIME_DIR/orch/orch.sock`, else
//! `$TMPDIR/orch-$UID/orch.sock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

    /// An absolute XDG directory from `var`, else `home/default`.
    fn xdg(&self, var: &str, default: &str) -> PathBuf {
        match self.get(var).map(PathBuf::from) {
            Some(p) if p.is_absolute() => p,
            _ => self.home().join(default),
        }
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
}

impl Paths {
    /// Resolves every path from an environment and a project directory.
    pub fn resolve(env: &Environment, project_dir: impl Into<PathBuf>) -> Self {
        Self {
            project_dir: project_dir.into(),
            opencode_config_dir: env.xdg("XDG_CONFIG_HOME", ".config").join("opencode"),
            opencode_data_dir: env.xdg("XDG_DATA_HOME", ".local/share").join("opencode"),
            opencode_cache_dir: env.xdg("XDG_CACHE_HOME", ".cache").join("opencode"),
            state_dir: match env.get("ORCH_STATE_DIR") {
                Some(dir) => PathBuf::from(dir),
                None => env.xdg("XDG_STATE_HOME", ".local/state").join("orch"),
            },
            socket_candidates: socket_candidates(env),
        }
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

/// `ORCH_SOCKET` when set; else `$XDG_RUNTIME_DIR/orch/orch.sock` then
/// `$TMPDIR/orch-$UID/orch.sock` (a client started without `XDG_RUNTIME_DIR` still finds
/// a backend that had it, and the other way round).
fn socket_candidates(env: &Environment) -> Vec<PathBuf> {
    if let Some(path) = env.get("ORCH_SOCKET") {
        return vec![PathBuf::from(path)];
    }
    let mut out = Vec::new();
    if let Some(dir) = env
        .get("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        out.push(dir.join("orch").join("orch.sock"));
    }
    let tmp = env
        .get("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    out.push(
        tmp.join(format!("orch-{}", nix::unistd::getuid()))
            .join("orch.sock"),
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
        assert_eq!(p.socket(), Path::new("/run/user/7/orch/orch.sock"));
        assert_eq!(p.socket_candidates.len(), 2);
        assert!(p.socket_candidates[1].starts_with("/t"));
        let p = Paths::resolve(
            &Environment::from_pairs([("ORCH_SOCKET", "/x.sock"), ("XDG_RUNTIME_DIR", "/r")]),
            "/",
        );
        assert_eq!(p.socket_candidates, vec![PathBuf::from("/x.sock")]);
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
