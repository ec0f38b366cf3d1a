//! A scrubbed machine for tests that run real binaries (`orch`, OpenCode): a temp
//! directory with a home, a project (a git root), a tmp and a runtime dir; the processes
//! it starts see only its variables (HOME, XDG_*, TMPDIR, NO_COLOR, and what a test adds),
//! never the caller's. The orch backend a command starts on demand outlives that command
//! by design: dropping the sandbox stops it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::paths::{Environment, Paths};

use super::{CAPTURE_ENV_KEY, assert_no_secret, stop_backend, write_capture_files};

/// The prefix of every sandbox's directory, so snapshot filters can find its paths.
pub const PREFIX: &str = "orch-cli-test";

/// A temp machine; see the module docs.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    vars: Vec<(String, String)>,
}

impl Sandbox {
    /// A machine with no OpenCode config, no keys and no credentials; `bin` is the orch
    /// binary that [`Sandbox::orch`] runs (`env!("CARGO_BIN_EXE_orch")`).
    #[expect(clippy::expect_used, reason = "test set-up")]
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir()
            .expect("a temp dir for the sandbox");
        // The canonical path is the one processes print (their current directory).
        let root = dir.path().canonicalize().expect("the sandbox's own path");
        for d in ["home", "project/.git", "tmp", "run"] {
            std::fs::create_dir_all(root.join(d)).expect("a sandbox directory");
        }
        let home = root.join("home");
        let at = |p: PathBuf| p.display().to_string();
        let vars = vec![
            ("HOME".into(), at(home.clone())),
            ("XDG_CONFIG_HOME".into(), at(home.join(".config"))),
            ("XDG_DATA_HOME".into(), at(home.join(".local/share"))),
            ("XDG_CACHE_HOME".into(), at(home.join(".cache"))),
            ("XDG_STATE_HOME".into(), at(home.join(".local/state"))),
            ("XDG_RUNTIME_DIR".into(), at(root.join("run"))),
            ("TMPDIR".into(), at(root.join("tmp"))),
            ("NO_COLOR".into(), "1".into()),
        ];
        Self {
            _dir: dir,
            root,
            bin: bin.into(),
            vars,
        }
    }

    /// The captures' setup (as [`super::capture_home`]): the project `opencode.json` of
    /// the fixtures, an `openai` api key in `auth.json`, and `GROQ_API_KEY`.
    pub fn capture(bin: impl Into<PathBuf>) -> Self {
        let mut s = Self::new(bin);
        write_capture_files(&s.root);
        let (key, value) = CAPTURE_ENV_KEY;
        s.set(key, value);
        s
    }

    /// A machine in which OpenCode runs offline (no self-update, no models.dev fetch, no
    /// LSP download), with `/bin/sh` for its `!`cmd`` templates and only the system PATH.
    pub fn offline_opencode(bin: impl Into<PathBuf>) -> Self {
        let mut s = Self::new(bin);
        s.set("PATH", "/usr/bin:/bin");
        // OpenCode runs `!`cmd`` with the user's shell.
        s.set("SHELL", "/bin/sh");
        for off in [
            "OPENCODE_DISABLE_AUTOUPDATE",
            "OPENCODE_DISABLE_MODELS_FETCH",
            "OPENCODE_DISABLE_LSP_DOWNLOAD",
        ] {
            s.set(off, "1");
        }
        s
    }

    /// Sets (or replaces) a variable every process of the sandbox gets.
    pub fn set(&mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) {
        let value = value.as_ref().to_string_lossy().into_owned();
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some(var) => var.1 = value,
            None => self.vars.push((name.to_owned(), value)),
        }
    }

    /// The sandbox's variables, in the order they were set.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The temp directory everything is in (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The home directory.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// The project directory, where commands run.
    pub fn project(&self) -> PathBuf {
        self.root.join("project")
    }

    /// The sandbox's environment, as orch reads it.
    pub fn env(&self) -> Environment {
        Environment::from_pairs(self.vars.iter().cloned())
    }

    /// The paths orch resolves in the project.
    pub fn paths(&self) -> Paths {
        Paths::resolve(&self.env(), self.project())
    }

    /// The socket the backend listens on and clients try.
    pub fn socket(&self) -> PathBuf {
        self.paths().socket().to_path_buf()
    }

    /// Writes `content` to `path` (relative to the root), creating its directory.
    #[expect(clippy::expect_used, reason = "test set-up")]
    pub fn write(&self, path: &str, content: &str) {
        let path = self.root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("a directory in the sandbox");
        }
        std::fs::write(path, content).expect("a file in the sandbox");
    }

    /// `program` in the project directory with the sandbox's variables only.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(self.vars()).current_dir(self.project());
        c
    }

    /// The orch binary with `args`, as [`Sandbox::command`].
    pub fn orch(&self, args: &[&str]) -> Command {
        let mut c = self.command(&self.bin);
        c.args(args);
        c
    }

    /// Runs orch with `args` and returns what it did; it never prints a fake key, and
    /// never panics.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(&format!("orch {args:?}"), self.orch(args).output())
    }

    /// Stops the orch backend serving any of the sandbox's socket candidates, if one runs
    /// (a backend skips an unsafe candidate for a later one).
    pub fn stop_backend(&self) {
        for socket in &self.paths().socket_candidates {
            stop_backend(socket);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_backend();
    }
}

/// What a process did: its exit code (-1 when killed by a signal) and its output.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// The outcome of running `what`; panics when it could not run, printed a fake key,
    /// or panicked.
    #[expect(clippy::expect_used, reason = "test helper")]
    pub fn of(what: &str, output: std::io::Result<Output>) -> Self {
        let out = output.expect("the process runs");
        let run = Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_no_secret(&format!("stdout of {what}"), &run.stdout);
        assert_no_secret(&format!("stderr of {what}"), &run.stderr);
        assert!(
            !run.stderr.contains("panicked"),
            "{what} panicked: {}",
            run.stderr
        );
        run
    }

    /// Standard output read back as JSON; panics unless the process succeeded.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not the JSON expected ({e}):\n{}", self.stdout))
    }
}
