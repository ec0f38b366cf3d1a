//! Fakes shared by the tests of every crate of the workspace (feature `testutil`):
//! a fake OpenCode HTTP server, a fake OpenAI-compatible LLM, a fake worker service, and
//! the helpers they use (waiting with [`eventually`], sandboxes, fixtures). They listen on
//! loopback only and stop when dropped.

pub mod fake_llm;
pub mod fake_opencode;
pub mod fake_spawner;
pub mod fake_workers;
pub mod hosting;
pub mod http;
pub mod managed;
pub mod other_uid;
pub mod poll;
pub mod real;
pub mod sandbox;
pub mod served;

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::resolve::Policy;
use crate::workers::{CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerService};

pub use poll::{Poll, eventually, eventually_blocking, wait_until, wait_until_blocking};
pub use sandbox::{Run, Sandbox};

/// The directory of OpenCode captures (`tests/fixtures/opencode`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opencode")
}

/// A capture file's text; `.gz` files are decompressed. Panics when missing: tests only.
#[expect(clippy::expect_used, reason = "test fixture loading")]
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    let bytes = std::fs::read(&path).expect("fixture file");
    if name.ends_with(".gz") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut out)
            .expect("gzip fixture");
        out
    } else {
        String::from_utf8(bytes).expect("UTF-8 fixture")
    }
}

/// `s` as a regular expression matching itself (for insta snapshot filters that mask
/// temp paths).
pub fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Every file under `dir`, recursively, with its bytes: what a test compares to show
/// that nothing changed.
pub fn files_under(dir: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &std::path::Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(path, bytes);
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, &mut out);
    out
}

/// Every file under `dir`, recursively, as (path, lossy UTF-8 text): what a test searches
/// for a leaked secret.
pub fn text_files_under(dir: &std::path::Path) -> Vec<(String, String)> {
    files_under(dir)
        .into_iter()
        .map(|(path, bytes)| {
            (
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

/// Writes `files` (name, text) into `project` and `config` as its
/// `.opencode/opencode.json`: a project config whose `{file:../name}` substitutions find
/// those files.
#[expect(clippy::expect_used, reason = "test set-up")]
pub fn write_dot_opencode(project: &std::path::Path, files: &[(&str, &str)], config: &str) {
    std::fs::create_dir_all(project.join(".opencode")).expect(".opencode");
    for (name, text) in files {
        std::fs::write(project.join(name), text).expect("a substituted file");
    }
    std::fs::write(project.join(".opencode/opencode.json"), config).expect("config");
}

/// Writes `text` as the project's `.opencode/orchestrator.json` (the profiles).
#[expect(clippy::expect_used, reason = "test set-up")]
pub fn write_orchestrator_json(project: &std::path::Path, text: &str) {
    let dot = project.join(".opencode");
    std::fs::create_dir_all(&dot).expect(".opencode");
    std::fs::write(dot.join("orchestrator.json"), text).expect("orchestrator.json");
}

/// Locks a fake's state; a test that panicked while holding it does not hide the state
/// from the next look (the panic is the failure worth reporting).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A task for `worker` that may start it, as the CLI and the MCP tools send it.
pub fn task(worker: &str, text: &str) -> RunRequest {
    RunRequest {
        worker: worker.into(),
        task: text.into(),
        auto_spawn: true,
        ..RunRequest::default()
    }
}

/// Runs `req` on `workers` to its end (nothing cancels it); panics when the task fails.
#[expect(clippy::expect_used, reason = "test helper")]
pub async fn run_task<W: WorkerService>(workers: &W, req: RunRequest) -> RunOutcome {
    workers
        .run(req, CancellationToken::new())
        .await
        .expect("the task succeeds")
}

/// Runs `req` on `workers`, which must fail: its error. Panics when the task succeeds.
pub async fn task_error<W: WorkerService>(workers: &W, req: RunRequest) -> crate::Error {
    match workers.run(req, CancellationToken::new()).await {
        Ok(out) => panic!("the task succeeded: {}", out.output),
        Err(e) => e,
    }
}

/// A model change for `worker` that does not restart it.
pub fn set_model(worker: &str, model: &str, policy: Policy) -> SetModelRequest {
    SetModelRequest {
        worker: worker.into(),
        model: model.into(),
        policy,
        respawn: false,
        force: false,
    }
}

/// The built-in profile `id`; panics when there is none.
pub fn builtin_profile(id: &str) -> crate::profiles::Profile {
    crate::profiles::Profiles::builtin()
        .get(id)
        .cloned()
        .unwrap_or_else(|| panic!("no built-in profile {id}"))
}

/// The fake keys of the captures: they must never appear in anything orch prints.
pub const FAKE_SECRETS: [&str; 2] = ["sk-test-123", "gsk-test-env"];

/// Panics when `text` contains one of [`FAKE_SECRETS`].
pub fn assert_no_secret(what: &str, text: &str) {
    for s in FAKE_SECRETS {
        assert!(!text.contains(s), "{what} leaks the secret {s}");
    }
}

/// The captures' files under `root`: the project `opencode.json` of the captures
/// (`project/`, a git root) and an `openai` api key in `home/`'s `auth.json`.
#[expect(clippy::expect_used, reason = "test set-up")]
pub fn write_capture_files(root: &std::path::Path) {
    let home = root.join("home");
    let project = root.join("project");
    std::fs::create_dir_all(project.join(".git")).expect("project dir");
    std::fs::create_dir_all(home.join(".local/share/opencode")).expect("data dir");
    std::fs::write(
        project.join("opencode.json"),
        fixture("project-opencode.json"),
    )
    .expect("opencode.json");
    std::fs::write(
        home.join(".local/share/opencode/auth.json"),
        r#"{"openai":{"type":"api","key":"sk-test-123"}}"#,
    )
    .expect("auth.json");
}

/// The key the captures' setup has in the environment.
pub const CAPTURE_ENV_KEY: (&str, &str) = ("GROQ_API_KEY", "gsk-test-env");

/// The captures' files under `root` ([`write_capture_files`]) and an environment holding
/// only `HOME` (`root/home`) and the captures' key ([`CAPTURE_ENV_KEY`]).
pub fn capture_env(root: &std::path::Path) -> crate::paths::Environment {
    write_capture_files(root);
    let (key, value) = CAPTURE_ENV_KEY;
    crate::paths::Environment::from_pairs([
        ("HOME".to_owned(), root.join("home").display().to_string()),
        (key.to_owned(), value.to_owned()),
    ])
}

/// A home and project with the capture's setup ([`capture_env`]), and everything else
/// (config, data, cache, state, `TMPDIR`) inside `root`.
pub fn capture_home(root: &std::path::Path) -> (crate::paths::Paths, crate::paths::Environment) {
    let mut env = capture_env(root);
    env.set("TMPDIR", root.display().to_string());
    (
        crate::paths::Paths::resolve(&env, root.join("project")),
        env,
    )
}

/// Stops the orch backend serving `socket` (its pid is in the socket's lock file), if that
/// pid is an orch process: SIGTERM, then SIGKILL after five seconds. Backends outlive the
/// clients that start them on demand, so tests that start one stop it with this.
pub fn stop_backend(socket: &std::path::Path) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let is_orch = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "orch")
    };
    let Some(pid) = crate::mcp::socket::backend_pid(socket).filter(|p| is_orch(*p)) else {
        return;
    };
    let target = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    let _ = kill(target, Signal::SIGTERM);
    let poll = Poll::within(Duration::from_secs(5)).every(Duration::from_millis(20));
    if !wait_until_blocking(poll, || !is_orch(pid)) {
        let _ = kill(target, Signal::SIGKILL);
    }
}

/// Kills `pid` with SIGKILL while `task` runs on it, and waits for the task to fail: its
/// error, and how long it took to fail after the kill. Panics when the task succeeds.
#[expect(clippy::expect_used, reason = "test helper")]
pub async fn kill_during<T, E>(
    pid: u32,
    task: tokio::task::JoinHandle<Result<T, E>>,
) -> (E, Duration) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let killed = std::time::Instant::now();
    let pid = i32::try_from(pid).expect("a pid fits in i32");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("the worker's process can be killed");
    let Err(err) = task.await.expect("the task does not panic") else {
        panic!("the task survived the kill of its process {pid}");
    };
    (err, killed.elapsed())
}
