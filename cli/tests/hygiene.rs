//! Process hygiene (issue 10, finding 5) and `orch stop` / `orch restart` (issue 9):
//! every process a worker starts ends with it, even a command that put itself in a session
//! of its own, after `kill -9` of the backend and after `orch stop`.
//!
//! The guard is tested on its own with `/bin/sh` commands that detach themselves the way
//! OpenCode's bash tool does; the end-to-end tests run the real OpenCode
//! (`ORCH_OPENCODE_BIN`) whose model (the fake LLM) calls its `bash` tool. Every sleeper a
//! test starts carries a marker argument (`sleep 1001.<marker>`), is found through `/proc`,
//! and is killed at the end whatever happened.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::{fake_llm_config, opencode_bin};
use orch::testutil::{Poll, Sandbox, wait_until_blocking};
use orch::workers::spawn::Process;
use orch::workers::spawn::{OsSpawner, SpawnSpec, Spawner, pid_alive};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// A marker unique to this test process and `n`: digits, so `sleep 1001.<marker>` is valid.
fn marker(n: u32) -> String {
    format!("{}{n:02}", std::process::id())
}

/// The live processes whose command line contains `sleep 100?.<marker>`.
fn sleepers(marker: &str) -> Vec<u32> {
    let needle = format!(".{marker}");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            orch::workers::procfs::cmdline(*pid)
                .is_some_and(|c| c.starts_with("sleep 100") && c.contains(&needle))
                && pid_alive(*pid)
        })
        .collect()
}

/// Kills whatever is left of the marked sleepers (a failed test leaves nothing behind).
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        for pid in sleepers(&self.0) {
            if let Ok(raw) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            }
        }
    }
}

/// Shell commands that leave sleepers behind the way tool commands do: in a session of
/// their own (`setsid`), immune to hang-ups (`nohup`), and orphaned twice over.
fn detaching(marker: &str) -> String {
    format!(
        "setsid sleep 1001.{marker} >/dev/null 2>&1 </dev/null & \
         nohup sleep 1002.{marker} >/dev/null 2>&1 </dev/null & \
         (setsid sh -c 'sleep 1003.{marker} >/dev/null 2>&1 </dev/null &' &); echo started"
    )
}

/// `orch __guard /bin/sh -c SCRIPT`, with its stdin a pipe from this test.
#[expect(clippy::expect_used, reason = "test helper")]
fn guarded(script: &str) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(BIN)
        .args(["__guard", "/bin/sh", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("orch __guard starts")
}

fn wait_for_sleepers(marker: &str, count: usize) -> bool {
    wait_until_blocking(Poll::within(Duration::from_secs(10)), || {
        sleepers(marker).len() >= count
    })
}

fn none_left(marker: &str, within: Duration) -> bool {
    wait_until_blocking(
        Poll::within(within).every(Duration::from_millis(50)),
        || sleepers(marker).is_empty(),
    )
}

/// A guard over a shell that leaves four detached sleepers (marked `marker(n)`) and then
/// sleeps itself; returns once the sleepers run.
fn guarding_sleepers(n: u32) -> (String, Sweep, Child) {
    let m = marker(n);
    let sweep = Sweep(m.clone());
    let guard = guarded(&format!("{}; exec sleep 1004.{m}", detaching(&m)));
    assert!(wait_for_sleepers(&m, 4), "sleepers: {:?}", sleepers(&m));
    (m, sweep, guard)
}

#[test]
fn the_guard_ends_detached_descendants_when_its_pipe_closes() {
    let (m, _sweep, mut guard) = guarding_sleepers(1);
    let mut err = guard.stderr.take().expect("stderr");
    // The manager's end of the pipe closes (the backend died, even by SIGKILL).
    drop(guard.stdin.take());
    assert!(
        none_left(&m, Duration::from_secs(10)),
        "left: {:?}",
        sleepers(&m)
    );
    let status = guard.wait().expect("the guard exits");
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "the child was ended by SIGTERM"
    );
    let mut text = String::new();
    let _ = err.read_to_string(&mut text);
    assert!(text.contains("orch: child pid "), "{text}");
}

#[test]
fn the_guard_ends_detached_descendants_on_sigterm() {
    let (m, _sweep, mut guard) = guarding_sleepers(2);
    let pid = Pid::from_raw(i32::try_from(guard.id()).expect("pid"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM to the guard");
    assert!(
        none_left(&m, Duration::from_secs(10)),
        "left: {:?}",
        sleepers(&m)
    );
    assert!(guard.wait().expect("the guard exits").code().is_some());
}

#[test]
fn when_the_child_exits_the_guard_ends_its_orphans_and_keeps_its_status() {
    let m = marker(3);
    let _sweep = Sweep(m.clone());
    let mut guard = guarded(&format!("{}; sleep 1; exit 3", detaching(&m)));
    // Held open (`wait` would close it): the manager is still there.
    let _pipe = guard.stdin.take();
    let status = guard.wait().expect("the guard exits");
    assert_eq!(status.code(), Some(3));
    assert!(
        none_left(&m, Duration::from_secs(5)),
        "left: {:?}",
        sleepers(&m)
    );
}

/// A fake `opencode serve` that detaches sleepers and prints the ready line.
#[expect(clippy::expect_used, reason = "test helper")]
fn fake_opencode(dir: &Path, marker: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let prog = dir.join("fake-opencode");
    let script = format!(
        "#!/bin/sh\n{}\necho \"opencode server listening on http://127.0.0.1:9\"\nexec sleep 1004.{marker}\n",
        detaching(marker)
    );
    std::fs::write(&prog, script).expect("fake opencode");
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    prog
}

fn spec(dir: &Path, program: std::path::PathBuf) -> SpawnSpec {
    SpawnSpec {
        worker: "coder".into(),
        program,
        args: vec!["serve".into()],
        dir: dir.to_path_buf(),
        env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        ready_timeout: Duration::from_secs(10),
        die_with_parent: true,
        redact: orch::redact::Redactor::new(),
        guard: Some(BIN.into()),
    }
}

#[tokio::test]
async fn a_worker_stopped_through_the_spawner_leaves_no_descendant() {
    let m = marker(4);
    let _sweep = Sweep(m.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let p = OsSpawner
        .spawn(spec(dir.path(), fake_opencode(dir.path(), &m)))
        .await
        .expect("spawned under the orch guard");
    let pid = p.pid().expect("the OpenCode pid, from the guard's line");
    assert_ne!(
        Some(pid),
        p.pgid(),
        "the pid is the child's, not the guard's"
    );
    assert!(wait_for_sleepers(&m, 4), "sleepers: {:?}", sleepers(&m));
    p.stop(Duration::from_secs(5)).await;
    assert!(p.exit_status().is_some());
    assert!(
        none_left(&m, Duration::from_secs(5)),
        "left: {:?}",
        sleepers(&m)
    );
}

#[tokio::test]
async fn a_dropped_worker_leaves_no_descendant() {
    let m = marker(5);
    let _sweep = Sweep(m.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let p: Arc<dyn Process> = OsSpawner
        .spawn(spec(dir.path(), fake_opencode(dir.path(), &m)))
        .await
        .expect("spawned under the orch guard");
    assert!(wait_for_sleepers(&m, 4), "sleepers: {:?}", sleepers(&m));
    // As when the backend is gone: the pipe to the guard closes.
    drop(p);
    assert!(
        none_left(&m, Duration::from_secs(10)),
        "left: {:?}",
        sleepers(&m)
    );
}

#[test]
fn stop_and_restart_keep_worker_settings_and_report_when_nothing_runs() {
    let home = Sandbox::capture(BIN);
    let none = home.run(&["stop"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(
        none.stdout.contains("no orch backend is running"),
        "{}",
        none.stdout
    );
    let started = home.run(&["status"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let first = orch::mcp::socket::backend_pid(&home.socket()).expect("a backend pid");
    // A worker setting, to be kept across the restart.
    let set = home.run(&[
        "worker-model-set",
        "docs",
        "node:fast",
        "--policy",
        "sticky",
    ]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    let restarted = home.run(&["restart"]);
    assert_eq!(restarted.code, 0, "{}", restarted.stderr);
    assert!(
        restarted
            .stdout
            .contains(&format!("stopped the orch backend (pid {first})")),
        "{}",
        restarted.stdout
    );
    let second = orch::mcp::socket::backend_pid(&home.socket()).expect("a new backend pid");
    assert_ne!(first, second);
    assert!(!pid_alive(first), "the first backend survived restart");
    let workers: orch::workers::WorkersView = home.run(&["--format", "json", "workers"]).json();
    let docs = workers.workers.iter().find(|w| w.id == "docs");
    assert_eq!(
        docs.map(|w| (w.model_ref.as_str(), w.overridden)),
        Some(("node:fast", true)),
        "restart lost the worker setting"
    );
    let stopped = home.run(&["stop"]);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(!pid_alive(second), "the backend survived orch stop");
    assert!(
        !home.socket().exists(),
        "the socket is left after orch stop"
    );
    let again = home.run(&["stop"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("no orch backend is running"));
}

/// A sandbox whose project uses the real OpenCode with the fake LLM; the LLM answers a
/// task containing `needle` with a bash tool call that leaves detached sleepers.
#[expect(clippy::expect_used, reason = "test set-up")]
fn real_home(bin: &Path, llm: &FakeLlm) -> Sandbox {
    let mut home = Sandbox::new(BIN);
    let config = fake_llm_config(&llm.base_url());
    home.write("project/opencode.json", &config.to_string());
    home.set("ORCH_OPENCODE_BIN", bin);
    home.set("PATH", std::env::var("PATH").expect("PATH"));
    home.set("OPENCODE_DISABLE_AUTOUPDATE", "1");
    home
}

/// Runs a task on `coder` whose model starts detached sleepers through the bash tool,
/// and returns the worker's OpenCode pid.
#[expect(clippy::expect_used, reason = "test helper")]
fn start_sleepers(home: &Sandbox, llm: &FakeLlm, m: &str) -> u32 {
    let needle = format!("HYGIENE-{m}");
    llm.answer_with_bash(&needle, &detaching(m));
    let run = home.run(&["run", "coder", &format!("{needle} start the sleepers")]);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        wait_for_sleepers(m, 3),
        "the bash tool started no sleeper: {:?}",
        sleepers(m)
    );
    let workers = home.run(&["--format", "json", "workers"]);
    let view: orch::workers::WorkersView = workers.json();
    view.workers
        .iter()
        .find(|w| w.id == "coder")
        .and_then(|w| w.pid)
        .expect("the coder worker's pid")
}

/// The guard a worker's OpenCode runs under: its parent, an `orch __guard`.
#[expect(clippy::expect_used, reason = "test helper")]
fn guard_of(opencode: u32) -> u32 {
    let parent = orch::workers::procfs::stat(opencode)
        .and_then(|s| u32::try_from(s.ppid).ok())
        .expect("OpenCode's parent");
    let cmd = orch::workers::procfs::cmdline(parent).expect("the parent's command line");
    assert!(cmd.contains(" __guard "), "OpenCode runs under {cmd}");
    parent
}

/// A real backend whose worker left detached sleepers (marked `m`): where the kill tests
/// start. Dropped in field order: the sandbox (its backend), the sweep, the LLM, its runtime.
struct Started {
    home: Sandbox,
    m: String,
    opencode: u32,
    guard: u32,
    backend: u32,
    _sweep: Sweep,
    _llm: FakeLlm,
    _rt: tokio::runtime::Runtime,
}

impl Started {
    #[expect(clippy::expect_used, reason = "test set-up")]
    fn new(bin: &Path, n: u32) -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let llm = rt.block_on(FakeLlm::start()).expect("fake LLM");
        let m = marker(n);
        let sweep = Sweep(m.clone());
        let home = real_home(bin, &llm);
        let opencode = start_sleepers(&home, &llm, &m);
        let guard = guard_of(opencode);
        let backend = orch::mcp::socket::backend_pid(&home.socket()).expect("backend pid");
        Self {
            home,
            m,
            opencode,
            guard,
            backend,
            _sweep: sweep,
            _llm: llm,
            _rt: rt,
        }
    }
}

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn real_opencode_tool_processes_end_after_kill_9_of_the_backend() {
    let Some(bin) = opencode_bin("real_opencode_tool_processes_end_after_kill_9_of_the_backend")
    else {
        return;
    };
    let _turn = TURN.lock();
    let started = Started::new(&bin, 6);
    let m = &started.m;
    let (opencode, guard, backend) = (started.opencode, started.guard, started.backend);
    kill(
        Pid::from_raw(i32::try_from(backend).expect("pid")),
        Signal::SIGKILL,
    )
    .expect("kill -9 of the backend");
    assert!(
        none_left(m, Duration::from_secs(15)),
        "tool processes outlived the backend: {:?}",
        sleepers(m)
    );
    assert!(
        wait_until_blocking(Poll::within(Duration::from_secs(10)), || !pid_alive(
            opencode
        )),
        "OpenCode outlived the backend"
    );
    assert!(
        wait_until_blocking(Poll::within(Duration::from_secs(10)), || !pid_alive(guard)),
        "the guard outlived the backend"
    );
}

#[test]
fn real_opencode_tool_processes_end_after_orch_stop() {
    let Some(bin) = opencode_bin("real_opencode_tool_processes_end_after_orch_stop") else {
        return;
    };
    let _turn = TURN.lock();
    let started = Started::new(&bin, 7);
    let (home, m) = (&started.home, &started.m);
    let (opencode, guard, backend) = (started.opencode, started.guard, started.backend);
    let stop = home.run(&["stop"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(
        stop.stdout
            .contains(&format!("stopped the orch backend (pid {backend})")),
        "{}",
        stop.stdout
    );
    assert!(!pid_alive(backend));
    assert!(!home.socket().exists(), "the socket is left");
    assert!(
        none_left(m, Duration::from_secs(5)),
        "tool processes outlived orch stop: {:?}",
        sleepers(m)
    );
    assert!(!pid_alive(opencode), "OpenCode outlived orch stop");
    assert!(!pid_alive(guard), "the guard outlived orch stop");
}
