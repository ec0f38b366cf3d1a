//! Starting and stopping worker processes, behind a trait so tests can use a fake.
//!
//! The real spawner runs `opencode serve` under a guard in a process group of its own: the
//! `orch __guard` subcommand when the spec names the `orch` executable (a child subreaper
//! that ends every descendant, detached tool processes included; see [`super::guard`]),
//! else a small `/bin/sh` wrapper that ends the group only. The guard holds a pipe from the
//! manager on its stdin: when the manager exits for any reason (even SIGKILL) the pipe
//! closes and the guard ends what it watches, so no OpenCode process outlives the manager
//! by accident. Stopping sends SIGTERM to the group, then SIGKILL after a grace period.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{oneshot, watch};

use super::error::WorkerError;
use crate::redact::Redactor;

/// A boxed future, for object-safe process handles.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to start.
#[derive(Clone)]
pub struct SpawnSpec {
    /// Worker id, for messages.
    pub worker: String,
    /// The program (`opencode`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub dir: PathBuf,
    /// The whole environment of the process (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// How long to wait for the "listening on" line.
    pub ready_timeout: Duration,
    /// Kill the process group when the manager exits.
    pub die_with_parent: bool,
    /// Removes every secret orch knows from captured output before it is shown.
    pub redact: Redactor,
    /// The `orch` executable whose hidden `__guard` subcommand watches the process (a child
    /// subreaper that ends every descendant, see [`super::guard`]); `None`: the `/bin/sh`
    /// guard, which ends the process group only. Used only with `die_with_parent`.
    pub guard: Option<PathBuf>,
}

impl fmt::Debug for SpawnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The environment may carry configuration; only its names are shown.
        f.debug_struct("SpawnSpec")
            .field("worker", &self.worker)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("dir", &self.dir)
            .field(
                "env",
                &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("ready_timeout", &self.ready_timeout)
            .field("die_with_parent", &self.die_with_parent)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// A running worker process.
pub trait Process: Send + Sync + fmt::Debug {
    /// The OpenCode process id.
    fn pid(&self) -> Option<u32>;
    /// The process group to signal.
    fn pgid(&self) -> Option<u32>;
    /// The URL it serves.
    fn url(&self) -> &str;
    /// `Some(status)` once it has exited.
    fn exit_status(&self) -> Option<String>;
    /// Resolves when it exits, with its status in words.
    fn wait_exit(&self) -> BoxFuture<'_, String>;
    /// Its most recent output lines (secrets removed).
    fn recent_output(&self) -> String;
    /// Stops it: SIGTERM to the group, SIGKILL after `grace`.
    fn stop(&self, grace: Duration) -> BoxFuture<'_, ()>;
}

/// Starts worker processes.
pub trait Spawner: Send + Sync + 'static {
    /// Starts one and waits until it is ready.
    fn spawn(
        &self,
        spec: SpawnSpec,
    ) -> impl Future<Output = Result<Arc<dyn Process>, WorkerError>> + Send;
}

/// Finds `program` like a shell would: a path with `/` as is, else on `PATH`.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// Runs `"$@"` in the background, reports its pid, and kills the whole process group when
/// stdin (a pipe from the manager) closes or when the child exits.
const GUARD: &str = r#"exec 3<&0 </dev/null
"$@" 3<&- &
child=$!
echo "orch: child pid $child" >&2
{ cat <&3 >/dev/null 2>&1; kill -TERM 0 2>/dev/null; } &
wait "$child"
status=$?
trap '' TERM
kill -TERM 0 2>/dev/null
exit "$status"
"#;

/// Same without the parent watch: the process outlives the manager (kept workers).
const DETACHED: &str = r#"exec </dev/null
"$@" &
child=$!
echo "orch: child pid $child" >&2
wait "$child"
"#;

/// `/bin/sh -c SCRIPT orch-worker`, to which the program and its arguments are added.
fn sh_wrapper(script: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(script).arg("orch-worker");
    cmd
}

/// The real spawner.
#[derive(Debug, Clone, Default)]
pub struct OsSpawner;

/// Keeps the last lines a process printed.
#[derive(Debug, Default)]
struct OutputTail {
    lines: VecDeque<String>,
}

impl OutputTail {
    const MAX_LINES: usize = 40;

    fn push(&mut self, line: String) {
        if self.lines.len() == Self::MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }
}

/// A process started by [`OsSpawner`].
pub struct OsProcess {
    pid: Option<u32>,
    pgid: Option<u32>,
    url: std::sync::OnceLock<String>,
    exit: watch::Receiver<Option<String>>,
    tail: Arc<Mutex<OutputTail>>,
    /// The write end of the wrapper's stdin: dropping it stops the group.
    guard: Mutex<Option<tokio::process::ChildStdin>>,
}

impl fmt::Debug for OsProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsProcess")
            .field("pid", &self.pid)
            .field("pgid", &self.pgid)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn describe_status(status: std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(0), _) => "exit status 0".into(),
            (Some(128..=160), _) | (None, Some(_)) => {
                let sig = s
                    .signal()
                    .or_else(|| s.code().map(|c| c - 128))
                    .unwrap_or(0);
                let name = Signal::try_from(sig)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                format!("killed by {name}")
            }
            (Some(code), _) => format!("exit status {code}"),
            (None, None) => "unknown exit status".into(),
        },
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

/// Reads lines of `reader` into `tail`; on stdout also looks for the ready line and the
/// wrapper's child-pid line.
fn pump<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    tail: Arc<Mutex<OutputTail>>,
    secrets: Redactor,
    mut ready: Option<oneshot::Sender<String>>,
    mut child_pid: Option<oneshot::Sender<u32>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("orch: child pid ") {
                if let (Some(tx), Ok(pid)) = (child_pid.take(), rest.trim().parse()) {
                    let _ = tx.send(pid);
                }
                continue;
            }
            if let Some(pos) = line.find("listening on ")
                && let Some(tx) = ready.take()
            {
                let url = line[pos + "listening on ".len()..].trim().to_owned();
                let _ = tx.send(url);
            }
            lock(&tail).push(secrets.redact(&line).into_owned());
        }
    });
}

impl Spawner for OsSpawner {
    async fn spawn(&self, spec: SpawnSpec) -> Result<Arc<dyn Process>, WorkerError> {
        let Some(program) = find_program(&spec.program) else {
            return Err(WorkerError::OpenCodeMissing {
                worker: spec.worker.clone(),
                message: format!(
                    "{} is not an executable file or on PATH",
                    spec.program.display()
                ),
            });
        };
        let mut cmd = match (&spec.guard, spec.die_with_parent) {
            (Some(guard), true) => {
                let mut cmd = tokio::process::Command::new(guard);
                cmd.arg(super::guard::SUBCOMMAND);
                cmd
            }
            (None, true) => sh_wrapper(GUARD),
            (_, false) => sh_wrapper(DETACHED),
        };
        cmd.arg(&program)
            .args(&spec.args)
            .current_dir(&spec.dir)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(if spec.die_with_parent {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|source| WorkerError::Spawn {
            worker: spec.worker.clone(),
            program: Some(program.clone()),
            source,
        })?;
        let pgid = child.id();
        let tail = Arc::new(Mutex::new(OutputTail::default()));
        let secrets = spec.redact.clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (pid_tx, pid_rx) = oneshot::channel();
        if let Some(out) = child.stdout.take() {
            pump(
                out,
                Arc::clone(&tail),
                secrets.clone(),
                Some(ready_tx),
                None,
            );
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Arc::clone(&tail), secrets.clone(), None, Some(pid_tx));
        }
        let stdin = child.stdin.take();
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let status = describe_status(child.wait().await);
            // The wrapper is gone: make sure nothing of its group lingers.
            if let Some(pgid) = pgid {
                let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGTERM);
            }
            let _ = exit_tx.send(Some(status));
        });
        let mut exit_watch = exit_rx.clone();
        let ready = tokio::time::timeout(spec.ready_timeout, async {
            tokio::select! {
                url = ready_rx => url.ok(),
                _ = exit_watch.wait_for(Option::is_some) => None,
            }
        })
        .await;
        let pid = tokio::time::timeout(Duration::from_millis(500), pid_rx)
            .await
            .ok()
            .and_then(Result::ok);
        let process = OsProcess {
            pid: pid.or(pgid),
            pgid,
            url: std::sync::OnceLock::new(),
            exit: exit_rx,
            tail,
            guard: Mutex::new(stdin),
        };
        match ready {
            Ok(Some(url)) => {
                let _ = process.url.set(url);
                Ok(Arc::new(process))
            }
            Ok(None) => {
                // Exited before it was ready.
                let status = process.wait_exit().await;
                // Give the output readers a moment to drain.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(WorkerError::Exited {
                    worker: spec.worker,
                    pid: process.pid,
                    status,
                    output: process.recent_output(),
                })
            }
            Err(_) => {
                process.stop(Duration::from_secs(2)).await;
                Err(WorkerError::ReadyTimeout {
                    worker: spec.worker,
                    after: spec.ready_timeout,
                    output: process.recent_output(),
                })
            }
        }
    }
}

impl Process for OsProcess {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn pgid(&self) -> Option<u32> {
        self.pgid
    }

    fn url(&self) -> &str {
        self.url.get().map_or("", String::as_str)
    }

    fn exit_status(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    fn wait_exit(&self) -> BoxFuture<'_, String> {
        wait_for_exit(&self.exit)
    }

    fn recent_output(&self) -> String {
        lock(&self.tail)
            .lines
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn stop(&self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.exit_status().is_none() {
                if let Some(pgid) = self.pgid {
                    let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGTERM);
                }
                if tokio::time::timeout(grace, self.wait_exit()).await.is_err() {
                    if let Some(pgid) = self.pgid {
                        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(2), self.wait_exit()).await;
                }
            }
            lock(&self.guard).take();
        })
    }
}

impl Drop for OsProcess {
    fn drop(&mut self) {
        // Closing the guard pipe makes the wrapper kill its group.
        lock(&self.guard).take();
    }
}

/// Resolves when an exit status is published on `exit`, with that status.
pub fn wait_for_exit(exit: &watch::Receiver<Option<String>>) -> BoxFuture<'static, String> {
    let mut rx = exit.clone();
    Box::pin(async move {
        match rx.wait_for(Option::is_some).await {
            Ok(s) => s.clone().unwrap_or_default(),
            Err(_) => "exited".into(),
        }
    })
}

/// Whether a process id is alive (a zombie waiting to be reaped is not).
pub fn pid_alive(pid: u32) -> bool {
    let signalable =
        i32::try_from(pid).is_ok_and(|p| p > 0 && kill(Pid::from_raw(p), None).is_ok());
    signalable && !is_zombie(pid)
}

/// On Linux, `/proc/<pid>/stat` says `Z` for a zombie; elsewhere this is always false.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Stops a process group that this manager did not start (adopted from the registry).
pub async fn stop_group(pgid: u32, grace: Duration) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if raw <= 1 {
        return;
    }
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if killpg(group, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, script: &str, timeout: Duration) -> SpawnSpec {
        let prog = dir.join("fake-opencode");
        std::fs::write(&prog, format!("#!/bin/sh\n{script}\n")).expect("the file is written");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755))
            .expect("the permissions are set");
        SpawnSpec {
            worker: "docs".into(),
            program: prog,
            args: vec!["serve".into()],
            dir: dir.to_path_buf(),
            env: vec![
                ("SECRET_VALUE".into(), "gsk-test-env".into()),
                ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ],
            ready_timeout: timeout,
            die_with_parent: true,
            redact: Redactor::from_secrets(["gsk-test-env"]),
            guard: None,
        }
    }

    /// The text of the error that spawning `script` returns; with `program`, the spec names
    /// that file of the directory instead of the script.
    async fn spawn_error(script: &str, timeout: Duration, program: Option<&str>) -> String {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let mut s = spec(dir.path(), script, timeout);
        if let Some(name) = program {
            s.program = dir.path().join(name);
        }
        OsSpawner
            .spawn(s)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// A fake OpenCode running `script`, started and ready; the directory must outlive it.
    async fn started(script: &str) -> (tempfile::TempDir, Arc<dyn Process>) {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let s = spec(dir.path(), script, Duration::from_secs(5));
        let p = OsSpawner.spawn(s).await.expect("the process spawns");
        (dir, p)
    }

    #[tokio::test]
    async fn ready_line_gives_the_url_and_stop_kills_the_group() {
        let (_dir, p) =
            started("echo \"opencode server listening on http://127.0.0.1:1234\"; sleep 30 & wait")
                .await;
        assert_eq!(p.url(), "http://127.0.0.1:1234");
        let pid = p.pid().unwrap_or(0);
        assert!(pid_alive(pid));
        p.stop(Duration::from_secs(2)).await;
        assert!(p.exit_status().is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!pid_alive(pid), "the OpenCode process survived stop");
    }

    #[tokio::test]
    async fn never_ready_times_out_with_its_output_and_no_secret() {
        let err = spawn_error(
            "echo \"starting with $SECRET_VALUE\"; sleep 30",
            Duration::from_millis(700),
            None,
        )
        .await;
        assert!(
            err.contains("did not print") && err.contains("starting with"),
            "{err}"
        );
        assert!(!err.contains("gsk-test-env"), "{err}");
    }

    #[tokio::test]
    async fn early_exit_is_reported_with_status() {
        let err = spawn_error("echo boom >&2; exit 3", Duration::from_secs(5), None).await;
        assert!(
            err.contains("exit status 3") && err.contains("boom"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn missing_program_names_the_variable() {
        let err = spawn_error("true", Duration::from_secs(1), Some("nope")).await;
        assert!(err.contains("ORCH_OPENCODE_BIN"), "{err}");
    }

    #[tokio::test]
    async fn a_killed_child_is_noticed() {
        let (_dir, p) =
            started("echo \"opencode server listening on http://127.0.0.1:9\"; exec sleep 30")
                .await;
        let pid = p.pid().unwrap_or(0);
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        let status = tokio::time::timeout(Duration::from_secs(5), p.wait_exit())
            .await
            .unwrap_or_default();
        assert!(status.contains("SIGKILL"), "{status}");
    }
}
